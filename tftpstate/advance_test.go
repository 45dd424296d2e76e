package tftpstate

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

// TestAdvanceShortcut: Advance, shortcut included, leaves the tracker as
// its long way (advance) does, and makes the same events, over times that
// move on a little, jump past a sweep, stand still, and (in the second
// run) step forward and back, are zero or carry a monotonic reading, with
// transfers that time out between them.
func TestAdvanceShortcut(t *testing.T) {
	for _, odd := range []bool{false, true} {
		var evA, evB []event.Event
		a := New(nil, func(ev *event.Event) { evA = append(evA, *ev) })
		b := New(nil, func(ev *event.Event) { evB = append(evB, *ev) })
		rng := rand.New(rand.NewPCG(1, 2))
		srv := netip.MustParseAddrPort("10.0.0.1:69")
		mono := time.Now()
		now := time.Unix(1764600000, 0)
		for i := range 20000 {
			var tm time.Time
			r := rng.IntN(100)
			if !odd && r >= 86 && r < 94 {
				r = 0
			}
			switch {
			case r < 80:
				now = now.Add(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
				tm = now
			case r < 84:
				now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Second))))
				tm = now
			case r < 86:
				tm = now // standing still
			case r < 88:
				now = now.Add(25 * time.Hour) // a step forward
				tm = now
			case r < 90:
				now = now.Add(-time.Minute) // a step back
				tm = now
			case r < 91:
				tm = time.Time{}
			case r < 94:
				mono = mono.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
				tm = mono
			default:
				// A request that starts a transfer, which times out later.
				cli := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(1024+i))
				p := req(OpRRQ, "f", "octet")
				for _, tr := range []*Tracker{a, b} {
					tr.Feed(&event.Packet{Time: now, Transport: event.TransportUDP, Src: cli, Dst: srv, Payload: p, Length: len(p)})
				}
				continue
			}
			a.Advance(tm)
			b.advance(tm)
			if a.clk.Last() != b.clk.Last() || a.clk.Shift() != b.clk.Shift() || a.clockMono != b.clockMono || a.now != b.now || a.nowMono != b.nowMono ||
				a.swept != b.swept || a.sweptMono != b.sweptMono || a.stats != b.stats || a.open != b.open {
				t.Fatalf("step %d (%v): Advance and advance differ:\n%+v\n%+v", i, tm, a.stats, b.stats)
			}
		}
		if len(evA) == 0 || len(evA) != len(evB) {
			t.Fatalf("%d and %d events", len(evA), len(evB))
		}
		for i := range evA {
			if string(evA[i].AppendJSON(nil)) != string(evB[i].AppendJSON(nil)) {
				t.Fatalf("event %d: %s, want %s", i, evA[i].AppendJSON(nil), evB[i].AppendJSON(nil))
			}
		}
		t.Logf("odd times %v: %d events, %d clock steps", odd, len(evA), a.stats.ClockSteps)
	}
}
