// Package pcapsave keeps the FTP traffic a tap sees as rotating pcapng
// files, ready for Wireshark: the frames of every command channel and of
// its data channels, and nothing else.
//
// A Saver is a pipeline sink with the PacketObserver interface. It learns
// the connections from events (session.start, data.expect, data.open and
// their ends), which the pipeline dispatches before it hands over the frame
// that caused them, so the SYN that starts a session is kept. A data
// connection's SYN that comes before the reply announcing its port (through
// the other tap port) is held for a moment and written once the
// announcement is seen, as the tracker matches it.
//
// Each file has one interface block per tap port (port A, port B, or the
// single capture of a replay), so Wireshark shows which side each frame
// entered on, and the first frame of each session carries a comment naming
// its session id (frame.comment). Files rotate by size and by packet time;
// when the files in the directory pass the total cap, the oldest go first.
//
// pcapgo's NgWriter writes the section and interface blocks and the
// frames; it has no packet options, so the few commented frames are written
// here as enhanced packet blocks of the same form with an opt_comment
// (pcapng, draft-ietf-opsawg-pcapng, section 4.3).
package pcapsave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
)

// Defaults of Config.
const (
	DefaultMaxFileBytes  = 64 << 20
	DefaultMaxAge        = time.Hour
	DefaultMaxTotalBytes = 1 << 30
)

// linger is how long a connection's frames are still kept after its end
// (the last ACKs, retransmissions of the FIN), and an announcement after
// it was made, in packet time.
const (
	linger       = 30 * time.Second
	expectLinger = 2 * time.Minute
	holdFor      = 10 * time.Second // an unmatched SYN or greeting waits this long for its session
	maxHeld      = 64
	maxConns     = 1 << 16 // connections and announcements remembered
	sweepEvery   = 10 * time.Second
	filePrefix   = "ftptap-"
	fileSuffix   = ".pcapng"
)

// Config configures a Saver. Zero fields take the defaults.
type Config struct {
	// Dir is where the files go; it is created if missing.
	Dir string
	// Ports names the interface blocks, one per tap port: the names of
	// port A and port B live, or the capture files of a replay. Empty: one
	// block, "capture".
	Ports []string
	// MaxFileBytes rotates a file when it reaches this size. Default: 64 MiB.
	MaxFileBytes int64
	// MaxAge rotates a file when its frames span this long (packet time).
	// Default: 1h.
	MaxAge time.Duration
	// MaxTotalBytes caps the files in Dir; the oldest are removed first.
	// Default: 1 GiB. It must hold two files.
	MaxTotalBytes int64
	// Emit, when not nil, reports an alert (pcap_stopped) when a write fails;
	// saving stops then, the tap goes on. Called on the pipeline goroutine.
	Emit func(event.Event)
}

// Stats are the saver's counters, safe to read from any goroutine.
type Stats struct {
	Frames  atomic.Int64 // frames written
	Bytes   atomic.Int64 // bytes of files written
	Files   atomic.Int64 // files opened
	Removed atomic.Int64 // old files removed for the total cap
	Stopped atomic.Int64 // 1 once a write failed
}

// conn is a connection (or an announced endpoint) whose frames are kept.
type conn struct {
	session uint64
	until   time.Time // zero: open
}

type connKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) connKey {
	if x.Addr().Less(y.Addr()) || x.Addr() == y.Addr() && x.Port() < y.Port() {
		return connKey{x, y}
	}
	return connKey{y, x}
}

type held struct {
	src  netip.AddrPort
	dst  netip.AddrPort
	f    pipeline.Frame
	data []byte
}

// Saver writes the FTP frames it is handed to rotating pcapng files.
type Saver struct {
	cfg       Config
	conns     map[connKey]*conn
	expects   map[netip.AddrPort]*conn
	sessions  map[uint64]string // comment still to write, by session
	held      []held
	now       time.Time
	nextSweep time.Time

	file    *os.File
	cw      countWriter
	w       *pcapgo.NgWriter
	start   time.Time // packet time of the file's first frame
	ifaces  map[ifaceKey]int
	seq     int
	stopped bool
	stats   Stats
}

type ifaceKey struct {
	side event.Side
	link layers.LinkType
}

// New returns a Saver writing under cfg.Dir.
func New(cfg Config) (*Saver, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pcapsave: no directory")
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxTotalBytes <= 0 {
		cfg.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if cfg.MaxTotalBytes < 2*cfg.MaxFileBytes {
		return nil, fmt.Errorf("pcapsave: a total cap of %d bytes does not hold two files of %d", cfg.MaxTotalBytes, cfg.MaxFileBytes)
	}
	if len(cfg.Ports) == 0 {
		cfg.Ports = []string{"capture"}
	}
	if len(cfg.Ports) > 2 {
		return nil, fmt.Errorf("pcapsave: %d ports: a tap has two", len(cfg.Ports))
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("pcapsave: %w", err)
	}
	return &Saver{
		cfg:      cfg,
		conns:    make(map[connKey]*conn),
		expects:  make(map[netip.AddrPort]*conn),
		sessions: make(map[uint64]string),
	}, nil
}

// Stats returns the saver's counters.
func (s *Saver) Stats() *Stats { return &s.stats }

// Event learns the connections to keep from the tracker's events.
func (s *Saver) Event(ev *event.Event, _ []byte) {
	if ev.Proto != event.ProtoFTP || ev.Session == 0 {
		return
	}
	if ev.Time.After(s.now) {
		s.now = ev.Time
	}
	switch ev.Type {
	case event.TypeSessionStart:
		s.keep(keyOf(ev.Client, ev.Server), ev.Session)
		defer s.releaseConn(keyOf(ev.Client, ev.Server), ev.Session) // after the comment is set
		if len(s.sessions) < maxConns {
			s.sessions[ev.Session] = fmt.Sprintf("ftptap session s%d: client %s, server %s", ev.Session, ev.Client, ev.Server)
		}
	case event.TypeSessionEnd:
		s.end(keyOf(ev.Client, ev.Server))
		delete(s.sessions, ev.Session)
		if s.w != nil {
			s.w.Flush()
		}
	case event.TypeDataExpect:
		if c := s.expects[ev.Endpoint]; c != nil {
			c.session, c.until = ev.Session, s.now.Add(expectLinger)
		} else if len(s.expects) < maxConns {
			s.expects[ev.Endpoint] = &conn{session: ev.Session, until: s.now.Add(expectLinger)}
		}
		s.release(ev.Endpoint)
	case event.TypeDataOpen:
		s.keep(keyOf(ev.From, ev.To), ev.Session)
		// A connection opened with no announcement seen (a session gone
		// TLS): its SYN came before this event.
		s.releaseConn(keyOf(ev.From, ev.To), ev.Session)
	case event.TypeDataClose:
		s.end(keyOf(ev.From, ev.To))
	case event.TypeDataFail:
		if ev.From.IsValid() {
			s.end(keyOf(ev.From, ev.Endpoint))
		}
	}
}

func (s *Saver) keep(k connKey, session uint64) {
	if c := s.conns[k]; c != nil {
		c.session, c.until = session, time.Time{}
		return
	}
	if len(s.conns) < maxConns {
		s.conns[k] = &conn{session: session}
	}
}

func (s *Saver) end(k connKey) {
	if c := s.conns[k]; c != nil {
		c.until = s.now.Add(linger)
	}
}

// Packet writes f if it belongs to an FTP session.
func (s *Saver) Packet(f *pipeline.Frame, pkt *event.Packet) {
	if pkt == nil || s.stopped {
		return
	}
	if f.Info.Timestamp.After(s.now) {
		s.now = f.Info.Timestamp
	}
	if !s.now.Before(s.nextSweep) {
		s.sweep()
	}
	k := keyOf(pkt.Src, pkt.Dst)
	c := s.conns[k]
	if c == nil {
		e := s.expects[pkt.Dst]
		if e == nil {
			e = s.expects[pkt.Src]
		}
		if e == nil {
			// A SYN may belong to a data connection announced a moment
			// later, or to a command channel found by its content on
			// another port, with its 220 greeting: keep them a while.
			if pkt.Flags.Has(event.FlagSYN) || bytes.HasPrefix(pkt.Payload, []byte("220")) {
				s.hold(f, pkt.Src, pkt.Dst)
			}
			return
		}
		s.keep(k, e.session)
		if c = s.conns[k]; c == nil {
			return
		}
	}
	s.write(f, c.session)
}

// hold keeps a copy of an unmatched SYN for a moment.
func (s *Saver) hold(f *pipeline.Frame, src, dst netip.AddrPort) {
	if len(s.held) >= maxHeld {
		s.held = slices.Delete(s.held, 0, 1)
	}
	h := held{src: src, dst: dst, f: *f, data: slices.Clone(f.Data)}
	h.f.Data = h.data
	s.held = append(s.held, h)
}

// release writes the held SYNs to an endpoint just announced.
func (s *Saver) release(ep netip.AddrPort) {
	c := s.expects[ep]
	kept := s.held[:0]
	for _, h := range s.held {
		switch {
		case s.now.Sub(h.f.Info.Timestamp) > holdFor:
		case h.dst == ep && c != nil:
			s.write(&h.f, c.session)
		default:
			kept = append(kept, h)
		}
	}
	clear(s.held[len(kept):])
	s.held = kept
}

// releaseConn writes the held frames of connection k, in order.
func (s *Saver) releaseConn(k connKey, session uint64) {
	kept := s.held[:0]
	for _, h := range s.held {
		if keyOf(h.src, h.dst) == k {
			s.write(&h.f, session)
			continue
		}
		kept = append(kept, h)
	}
	clear(s.held[len(kept):])
	s.held = kept
}

func (s *Saver) sweep() {
	s.nextSweep = s.now.Add(sweepEvery)
	for k, c := range s.conns {
		if !c.until.IsZero() && s.now.After(c.until) {
			delete(s.conns, k)
		}
	}
	for k, c := range s.expects {
		if s.now.After(c.until) {
			delete(s.expects, k)
		}
	}
	s.release(netip.AddrPort{})
}

// write writes one frame, opening or rotating the file as needed.
func (s *Saver) write(f *pipeline.Frame, session uint64) {
	ts := f.Info.Timestamp
	if s.w != nil && (s.cw.n >= s.cfg.MaxFileBytes || ts.Sub(s.start) >= s.cfg.MaxAge) {
		if err := s.closeFile(); err != nil {
			s.fail(err)
			return
		}
	}
	if s.w == nil {
		if err := s.open(f); err != nil {
			s.fail(err)
			return
		}
	}
	id, err := s.iface(f)
	if err != nil {
		s.fail(err)
		return
	}
	ci := f.Info
	ci.InterfaceIndex = id
	ci.CaptureLength = len(f.Data)
	if ci.Length < ci.CaptureLength {
		ci.Length = ci.CaptureLength
	}
	if comment, ok := s.sessions[session]; ok {
		delete(s.sessions, session)
		err = s.writeCommented(ci.InterfaceIndex, ci.Timestamp, ci.Length, f.Data, comment)
	} else {
		err = s.w.WritePacket(ci, f.Data)
	}
	if err != nil {
		s.fail(err)
		return
	}
	s.stats.Frames.Add(1)
}

// open starts a new file named after the packet time of its first frame.
func (s *Saver) open(f *pipeline.Frame) error {
	s.seq++
	name := filepath.Join(s.cfg.Dir, fmt.Sprintf("%s%s-%04d%s", filePrefix, f.Info.Timestamp.UTC().Format("20060102T150405Z"), s.seq, fileSuffix))
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	s.file = fh
	s.cw = countWriter{w: fh, stats: &s.stats}
	s.start = f.Info.Timestamp
	s.ifaces = make(map[ifaceKey]int)
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "ftptap"
	opts.SectionInfo.Comment = "FTP command and data channels kept by ftptap"
	// Every port's interface block comes first, so a reader knows them
	// all before the first frame.
	for i, name := range s.cfg.Ports {
		side := event.SideUnknown
		if len(s.cfg.Ports) > 1 {
			side = event.Side(i + 1)
		}
		intf := s.intf(side, name, f.LinkType)
		if i == 0 {
			s.w, err = pcapgo.NewNgWriterInterface(&s.cw, intf, opts)
			if err != nil {
				return err
			}
		} else if _, err := s.w.AddInterface(intf); err != nil {
			return err
		}
		s.ifaces[ifaceKey{side, f.LinkType}] = i
	}
	s.stats.Files.Add(1)
	return s.w.Flush()
}

func (s *Saver) intf(side event.Side, name string, link layers.LinkType) pcapgo.NgInterface {
	intf := pcapgo.DefaultNgInterface
	intf.Name = name
	intf.LinkType = link
	intf.SnapLength = 262144
	if side != event.SideUnknown {
		intf.Description = "tap port " + strings.ToUpper(side.String())
	}
	return intf
}

// iface returns the interface block of f's port and link type, adding one
// for a link type the port has not had.
func (s *Saver) iface(f *pipeline.Frame) (int, error) {
	side := f.Side
	if len(s.cfg.Ports) == 1 || side > event.SideB {
		side = event.SideUnknown
	}
	k := ifaceKey{side, f.LinkType}
	if id, ok := s.ifaces[k]; ok {
		return id, nil
	}
	name := s.cfg.Ports[0]
	if side == event.SideB && len(s.cfg.Ports) > 1 {
		name = s.cfg.Ports[1]
	}
	id, err := s.w.AddInterface(s.intf(side, name, f.LinkType))
	if err != nil {
		return 0, err
	}
	s.ifaces[k] = id
	return id, nil
}

// writeCommented writes an enhanced packet block with an opt_comment.
func (s *Saver) writeCommented(ifid int, ts time.Time, origLen int, data []byte, comment string) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	pad := func(n int) int { return (4 - n&3) & 3 }
	optLen := 4 + len(comment) + pad(len(comment)) + 4 // opt_comment, opt_endofopt
	total := 28 + len(data) + pad(len(data)) + optLen + 4
	b := make([]byte, 0, total)
	le := binary.LittleEndian
	b = le.AppendUint32(b, 6) // enhanced packet block
	b = le.AppendUint32(b, uint32(total))
	b = le.AppendUint32(b, uint32(ifid))
	ns := uint64(ts.UnixNano())
	b = le.AppendUint32(b, uint32(ns>>32))
	b = le.AppendUint32(b, uint32(ns))
	b = le.AppendUint32(b, uint32(len(data)))
	b = le.AppendUint32(b, uint32(origLen))
	b = append(b, data...)
	b = append(b, make([]byte, pad(len(data)))...)
	b = le.AppendUint16(b, 1) // opt_comment
	b = le.AppendUint16(b, uint16(len(comment)))
	b = append(b, comment...)
	b = append(b, make([]byte, pad(len(comment)))...)
	b = le.AppendUint32(b, 0) // opt_endofopt
	b = le.AppendUint32(b, uint32(total))
	_, err := s.cw.Write(b)
	return err
}

// closeFile flushes and closes the current file, then applies the total
// cap.
func (s *Saver) closeFile() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.file.Close(); err == nil {
		err = cerr
	}
	s.w, s.file = nil, nil
	if err != nil {
		return err
	}
	return s.trim()
}

// trim removes the oldest files until those left, and a new file at its
// largest, fit under the total cap.
func (s *Saver) trim() error {
	ents, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return err
	}
	type fi struct {
		name string
		size int64
	}
	var files []fi
	var total int64
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), filePrefix) || !strings.HasSuffix(e.Name(), fileSuffix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, fi{e.Name(), info.Size()})
		total += info.Size()
	}
	// Names sort by the time of their first frame.
	slices.SortFunc(files, func(a, b fi) int { return strings.Compare(a.name, b.name) })
	for len(files) > 0 && total+s.cfg.MaxFileBytes > s.cfg.MaxTotalBytes {
		if err := os.Remove(filepath.Join(s.cfg.Dir, files[0].name)); err != nil {
			return err
		}
		total -= files[0].size
		files = files[1:]
		s.stats.Removed.Add(1)
	}
	return nil
}

// fail stops saving after a write error: one alert, the tap goes on.
func (s *Saver) fail(err error) {
	if s.stopped {
		return
	}
	s.stopped = true
	s.stats.Stopped.Store(1)
	if s.file != nil {
		s.file.Close()
		s.w, s.file = nil, nil
	}
	if s.cfg.Emit != nil {
		s.cfg.Emit(event.Event{Type: event.TypeAlert, Proto: event.ProtoFTP, Kind: "pcap_stopped",
			Detail: fmt.Sprintf("saving the FTP traffic stopped: %v; the tap goes on", err)})
	}
}

// Close flushes and closes the current file.
func (s *Saver) Close() error {
	if s.stopped {
		return nil
	}
	if err := s.closeFile(); err != nil {
		return fmt.Errorf("pcapsave: %w", err)
	}
	return nil
}

// countWriter counts the bytes written to the current file.
type countWriter struct {
	w     io.Writer
	n     int64
	stats *Stats
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.stats.Bytes.Add(int64(n))
	return n, err
}
