package natsbus

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Issue 11: a server that accepts but stores nothing more: the tap's
// stream is full and set to discard new messages. Event never blocks; the
// events the server refuses are kept and retried, in order, within the
// spool's bound; beyond it they are dropped, counted and announced; the
// log names the server's reason; and once an operator makes room the kept
// events are stored, each once, in order.
func TestFullStreamDiscardNew(t *testing.T) {
	srv := runServer(t, t.TempDir(), -1)
	nc := dial(t, srv.ClientURL())
	cfg := jetstream.StreamConfig{Name: StreamName("lab1"), Subjects: []string{TapSubjects("lab1")}, MaxMsgs: 20, Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage}
	js := createStream(t, nc, cfg)
	var logs logLines
	var announced atomic.Uint64
	p, err := NewPublisher(nc, Options{Tap: "lab1", SpoolBytes: 256 << 10, Logf: logs.logf, DropInterval: 50 * time.Millisecond,
		OnDrop: func(n uint64) { announced.Add(n) }})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	session := func() {
		n.emitAll(sessionEvents(n.seq+1, 2, time.Now()))
	}
	for range 120 {
		session()
	}
	deadline := time.Now().Add(10 * time.Second)
	for announced.Load() == 0 || logs.count("maximum messages") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d drops announced, log %q; stats %+v", announced.Load(), logs.lines, p.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The server refuses every publish now: Event takes events without
	// waiting on it.
	checkNoWait(t, n, "the stream full", session)
	st := p.Stats()
	if got := streamCount(t, js, cfg.Name); got != 20 {
		t.Errorf("the full stream holds %d, want 20", got)
	}
	if st.Dropped == 0 || st.Pending == 0 || st.Published != 20 {
		t.Errorf("stats %+v: want 20 published, some kept, some dropped", st)
	}
	t.Logf("%d events: %d published, %d kept for later, %d dropped (%d announced)", n.seq, st.Published, st.Pending, st.Dropped, announced.Load())

	// An operator makes room: the kept events go through.
	cfg.MaxMsgs = -1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer dcancel()
	if err := p.Close(dctx); err == nil {
		t.Error("Close: no error, want the drops reported")
	}
	st = p.Stats()
	if st.Published <= 20 || st.Published+st.Dropped != n.seq {
		t.Errorf("after room was made: %d published, %d dropped of %d; want the kept ones published, every event published or dropped", st.Published, st.Dropped, n.seq)
	}
	// Each event once. The order holds but for the moment room is made:
	// publishes in flight then may be stored before a kept one that was
	// refused just before (subscribers order by seq). The first 20 went
	// first; every event is published or dropped (checked above).
	msgs := readStream(t, js, cfg.Name, int(st.Published), 20*time.Second)
	seen := map[uint64]bool{}
	for i, m := range msgs {
		if seen[m.ev.Seq] {
			t.Errorf("event %d stored twice", m.ev.Seq)
		}
		seen[m.ev.Seq] = true
		if i < 20 && m.ev.Seq != uint64(i+1) {
			t.Errorf("message %d is event %d: the first 20 events went first", i+1, m.ev.Seq)
		}
	}
	if got := streamCount(t, js, cfg.Name); got != st.Published {
		t.Errorf("stream holds %d, %d published", got, st.Published)
	}
	t.Logf("after room was made: %d published in all, %d dropped", st.Published, st.Dropped)
}
