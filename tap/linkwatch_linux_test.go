package tap

import (
	"context"
	"testing"
	"time"

	"github.com/ftptap/ftptap/internal/netnstest"
)

// Issue 11: a tap port's cable is pulled and plugged back (the client's
// end of the veth goes down, then up): WatchPorts reports port A up at the
// start, down, then up again, and nothing for port B, whose link never
// changed.
func TestWatchPorts(t *testing.T) {
	l := netnstest.New(t)
	type change struct {
		i  int
		up bool
	}
	changes := make(chan change, 16)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	l.SetUp(t, l.Tap, "pa", "pb")
	time.Sleep(200 * time.Millisecond) // the carrier comes up a moment later
	var w *PortWatch
	var err error
	l.In(t, l.Tap, func() { w, err = WatchPorts("pa", "pb") }) // subscribed in the tap namespace
	if err != nil {
		t.Fatal(err)
	}
	go func() { errc <- w.Run(ctx, func(i int, up bool) { changes <- change{i, up} }) }()
	next := func(what string) change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no change reported", what)
		}
		return change{}
	}
	start := map[int]bool{}
	for range 2 {
		c := next("start")
		start[c.i] = c.up
	}
	if !start[0] || !start[1] {
		t.Fatalf("at the start: %v, want both ports up", start)
	}
	h := l.Handle(t, l.Client)
	c0, err := h.LinkByName("c0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetDown(c0); err != nil {
		t.Fatal(err)
	}
	if c := next("cable pulled"); c != (change{0, false}) {
		t.Errorf("cable pulled: %+v, want port A down", c)
	}
	if err := h.LinkSetUp(c0); err != nil {
		t.Fatal(err)
	}
	if c := next("cable back"); c != (change{0, true}) {
		t.Errorf("cable back: %+v, want port A up", c)
	}
	select {
	case c := <-changes:
		t.Errorf("unexpected change %+v", c)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("WatchPorts: %v", err)
	}
}
