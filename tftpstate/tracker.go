package tftpstate

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/ftptap/ftptap/event"
)

// Stats are the tracker's counters.
type Stats struct {
	Requests   uint64 // RRQs and WRQs that started a transfer
	Repeats    uint64 // requests repeated by their client before any answer got through
	Ended      uint64 // tftp.end events
	Unmatched  uint64 // UDP datagrams that belong to no transfer
	Malformed  uint64 // datagrams on a transfer's ports, or to a server port, that are not valid TFTP
	CapHits    uint64 // requests dropped because MaxTransfers was reached
	ClockSteps uint64 // steps of the packet clock taken out (see clock)
}

// Tracker follows TFTP transfers. It is not safe for concurrent use: one
// goroutine feeds it, as for ftpstate.Tracker.
type Tracker struct {
	cfg  Config
	emit func(*event.Event)

	// byClient holds the transfers by the client's endpoint (its transfer
	// ID): a client port carries one transfer at a time.
	byClient map[netip.AddrPort]*transfer
	open     int // transfers in byClient that have not ended
	nextID   uint64
	now      time.Time
	swept    time.Time
	// now and swept have a monotonic reading (see hasMono)
	nowMono, sweptMono bool
	sweepAt            time.Time // swept plus a second (see Advance)

	lastCap, lastMalformed time.Time // global alerts, at most one a minute

	clk       event.Clock // the clock guard (see clock)
	clockMono bool        // the last time clock returned has a monotonic reading

	stats Stats
	seg   DataSegment // handed to cfg.OnData: reused, so DATA blocks do not allocate
}

// New returns a Tracker that calls emit for each event, on the goroutine
// that calls Feed, Advance or Flush. The event is valid only during the
// call. cfg is not kept; a nil cfg takes the defaults. Call Validate first:
// New does not check cfg.
func New(cfg *Config, emit func(*event.Event)) *Tracker {
	t := &Tracker{cfg: cfg.withDefaults(), emit: emit, byClient: make(map[netip.AddrPort]*transfer)}
	t.clk = event.Clock{Forward: clockStepForward, OnStep: func(time.Duration) { t.stats.ClockSteps++ }}
	return t
}

// Stats returns the counters.
func (t *Tracker) Stats() Stats { return t.stats }

// OpenTransfers returns the transfers in progress (not those that ended and
// linger).
func (t *Tracker) OpenTransfers() int { return t.open }

func (t *Tracker) isServerPort(p uint16) bool { return slices.Contains(t.cfg.ServerPorts, p) }

// Feed tracks one packet. Packets other than UDP datagrams and ICMP
// unreachables are ignored, as are datagrams of no TFTP transfer.
func (t *Tracker) Feed(p *event.Packet) {
	if p.Transport != event.TransportUDP && p.Transport != event.TransportUnreachable {
		return
	}
	raw := p.Time
	p.Time = t.clock(raw)
	if p.Time.After(t.now) {
		t.now, t.nowMono = p.Time, t.clockMono
	}
	if p.Transport == event.TransportUDP {
		t.datagram(p)
	} else {
		t.unreachable(p)
	}
	p.Time = raw
	t.sweepMaybe()
}

// clockStepForward is the jump forward of packet time that is a step of
// the clock (a Pi without a real-time clock whose time NTP sets while it
// runs), as ftpstate takes it by default; a jump back by more than
// event.ClockStepBack is one too.
const clockStepForward = 24 * time.Hour

// clock maps a packet (or Advance) time onto the tracker's time line, with
// steps of the clock taken out: transfers carry on across a step, their
// timeouts keep counting and their durations stay true. Events carry the
// new clock (see send). ftpstate reports the step (its clock_step alert).
func (t *Tracker) clock(raw time.Time) time.Time {
	now, mono := t.clk.Map(raw)
	t.clockMono = mono
	return now
}

// send emits an event, on the packets' clock.
func (t *Tracker) send(ev *event.Event) {
	ev.Time = ev.Time.Add(-t.clk.Shift())
	t.emit(ev)
}

func (t *Tracker) datagram(p *event.Packet) {
	if t.isServerPort(p.Dst.Port()) && len(p.Payload) >= 2 && p.Payload[0] == 0 && (p.Payload[1] == 1 || p.Payload[1] == 2) {
		t.request(p)
		return
	}
	// From a client to its server, or from the server to a client.
	if x := t.byClient[p.Src]; x != nil && p.Dst.Addr() == x.server.Addr() {
		x.fromClient(t, p)
		return
	}
	if x := t.byClient[p.Dst]; x != nil && p.Src.Addr() == x.server.Addr() {
		x.fromServer(t, p)
		return
	}
	t.stats.Unmatched++
}

func (t *Tracker) request(p *event.Packet) {
	pk, err := Parse(p.Payload)
	if err != nil {
		t.stats.Malformed++
		if t.now.Sub(t.lastMalformed) >= time.Minute || t.lastMalformed.IsZero() {
			t.lastMalformed = t.now
			t.alert(nil, p.Src, p.Dst, "tftp_malformed", "a malformed TFTP request from %v to %v: %v", p.Src, p.Dst, err)
		}
		return
	}
	if x := t.byClient[p.Src]; x != nil {
		if !x.ended && x.server == p.Dst && x.op == pk.Op && x.file == pk.File && x.mode == pk.Mode && x.clientPackets == 0 {
			// The client asks again: no answer reached it yet.
			x.requests++
			x.retransmits++
			x.repeat = true
			x.last = p.Time
			t.stats.Repeats++
			return
		}
		if !x.ended {
			x.abandoned = true
			t.end(x, "timeout")
		}
		delete(t.byClient, p.Src)
	}
	if len(t.byClient) >= t.cfg.MaxTransfers {
		t.sweep(true)
	}
	if len(t.byClient) >= t.cfg.MaxTransfers {
		t.stats.CapHits++
		if t.now.Sub(t.lastCap) >= time.Minute || t.lastCap.IsZero() {
			t.lastCap = t.now
			t.alert(nil, p.Src, p.Dst, "tftp_too_many_transfers",
				"%d TFTP transfers at once (the most tracked): the request from %v for %q is not followed, nor others for a minute", t.cfg.MaxTransfers, p.Src, pk.File)
		}
		return
	}
	t.nextID++
	x := newTransfer(t.nextID, p, &pk)
	t.byClient[p.Src] = x
	t.open++
	t.stats.Requests++
	ev := x.event(event.TypeTFTPRequest, p.Time)
	t.send(&ev)
}

func (t *Tracker) unreachable(p *event.Packet) {
	// p.Src and p.Dst are those of the datagram that could not be
	// delivered.
	if x := t.byClient[p.Src]; x != nil && !x.ended && p.Dst.Addr() == x.server.Addr() {
		if p.Dst == x.server {
			x.unreachRequest, x.unreachCode = true, p.Code
		} else {
			x.unreachServer, x.unreachCode = true, p.Code
		}
		x.last = p.Time
		return
	}
	if x := t.byClient[p.Dst]; x != nil && !x.ended && p.Src.Addr() == x.server.Addr() {
		x.unreachClient, x.unreachCode = true, p.Code
		x.last = p.Time
		return
	}
	t.stats.Unmatched++
}

// Advance lets time pass to now (packet time, or a tick of a live source):
// transfers idle for Timeout end.
func (t *Tracker) Advance(now time.Time) {
	// The pipeline moves the clock on at every packet, TCP included, so
	// the common case is taken first: time moved on, by less than a
	// second since the last sweep, on a clock with no step to take out
	// (see event.Clock.Steady), with no monotonic reading. All that
	// clock, the update of now and sweepMaybe would do then is this.
	if t.clk.Steady(t.now) && !t.sweptMono && now.After(t.now) && now.Before(t.sweepAt) &&
		!t.now.IsZero() && !now.IsZero() && !event.HasMono(now) {
		t.clk.MoveOn(now)
		t.now, t.nowMono, t.clockMono = now, false, false
		return
	}
	t.advance(now)
}

// advance is Advance without its shortcut.
func (t *Tracker) advance(now time.Time) {
	now = t.clock(now)
	if now.After(t.now) {
		t.now, t.nowMono = now, t.clockMono
	}
	t.sweepMaybe()
}

// Flush ends every transfer still open, as at the end of a capture or when
// ftptap stops: reason "timeout" where the transfer had stalled (its last
// packets were repeats, or no answer came), "shutdown" where it was still
// moving.
func (t *Tracker) Flush(now time.Time) {
	now = t.clock(now)
	if now.After(t.now) {
		t.now, t.nowMono = now, t.clockMono
	}
	for _, x := range t.sorted() {
		if !x.ended {
			reason := "shutdown"
			if x.repeat || !x.tid.IsValid() || t.now.Sub(x.last) >= time.Second {
				reason = "timeout"
			}
			t.end(x, reason)
		}
		delete(t.byClient, x.client)
	}
}

func (t *Tracker) sweepMaybe() {
	if event.SubTime(t.now, t.swept, t.nowMono || t.sweptMono) >= time.Second {
		t.sweep(false)
	}
}

// sweep ends idle transfers and forgets finished ones after Linger (all
// finished ones when full).
func (t *Tracker) sweep(full bool) {
	t.swept, t.sweptMono = t.now, t.nowMono
	t.sweepAt = t.swept.Add(time.Second)
	for _, x := range t.sorted() {
		switch {
		case x.ended && (full || t.now.Sub(x.endedAt) >= t.cfg.Linger):
			delete(t.byClient, x.client)
		case !x.ended && t.now.Sub(x.last) >= t.cfg.Timeout:
			t.end(x, "timeout")
		}
	}
}

// sorted returns the transfers in the order they began, so that events
// do not depend on map order.
func (t *Tracker) sorted() []*transfer {
	xs := make([]*transfer, 0, len(t.byClient))
	for _, x := range t.byClient {
		xs = append(xs, x)
	}
	slices.SortFunc(xs, func(a, b *transfer) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return xs
}

// end reports the transfer's end and what went wrong, in plain words.
func (t *Tracker) end(x *transfer, reason string) {
	x.ended, x.endedAt = true, t.now
	t.open--
	ev := x.event(event.TypeTFTPEnd, x.last)
	ev.Reason = reason
	t.stats.Ended++
	t.send(&ev)
	for _, a := range x.diagnose(reason) {
		t.alert(x, x.client, x.server, a.kind, "%s", a.detail)
	}
}

func (t *Tracker) alert(x *transfer, client, server netip.AddrPort, kind, format string, args ...any) {
	ev := event.Event{Time: t.now, Type: event.TypeAlert, Proto: event.ProtoTFTP, Client: client, Server: server,
		Kind: kind, Detail: fmt.Sprintf(format, args...)}
	if x != nil {
		ev.Session = x.id
		ev.Time = x.last
	}
	t.send(&ev)
}

// onData hands a DATA block of x to Config.OnData.
func (t *Tracker) onData(x *transfer, block int64, repeat bool, data []byte) {
	if t.cfg.OnData == nil {
		return
	}
	t.seg = DataSegment{Transfer: x.id, File: x.file, Block: block, Offset: (block - 1) * x.blksize, Repeat: repeat, Payload: data}
	t.cfg.OnData(&t.seg)
	t.seg.Payload = nil
}
