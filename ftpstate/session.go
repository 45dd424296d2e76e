package ftpstate

import (
	"net/netip"
	"strings"
	"time"

	"github.com/ftptap/ftptap/event"
)

// session is one FTP command channel.
type session struct {
	id             uint64
	client, server netip.AddrPort
	start, last    time.Time
	midstream      bool
	ended          bool

	dir   [2]stream  // 0: client to server, 1: server to client
	lines [2]lineBuf // unfinished lines, per direction
	fin   [2]bool
	isn   [2]uint32 // ISN of each direction's SYN, when seen
	syn   [2]bool
	acked [2]uint32 // the highest acknowledgement of each direction's bytes, from the other
	ackOK [2]bool

	greeting bool // the first reply is still to come (the start was seen)
	reply    struct {
		code  int      // code of the multi-line reply being read; 0: none
		lines []string // its lines so far
		size  int
	}
	pending []pendingCmd

	replyGap bool      // replies were lost in a gap: match the next by acknowledgement
	wait     []waitSeg // segments waiting for the other direction to catch up
	waitSize int

	user       string
	loggedIn   bool
	quit       bool // QUIT was sent
	quitOK     bool // and answered with 2xx
	lostPrelim bool // a 1xx answered a command missing from the capture
	tls        bool // AUTH TLS/SSL accepted: the channel is dark

	expects   []*expectation // announced, not yet finished
	conns     []*dataConn    // data connections
	transfers []*transfer    // transfers not yet reported
	current   *expectation   // the newest announcement, which the next transfer uses
	announced bool           // an announcement was seen
	adopt     *transfer      // caught mid-way before any announcement: takes the next connection between the hosts

	halfClosed bool // one FIN seen
	reset      bool

	lineAlerted  [2]bool
	capsReported map[string]int

	// The budget (see budget.go): the session's place on its list, which
	// list, and the bytes it was last counted for in Tracker.sessBytes.
	lruPrev, lruNext *session
	linked           bool
	tier             uint8
	counted          int
	// handshook: something other than the client's SYN was seen (see
	// Config.HandshakeTimeout).
	handshook bool
}

// key is the session's key in Tracker.sessions (not stored: a tap keeps
// thousands of sessions, see docs/performance.md).
func (s *session) key() connKey { return keyOf(s.client, s.server) }

// waitSeg is a command-channel segment that acknowledges bytes of the
// other direction not yet seen: it waits for them (see orderedPayload).
type waitSeg struct {
	dir      int
	seq, ack uint32
	data     []byte
	time     time.Time
}

type pendingCmd struct {
	cmd, arg string
	time     time.Time
	end      uint32 // sequence number after the command (after its segment)
	invalid  bool   // answered only by lines without a reply code so far
	xfer     *transfer
	expect   *expectation // for PORT/EPRT/LPRT: the announcement made
}

// dataOpen reports whether a data connection of the session is set up and
// not yet finished.
func (s *session) dataOpen() bool {
	for _, d := range s.conns {
		if d.state == dataOpen && !d.done {
			return true
		}
	}
	return false
}

func (s *session) endReason(def string) string {
	if s.quit && s.quitOK {
		return "quit"
	}
	if s.reset {
		return "reset"
	}
	return def
}

// startSession begins tracking a command channel, from its SYN or, caught
// mid-way, from a segment with data.
func (t *Tracker) startSession(k connKey, p *event.Packet, midstream bool) {
	client, server, side := p.Src, p.Dst, p.Side
	if midstream && !t.isControlPort(p.Dst.Port()) && t.isControlPort(p.Src.Port()) {
		client, server, side = p.Dst, p.Src, otherSide(p.Side)
	}
	if s := t.newSession(k, client, server, side, p.Time, midstream); s != nil {
		t.controlPacket(s, p)
		t.account(s)
	}
}

// newSession records a command channel and reports its start, or reports
// the sessions cap and returns nil. The greeting is awaited unless the
// session was caught mid-way.
func (t *Tracker) newSession(k connKey, client, server netip.AddrPort, clientSide event.Side, start time.Time, midstream bool) *session {
	if !t.makeRoom() {
		t.capHit(nil, tooManySessionsAlert, "more than %d FTP sessions at once: %s to %s is not tracked", t.cfg.MaxSessions, client, server)
		return nil
	}
	t.nextID++
	s := &session{id: t.nextID, client: client, server: server, start: start, last: start, midstream: midstream, greeting: !midstream}
	t.putSession(k, s)
	t.addOrder(s)
	t.link(s)
	t.account(s)
	t.stats.Sessions++
	ev := event.Event{Type: event.TypeSessionStart, Midstream: midstream, ClientSide: clientSide}
	t.emitEvent(s, &ev)
	return s
}

// addOrder appends s to the live sessions. Ended sessions leave t.order at
// the next sweep; sessions that start and end by the thousand within one
// second (a SYN flood answered by RSTs) would pile up until then, so the
// list is compacted when it reaches twice the session cap.
func (t *Tracker) addOrder(s *session) {
	if len(t.order) >= 2*t.cfg.MaxSessions {
		live := t.order[:0]
		for _, o := range t.order {
			if !o.ended {
				live = append(live, o)
			}
		}
		clear(t.order[len(live):])
		t.order = live
	}
	t.order = append(t.order, s)
}

func otherSide(s event.Side) event.Side {
	switch s {
	case event.SideA:
		return event.SideB
	case event.SideB:
		return event.SideA
	}
	return event.SideUnknown
}

// controlPacket tracks a segment of a command channel.
func (t *Tracker) controlPacket(s *session, p *event.Packet) {
	d := 0
	if p.Src != s.client {
		d = 1
	}
	if !p.Flags.Has(event.FlagFIN) || !s.fin[d] || len(p.Payload) > 0 {
		// A FIN seen again, alone, is a retransmission: its sender waits
		// for an acknowledgement that may never come (the server never
		// set up its side: a full listen queue; or it has gone). It is
		// not activity, and does not hold off the end of a session with
		// one FIN (see sweepSession).
		t.touch(s, len(p.Payload) > 0)
	}
	if d == 1 || !p.Flags.Has(event.FlagSYN) {
		s.handshook = true
	}
	if len(p.Payload) == 1 && s.ackOK[d] && p.Seq+1 == s.acked[d] {
		// A TCP keep-alive: one byte the peer acknowledged already
		// (RFC 9293 section 3.8.4), often 0x00. It is old data, not
		// part of a command or reply, even in a direction whose first
		// bytes the capture has not shown yet.
		q := *p
		q.Payload = nil
		p = &q
	}
	if p.Flags.Has(event.FlagACK) && (!s.ackOK[1-d] || seqLess(s.acked[1-d], p.Ack)) {
		s.acked[1-d], s.ackOK[1-d] = p.Ack, true
	}
	if p.Flags.Has(event.FlagSYN) {
		again := d == 0 && !p.Flags.Has(event.FlagACK) && (!s.syn[0] || p.Seq != s.isn[0])
		if again && (s.fin[0] || s.fin[1] || s.reset || s.syn[0] && !s.handshook) {
			// The port pair is used again by a new connection (a session
			// caught mid-way has no SYN of its own to compare with: any
			// SYN after its FIN is a new connection). Before any answer,
			// a SYN with a new sequence number is the client's next
			// attempt: it gave up on the last one (the handshake timed
			// out on its side) and its stack chose the same port.
			reason := s.endReason("close")
			if !s.handshook {
				reason = "timeout"
			}
			t.endSession(s, reason)
			t.startSession(s.key(), p, false)
			return
		}
		s.syn[d] = true
		s.isn[d] = p.Seq
		if !s.dir[d].init {
			s.dir[d].start(p.Seq + 1)
		}
	}
	if len(p.Payload) > 0 && s.tls {
		// Dark: keep the stream position only.
		s.dir[d].init = true
		s.dir[d].next = p.Seq + uint32(len(p.Payload))
	} else if !s.tls {
		t.orderedPayload(s, d, p)
	}
	if s.ended {
		return
	}
	if p.Flags.Has(event.FlagRST) {
		s.reset = true
		t.finishStreams(s)
		t.endSession(s, s.endReason("reset"))
		return
	}
	if p.Flags.Has(event.FlagFIN) && !s.fin[d] {
		s.fin[d] = true
		if s.fin[0] && s.fin[1] {
			t.finishStreams(s)
			t.endSession(s, s.endReason("close"))
			return
		}
		s.halfClosed = true
	}
}

// waitWindow is how long a segment waits for the bytes of the other
// direction that it acknowledges, before they are taken as lost.
const waitWindow = 500 * time.Millisecond

// orderedPayload takes a segment's bytes in causal order across the two
// directions. A reply acknowledges the commands the server had received
// when it sent it: if those commands have not been seen yet (they come
// through the other tap port, slightly later, or they are missing from the
// capture), the reply waits for them, so it is matched to the right
// command. Bytes that the peer acknowledges but that never arrive are a
// gap, skipped and reported.
func (t *Tracker) orderedPayload(s *session, d int, p *event.Packet) {
	o := 1 - d
	ackOK := p.Flags.Has(event.FlagACK)
	if len(p.Payload) == 0 {
		if ackOK && len(s.wait) == 0 {
			// A bare acknowledgement confirms a gap before buffered
			// segments of the other direction.
			if s.dir[o].acked(p.Ack, func(data []byte, gap bool) { t.deliver(s, o, data, gap) }) {
				t.stats.Gaps++
			}
		}
		t.releaseWait(s, false)
		return
	}
	queued := false
	for i := range s.wait {
		if s.wait[i].dir == d {
			queued = true
			break
		}
	}
	// With segments of the other direction waiting (for this one), this
	// one must not wait too: it goes in, and may release them.
	if queued || (len(s.wait) == 0 && ackOK && t.behind(s, o, p.Ack)) {
		if s.waitSize+len(p.Payload) > t.cfg.MaxReorder {
			t.releaseWait(s, true)
		}
		c := make([]byte, len(p.Payload))
		copy(c, p.Payload)
		s.wait = append(s.wait, waitSeg{dir: d, seq: p.Seq, ack: p.Ack, data: c, time: p.Time})
		s.waitSize += len(c)
		t.releaseWait(s, false)
		return
	}
	t.addSegment(s, d, p.Seq, p.Ack, p.Payload)
	t.releaseWait(s, false)
}

// behind reports whether direction o has not yet delivered the bytes up to
// ack (a FIN counts one).
func (t *Tracker) behind(s *session, o int, ack uint32) bool {
	st := &s.dir[o]
	if !st.init || !seqLess(st.next, ack) {
		return false
	}
	return !(s.fin[o] && ack == st.next+1)
}

func (t *Tracker) addSegment(s *session, d int, seq, ack uint32, data []byte) {
	if st := &s.dir[d]; st.skipped && seq == st.skipFrom && seqLess(seq, st.next) {
		t.unskip(s, d)
	}
	forced := s.dir[d].add(seq, ack, data, t.cfg.MaxReorder, func(data []byte, gap bool) {
		t.deliver(s, d, data, gap)
	})
	if forced {
		t.stats.Gaps++
		t.capHit(s, "reorder_cap", "more than %d bytes out of order on the command channel: skipped a gap", t.cfg.MaxReorder)
	}
}

// releaseWait delivers waiting segments whose acknowledged bytes are in.
// A segment whose bytes are still missing goes on waiting unless force is
// set, its wait is over, or the gap is certain (later bytes of the other
// direction are already buffered): then the gap is skipped.
func (t *Tracker) releaseWait(s *session, force bool) {
	for len(s.wait) > 0 && !s.ended && !s.tls {
		x := s.wait[0]
		o := 1 - x.dir
		if t.behind(s, o, x.ack) {
			st := &s.dir[o]
			certain := len(st.ooo) > 0
			if !force && !certain && t.now.Sub(x.time) < waitWindow {
				return
			}
			t.jump(s, o, x.ack)
		}
		s.wait[0] = waitSeg{}
		s.wait = s.wait[1:]
		s.waitSize -= len(x.data)
		t.addSegment(s, x.dir, x.seq, x.ack, x.data)
	}
	if len(s.wait) == 0 {
		s.wait = nil
		s.waitSize = 0
		// Buffered bytes that a jump put in order come after the
		// segments released.
		for d := 0; d < 2 && !s.ended && !s.tls; d++ {
			s.dir[d].drain(func(data []byte, gap bool) { t.deliver(s, d, data, gap) })
		}
	}
}

// jump skips direction o forward to ack: buffered segments before ack are
// delivered (after a gap), and bytes never seen are a gap.
func (t *Tracker) jump(s *session, o int, ack uint32) {
	st := &s.dir[o]
	deliver := func(data []byte, gap bool) { t.deliver(s, o, data, gap) }
	proven := len(st.ooo) > 0
	for len(st.ooo) > 0 && seqLess(st.ooo[0].seq, ack) {
		st.skip(deliver)
	}
	if seqLess(st.next, ack) {
		st.skipped, st.skipFrom = !proven, st.next
		st.next = ack
		st.curEnd = ack
		deliver(nil, true)
	}
}

// unskip takes back a gap that direction d skipped on an acknowledgement
// alone, now that a segment starts where the gap began: the bytes were
// never lost, the acknowledgement was false. Without this, one segment
// acknowledging far ahead would make every later segment of the other
// direction look old, and hide it.
func (t *Tracker) unskip(s *session, d int) {
	st := &s.dir[d]
	gapEnd := st.next
	st.next, st.skipped = st.skipFrom, false
	if d == 1 {
		s.replyGap = false
		return
	}
	// The placeholder the gap put in the queue stands for no command.
	if n := len(s.pending); n > 0 && s.pending[n-1].cmd == "" && s.pending[n-1].end == gapEnd {
		s.pending[n-1] = pendingCmd{}
		s.pending = s.pending[:n-1]
	}
}

// finishStreams delivers what is left in both directions of a command
// channel that has ended: buffered segments and an unfinished last line.
func (t *Tracker) finishStreams(s *session) {
	t.releaseWait(s, true)
	for d := 0; d < 2; d++ {
		if s.tls {
			continue
		}
		s.dir[d].finish(func(data []byte, gap bool) { t.deliver(s, d, data, gap) })
		if rest := s.lines[d].rest(); len(rest) > 0 && !s.ended {
			t.line(s, d, rest)
		}
	}
	if s.reply.code != 0 && !s.ended {
		t.finishReply(s, "")
	}
}

// deliver takes in-order bytes of one direction.
func (t *Tracker) deliver(s *session, d int, data []byte, gap bool) {
	if s.ended || s.tls {
		return
	}
	if gap {
		t.stats.Gaps++
		s.lines[d].reset()
		if d == 1 {
			if s.reply.code != 0 {
				// The gap swallowed the end of a multi-line reply: its
				// closing line will never come, and waiting for it
				// would take every later reply as its text. Report
				// what arrived, as the answer to the command it began
				// answering.
				t.finishReply(s, "")
				if s.ended || s.tls {
					return
				}
			}
			s.replyGap = true
		}
		// The lost bytes held a command, most likely one: its reply is
		// to answer a placeholder, not the next command seen. (Replies
		// that acknowledge the lost bytes wait for this gap to be taken:
		// see orderedPayload.)
		if d == 0 && len(s.pending) < t.cfg.MaxPending {
			t.pushPending(s, pendingCmd{time: t.now, end: s.dir[0].curEnd})
		}
	}
	if d == 1 && len(s.lines[1].buf) > 0 && isBinary(s.lines[1].buf) && looksLikeReply(data) {
		// A server that wrote binary bytes without a line end (an SSH
		// banner's packet on port 21, say), then a segment that starts
		// like a reply: the segment boundary ends the junk, as it does
		// for Wireshark, which parses each segment on its own.
		t.line(s, 1, s.lines[1].rest())
	}
	if s.lines[d].feed(data, t.cfg.MaxLine, func(ln []byte) {
		if !s.ended && !s.tls {
			t.line(s, d, ln)
		}
	}) {
		t.capHit(s, "line_too_long", "a %s line longer than %d bytes was cut", dirName(d), t.cfg.MaxLine)
	}
}

// isBinary reports whether b holds bytes no text line has (NUL and other
// controls but tab and CR).
func isBinary(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' {
			return true
		}
	}
	return false
}

// looksLikeReply reports whether b starts with a reply code and separator.
func looksLikeReply(b []byte) bool {
	return len(b) >= 4 && b[0] >= '1' && b[0] <= '6' && isDigit(b[1]) && isDigit(b[2]) && (b[3] == ' ' || b[3] == '-')
}

func dirName(d int) string {
	if d == 0 {
		return "command"
	}
	return "reply"
}

// line handles one complete line of a direction.
func (t *Tracker) line(s *session, d int, ln []byte) {
	ln = stripTelnet(ln)
	if d == 0 {
		t.request(s, ln)
	} else {
		t.replyLine(s, ln)
	}
}

// stripTelnet removes Telnet commands (IAC sequences, RFC 854) that clients
// send around ABOR (IAC IP, IAC DM) from a command line.
func stripTelnet(ln []byte) []byte {
	i := indexIAC(ln)
	if i < 0 {
		return ln
	}
	out := make([]byte, 0, len(ln))
	for j := 0; j < len(ln); j++ {
		c := ln[j]
		if c != 0xff {
			out = append(out, c)
			continue
		}
		if j+1 >= len(ln) {
			break
		}
		switch ln[j+1] {
		case 0xff:
			out = append(out, 0xff)
			j++
		case 251, 252, 253, 254: // WILL, WONT, DO, DONT take an option
			j += 2
		default:
			j++
		}
	}
	return out
}

func indexIAC(b []byte) int {
	for i, c := range b {
		if c == 0xff {
			return i
		}
	}
	return -1
}

// maxCommandLen is the longest command name taken as such; longer ones are
// reported (RFC 959 commands are 3 or 4 letters; extensions stay short).
const maxCommandLen = 32

// request handles a command line from the client.
func (t *Tracker) request(s *session, ln []byte) {
	if len(ln) == 0 {
		return
	}
	verb, c, a := splitCommand(ln)
	cmd, arg := verb, t.strs.str(a)
	if cmd == "" {
		cmd = t.strs.upper(c)
	}
	if len(cmd) > maxCommandLen {
		t.alert(s, "command_too_long", "a %d-byte command name was cut to %d bytes", len(cmd), maxCommandLen)
		cmd = cmd[:maxCommandLen]
	}
	shown := arg
	if cmd == "PASS" && !t.cfg.ShowPasswords && arg != "" {
		shown = "****"
	}
	ev := event.Event{Type: event.TypeRequest, Command: cmd, Arg: shown}
	t.emitEvent(s, &ev)

	// What waits for the reply keeps its own copy of the text it needs
	// (arg shares a block with other events' text: see strArena): the
	// argument only where the reply needs it, the command when it is not
	// a known verb.
	pc := pendingCmd{cmd: cmd, time: t.now, end: s.dir[0].curEnd}
	if verb == "" {
		pc.cmd = strings.Clone(cmd)
	}
	switch cmd {
	case "PASS", "ACCT", "AUTH":
		pc.arg = strings.Clone(arg)
	}
	switch cmd {
	case "USER":
		s.user = strings.Clone(arg)
	case "QUIT":
		s.quit = true
	case "PORT", "EPRT", "LPRT":
		pc.expect = t.announceActive(s, cmd, arg)
	case "RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD":
		pc.xfer = t.startTransfer(s, cmd, arg)
	}
	if len(s.pending) >= t.cfg.MaxPending {
		t.capHit(s, "too_many_pending", "more than %d commands awaiting a reply: the oldest are dropped", t.cfg.MaxPending)
		old := s.pending[0]
		s.pending = s.pending[1:]
		if old.xfer != nil {
			t.endTransferNow(old.xfer)
		}
	}
	t.pushPending(s, pc)
}

// maxReplyBytes caps the text of one multi-line reply.
const maxReplyLines = 512

// replyLine handles one line from the server.
func (t *Tracker) replyLine(s *session, ln []byte) {
	if s.reply.code != 0 {
		// Inside a multi-line reply: it ends at a line with the same code
		// and a space (RFC 959 section 4.2); other lines are text.
		code, sep, rest := splitReply(ln)
		if code == s.reply.code && (sep == ' ' || sep == 0) {
			s.reply.lines = append(s.reply.lines, t.strs.str(rest))
			t.finishReply(s, "")
			return
		}
		text := ln
		if code == s.reply.code && sep == '-' {
			text = rest
		}
		if len(s.reply.lines) < maxReplyLines {
			s.reply.lines = append(s.reply.lines, t.strs.str(text))
		} else {
			t.capHit(s, "reply_too_long", "a multi-line reply of more than %d lines was cut", maxReplyLines)
		}
		return
	}
	code, sep, rest := splitReply(ln)
	r := ReplyLine{Code: code, Sep: sep}
	switch {
	case r.Code == 0:
		// No valid code: the server broke the protocol. Zeek stops
		// analysing here; we report it and take the line as a reply
		// without a code, so the commands that follow stay matched.
		t.alert(s, "invalid_reply", "reply line without a valid code: %q", clip(string(ln), 80))
		t.invalidResponse(s, t.strs.str(rest))
	case r.Sep == '-':
		s.reply.code = r.Code
		s.reply.lines = append(s.reply.lines[:0], t.strs.str(rest))
	case r.Sep == ' ' || r.Sep == 0:
		t.response(s, r.Code, t.strs.str(rest))
	default:
		t.alert(s, "invalid_reply", "reply code %d not followed by a space: %q", r.Code, clip(string(ln), 80))
		t.response(s, r.Code, t.strs.str(ln[3:]))
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (t *Tracker) finishReply(s *session, _ string) {
	code := s.reply.code
	text := joinLines(s.reply.lines)
	s.reply.code = 0
	clear(s.reply.lines)
	s.reply.lines = s.reply.lines[:0]
	t.response(s, code, text)
}

// response handles a complete reply: matches it to the command it answers
// and acts on it.
func (t *Tracker) response(s *session, code int, text string) {
	var pc *pendingCmd
	var popped pendingCmd
	switch {
	case s.greeting:
		// The first reply of a session whose start we saw is the
		// greeting, even when the client sent commands before it.
		if code != 120 {
			s.greeting = false
		}
	case code == 421 && len(s.pending) == 0:
		// Service closing, unsolicited.
	case len(s.pending) == 0:
		// A reply to nothing we saw (caught mid-way, or unsolicited).
	case code >= 100 && code < 200:
		pc = &s.pending[0] // preliminary: the command waits for its final reply
	default:
		// A command that got only lines without a code has had its
		// answer if this reply acknowledges a later command.
		for len(s.pending) > 1 && s.pending[0].invalid && !seqLess(s.dir[1].curAck, s.pending[1].end) {
			s.pending[0] = pendingCmd{}
			s.pending = s.pending[1:]
		}
		if s.replyGap {
			// Replies were lost: this one answers the newest command
			// the server had received when it sent it; the older ones
			// had their replies in the gap.
			s.replyGap = false
			ack := s.dir[1].curAck
			i := 0
			for j := range s.pending {
				if !seqLess(ack, s.pending[j].end) {
					i = j
				}
			}
			if i > 0 {
				clear(s.pending[:i])
				s.pending = s.pending[i:]
			}
		}
		popped = t.popPending(s)
		pc = &popped
	}
	cmd := ""
	if pc != nil {
		cmd = pc.cmd
		if (cmd == "PASS" || cmd == "ACCT") && !t.cfg.ShowPasswords {
			text = redactEcho(text, pc.arg)
		}
	}
	ev := event.Event{Type: event.TypeResponse, Code: code, Text: text, Command: cmd}
	t.emitEvent(s, &ev)
	if pc == nil || pc.cmd == "" {
		t.lostCommandReply(s, code)
		if pc == nil {
			return
		}
	} else if code >= 200 || code == 0 {
		s.lostPrelim = false // the 1xx, if any, was this command's
	}
	final := code >= 200 || code == 0
	switch pc.cmd {
	case "USER", "PASS", "ACCT":
		if !final {
			break
		}
		switch {
		case code == 230 || (code == 202 && pc.cmd != "USER"):
			s.loggedIn = true
			t.login(s, true, code)
		case code == 331 || code == 332:
			// The login goes on (password, account).
		case code >= 400:
			t.login(s, false, code)
		}
	case "QUIT":
		if code >= 200 && code < 300 {
			s.quitOK = true
		}
	case "AUTH":
		// 234: the server accepts TLS (RFC 4217). AUTH GSSAPI's 334/235
		// keep a readable line protocol (ENC, MIC), so they stay in sight.
		if code == 234 {
			s.tls = true
			ev := event.Event{Type: event.TypeTLS, Command: pc.cmd, Arg: pc.arg}
			t.emitEvent(s, &ev)
			t.goDark(s)
		}
	case "PASV", "EPSV", "LPSV":
		// Only the reply that carries the address announces: 227, 229
		// and 228 (RFC 959, RFC 2428, RFC 1639). "EPSV ALL" is answered
		// with a plain 200, which names no port.
		if code == passiveReplyCode(pc.cmd) {
			t.announcePassive(s, pc.cmd, code, text)
		}
	case "PORT", "EPRT", "LPRT":
		if final && pc.expect != nil && (code >= 400 || code == 0) {
			t.rejectExpect(pc.expect, code)
		}
	}
	if pc.xfer != nil {
		t.transferReply(pc.xfer, code, text, final)
	}
}

// lostCommandReply watches the replies to commands missing from the
// capture (or to none): a 1xx, then a final reply other than 425, is a
// transfer whose command was lost, and it used the session's newest
// announcement, which is then retired without being reported unused. No
// transfer is reported: its command and file are unknown.
func (t *Tracker) lostCommandReply(s *session, code int) {
	if s.greeting {
		return
	}
	if code >= 100 && code < 200 {
		s.lostPrelim = true
		return
	}
	if s.lostPrelim && code != 425 {
		if c := s.current; c != nil && c.xfer == nil && !c.opened && !t.hasConn(c) {
			c.unseen = true
			t.finishExpect(c)
		}
	}
	s.lostPrelim = false
}

// invalidResponse reports a server line without a reply code. It is shown
// as the reply (code 0) to the oldest command waiting, which keeps waiting:
// the next valid reply may still be its answer (ipv6-violation.pcap: an SSH
// banner, then the 530 that answers PASS), unless that reply acknowledges a
// later command (ftp-missing-reply-code.pcap: SYST gets "SYST not
// supported", then QUIT gets 221).
func (t *Tracker) invalidResponse(s *session, text string) {
	cmd := ""
	if !s.greeting && len(s.pending) > 0 {
		s.pending[0].invalid = true
		cmd = s.pending[0].cmd
	}
	ev := event.Event{Type: event.TypeResponse, Code: 0, Text: text, Command: cmd}
	t.emitEvent(s, &ev)
}

func (t *Tracker) login(s *session, ok bool, code int) {
	ev := event.Event{Type: event.TypeLogin, User: s.user, OK: ok, Code: code}
	t.emitEvent(s, &ev)
}

// goDark stops reading the command channel: its bytes are TLS from here on.
// Data connections between the two hosts are still recognised.
func (t *Tracker) goDark(s *session) {
	for d := 0; d < 2; d++ {
		s.dir[d].ooo = nil
		s.dir[d].oooSize = 0
		s.lines[d].reset()
	}
	s.reply.code = 0
	t.putDark(addrPair{s.client.Addr(), s.server.Addr()}, s)
}

// endSession reports the end of a session: open transfers first, then data
// channels that failed or were never used, then session.end.
func (t *Tracker) endSession(s *session, reason string) {
	if s.ended {
		return
	}
	for _, x := range append([]*transfer(nil), s.transfers...) {
		t.endTransferNow(x)
	}
	for _, d := range append([]*dataConn(nil), s.conns...) {
		switch {
		case d.state == dataSynSent:
			t.failData(d, "timeout")
		case d.state == dataOpen && !d.done:
			t.dataDone(d) // every data.open gets its data.close
		}
		t.dropData(d)
	}
	for _, e := range append([]*expectation(nil), s.expects...) {
		t.finishExpect(e)
	}
	t.stopAdopt(s)
	s.ended = true
	if s.reset || s.fin[0] || s.fin[1] {
		t.rememberClosed(s.key())
	}
	ev := event.Event{Type: event.TypeSessionEnd, Reason: reason}
	t.emitEvent(s, &ev)
	t.deleteSession(s.key())
	if s.tls {
		t.deleteDark(addrPair{s.client.Addr(), s.server.Addr()})
	}
	t.releasePending(s)
	t.unlink(s)
	t.account(s)
}

// redactEcho hides a password that a reply to PASS or ACCT echoes ("230
// User logged in, PASS secret"), as the request's argument is hidden: after
// "PASS " wherever it stands, and the bare password when it is long enough
// not to match ordinary words of the reply by chance.
func redactEcho(text, pass string) string {
	if pass == "" || !strings.Contains(text, pass) {
		return text
	}
	for _, pre := range []string{"PASS ", "pass ", "Pass "} {
		text = strings.ReplaceAll(text, pre+pass, pre+"****")
	}
	if len(pass) >= 4 {
		text = strings.ReplaceAll(text, pass, "****")
	}
	return text
}
