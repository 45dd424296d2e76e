package natsbus

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go/jetstream"
)

func closePublisher(t testing.TB, p *Publisher, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Events published by the tap arrive on the subjects a person subscribes
// to, with the JSON as payload and a Nats-Msg-Id, and are stored in the
// tap's stream.
func TestPublishSubscribe(t *testing.T) {
	srv := runServer(t, t.TempDir(), -1)
	nc := dial(t, srv.ClientURL())
	stream := ensureStream(t, nc, StreamOptions{Tap: "lab1"})
	if stream != "FTPTAP_lab1" {
		t.Errorf("stream %q, want FTPTAP_lab1", stream)
	}

	subs := subscribe(t, srv.ClientURL(), "ftptap.*.request.USER", "ftptap.*.response.227", "ftptap.lab1.>")
	users, pasv, all := subs[0], subs[1], subs[2]

	p, err := NewPublisher(nc, Options{Tap: "lab1"})
	if err != nil {
		t.Fatal(err)
	}
	evs := sessionEvents(1, 2, time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	n := &numberer{tap: "lab1", sink: p}
	var jsons []string
	for _, ev := range evs {
		n.emit(ev)
		jsons = append(jsons, string(n.buf))
	}
	closePublisher(t, p, 10*time.Second)

	m, err := users.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("ftptap.*.request.USER: %v", err)
	}
	if m.Subject != "ftptap.lab1.request.USER" || !strings.Contains(string(m.Data), `"command":"USER"`) {
		t.Errorf("USER: subject %q, data %s", m.Subject, m.Data)
	}
	if id := m.Header.Get("Nats-Msg-Id"); id != MsgID("lab1", p.BootID(), 3) {
		t.Errorf("Nats-Msg-Id %q, want %q", id, MsgID("lab1", p.BootID(), 3))
	}
	for range 2 {
		m, err := pasv.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("ftptap.*.response.227: %v", err)
		}
		if w := decodeEvent(t, m.Data); m.Subject != "ftptap.lab1.response.227" || w.Code != 227 {
			t.Errorf("227: subject %q, data %s", m.Subject, m.Data)
		}
	}
	for i, want := range jsons {
		m, err := all.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", i+1, err)
		}
		if string(m.Data) != want {
			t.Errorf("event %d payload\n got %s\nwant %s", i+1, m.Data, want)
		}
		if want := Subject("lab1", &evs[i]); m.Subject != want {
			t.Errorf("event %d subject %q, want %q", i+1, m.Subject, want)
		}
	}

	js, _ := jetstream.New(nc)
	msgs := readStream(t, js, stream, len(evs), 10*time.Second)
	checkExactlyOnce(t, msgs, map[string]uint64{"lab1": uint64(len(evs))})
	st := p.Stats()
	if st.Published != uint64(len(evs)) || st.Pending != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v: want %d published, none pending or dropped", st, len(evs))
	}
}

// A second publish of the same event (a resend after a lost
// acknowledgement) is dropped by JetStream thanks to Nats-Msg-Id.
func TestResendIsDeduplicated(t *testing.T) {
	srv := runServer(t, t.TempDir(), -1)
	nc := dial(t, srv.ClientURL())
	stream := ensureStream(t, nc, StreamOptions{Tap: "lab1"})
	evs := sessionEvents(7, 1, time.Now())
	for range 2 { // the same boot id twice: a resend of every event
		p, err := NewPublisher(nc, Options{Tap: "lab1", BootID: "feedface"})
		if err != nil {
			t.Fatal(err)
		}
		n := &numberer{tap: "lab1", sink: p}
		n.emitAll(evs)
		closePublisher(t, p, 10*time.Second)
	}
	js, _ := jetstream.New(nc)
	if got := streamCount(t, js, stream); got != uint64(len(evs)) {
		t.Errorf("stream holds %d messages after sending %d events twice, want %d", got, len(evs), len(evs))
	}
}

// Without JetStream (Core), events still arrive in order; delivery is
// confirmed by a flush.
func TestPublishCore(t *testing.T) {
	srv := runCoreServer(t)
	nc := dial(t, srv.ClientURL())
	all := subscribe(t, srv.ClientURL(), "ftptap.bench-2.>")[0]
	p, err := NewPublisher(nc, Options{Tap: "bench-2", Core: true})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "bench-2", sink: p}
	evs := sessionEvents(3, 3, time.Now())
	n.emitAll(evs)
	closePublisher(t, p, 10*time.Second)
	for i := range evs {
		m, err := all.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", i+1, err)
		}
		if w := decodeEvent(t, m.Data); w.Seq != uint64(i+1) {
			t.Errorf("event %d has seq %d", i+1, w.Seq)
		}
	}
}

// With the server out of reach, a full spool drops new events, counts them
// and reports them through OnDrop; Close says what was lost.
func TestOverflowIsAnnounced(t *testing.T) {
	srv := runServer(t, t.TempDir(), -1)
	url := srv.ClientURL()
	srv.Shutdown()
	srv.WaitForShutdown()
	nc := dial(t, url)
	var reported atomic.Uint64
	calls := make(chan uint64, 100)
	p, err := NewPublisher(nc, Options{Tap: "lab1", SpoolBytes: 4096, DropInterval: 100 * time.Millisecond, OnDrop: func(n uint64) {
		reported.Add(n)
		calls <- n
	}})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	n.emitAll(sessionEvents(1, 20, time.Now()))
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("OnDrop not called after the spool filled")
	}
	// The writer has taken every event (the queue never fills here):
	// spooled it or dropped it.
	waitFor(t, 10*time.Second, "the writer did not take every event", func() bool {
		st := p.Stats()
		return st.Spooled+st.Dropped == n.seq
	})
	st := p.Stats()
	if st.Dropped == 0 || st.Pending == 0 || st.Published != 0 {
		t.Errorf("stats %+v: want drops, pending events, none published", st)
	}
	if st.Dropped+uint64(st.Pending) != n.seq {
		t.Errorf("dropped %d + pending %d != %d events", st.Dropped, st.Pending, n.seq)
	}
	// Later drops are reported together, after DropInterval.
	deadline := time.Now().Add(5 * time.Second)
	for reported.Load() != p.Stats().Dropped && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r, d := reported.Load(), p.Stats().Dropped; r != d {
		t.Errorf("OnDrop reported %d, Stats say %d dropped", r, d)
	}
	if len(calls) > 10 {
		t.Errorf("OnDrop called %d more times for one burst: want few, grouped calls", len(calls))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = p.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "dropped") || !strings.Contains(err.Error(), "not delivered") {
		t.Errorf("Close = %v; want it to name the dropped and the undelivered events", err)
	}
}

// Events spooled on disk while the server is down survive a restart of the
// publisher and are delivered, once, by the next one.
func TestDiskSpoolSurvivesRestart(t *testing.T) {
	store, spoolDir := t.TempDir(), t.TempDir()
	srv := runServer(t, store, -1)
	nc := dial(t, srv.ClientURL())
	stream := ensureStream(t, nc, StreamOptions{Tap: "lab1"})
	addr := srv.Addr().String()
	srv.Shutdown()
	srv.WaitForShutdown()

	p, err := NewPublisher(nc, Options{Tap: "lab1", SpoolDir: spoolDir})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	n.emitAll(sessionEvents(1, 5, time.Now()))
	short, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if err := p.Close(short); err == nil || !strings.Contains(err.Error(), "kept in") {
		t.Errorf("Close with the server down = %v; want the events kept in the spool", err)
	}

	srv = runServer(t, store, portOf(t, addr))
	p, err = NewPublisher(nc, Options{Tap: "lab1", SpoolDir: spoolDir})
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Pending != int(n.seq) {
		t.Errorf("restarted publisher has %d events pending, want %d", st.Pending, n.seq)
	}
	closePublisher(t, p, 20*time.Second)
	js, _ := jetstream.New(nc)
	checkExactlyOnce(t, readStream(t, js, stream, int(n.seq), 10*time.Second), map[string]uint64{"lab1": n.seq})
}

// The capture path never waits: Event returns at once while the server is
// unreachable.
func TestEventNeverBlocks(t *testing.T) {
	nc, err := Dial(ClientOptions{URLs: []string{"nats://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p, err := NewPublisher(nc, Options{Tap: "lab1", QueueLen: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	evs := sessionEvents(1, 100, time.Now())
	checkNoWait(t, n, "the server unreachable", func() {
		n.emitAll(evs)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil {
		t.Error("Close with nothing delivered: no error")
	}
	if st := p.Stats(); st.Accepted+st.Dropped != n.seq {
		t.Errorf("accepted %d + dropped %d != %d events", st.Accepted, st.Dropped, n.seq)
	}
}

// With Options.Stream the publisher creates the stream itself, also when
// the server comes up only after the publisher started.
func TestPublisherEnsuresStream(t *testing.T) {
	srv := runServer(t, t.TempDir(), -1)
	addr, store := srv.Addr().String(), srv.StoreDir()
	srv.Shutdown()
	srv.WaitForShutdown()
	nc := dial(t, "nats://"+addr)
	p, err := NewPublisher(nc, Options{Tap: "lab1", Stream: &StreamOptions{Tap: "lab1"}})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	n.emitAll(sessionEvents(1, 2, time.Now()))
	time.Sleep(300 * time.Millisecond)
	runServer(t, store, portOf(t, addr))
	closePublisher(t, p, 20*time.Second)
	js, _ := jetstream.New(nc)
	checkExactlyOnce(t, readStream(t, js, StreamName("lab1"), int(n.seq), 10*time.Second), map[string]uint64{"lab1": n.seq})
}

// A server without JetStream: the publisher falls back to core NATS.
func TestPublisherWithoutJetStream(t *testing.T) {
	srv := runCoreServer(t)
	nc := dial(t, srv.ClientURL())
	all := subscribe(t, srv.ClientURL(), "ftptap.lab1.>")[0]
	var logs []string
	var mu sync.Mutex
	p, err := NewPublisher(nc, Options{Tap: "lab1", Stream: &StreamOptions{Tap: "lab1"}, Logf: func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	n.emitAll(sessionEvents(1, 1, time.Now()))
	closePublisher(t, p, 10*time.Second)
	for i := range n.seq {
		if _, err := all.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("event %d of %d: %v", i+1, n.seq, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 || !strings.Contains(logs[0], "no JetStream") {
		t.Errorf("logs %q: want one that says the server has no JetStream", logs)
	}
}

// An event larger than the server's max_payload is dropped and counted; it
// does not block the events after it.
func TestOversizedEventIsDropped(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	opts.MaxPayload = 2048
	srv := runServerOpts(t, &opts)
	nc := dial(t, srv.ClientURL())
	p, err := NewPublisher(nc, Options{Tap: "lab1", Stream: &StreamOptions{Tap: "lab1"}})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	evs := sessionEvents(1, 1, time.Now())
	evs[1].Text = strings.Repeat("220-welcome\r\n", 400) + "220 ok"
	n.emitAll(evs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 events dropped") {
		t.Errorf("Close = %v, want 1 event dropped", err)
	}
	js, _ := jetstream.New(nc)
	if got := streamCount(t, js, StreamName("lab1")); got != n.seq-1 {
		t.Errorf("stream holds %d events, want %d (all but the oversized one)", got, n.seq-1)
	}
}

// OnDrop is told of every drop by the time Close returns, also of those
// made within DropInterval of the last report.
func TestCloseReportsLastDrops(t *testing.T) {
	nc, err := Dial(ClientOptions{URLs: []string{"nats://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var reported uint64
	p, err := NewPublisher(nc, Options{Tap: "lab1", SpoolBytes: 8 << 10, DropInterval: time.Hour,
		OnDrop: func(n uint64) { mu.Lock(); reported += n; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	for i := range 20 {
		n.emitAll(sessionEvents(uint64(i+1), 2, time.Now()))
		time.Sleep(time.Millisecond) // several writer passes, several drops
	}
	waitFor(t, 10*time.Second, "the writer did not take every event", func() bool {
		st := p.Stats()
		return st.Spooled+st.Dropped == n.seq
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	st := p.Stats()
	mu.Lock()
	defer mu.Unlock()
	if st.Dropped == 0 {
		t.Fatalf("nothing dropped with an 8 KiB spool and %d events: %+v", n.seq, st)
	}
	if reported != st.Dropped {
		t.Errorf("OnDrop told of %d drops, Stats counts %d", reported, st.Dropped)
	}
}
