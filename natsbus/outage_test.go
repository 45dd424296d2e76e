package natsbus

import (
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/nats-io/nats.go/jetstream"
)

// interleave merges the sessions' events the way concurrent sessions come
// out of the tracker: a few sessions at a time, their events alternating.
func interleave(sessions [][]event.Event, atOnce int) []event.Event {
	var out []event.Event
	for len(sessions) > 0 {
		k := min(atOnce, len(sessions))
		group := sessions[:k]
		sessions = sessions[k:]
		for done := 0; done < k; {
			done = 0
			for i := range group {
				if len(group[i]) == 0 {
					done++
					continue
				}
				out = append(out, group[i][0])
				group[i] = group[i][1:]
			}
		}
	}
	return out
}

// The nothing-lost test: a real server is stopped for 30 s in the middle of
// a run of 500 transfers and started again on the same port with the same
// store. Every event arrives exactly once, in order.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 45 s")
	}
	t.Parallel()
	const (
		sessions  = 50
		transfers = 10 // per session: 500 in all
		run       = 40 * time.Second
		outage    = 30 * time.Second
	)
	store, spoolDir := t.TempDir(), t.TempDir()
	srv := runServer(t, store, -1)
	addr := srv.Addr().String()
	nc := dial(t, srv.ClientURL())
	stream := ensureStream(t, nc, StreamOptions{Tap: "lab1"})
	p, err := NewPublisher(nc, Options{Tap: "lab1", SpoolDir: spoolDir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}

	var all [][]event.Event
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for s := range sessions {
		all = append(all, sessionEvents(uint64(s+1), transfers, t0.Add(time.Duration(s)*time.Second)))
	}
	evs := interleave(all, 5)
	n := &numberer{tap: "lab1", sink: p}
	every := run / time.Duration(len(evs))
	start := time.Now()
	var stoppedAt time.Time
	var maxPending int
	sawDown := false
	for i, ev := range evs {
		n.emit(ev)
		if i == len(evs)/5 {
			srv.Shutdown()
			srv.WaitForShutdown()
			stoppedAt = time.Now()
			t.Logf("server stopped after %d of %d events", i+1, len(evs))
		}
		if !stoppedAt.IsZero() && srv != nil && time.Since(stoppedAt) >= outage {
			st := p.Stats()
			maxPending, sawDown = st.Pending, sawDown || !st.Connected
			srv = runServer(t, store, portOf(t, addr))
			stoppedAt = time.Time{}
			srv = nil
			t.Logf("server restarted after %d events, %d pending", i+1, st.Pending)
		}
		if !stoppedAt.IsZero() && i%100 == 0 && !p.Stats().Connected {
			sawDown = true
		}
		if d := time.Until(start.Add(time.Duration(i+1) * every)); d > 0 {
			time.Sleep(d)
		}
	}
	if srv != nil {
		t.Fatal("the run ended before the outage did")
	}
	if !sawDown || maxPending < 1000 {
		t.Errorf("during the outage: connected=%v, %d events pending; want disconnected with a backlog", !sawDown, maxPending)
	}
	closePublisher(t, p, 60*time.Second)

	js, _ := jetstream.New(nc)
	msgs := readStream(t, js, stream, len(evs), 30*time.Second)
	checkExactlyOnce(t, msgs, map[string]uint64{"lab1": uint64(len(evs))})
	if got := streamCount(t, js, stream); got != uint64(len(evs)) {
		t.Errorf("stream holds %d messages, want %d", got, len(evs))
	}
	transfersSeen := 0
	for _, m := range msgs {
		if m.ev.Type == "transfer.end" {
			transfersSeen++
		}
	}
	if transfersSeen != sessions*transfers {
		t.Errorf("%d transfer.end events stored, want %d", transfersSeen, sessions*transfers)
	}
	st := p.Stats()
	t.Logf("%d events, %d published, %d send retries, %d dropped", len(evs), st.Published, st.Retries, st.Dropped)
}
