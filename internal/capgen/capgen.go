// Package capgen writes synthetic captures for benchmarks: a mixed capture
// (FTP sessions of every kind among HTTP noise and a SYN flood), a control-heavy one (sessions that only talk on the command
// channel) and one of sessions that open and never close. Frames are
// Ethernet, IPv4 or IPv6, TCP, with the IP checksum set and the TCP
// checksum left blank (as offloaded captures have it). The same arguments
// give the same bytes.
//
// The captures are made on demand (make bench) and never committed; see
// cmd/capgen and docs/performance.md.
package capgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Start is the time of the first frame of every capture.
var Start = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Flags of a generated segment.
const (
	fin = 1 << 0
	syn = 1 << 1
	rst = 1 << 2
	psh = 1 << 3
	ack = 1 << 4
)

// Writer writes pcap frames (LINKTYPE_ETHERNET, microsecond timestamps).
type Writer struct {
	w      *bufio.Writer
	ts     time.Time
	step   time.Duration
	frame  []byte
	Frames int   // frames written
	Bytes  int64 // bytes of frames written
	err    error
}

// NewWriter writes the pcap file header to w. Each frame is step later than
// the one before.
func NewWriter(w io.Writer, step time.Duration) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 262144)
	binary.LittleEndian.PutUint32(h[20:], 1)
	if _, err := bw.Write(h[:]); err != nil {
		return nil, fmt.Errorf("capgen: %w", err)
	}
	return &Writer{w: bw, ts: Start, step: step, frame: make([]byte, 0, 2048)}, nil
}

// Flush writes out what is buffered and returns the first error.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("capgen: %w", err)
	}
	return nil
}

// seg is one TCP segment to write.
type seg struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    uint8
	payload  []byte
}

var (
	macA = [6]byte{2, 0, 0, 0, 0, 0xa}
	macB = [6]byte{2, 0, 0, 0, 0, 0xb}
)

// write writes one segment as a frame.
func (w *Writer) write(s *seg) {
	if w.err != nil {
		return
	}
	b := w.frame[:0]
	b = append(b, macB[:]...)
	b = append(b, macA[:]...)
	v6 := s.src.Addr().Is6()
	tcpLen := 20 + len(s.payload)
	if v6 {
		b = append(b, 0x86, 0xdd)
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(tcpLen))
		b = append(b, 6, 64)
		a, d := s.src.Addr().As16(), s.dst.Addr().As16()
		b = append(b, a[:]...)
		b = append(b, d[:]...)
	} else {
		b = append(b, 0x08, 0x00)
		ip := len(b)
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+tcpLen))
		b = append(b, 0, 0, 0x40, 0, 64, 6, 0, 0)
		a, d := s.src.Addr().As4(), s.dst.Addr().As4()
		b = append(b, a[:]...)
		b = append(b, d[:]...)
		var sum uint32
		for i := ip; i < ip+20; i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(b[ip+10:], ^uint16(sum))
	}
	b = binary.BigEndian.AppendUint16(b, s.src.Port())
	b = binary.BigEndian.AppendUint16(b, s.dst.Port())
	b = binary.BigEndian.AppendUint32(b, s.seq)
	b = binary.BigEndian.AppendUint32(b, s.ack)
	b = append(b, 5<<4, s.flags)
	b = append(b, 0xff, 0xff, 0, 0, 0, 0) // window, checksum (blank), urgent
	b = append(b, s.payload...)
	w.frame = b

	var rec [16]byte
	us := w.ts.UnixMicro()
	binary.LittleEndian.PutUint32(rec[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(rec[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(b)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(b)))
	w.w.Write(rec[:])
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("capgen: %w", err)
	}
	w.ts = w.ts.Add(w.step)
	w.Frames++
	w.Bytes += int64(len(b))
}

// flow is a connection's segments, taken one at a time.
type flow struct {
	segs []seg
	i    int
}

// scheduler interleaves flows: up to width at once, each frame taken from
// one of them at random, so connections overlap as on a real link.
type scheduler struct {
	w      *Writer
	rnd    *rand.Rand
	width  int
	active []*flow
}

func (s *scheduler) add(f *flow) {
	for len(s.active) >= s.width {
		s.step()
	}
	s.active = append(s.active, f)
}

func (s *scheduler) step() {
	i := s.rnd.IntN(len(s.active))
	f := s.active[i]
	s.w.write(&f.segs[f.i])
	f.i++
	if f.i == len(f.segs) {
		last := len(s.active) - 1
		s.active[i] = s.active[last]
		s.active[last] = nil
		s.active = s.active[:last]
	}
}

func (s *scheduler) drain() {
	for len(s.active) > 0 {
		s.step()
	}
}

// conn builds the segments of one TCP connection.
type conn struct {
	c, s       netip.AddrPort
	cseq, sseq uint32
	segs       []seg
}

func newConn(c, s netip.AddrPort, isn uint32) *conn {
	return &conn{c: c, s: s, cseq: isn, sseq: isn ^ 0x5a5a5a5a}
}

func (k *conn) add(fromClient bool, flags uint8, payload []byte) {
	if fromClient {
		k.segs = append(k.segs, seg{src: k.c, dst: k.s, seq: k.cseq, ack: k.sseq, flags: flags, payload: payload})
		k.cseq += uint32(len(payload))
	} else {
		k.segs = append(k.segs, seg{src: k.s, dst: k.c, seq: k.sseq, ack: k.cseq, flags: flags, payload: payload})
		k.sseq += uint32(len(payload))
	}
	if flags&(syn|fin) != 0 {
		if fromClient {
			k.cseq++
		} else {
			k.sseq++
		}
	}
}

func (k *conn) handshake() {
	k.segs = append(k.segs, seg{src: k.c, dst: k.s, seq: k.cseq, flags: syn})
	k.cseq++
	k.add(false, syn|ack, nil)
	k.add(true, ack, nil)
}

func (k *conn) close() {
	k.add(true, fin|ack, nil)
	k.add(false, fin|ack, nil)
	k.add(true, ack, nil)
}

// take puts d's segments (those of a data connection) on k, in order, and
// leaves d none.
func (k *conn) take(d *conn) {
	k.segs = append(k.segs, d.segs...)
	d.segs = d.segs[:0]
}

// say sends a line on a command channel and has the peer acknowledge it.
func (k *conn) say(fromClient bool, line string) {
	k.add(fromClient, psh|ack, []byte(line+"\r\n"))
}

// data sends n bytes from one side in segments of mss, acknowledged every
// second segment.
func (k *conn) data(fromClient bool, n int) {
	for i := 0; n > 0; i++ {
		m := min(n, mss)
		k.add(fromClient, ack, payload[:m])
		n -= m
		if i%2 == 1 || n == 0 {
			k.add(!fromClient, ack, nil)
		}
	}
}

const mss = 1448

var payload = func() []byte {
	b := make([]byte, mss)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}()

func (k *conn) flow() *flow { return &flow{segs: k.segs} }
