package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runServer starts a real nats-server with JetStream on loopback. port -1
// picks a free one. The server is shut down when the test ends.
func runServer(t testing.TB, storeDir string, port int) *server.Server {
	t.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = port
	opts.JetStream = true
	opts.StoreDir = storeDir
	return runServerOpts(t, &opts)
}

// runCoreServer starts a real nats-server without JetStream (core NATS
// only) on a free loopback port. It is shut down when the test ends.
func runCoreServer(t testing.TB) *server.Server {
	t.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = -1
	return runServerOpts(t, &opts)
}

// runServerOpts starts a real nats-server with opts (natstest's
// DefaultTestOptions, changed as the test needs). It is shut down when
// the test ends.
func runServerOpts(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s := natstest.RunServer(opts)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// portOf returns the port of a host:port address.
func portOf(t testing.TB, addr string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return int(ap.Port())
}

// dial connects as ftptap does to an external server; closed at the end.
func dial(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := Dial(ClientOptions{URLs: []string{url}, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// subscribe connects a subscriber of its own to url (dial) and subscribes
// it to each subject, in order, for NextMsg; it returns once the server
// has the subscriptions (a flush), so that none misses an event published
// after.
func subscribe(t testing.TB, url string, subjects ...string) []*nats.Subscription {
	t.Helper()
	nc := dial(t, url)
	var subs []*nats.Subscription
	for _, s := range subjects {
		sub, err := nc.SubscribeSync(s)
		if err != nil {
			t.Fatalf("subscribe %s: %v", s, err)
		}
		subs = append(subs, sub)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return subs
}

// ensureStream makes the stream of opts on nc's server (EnsureStream,
// within 10 s) and returns its name.
func ensureStream(t testing.TB, nc *nats.Conn, opts StreamOptions) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := EnsureStream(ctx, nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// createStream makes a stream of cfg by hand (not EnsureStream) on nc's
// server, within 10 s, and returns the JetStream context it used.
func createStream(t testing.TB, nc *nats.Conn, cfg jetstream.StreamConfig) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return js
}

// numberer gives events their tap and seq, as the pipeline does, and hands
// them to a sink.
type numberer struct {
	tap  string
	seq  uint64
	sink interface {
		Event(*event.Event, []byte)
	}
	buf []byte
}

// emitSessions emits the events of sessions made-up sessions, pause
// apart. Whether Event waits on the network is checkNoWait's to tell, by
// the sender's steps rather than by how long a call took: a loaded machine
// pauses any call for longer than a bound that would catch a write.
func (n *numberer) emitSessions(t *testing.T, sessions int, pause time.Duration) {
	t.Helper()
	for range sessions {
		n.emitAll(sessionEvents(n.seq+1, 2, time.Now()))
		time.Sleep(pause)
	}
}

// emitAll emits evs in order.
func (n *numberer) emitAll(evs []event.Event) {
	for _, ev := range evs {
		n.emit(ev)
	}
}

func (n *numberer) emit(ev event.Event) {
	n.seq++
	ev.Seq = n.seq
	ev.Tap = n.tap
	n.buf = ev.AppendJSON(n.buf[:0])
	n.sink.Event(&ev, n.buf)
}

// sessionEvents returns the events of one FTP session with the given
// number of passive downloads, as the tracker reports them.
func sessionEvents(id uint64, transfers int, start time.Time) []event.Event {
	cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(id%200 + 2)}), uint16(40000+id%20000))
	sv := netip.MustParseAddrPort("10.0.1.21:21")
	t := start
	ev := func(e event.Event) event.Event {
		t = t.Add(time.Millisecond)
		e.Time, e.Session, e.Client, e.Server = t, id, cl, sv
		return e
	}
	out := []event.Event{
		ev(event.Event{Type: event.TypeSessionStart, ClientSide: event.SideA}),
		ev(event.Event{Type: event.TypeResponse, Code: 220, Text: "220 (vsFTPd 3.0.3)"}),
		ev(event.Event{Type: event.TypeRequest, Command: "USER", Arg: "anonymous"}),
		ev(event.Event{Type: event.TypeResponse, Code: 331, Text: "331 Please specify the password.", Command: "USER"}),
		ev(event.Event{Type: event.TypeRequest, Command: "PASS", Arg: "****"}),
		ev(event.Event{Type: event.TypeResponse, Code: 230, Text: "230 Login successful.", Command: "PASS"}),
		ev(event.Event{Type: event.TypeLogin, User: "anonymous", OK: true}),
	}
	for i := range transfers {
		dp := netip.AddrPortFrom(sv.Addr(), uint16(30000+i))
		file := fmt.Sprintf("file%d.bin", i)
		out = append(out,
			ev(event.Event{Type: event.TypeRequest, Command: "PASV"}),
			ev(event.Event{Type: event.TypeResponse, Code: 227, Text: "227 Entering Passive Mode (10,0,1,21,117,48).", Command: "PASV"}),
			ev(event.Event{Type: event.TypeDataExpect, Mode: event.ModePassive, Via: "PASV", Endpoint: dp}),
			ev(event.Event{Type: event.TypeRequest, Command: "RETR", Arg: file}),
			ev(event.Event{Type: event.TypeDataOpen, Mode: event.ModePassive, Endpoint: dp, From: cl, To: dp}),
			ev(event.Event{Type: event.TypeResponse, Code: 150, Text: "150 Opening BINARY mode data connection.", Command: "RETR"}),
			ev(event.Event{Type: event.TypeResponse, Code: 226, Text: "226 Transfer complete.", Command: "RETR"}),
			ev(event.Event{Type: event.TypeTransferEnd, Command: "RETR", File: file, Direction: event.DirDownload, Bytes: 1 << 16, Code: 226, Complete: true, Mode: event.ModePassive, DurationMS: 3}),
		)
	}
	out = append(out,
		ev(event.Event{Type: event.TypeRequest, Command: "QUIT"}),
		ev(event.Event{Type: event.TypeResponse, Code: 221, Text: "221 Goodbye.", Command: "QUIT"}),
		ev(event.Event{Type: event.TypeSessionEnd, Reason: "quit"}),
	)
	return out
}

// wireEvent is the part of an event's JSON the tests look at.
type wireEvent struct {
	V       int    `json:"v"`
	Tap     string `json:"tap"`
	Seq     uint64 `json:"seq"`
	Type    string `json:"type"`
	Session string `json:"session"`
	Command string `json:"command"`
	Code    int    `json:"code"`
}

func decodeEvent(t testing.TB, data []byte) wireEvent {
	t.Helper()
	var w wireEvent
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatalf("event %q: %v", data, err)
	}
	return w
}

// streamMsg is one stored message.
type streamMsg struct {
	subject string
	id      string
	ev      wireEvent
}

// readStream reads every message of stream in order with an ordered
// consumer, waiting up to timeout for want messages.
func readStream(t testing.TB, js jetstream.JetStream, stream string, want int, timeout time.Duration) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []streamMsg
	for len(out) < want {
		batch, err := c.Fetch(min(500, want-len(out)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, streamMsg{subject: m.Subject(), id: m.Headers().Get(jetstream.MsgIDHeader), ev: decodeEvent(t, m.Data())})
		}
		if ctx.Err() != nil {
			t.Fatalf("stream %s: %d of %d messages after %v", stream, len(out), want, timeout)
		}
	}
	return out
}

// streamCount returns the number of messages stream holds.
func streamCount(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// checkExactlyOnce checks that msgs hold the events 1..n of each tap
// exactly once, each in order (per session and overall).
func checkExactlyOnce(t testing.TB, msgs []streamMsg, n map[string]uint64) {
	t.Helper()
	seen := map[string]bool{}
	last := map[string]uint64{}
	lastSess := map[string]uint64{}
	count := map[string]uint64{}
	for _, m := range msgs {
		if seen[m.id] {
			t.Errorf("event %s stored twice", m.id)
			continue
		}
		seen[m.id] = true
		tap := m.ev.Tap
		count[tap]++
		if m.ev.Seq <= last[tap] {
			t.Errorf("tap %s: seq %d after %d: out of order", tap, m.ev.Seq, last[tap])
		}
		last[tap] = m.ev.Seq
		if k := tap + "/" + m.ev.Session; m.ev.Seq <= lastSess[k] {
			t.Errorf("session %s: seq %d after %d", k, m.ev.Seq, lastSess[k])
		} else {
			lastSess[k] = m.ev.Seq
		}
		if !strings.HasPrefix(m.id, tap+".") || !strings.HasSuffix(m.id, "."+strconv.FormatUint(m.ev.Seq, 10)) {
			t.Errorf("Nats-Msg-Id %q of event %s/%d: want %s.<boot>.%d", m.id, tap, m.ev.Seq, tap, m.ev.Seq)
		}
	}
	for tap, want := range n {
		if count[tap] != want || last[tap] != want {
			t.Errorf("tap %s: %d events stored, last seq %d; want %d", tap, count[tap], last[tap], want)
		}
	}
}

// checkInOrder checks that msgs hold each event once, in the order of their
// seqs, and returns the seqs seen and the last one.
func checkInOrder(t testing.TB, msgs []streamMsg) (seen map[uint64]bool, last uint64) {
	t.Helper()
	seen = map[uint64]bool{}
	for _, m := range msgs {
		if seen[m.ev.Seq] || m.ev.Seq <= last {
			t.Errorf("seq %d after %d: twice or out of order", m.ev.Seq, last)
		}
		seen[m.ev.Seq], last = true, m.ev.Seq
	}
	return seen, last
}

// logLines collects a publisher's log lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// senderSteps counts what the publisher's sender has done: events
// acknowledged and passes given up. An Event that waited on the network
// would return only after one of them.
func senderSteps(p *Publisher) uint64 {
	st := p.Stats()
	return st.Published + st.Retries
}

// checkNoWait runs emit, which sends events through n, while the sender is
// held up (the server down or refusing to store), and checks each Event
// call: one during which the sender took no step returned with nothing
// from the network. That holds however slowly a loaded machine runs the
// calls, where a bound on how long Event takes does not. The sender still
// steps now and then (a retry after its backoff), so a call it stepped in
// proves nothing; an Event that waits for the sender steps in every call,
// and the test stops after a few such calls in a row.
func checkNoWait(t testing.TB, n *numberer, what string, emit func()) {
	t.Helper()
	p := n.sink.(*Publisher)
	w := &noWait{t: t, p: p, what: what}
	n.sink = w
	defer func() { n.sink = p }()
	emit()
	if w.clean == 0 {
		t.Errorf("%s: the sender stepped during each of %d Event calls: Event waits on the network", what, w.calls)
	}
}

// noWait is the sink of checkNoWait.
type noWait struct {
	t                   testing.TB
	p                   *Publisher
	what                string
	calls, clean, inRow int
}

func (w *noWait) Event(ev *event.Event, js []byte) {
	before := senderSteps(w.p)
	w.p.Event(ev, js)
	w.calls++
	if senderSteps(w.p) == before {
		w.clean, w.inRow = w.clean+1, 0
		return
	}
	if w.inRow++; w.inRow >= 5 && w.clean == 0 {
		w.t.Fatalf("%s: the sender stepped during each of the first %d Event calls: Event waits on the network (stats %+v)", w.what, w.calls, w.p.Stats())
	}
}
