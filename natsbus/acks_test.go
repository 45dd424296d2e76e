package natsbus

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAckError reads the acknowledgements a real server sends back for a
// publish that is stored, one that repeats a Nats-Msg-Id, one a full
// stream refuses and one no stream takes, as sendJS does: the first two
// are success, the third the server's API error, the last no responders.
// The forms written by hand check the parser's edges.
func TestAckError(t *testing.T) {
	srv := runServer(t, t.TempDir(), -1)
	nc := dial(t, srv.ClientURL())
	createStream(t, nc, jetstream.StreamConfig{Name: "ACKS", Subjects: []string{"acks.>"}, MaxMsgs: 2, Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage})
	// Each publish names a reply subject of the test's own subscription,
	// as sendJS's do, and the answer is taken as the server sent it (a
	// channel subscription, like sendJS's, gets the 503 as a message).
	inbox := nc.NewInbox()
	ch := make(chan *nats.Msg, 1)
	if _, err := nc.ChanSubscribe(inbox, ch); err != nil {
		t.Fatal(err)
	}
	ack := func(subject, id string) *nats.Msg {
		t.Helper()
		m := &nats.Msg{Subject: subject, Reply: inbox, Data: []byte(`{}`), Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-ch:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("publish to %s: no answer", subject)
			return nil
		}
	}
	for _, tt := range []struct {
		name string
		msg  *nats.Msg
		want func(error) bool
	}{
		{"stored", ack("acks.a", "1"), func(err error) bool { return err == nil }},
		{"duplicate", ack("acks.a", "1"), func(err error) bool { return err == nil }},
		{"second stored", ack("acks.a", "2"), func(err error) bool { return err == nil }},
		{"stream full", ack("acks.a", "3"), func(err error) bool {
			var ae *jetstream.APIError
			return errors.As(err, &ae) && ae.Code == 503 && ae.Description == "maximum messages exceeded"
		}},
		{"no stream", ack("nostream.a", "4"), func(err error) bool { return errors.Is(err, jetstream.ErrNoStreamResponse) }},
		{"empty", &nats.Msg{}, func(err error) bool { return errors.Is(err, jetstream.ErrInvalidJSAck) }},
		{"no stream name", &nats.Msg{Data: []byte(`{"stream":"","seq":1}`)}, func(err error) bool { return errors.Is(err, jetstream.ErrInvalidJSAck) }},
		{"no seq", &nats.Msg{Data: []byte(`{"stream":"S"}`)}, func(err error) bool { return errors.Is(err, jetstream.ErrInvalidJSAck) }},
		{"not json", &nats.Msg{Data: []byte(`-ERR "error"`)}, func(err error) bool { return errors.Is(err, jetstream.ErrInvalidJSAck) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := ackError(tt.msg); !tt.want(err) {
				t.Errorf("ackError(%q, %v) = %v", tt.msg.Data, tt.msg.Header, err)
			}
		})
	}
}

// TestAckNumbers checks that every publish of an inbox gets a reply
// subject of its own, across the laps the subjects are made in, that an
// acknowledgement's subject leads back to its publish, and that a subject
// of another inbox or naming no number is refused.
func TestAckNumbers(t *testing.T) {
	in := &ackInbox{prefix: "_INBOX.x", lap: make([]string, 8)}
	in.fillLap(0)
	seen := map[string]uint64{}
	for k := range uint64(100) {
		subj := in.reply(k)
		if want := "_INBOX.x." + strconv.FormatUint(k, 10); subj != want {
			t.Fatalf("reply(%d) = %q, want %q", k, subj, want)
		}
		if old, dup := seen[subj]; dup {
			t.Fatalf("reply(%d) = %q, the subject of publish %d too", k, subj, old)
		}
		seen[subj] = k
		if got, ok := in.numberOf(subj); !ok || got != k {
			t.Errorf("numberOf(%q) = %d, %v; want %d", subj, got, ok, k)
		}
	}
	for _, subj := range []string{"_INBOX.y.8", "_INBOX.x.-1", "_INBOX.x.", "", "8", "_INBOX.x.a", "_INBOX.xx.8", "_INBOX.x.99999999999999999999999"} {
		if got, ok := in.numberOf(subj); ok {
			t.Errorf("numberOf(%q) = %d, want none", subj, got)
		}
	}
}

// A second answer to a publish that comes late (two streams take the
// subject: a tap's own and one on a hub across a leaf node, the hub's
// answer slower) is not taken for the acknowledgement of a later event.
// A real server carries the publishes to a subscriber that answers them as
// a stream does. It answers the first event twice, the second time only
// when the event that, with reply subjects reused every lapLen windows,
// would have had the same reply subject comes, and it does not answer
// that event's first send. The late answer must not count that event
// published: it is sent again and acknowledged for itself.
func TestLateAckIsNotTakenForAnother(t *testing.T) {
	srv := runServer(t, t.TempDir(), -1)
	nc := dial(t, srv.ClientURL())
	const window = 1
	reuse := uint64(1 + lapLen*window) // the event a reused reply subject would give event 1's
	stream := dial(t, srv.ClientURL())
	var mu sync.Mutex
	sends := map[uint64]int{}     // seq → publishes seen
	answered := map[uint64]bool{} // seq → answered for itself
	var first string              // the reply subject of event 1's first send
	ack := func(reply string, seq uint64) {
		stream.Publish(reply, []byte(`{"stream":"FTPTAP_lab1","seq":`+strconv.FormatUint(seq, 10)+`}`))
	}
	_, err := stream.Subscribe(TapSubjects("lab1"), func(m *nats.Msg) {
		id := m.Header.Get(jetstream.MsgIDHeader)
		seq, err := strconv.ParseUint(id[strings.LastIndexByte(id, '.')+1:], 10, 64)
		if err != nil {
			t.Errorf("Nats-Msg-Id %q", id)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		sends[seq]++
		switch {
		case seq == 1 && sends[seq] == 1:
			first = m.Reply
			ack(m.Reply, seq)
		case seq == reuse && sends[seq] == 1:
			ack(first, 1) // the late second answer to event 1, and none for this one
		default:
			answered[seq] = true
			ack(m.Reply, seq)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	stream.Flush()
	p, err := NewPublisher(nc, Options{Tap: "lab1", Window: window, AckTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	n.emitAll(sessionEvents(1, 1, time.Now()))
	closePublisher(t, p, 30*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if st := p.Stats(); st.Published != n.seq {
		t.Errorf("%d of %d events published", st.Published, n.seq)
	}
	if sends[reuse] < 2 || !answered[reuse] {
		t.Errorf("event %d, not answered when first sent: sent %d times, answered %v; want it sent again and answered", reuse, sends[reuse], answered[reuse])
	}
	for seq := uint64(2); seq <= n.seq; seq++ {
		if !answered[seq] {
			t.Errorf("event %d counted published, never acknowledged for itself", seq)
		}
	}
}
