package natsbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The publisher takes JetStream's acknowledgements on a subscription of
// its own rather than through nats.go's PublishMsgAsync, which makes a
// future, a map entry and a timer for every message and decodes every
// acknowledgement with encoding/json. Each event in flight has a slot of
// the window; its publish names the slot's reply subject, and the
// acknowledgement that comes back there marks the slot's event stored.
// One timer covers the window: no acknowledgement for AckTimeout while
// events are in flight fails the pass, and the sender sends again from
// the first event not acknowledged (JetStream drops the repeats by their
// Nats-Msg-Id).

// ackInbox is the subscription acknowledgements come back on. An inbox is
// used only while every acknowledgement it waits for is accounted for:
// after a failed pass it is dropped and the next pass opens another, so
// that a late acknowledgement of an earlier pass cannot be taken for one
// of the next.
type ackInbox struct {
	sub     *nats.Subscription
	ch      chan *nats.Msg
	replies []string // the reply subject of each slot: prefix.N
	next    int      // the slot of the next publish
	// done marks the records of the current pass acknowledged; reused.
	done []bool
}

// openInbox makes sure the publisher has an inbox for acknowledgements.
func (p *Publisher) openInbox() (*ackInbox, error) {
	if in := p.inbox; in != nil && in.sub.IsValid() {
		return in, nil
	}
	p.closeInbox()
	prefix := p.nc.NewInbox()
	// Slots for four windows: an acknowledgement finds its event by slot,
	// and no more than a window is ever in flight.
	n := 4 * p.opts.Window
	in := &ackInbox{ch: make(chan *nats.Msg, n), replies: make([]string, n)}
	for i := range in.replies {
		in.replies[i] = prefix + "." + strconv.Itoa(i)
	}
	sub, err := p.nc.ChanSubscribe(prefix+".*", in.ch)
	if err != nil {
		return nil, err
	}
	in.sub = sub
	p.inbox = in
	return in, nil
}

// closeInbox drops the inbox; acknowledgements still on their way to it
// are lost, and the events they were for are sent again.
func (p *Publisher) closeInbox() {
	if p.inbox != nil {
		p.inbox.sub.Unsubscribe()
		p.inbox = nil
	}
}

// slotOf returns the slot an acknowledgement's subject names, or -1.
func (in *ackInbox) slotOf(subject string) int {
	i := len(subject)
	for i > 0 && subject[i-1] != '.' {
		i--
	}
	n, err := strconv.Atoi(subject[i:])
	if err != nil || n < 0 || n >= len(in.replies) {
		return -1
	}
	return n
}

// sendJS publishes recs with at most Window of them waiting for their
// acknowledgements at a time, each acknowledgement letting one more go,
// and returns how many, from the first, the stream acknowledged. Those
// are counted in order: an event counts only once all before it did, so
// a resend never puts an event after a later one that was stored (those
// are dropped as duplicates).
func (p *Publisher) sendJS(recs []record) (int, error) {
	in, err := p.openInbox()
	if err != nil {
		return 0, err
	}
	ns := len(in.replies)
	base := in.next // the slot of recs[0]
	if cap(in.done) < len(recs) {
		in.done = make([]bool, len(recs))
	}
	in.done = in.done[:len(recs)]
	clear(in.done)
	sent, acked := 0, 0
	fail := func(err error) (int, error) {
		p.closeInbox()
		return acked, err
	}
	timer := time.NewTimer(p.opts.AckTimeout)
	defer timer.Stop()
	var pubErr error
	m := &p.out
	for acked < len(recs) {
		for pubErr == nil && sent < len(recs) && sent-acked < p.opts.Window {
			p.setMsg(&recs[sent], in.replies[(base+sent)%ns])
			if err := p.nc.PublishMsg(m); err != nil {
				pubErr = err
				break
			}
			if sent == acked {
				timer.Reset(p.opts.AckTimeout) // the first in flight
			}
			sent++
		}
		if acked == sent {
			break // a publish failed, and all before it are acknowledged
		}
		select {
		case msg, ok := <-in.ch:
			if !ok || msg == nil {
				return fail(nats.ErrBadSubscription)
			}
			slot := in.slotOf(msg.Subject)
			if slot < 0 {
				continue
			}
			i := acked + (slot-(base+acked)%ns+ns)%ns
			if i >= sent || in.done[i] {
				continue // not one of the pass's in flight
			}
			if err := ackError(msg); err != nil {
				return fail(err)
			}
			in.done[i] = true
			for acked < sent && in.done[acked] {
				acked++
			}
			timer.Reset(p.opts.AckTimeout)
		case <-timer.C:
			return fail(jetstream.ErrAsyncPublishTimeout)
		case <-p.abort:
			return fail(errors.New("natsbus: closed"))
		}
	}
	in.next = (base + sent) % ns
	if pubErr != nil && !errors.Is(pubErr, nats.ErrMaxPayload) {
		// Nothing is in flight, but the connection failed: start afresh.
		p.closeInbox()
	}
	return acked, pubErr
}

// setMsg makes p.out the message of r, with reply subject reply (none for
// core NATS). The message and its header are reused: PublishMsg copies
// them into the connection's buffer before it returns.
func (p *Publisher) setMsg(r *record, reply string) {
	if p.out.Header == nil {
		p.msgID = make([]string, 1)
		p.out.Header = nats.Header{jetstream.MsgIDHeader: p.msgID}
	}
	p.out.Subject, p.out.Reply, p.out.Data = r.subject, reply, r.data
	p.msgID[0] = r.id
}

// Acknowledgements as the server writes them:
//
//	{"stream":"FTPTAP_lab1","domain":"lab","seq":42}
//	{"stream":"FTPTAP_lab1","seq":42,"duplicate":true}
//	{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"FTPTAP_lab1","seq":0}
//
// and, when no stream takes the subject, an empty message with the header
// Status: 503 (no responders).
var (
	ackStream = []byte(`"stream":"`)
	ackErrKey = []byte(`"error"`)
	ackSeq    = []byte(`"seq":`)
)

// ackError returns nil for an acknowledgement that says the message was
// stored (or was a duplicate of one stored), and the error otherwise. The
// good ones, all but a few, are read without encoding/json: a stream name
// holds no quotes, so a key found is a key.
func ackError(m *nats.Msg) error {
	d := m.Data
	if len(d) == 0 {
		if m.Header.Get("Status") == "503" {
			return jetstream.ErrNoStreamResponse
		}
		return jetstream.ErrInvalidJSAck
	}
	if !bytes.Contains(d, ackErrKey) {
		i := bytes.Index(d, ackStream)
		if i >= 0 && len(d) > i+len(ackStream) && d[i+len(ackStream)] != '"' && bytes.Contains(d, ackSeq) {
			return nil
		}
		return jetstream.ErrInvalidJSAck
	}
	var r struct {
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(d, &r); err != nil || r.Error == nil {
		return jetstream.ErrInvalidJSAck
	}
	return r.Error
}
