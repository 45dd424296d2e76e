package natsbus

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Issue 11: the disk under the embedded server's JetStream store fills up.
// Capture goes on (Event never blocks), what cannot be kept is counted,
// the server says so, and once there is room again it restarts on the same
// store by itself: the events kept meanwhile are stored, each once, in
// order, and new events flow.
func TestJetStreamDiskFull(t *testing.T) {
	disk, filler := fillDisk(t, 4<<20, 2<<20)
	var logs logLines
	s := startServer(t, ServerOptions{StoreDir: filepath.Join(disk, "nats"), Domain: "lab1", Logf: logs.logf, MaxStore: 64 << 20})
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := EnsureStream(ctx, nc, StreamOptions{Tap: "lab1", Own: true, MaxBytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPublisher(nc, Options{Tap: "lab1", Logf: logs.logf})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	emit := func(sessions int) { n.emitSessions(t, sessions, 0) }
	deadline := time.Now().Add(30 * time.Second)
	for logs.count("critical write error") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the store never filled: %+v", p.Stats())
		}
		if p.Stats().Pending < 500 { // at the pace of the store, as live traffic would be
			emit(5)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The server looks at its disk every repairEvery and says why it
	// stores nothing more.
	waitFor(t, 20*time.Second, "no log line saying events are kept until there is room", func() bool { return logs.count("until") > 0 })
	checkNoWait(t, n, "the store full", func() { emit(1) })
	stalled := p.Stats()
	t.Logf("store full: %+v", stalled)

	// Room again: the server restarts and stores what was kept.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for logs.count("restarted on the same store") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no restart after space returned: %q", logs.lines)
		}
		time.Sleep(100 * time.Millisecond)
	}
	emit(2)
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer dcancel()
	p.Close(dctx) // drops, if any, make it an error: counted below
	st := p.Stats()
	if st.Published+st.Dropped != n.seq || st.Published <= stalled.Published {
		t.Fatalf("after the repair: %+v of %d events; want every event published or dropped, more published than at the stall", st, n.seq)
	}
	js, _ := jetstream.New(nc)
	if got := streamCount(t, js, stream); got != st.Published {
		t.Errorf("stream holds %d, %d published", got, st.Published)
	}
	msgs := readStream(t, js, stream, int(st.Published), 20*time.Second)
	_, last := checkInOrder(t, msgs)
	if last != n.seq {
		t.Errorf("the last event stored is %d, want %d (sent after the repair)", last, n.seq)
	}
	t.Logf("%d events: %d stored once each, %d dropped", n.seq, st.Published, st.Dropped)
}
