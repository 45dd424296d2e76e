package ftpstate

// stream puts one direction of a command channel back in order, the way
// Packetbeat follows its line protocols: it keeps the next expected sequence
// number, drops retransmitted bytes, trims overlaps, buffers segments that
// arrive early (up to a cap) and, when a gap cannot be filled, skips it and
// says so.
type stream struct {
	init    bool
	next    uint32    // next expected sequence number
	ooo     []segment // early segments, sorted by seq
	oooSize int
	fin     bool

	// Of the bytes being delivered: the acknowledgement their segment
	// carried, and the sequence number after them.
	curAck, curEnd uint32

	// A gap skipped on the peer's acknowledgement alone, with no later
	// bytes of this direction to prove it: skipFrom is where it began. If
	// a segment starts there after all, the acknowledgement was false (a
	// peer can acknowledge bytes never sent, to blind a monitor) and the
	// stream goes back (see Tracker.unskip).
	skipped  bool
	skipFrom uint32
}

type segment struct {
	seq, ack uint32
	data     []byte
}

// seqLess reports a < b in sequence space (RFC 1982 arithmetic).
func seqLess(a, b uint32) bool { return int32(a-b) < 0 }

// start sets the first expected byte (the ISN+1 of a SYN, or the first
// segment seen of a stream caught mid-way).
func (s *stream) start(next uint32) {
	s.init = true
	s.next = next
}

// add accepts a segment and calls deliver with the bytes now in order; gap
// is true when bytes were skipped before data. It reports whether the
// reorder cap forced a gap.
func (s *stream) add(seq, ack uint32, data []byte, limit int, deliver func(data []byte, gap bool)) (forced bool) {
	if len(data) == 0 {
		return false
	}
	if !s.init {
		s.start(seq)
	}
	end := seq + uint32(len(data))
	if !seqLess(s.next, end) {
		return false // all old: a retransmission
	}
	if seqLess(s.next, seq) {
		// Early: keep a copy until the gap is filled.
		if s.oooSize+len(data) > limit {
			// Cap reached: give up on the gap, deliver what is buffered.
			forced = true
			s.skip(deliver)
			if seqLess(s.next, seq) {
				s.next = seq
				s.curAck, s.curEnd = ack, end
				deliver(data, true)
				s.next = end
				s.drain(deliver)
				return forced
			}
		} else {
			s.insert(seq, ack, data)
			return false
		}
	}
	if seqLess(seq, s.next) {
		data = data[s.next-seq:]
	}
	s.curAck, s.curEnd = ack, end
	deliver(data, false)
	s.next = end
	s.drain(deliver)
	return forced
}

func (s *stream) insert(seq, ack uint32, data []byte) {
	c := make([]byte, len(data))
	copy(c, data)
	i := len(s.ooo)
	for i > 0 && seqLess(seq, s.ooo[i-1].seq) {
		i--
	}
	s.ooo = append(s.ooo, segment{})
	copy(s.ooo[i+1:], s.ooo[i:])
	s.ooo[i] = segment{seq: seq, ack: ack, data: c}
	s.oooSize += len(c)
}

// drain delivers buffered segments that are now in order.
func (s *stream) drain(deliver func([]byte, bool)) {
	for len(s.ooo) > 0 {
		g := s.ooo[0]
		if seqLess(s.next, g.seq) {
			return
		}
		s.pop()
		end := g.seq + uint32(len(g.data))
		if !seqLess(s.next, end) {
			continue
		}
		s.curAck, s.curEnd = g.ack, end
		deliver(g.data[s.next-g.seq:], false)
		s.next = end
	}
}

func (s *stream) pop() {
	s.oooSize -= len(s.ooo[0].data)
	s.ooo[0] = segment{}
	s.ooo = s.ooo[1:]
	if len(s.ooo) == 0 {
		s.ooo = nil
	}
}

// skip jumps over the first gap to the earliest buffered segment and
// delivers from there.
func (s *stream) skip(deliver func([]byte, bool)) {
	if len(s.ooo) == 0 {
		return
	}
	g := s.ooo[0]
	s.pop()
	if seqLess(s.next, g.seq) {
		s.next = g.seq
	}
	end := g.seq + uint32(len(g.data))
	if seqLess(s.next, end) {
		s.curAck, s.curEnd = g.ack, end
		deliver(g.data[s.next-g.seq:], true)
		s.next = end
	}
	s.drain(deliver)
}

// acked handles an acknowledgement from the peer: bytes it acknowledges
// that we never saw are missing from the capture (the peer got them), so a
// gap before buffered segments will never fill: skip it now. Reports
// whether a gap was skipped.
func (s *stream) acked(ack uint32, deliver func([]byte, bool)) bool {
	if !s.init || len(s.ooo) == 0 || !seqLess(s.next, ack) {
		return false
	}
	s.skip(deliver)
	return true
}

// finish delivers everything still buffered, skipping gaps (the stream has
// ended, so they will never be filled).
func (s *stream) finish(deliver func([]byte, bool)) {
	for len(s.ooo) > 0 {
		s.skip(deliver)
	}
}

// lineBuf splits a byte stream into lines ending in LF (a CR before it is
// dropped). A line longer than max is cut: its first max bytes are kept and
// the rest is skipped up to the line end.
type lineBuf struct {
	buf      []byte
	overflow bool // the current line passed the cap
}

// feed calls line for each complete line in data. It reports whether a line
// passed the cap.
func (l *lineBuf) feed(data []byte, max int, line func([]byte)) (overflowed bool) {
	for len(data) > 0 {
		i := indexLF(data)
		if i < 0 {
			room := max - len(l.buf)
			if room > 0 {
				n := min(room, len(data))
				l.buf = append(l.buf, data[:n]...)
				data = data[n:]
			}
			if len(data) > 0 && !l.overflow {
				l.overflow = true
				overflowed = true
			}
			return overflowed
		}
		chunk := data[:i]
		data = data[i+1:]
		var ln []byte
		if len(l.buf) == 0 && !l.overflow {
			ln = chunk
			if len(ln) > max {
				ln = ln[:max]
				overflowed = true
			}
		} else {
			room := max - len(l.buf)
			if room > 0 {
				l.buf = append(l.buf, chunk[:min(room, len(chunk))]...)
			}
			if len(chunk) > room && !l.overflow {
				overflowed = true
			}
			ln = l.buf
		}
		if n := len(ln); n > 0 && ln[n-1] == '\r' {
			ln = ln[:n-1]
		}
		line(ln)
		l.buf = l.buf[:0]
		l.overflow = false
	}
	return overflowed
}

// rest returns the unfinished line and forgets it.
func (l *lineBuf) rest() []byte {
	b := l.buf
	l.buf = l.buf[:0]
	l.overflow = false
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// reset drops the unfinished line (after a gap, it cannot be trusted).
func (l *lineBuf) reset() {
	l.buf = l.buf[:0]
	l.overflow = false
}

func indexLF(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}
