package leds

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

var (
	pasvEP  = netip.MustParseAddrPort("10.77.0.1:40004")
	pasvEP2 = netip.MustParseAddrPort("10.77.0.1:40005")
	portEP  = netip.MustParseAddrPort("10.77.0.2:50001")
)

func expect(s uint64, m event.Mode, ep netip.AddrPort) event.Event {
	return event.Event{Type: event.TypeDataExpect, Session: s, Mode: m, Endpoint: ep}
}

func open(s uint64, m event.Mode, ep netip.AddrPort) event.Event {
	return event.Event{Type: event.TypeDataOpen, Session: s, Mode: m, Endpoint: ep}
}

func fail(s uint64, m event.Mode, ep netip.AddrPort, reason string) event.Event {
	return event.Event{Type: event.TypeDataFail, Session: s, Mode: m, Endpoint: ep, Reason: reason}
}

func xferEnd(s uint64, m event.Mode, ep netip.AddrPort) event.Event {
	return event.Event{Type: event.TypeTransferEnd, Session: s, Mode: m, Endpoint: ep, Command: "RETR"}
}

func closeEv(s uint64, m event.Mode, ep netip.AddrPort) event.Event {
	return event.Event{Type: event.TypeDataClose, Session: s, Mode: m, Endpoint: ep, Reason: "close"}
}

func sessEnd(s uint64) event.Event {
	return event.Event{Type: event.TypeSessionEnd, Session: s, Reason: "quit"}
}

// step is one event applied at a time, or a change of degraded or port
// state when ev is zero.
type step struct {
	ms       int
	ev       event.Event
	degraded string // "reason" or "-reason"
	portDown event.Side
	portUp   event.Side
}

// query is the states expected at a time, in the order of Roles.
type query struct {
	ms   int
	want [4]State
}

const (
	off  = StateOff
	on   = StateOn
	fast = StateBlinkFast
	slow = StateBlinkSlow
)

func TestModel(t *testing.T) {
	tests := []struct {
		name    string
		steps   []step
		queries []query
	}{
		{
			name:    "idle",
			queries: []query{{0, [4]State{off, off, off, slow}}},
		},
		{
			name: "passive session lifecycle",
			steps: []step{
				{ms: 100, ev: expect(1, event.ModePassive, pasvEP)},
				{ms: 200, ev: open(1, event.ModePassive, pasvEP)},
				{ms: 900, ev: xferEnd(1, event.ModePassive, pasvEP)},
			},
			queries: []query{
				{50, [4]State{off, off, off, slow}},
				{150, [4]State{off, on, off, slow}},
				{500, [4]State{off, fast, off, slow}},
				{1000, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "active upload, transfer.end without endpoint",
			steps: []step{
				{ms: 0, ev: expect(2, event.ModeActive, portEP)},
				{ms: 10, ev: open(2, event.ModeActive, portEP)},
				{ms: 20, ev: xferEnd(2, event.ModeActive, netip.AddrPort{})},
			},
			queries: []query{
				{5, [4]State{on, off, off, slow}},
				{15, [4]State{fast, off, off, slow}},
				{25, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "two passive channels: one moving keeps fast blink",
			steps: []step{
				{ms: 0, ev: expect(1, event.ModePassive, pasvEP)},
				{ms: 0, ev: expect(3, event.ModePassive, pasvEP2)},
				{ms: 10, ev: open(3, event.ModePassive, pasvEP2)},
				{ms: 20, ev: xferEnd(3, event.ModePassive, pasvEP2)},
				{ms: 30, ev: sessEnd(1)},
			},
			queries: []query{
				{15, [4]State{off, fast, off, slow}},
				{25, [4]State{off, on, off, slow}},
				{35, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "data.close ends a channel; its transfer.end closes no other",
			steps: []step{
				{ms: 0, ev: expect(1, event.ModePassive, pasvEP)},
				{ms: 10, ev: open(1, event.ModePassive, pasvEP)},
				{ms: 20, ev: expect(1, event.ModePassive, pasvEP2)},
				{ms: 20, ev: open(1, event.ModePassive, pasvEP2)},
				{ms: 30, ev: closeEv(1, event.ModePassive, pasvEP)},
				{ms: 40, ev: xferEnd(1, event.ModePassive, pasvEP)},
				{ms: 50, ev: closeEv(1, event.ModePassive, pasvEP2)},
			},
			queries: []query{
				{35, [4]State{off, fast, off, slow}},
				{45, [4]State{off, fast, off, slow}},
				{55, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "refused passive channel lights alert for the hold",
			steps: []step{
				{ms: 0, ev: expect(1, event.ModePassive, pasvEP)},
				{ms: 100, ev: fail(1, event.ModePassive, pasvEP, "refused")},
			},
			queries: []query{
				{50, [4]State{off, on, off, slow}},
				{100, [4]State{off, off, on, slow}},
				{100 + 9999, [4]State{off, off, on, slow}},
				{100 + 10000, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "timed-out active channel lights alert",
			steps: []step{
				{ms: 0, ev: expect(1, event.ModeActive, portEP)},
				{ms: 30000, ev: fail(1, event.ModeActive, portEP, "timeout")},
			},
			queries: []query{
				{29000, [4]State{on, off, off, slow}},
				{31000, [4]State{off, off, on, slow}},
				{41000, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "unused announcement is no failure",
			steps: []step{
				{ms: 0, ev: expect(1, event.ModePassive, pasvEP)},
				{ms: 10, ev: fail(1, event.ModePassive, pasvEP, "unused")},
			},
			queries: []query{{20, [4]State{off, off, off, slow}}},
		},
		{
			name: "alert event extends the hold",
			steps: []step{
				{ms: 0, ev: event.Event{Type: event.TypeAlert, Kind: "line_too_long"}},
				{ms: 5000, ev: event.Event{Type: event.TypeAlert, Kind: "line_too_long"}},
			},
			queries: []query{
				{12000, [4]State{off, off, on, slow}},
				{15000, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "degraded blinks alert until every reason recovers",
			steps: []step{
				{ms: 0, degraded: "capture"},
				{ms: 0, degraded: "nats"},
				{ms: 10, degraded: "-capture"},
				{ms: 20, degraded: "-nats"},
			},
			queries: []query{
				{15, [4]State{off, off, fast, slow}},
				{25, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "heartbeat dark while a port is down",
			steps: []step{
				{ms: 10, portDown: event.SideB},
				{ms: 20, portUp: event.SideB},
			},
			queries: []query{
				{15, [4]State{off, off, off, off}},
				{25, [4]State{off, off, off, slow}},
			},
		},
		{
			name: "data events of unknown mode are ignored",
			steps: []step{
				{ms: 0, ev: expect(1, event.ModeUnknown, pasvEP)},
				{ms: 0, ev: open(1, event.ModeUnknown, pasvEP)},
			},
			queries: []query{{10, [4]State{off, off, off, slow}}},
		},
		{
			name: "data.open without announcement (midstream) counts",
			steps: []step{
				{ms: 0, ev: open(7, event.ModePassive, pasvEP)},
				{ms: 10, ev: sessEnd(7)},
			},
			queries: []query{
				{5, [4]State{off, fast, off, slow}},
				{15, [4]State{off, off, off, slow}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Queries interleave with steps by time.
			var m Model
			si := 0
			for _, q := range tt.queries {
				for si < len(tt.steps) && tt.steps[si].ms <= q.ms {
					apply(&m, tt.steps[si])
					si++
				}
				var got [4]State
				for i, r := range Roles {
					got[i] = m.State(r, at(q.ms))
				}
				if diff := cmp.Diff(q.want, got); diff != "" {
					t.Errorf("at %dms: states of %v (-want +got):\n%s", q.ms, Roles, diff)
				}
			}
		})
	}
}

func apply(m *Model, s step) {
	switch {
	case s.degraded != "" && s.degraded[0] == '-':
		m.SetDegraded(s.degraded[1:], false)
	case s.degraded != "":
		m.SetDegraded(s.degraded, true)
	case s.portDown != event.SideUnknown:
		m.SetPort(s.portDown, false)
	case s.portUp != event.SideUnknown:
		m.SetPort(s.portUp, true)
	default:
		ev := s.ev
		ev.Time = at(s.ms)
		m.Apply(&ev, ev.Time)
	}
}

func TestModelNextChange(t *testing.T) {
	var m Model
	if _, ok := m.NextChange(t0); ok {
		t.Fatal("NextChange of an idle model: a change is due")
	}
	m.AlertHold = 3 * time.Second
	ev := fail(1, event.ModePassive, pasvEP, "refused")
	m.Apply(&ev, t0)
	next, ok := m.NextChange(t0)
	if !ok || !next.Equal(at(3000)) {
		t.Fatalf("NextChange = %v, %v; want %v, true", next, ok, at(3000))
	}
	if _, ok := m.NextChange(at(3000)); ok {
		t.Error("NextChange at the end of the hold: another change is due")
	}
	m.SetDegraded("nats", true)
	if _, ok := m.NextChange(t0); ok {
		t.Error("NextChange while degraded: the hold's end changes nothing, but a change is due")
	}
}

func TestModelBounded(t *testing.T) {
	var m Model
	for i := range maxChannels + 10 {
		ev := expect(uint64(i+1), event.ModePassive, pasvEP)
		m.Apply(&ev, t0)
	}
	open, dropped := m.Channels()
	if open != maxChannels || dropped != 10 {
		t.Fatalf("Channels() = %d, %d; want %d, 10", open, dropped, maxChannels)
	}
	for i := range maxChannels + 10 {
		ev := sessEnd(uint64(i + 1))
		m.Apply(&ev, t0)
	}
	if got := m.State(RolePassive, t0); got != StateOff {
		t.Errorf("passive after every session ended = %v, want off", got)
	}
}

func TestLevel(t *testing.T) {
	tests := []struct {
		s    State
		ms   int // after a whole second
		want bool
	}{
		{StateOff, 0, false},
		{StateOn, 0, true},
		{StateUnknown, 0, false},
		{StateBlinkFast, 0, true},
		{StateBlinkFast, 99, true},
		{StateBlinkFast, 100, false},
		{StateBlinkFast, 199, false},
		{StateBlinkFast, 200, true},
		{StateBlinkSlow, 0, true},
		{StateBlinkSlow, 499, true},
		{StateBlinkSlow, 500, false},
		{StateBlinkSlow, 999, false},
	}
	for _, tt := range tests {
		if got := Level(tt.s, at(tt.ms)); got != tt.want {
			t.Errorf("Level(%v, +%dms) = %v, want %v", tt.s, tt.ms, got, tt.want)
		}
	}
	// Before the epoch the phase still starts lit.
	if !Level(StateBlinkSlow, time.Unix(-10, 0)) || Level(StateBlinkSlow, time.Unix(-10, 0).Add(600*time.Millisecond)) {
		t.Error("Level before 1970: wrong phase")
	}
}

func TestNames(t *testing.T) {
	for _, r := range Roles {
		if ParseRole(r.String()) != r {
			t.Errorf("ParseRole(%q) != %v", r.String(), r)
		}
	}
	if ParseRole("blue") != RoleUnknown || Role(99).String() != "unknown" || State(99).String() != "unknown" {
		t.Error("invalid role or state names")
	}
	want := []string{"unknown", "off", "on", "blink-fast", "blink-slow"}
	for i, w := range want {
		if got := State(i).String(); got != w {
			t.Errorf("State(%d) = %q, want %q", i, got, w)
		}
	}
}
