package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

// A port that goes down and comes back: one port_down alert, one port_up
// alert that names the gap, a log line each; repeats of the same state
// and a port up from the start say nothing.
func TestPortReporter(t *testing.T) {
	var evs []event.Event
	var log bytes.Buffer
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := &portReporter{names: [2]string{"eth1", "eth2"}, inject: func(ev event.Event) { evs = append(evs, ev) },
		logger: slog.New(slog.NewTextHandler(&log, nil)), now: func() time.Time { return now }}
	r.change(0, true) // the start
	r.change(1, true)
	r.change(1, false)
	now = now.Add(time.Second)
	r.change(1, false)
	now = now.Add(11500 * time.Millisecond)
	r.change(1, true)
	r.change(1, true)
	if len(evs) != 2 || evs[0].Kind != portDownAlert || evs[1].Kind != portUpAlert {
		t.Fatalf("events %+v: want port_down then port_up", evs)
	}
	if !strings.Contains(evs[0].Detail, "port_b eth2: link down") || !strings.Contains(evs[1].Detail, "after 12.5s") {
		t.Errorf("details %q, %q", evs[0].Detail, evs[1].Detail)
	}
	if !evs[1].Time.Equal(now) || evs[0].Type != event.TypeAlert {
		t.Errorf("port_up at %v, want %v", evs[1].Time, now)
	}
	if n := strings.Count(log.String(), "tap: port_b eth2"); n != 2 {
		t.Errorf("%d log lines, want 2:\n%s", n, log.String())
	}
}
