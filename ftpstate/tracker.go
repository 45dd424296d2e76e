package ftpstate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ftptap/ftptap/event"
)

// Tracker follows FTP sessions through the packets fed to it and reports
// what happens as Events. It is not safe for concurrent use: one goroutine
// feeds it. Time comes only from the packets (and from Advance).
type Tracker struct {
	cfg  Config
	emit func(*event.Event)

	ctlPorts [8]uint16 // the first control ports, checked without a loop over a slice header
	nCtl     int

	conns     map[connKey]tracked // command channels and data connections (see conns.go)
	nSessions int                 // command channels in conns
	nData     int                 // data connections in conns
	order     []*session          // live sessions in start order: sweeps and Flush walk this, never a map
	expects   map[netip.AddrPort]*expectation
	dark      map[addrPair]*session // sessions gone TLS, by client and server address

	connPorts   [4096]uint32 // the entries of conns by connBucket (see lookup)
	expectPorts portCounts   // the ports of expects (see putExpect)
	darkPairs   [256]uint32  // the address pairs of dark, by pairBucket

	held      []heldPacket // unmatched SYN/RST packets, a ring of cfg.MaxHeldSYNs
	heldNext  int
	heldPorts portCounts            // the ports of held, to skip scans that would find nothing
	nAdopt    int                   // sessions with a transfer waiting for an unannounced data connection
	greets    [detectSlots]greeting // possible FTP greetings on other ports (see detect)
	greetN    int
	closed    [closedSlots]closedConn // command channels seen to end lately (see wasClosed)
	closedN   int

	lru       [2]lruList    // live sessions by last activity, silent ones apart (see budget.go)
	evicted   []evictedConn // command channels evicted lately (see evictedRetransmit), made at the first eviction
	sessBytes int           // what the live sessions hold, as counted by account

	nextID    uint64
	nextXfer  uint64
	seg       DataSegment // handed to cfg.OnData: reused, so data segments do not allocate
	now       time.Time   // the tracker's own time line: packet time plus clk's shift
	nextSweep time.Time

	clk event.Clock // the clock guard (see clock)

	out  event.Event // the event being emitted (see emitEvent)
	strs strArena    // the text of request and response events
	// spare holds empty arrays for sessions' command queues (see
	// pushPending).
	spare [][]pendingCmd

	stats         Stats
	lastGlobalCap struct {
		kind string
		at   time.Time
	}
}

// Stats counts what the tracker saw. Read it with Tracker.Stats.
type Stats struct {
	Packets        uint64 // TCP segments fed
	ControlPackets uint64 // segments of command channels
	DataPackets    uint64 // segments of data channels
	Sessions       uint64 // sessions started
	DataConns      uint64 // data connections matched
	Events         uint64 // events emitted
	Gaps           uint64 // holes skipped in command-channel streams
	CapHits        uint64 // times a cap was hit
	Anomalies      uint64 // anomalies seen, repeats reported once included
	HeldMatched    uint64 // SYNs matched after being held
	ClockSteps     uint64 // steps of the packet clock (see ClockStepAlert)
	Evicted        uint64 // sessions ended to make room (see Config.MaxBytes)
}

type addrPair struct{ client, server netip.Addr }

// closedSlots is how many ended command channels are remembered for
// cfg.Linger, so that their stray segments start no new session.
const closedSlots = 64

type closedConn struct {
	key connKey
	at  time.Time
}

// rememberClosed notes a command channel whose end (RST or FIN) was seen.
func (t *Tracker) rememberClosed(k connKey) {
	t.closed[t.closedN%closedSlots] = closedConn{key: k, at: t.now}
	t.closedN++
}

// wasClosed reports whether the command channel k ended within cfg.Linger:
// a segment with data that comes after its RST or FIN (in flight when the
// connection was reset, or a retransmission) belongs to it, not to a
// session caught mid-way.
func (t *Tracker) wasClosed(k connKey) bool {
	for i := range t.closed {
		c := &t.closed[i]
		if c.key == k && !c.at.IsZero() && t.now.Sub(c.at) < t.cfg.Linger {
			return true
		}
	}
	return false
}

type heldPacket struct {
	time     time.Time
	src, dst netip.AddrPort
	seq      uint32
	flags    event.Flags
	side     event.Side
	used     bool
	set      bool // counted in Tracker.heldPorts
}

// New returns a Tracker that calls emit for every event, on the goroutine
// that calls Feed, Advance or Flush. The *Event is valid only during the
// call. A nil cfg applies the defaults.
func New(cfg *Config, emit func(*event.Event)) *Tracker {
	t := &Tracker{
		cfg:     cfg.withDefaults(),
		emit:    emit,
		conns:   make(map[connKey]tracked),
		expects: make(map[netip.AddrPort]*expectation),
		dark:    make(map[addrPair]*session),
	}
	t.clk = event.Clock{Forward: t.cfg.ClockStep, OnStep: t.clockStep}
	t.held = make([]heldPacket, t.cfg.MaxHeldSYNs)
	for _, p := range t.cfg.ControlPorts {
		if t.nCtl < len(t.ctlPorts) {
			t.ctlPorts[t.nCtl] = p
			t.nCtl++
		}
	}
	return t
}

// Stats returns the tracker's counters.
func (t *Tracker) Stats() Stats { return t.stats }

// OpenSessions returns the number of sessions being tracked.
func (t *Tracker) OpenSessions() int { return t.nSessions }

func (t *Tracker) isControlPort(p uint16) bool {
	for i := 0; i < t.nCtl; i++ {
		if t.ctlPorts[i] == p {
			return true
		}
	}
	if len(t.cfg.ControlPorts) > len(t.ctlPorts) {
		return slices.Contains(t.cfg.ControlPorts[len(t.ctlPorts):], p)
	}
	return false
}

// ClockStepAlert is the alert kind of a step of the packet clock: a Pi has
// no real-time clock, boots with a stale time, and NTP steps it, often by
// months, forward or backward, while the tap runs; packet timestamps jump
// with it.
const ClockStepAlert = "clock_step"

// clock maps a packet (or Advance) time onto the tracker's time line. A
// step of the clock (a jump back by more than event.ClockStepBack, or
// forward by more than Config.ClockStep) is taken out: the tracker's time
// carries on from the time before the step, as if no time had passed in
// it, so open sessions survive, timeouts keep counting from where they
// were, and durations stay true. Events carry the new clock (see emitEvent). Each step is reported
// once, as a ClockStepAlert.
func (t *Tracker) clock(raw time.Time) time.Time {
	now, _ := t.clk.Map(raw)
	return now
}

// clockStep reports a step of the packet clock (see clock).
func (t *Tracker) clockStep(d time.Duration) {
	t.stats.ClockSteps++
	dir := "forward"
	if d < 0 {
		dir, d = "back", -d
	}
	t.alert(nil, ClockStepAlert, "packet time stepped %s by %v (the clock was set): sessions, timeouts and durations carry on across the step", dir, d)
}

// Now returns the tracker's current time on the clock of the packets
// (after a clock step, the new clock); zero before the first packet.
func (t *Tracker) Now() time.Time {
	if t.now.IsZero() {
		return t.now
	}
	return event.AddTime(t.now, -t.clk.Shift())
}

// Feed tracks one TCP segment. Segments must come in capture order (small
// reorderings between tap ports are tolerated). Feed does not keep p.
func (t *Tracker) Feed(p *event.Packet) {
	raw := p.Time
	p.Time = t.clock(raw)
	t.feed(p)
	p.Time = raw
}

func (t *Tracker) feed(p *event.Packet) {
	t.stats.Packets++
	if p.Time.After(t.now) {
		t.now = p.Time
	}
	if !t.nextSweep.IsZero() && !t.now.Before(t.nextSweep) {
		t.sweep()
	}
	if t.nextSweep.IsZero() {
		t.nextSweep = t.now.Add(time.Second)
	}
	k := keyOf(p.Src, p.Dst)
	c := t.lookup(k)
	if d := c.d; d != nil {
		if !d.done || !p.Flags.Has(event.FlagSYN) || p.Flags.Has(event.FlagACK) {
			t.stats.DataPackets++
			t.dataPacket(d, p)
			return
		}
		// A SYN on the ports of a data connection that has ended (one of
		// its FINs missing from the capture): a new connection, as when
		// a client announces the same port again.
		t.dropData(d) // the session of k, if any, stays
	}
	if s := c.s; s != nil {
		t.stats.ControlPackets++
		t.controlPacket(s, p)
		t.account(s)
		if t.Bytes() > t.cfg.MaxBytes {
			t.keepBudget(s, 0)
		}
		return
	}
	t.newConn(k, p)
	if t.Bytes() > t.cfg.MaxBytes {
		t.keepBudget(t.sessionAt(k), 0)
	}
}

// newConn looks at a segment of a connection not yet tracked.
func (t *Tracker) newConn(k connKey, p *event.Packet) {
	syn := p.Flags.Has(event.FlagSYN) && !p.Flags.Has(event.FlagACK)
	if syn {
		if t.isControlPort(p.Dst.Port()) {
			if !t.evictedRetransmit(k, p) {
				t.startSession(k, p, false)
			}
			return
		}
		if e := t.lookupExpect(p.Dst); e != nil {
			t.openData(k, e, p.Src, p.Dst, p, false)
			return
		}
		if s := t.darkSession(p.Src.Addr(), p.Dst.Addr()); s != nil {
			t.openDarkData(k, s, p)
			return
		}
		if s := t.adopter(p.Src, p.Dst); s != nil {
			t.openAdopted(k, s, p)
			return
		}
		t.hold(p)
		return
	}
	if p.Flags.Has(event.FlagRST) || p.Flags.Has(event.FlagSYN) {
		// A SYN-ACK or RST of a connection whose SYN we hold (or missed).
		t.hold(p)
		return
	}
	ctl := t.isControlPort(p.Dst.Port()) || t.isControlPort(p.Src.Port())
	if len(p.Payload) == 0 {
		if ctl && p.Flags.Has(event.FlagFIN) && !t.wasClosed(k) && !t.evictedRetransmit(k, p) {
			// A command channel the capture caught only as its
			// teardown (it began after the last bytes): a session all
			// the same, with no commands.
			t.startSession(k, p, true)
		}
		return
	}
	// A connection caught mid-way, with data.
	if e := t.lookupExpect(p.Dst); e != nil {
		t.openData(k, e, p.Src, p.Dst, p, true)
		return
	}
	if e := t.lookupExpect(p.Src); e != nil {
		t.openData(k, e, p.Dst, p.Src, p, true)
		return
	}
	if ctl {
		if t.wasClosed(k) || len(p.Payload) == 1 {
			// A stray of a session that ended, or a lone byte: a TCP
			// keep-alive (one old byte, often 0x00) is no sign of a
			// session, and no command comes one byte to a segment
			// but from a person typing; the next segment starts it.
			return
		}
		t.startSession(k, p, true)
		return
	}
	if !t.cfg.NoDetect {
		t.detect(k, p)
	}
}

// lookupExpect finds the expectation announced for a listening endpoint.
func (t *Tracker) lookupExpect(ep netip.AddrPort) *expectation {
	if len(t.expects) == 0 || !t.expectPorts.has(ep.Port()) {
		return nil
	}
	return t.expects[ep]
}

func (t *Tracker) darkSession(a, b netip.Addr) *session {
	if len(t.dark) == 0 || t.darkPairs[pairBucket(addrPair{a, b})] == 0 {
		return nil
	}
	if s := t.dark[addrPair{a, b}]; s != nil {
		return s
	}
	return t.dark[addrPair{b, a}]
}

// hold keeps an unmatched SYN (or SYN-ACK, RST) for cfg.SYNHold, in case the
// announcement of its endpoint arrives later through the other tap port.
func (t *Tracker) hold(p *event.Packet) {
	if len(t.held) == 0 {
		return
	}
	h := &t.held[t.heldNext]
	if h.set {
		t.heldPorts.removeHeld(h)
	}
	*h = heldPacket{time: p.Time, src: p.Src, dst: p.Dst, seq: p.Seq, flags: p.Flags, side: p.Side, set: true}
	t.heldPorts.addHeld(h)
	t.heldNext = (t.heldNext + 1) % len(t.held)
}

// replayHeld feeds the held packets of connections to ep (or from it) to the
// tracker again, now that ep is expected.
func (t *Tracker) replayHeld(ep netip.AddrPort) {
	n := len(t.held)
	port := ep.Port()
	if !t.heldPorts.has(port) {
		return
	}
	for i := 0; i < n; i++ {
		h := &t.held[(t.heldNext+i)%n]
		// The ports first: they rule out nearly all, and cost less than
		// the time (time.Time.Sub is dear).
		if h.dst.Port() != port && h.src.Port() != port || h.dst != ep && h.src != ep {
			continue
		}
		if h.used || h.time.IsZero() || t.now.Sub(h.time) > t.cfg.SYNHold {
			continue
		}
		p := event.Packet{Time: h.time, Side: h.side, Src: h.src, Dst: h.dst, Seq: h.seq, Flags: h.flags}
		k := keyOf(p.Src, p.Dst)
		if d := t.dataAt(k); d != nil {
			h.used = true
			t.dataPacket(d, &p)
			continue
		}
		if p.Flags.Has(event.FlagSYN) && !p.Flags.Has(event.FlagACK) {
			if e := t.lookupExpect(p.Dst); e != nil {
				h.used = true
				t.stats.HeldMatched++
				t.openData(k, e, p.Src, p.Dst, &p, false)
			}
		}
	}
}

// replayHeldConn feeds data connection d (key k), just opened by its SYN,
// the SYN-ACK or RST held for it: the answer can reach the tracker before
// the SYN, through the other tap port. Without the SYN-ACK the byte count
// of the server's side would start at the next segment the kernel filter
// passes, often the FIN. Only what was captured at or after the SYN (syn)
// counts: an answer older than the SYN belongs to an earlier connection of
// the same ports.
func (t *Tracker) replayHeldConn(k connKey, d *dataConn, syn time.Time) {
	n := len(t.held)
	if t.dataAt(k) != d {
		return
	}
	// The ports first, as in replayHeld: only then the time and the key.
	pf, pt := d.from.Port(), d.to.Port()
	if !t.heldPorts.has(pf) || !t.heldPorts.has(pt) {
		return
	}
	for i := 0; i < n; i++ {
		h := &t.held[(t.heldNext+i)%n]
		if hs, hd := h.src.Port(), h.dst.Port(); !(hs == pf && hd == pt || hs == pt && hd == pf) {
			continue
		}
		if h.used || h.time.IsZero() || h.time.Before(syn) || t.now.Sub(h.time) > t.cfg.SYNHold || keyOf(h.src, h.dst) != k {
			continue
		}
		if h.flags.Has(event.FlagSYN) && !h.flags.Has(event.FlagACK) {
			continue // an earlier SYN of the same ports
		}
		h.used = true
		p := event.Packet{Time: h.time, Side: h.side, Src: h.src, Dst: h.dst, Seq: h.seq, Flags: h.flags}
		t.dataPacket(d, &p)
		if t.dataAt(k) != d {
			return // the packet ended it
		}
	}
}

// Advance runs the timeouts due at now (packet time, or the wall clock of a
// live tap when no packets come). Time never goes backwards.
func (t *Tracker) Advance(now time.Time) {
	now = t.clock(now)
	if now.After(t.now) {
		t.now = now
	}
	t.sweep()
}

// Flush ends every open session with reason "shutdown" (or "quit" when QUIT
// was answered), reporting open transfers and unused data channels first.
func (t *Tracker) Flush(now time.Time) {
	now = t.clock(now)
	if now.After(t.now) {
		t.now = now
	}
	for _, s := range slices.Clone(t.order) {
		if !s.ended {
			reason := "shutdown"
			if s.quitOK {
				reason = "quit"
			} else if s.halfClosed {
				reason = "close" // its other FIN was still to come, or is missing
			}
			t.endSession(s, reason)
		}
	}
	t.order = t.order[:0]
}

// halfCloseQuiet is how long a session with one FIN may stay quiet before
// it is taken as ended: Linux's tcp_fin_timeout, the time a closed socket
// waits in FIN-WAIT-2 for the other FIN (anything later gets a RST).
const halfCloseQuiet = 60 * time.Second

// maxIdleWithData bounds how long a session with an open data connection
// may show no segment at all: the filter's samples come every GiB of data,
// so this allows for a transfer slower than 100 kB/s.
const maxIdleWithData = 6 * time.Hour

// sweep runs the timeouts: idle sessions, half-closed sessions, data
// connections nobody answered, transfers waiting for their other half.
func (t *Tracker) sweep() {
	t.nextSweep = t.now.Add(time.Second)
	live := t.order[:0]
	for _, s := range t.order {
		if s.ended {
			continue
		}
		t.sweepSession(s)
		if !s.ended {
			live = append(live, s)
		}
	}
	clear(t.order[len(live):])
	t.order = live
}

func (t *Tracker) sweepSession(s *session) {
	defer t.account(s)
	if !s.midstream && !s.handshook && t.now.Sub(s.start) >= t.cfg.HandshakeTimeout {
		// Only the client's SYN, for the handshake timeout: nothing
		// listens, a firewall drops the SYN, or the server's listen queue
		// is full. Its retransmissions do not count: a peer cannot hold a
		// session with them.
		t.endSession(s, "timeout")
		return
	}
	if len(s.wait) > 0 {
		t.releaseWait(s, false)
	}
	for _, d := range slices.Clone(s.conns) {
		if d.state == dataSynSent && t.now.Sub(d.synTime.Time()) >= t.cfg.DataTimeout {
			t.failData(d, "timeout")
		}
		if d.done && t.now.Sub(d.doneTime.Time()) >= t.cfg.DataTimeout {
			// One FIN seen and the other missing from the capture: the
			// connection is long over.
			t.dropData(d)
		}
	}
	for _, x := range slices.Clone(s.transfers) {
		t.maybeEndTransfer(x)
	}
	if len(s.expects) > 0 {
		t.expireIdle(s)
	}
	if s.halfClosed && t.now.Sub(s.last) >= halfCloseQuiet && !s.dataOpen() {
		// One FIN is the end of one direction only: the server goes on
		// with its last replies (a 226, then 221; vsftpd's "500 OOPS")
		// after the client's FIN. The other FIN may be missing from the
		// capture, though: the session ends once it has been quiet for
		// as long as a peer's TCP waits for it.
		t.endSession(s, s.endReason("close"))
		return
	}
	idle := t.now.Sub(s.last)
	if idle >= t.cfg.IdleTimeout && (!s.dataOpen() || idle >= maxIdleWithData) {
		// A session with an open data connection is not idle: a live
		// tap's kernel filter passes few of its segments (bytes come
		// from the sequence numbers of SYN and FIN), so a long transfer
		// may show nothing for a while. Not forever, though: a data
		// connection whose end the capture missed must not hold its
		// session (and a MaxSessions slot) for good.
		t.endSession(s, "timeout")
	}
}

// emitEvent fills the session fields of ev and sends it.
func (t *Tracker) emitEvent(s *session, ev *event.Event) {
	ev.Time = t.now
	ev.Proto = event.ProtoFTP
	if shift := t.clk.Shift(); shift != 0 && !ev.Time.IsZero() {
		ev.Time = ev.Time.Add(-shift) // the packets' clock, not the tracker's own
	}
	if ev.DurationMS < 0 {
		ev.DurationMS = 0 // a packet reordered across a transfer's end
	}
	if s != nil {
		ev.Session = s.id
		ev.Client = s.client
		ev.Server = s.server
	}
	t.stats.Events++
	// emit gets a copy in the tracker, not ev itself: passed on to a
	// function value, ev would escape, and every event would be a heap
	// allocation of its own at the caller.
	t.out = *ev
	t.emit(&t.out)
}

// alert reports an anomaly of a session (s may be nil).
func (t *Tracker) alert(s *session, kind, format string, a ...any) {
	t.stats.Anomalies++
	ev := event.Event{Type: event.TypeAlert, Kind: kind, Detail: fmt.Sprintf(format, a...)}
	t.emitEvent(s, &ev)
}

// alertOnce reports an anomaly once per session and kind; repeats are
// counted.
func (t *Tracker) alertOnce(s *session, kind, format string, a ...any) {
	if s.capsReported == nil {
		s.capsReported = map[string]int{}
	}
	s.capsReported[kind]++
	if s.capsReported[kind] > 1 {
		t.stats.Anomalies++
		return
	}
	t.alert(s, kind, format, a...)
}

// capHit counts a cap being reached and reports it once per session and
// kind (or once per minute for global caps), so a flood cannot flood events.
func (t *Tracker) capHit(s *session, kind, format string, a ...any) {
	t.stats.CapHits++
	if s != nil {
		t.alertOnce(s, kind, format, a...)
		return
	}
	if t.lastGlobalCap.kind == kind && t.now.Sub(t.lastGlobalCap.at) < time.Minute {
		t.stats.Anomalies++
		return
	}
	t.lastGlobalCap.kind, t.lastGlobalCap.at = kind, t.now
	t.alert(s, kind, format, a...)
}

// sessionCount returns the live sessions' count (for caps).
func (t *Tracker) sessionCount() int { return t.nSessions }

// describe names an endpoint's owner for plain-language details.
func describeMode(m event.Mode) string {
	if m == event.ModeActive {
		return "active-mode"
	}
	return "passive-mode"
}

// isPrivate reports whether a is an address that is not routed on the
// internet (RFC 1918, RFC 4193, link-local, loopback, CGNAT).
func isPrivate(a netip.Addr) bool {
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return true
	}
	if a.Is4() {
		b := a.As4()
		return b[0] == 100 && b[1]&0xc0 == 64 // 100.64.0.0/10
	}
	return false
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") }
