package natsbus

import (
	"context"
	"errors"
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
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := jetstream.StreamConfig{Name: "ACKS", Subjects: []string{"acks.>"}, MaxMsgs: 2, Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
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

// TestAckSlots checks that an acknowledgement finds its event by the slot
// its subject names, wherever the pass began in the ring of slots, and that
// a subject naming no slot is refused.
func TestAckSlots(t *testing.T) {
	in := &ackInbox{replies: make([]string, 8)}
	for i := range in.replies {
		in.replies[i] = "_INBOX.x." + string(rune('0'+i))
	}
	for slot, subj := range in.replies {
		if got := in.slotOf(subj); got != slot {
			t.Errorf("slotOf(%q) = %d, want %d", subj, got, slot)
		}
	}
	for _, subj := range []string{"_INBOX.x.8", "_INBOX.x.-1", "_INBOX.x.", "", "_INBOX.x.a"} {
		if got := in.slotOf(subj); got != -1 {
			t.Errorf("slotOf(%q) = %d, want -1", subj, got)
		}
	}
}
