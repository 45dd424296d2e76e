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
// acknowledgement with encoding/json. Each publish names a reply subject
// of its own, prefix.N with N counting the inbox's publishes, and the
// acknowledgement that comes back there marks that publish's event stored.
// One timer covers the window: no acknowledgement for AckTimeout while
// events are in flight fails the pass, and the sender sends again from
// the first event not acknowledged (JetStream drops the repeats by their
// Nats-Msg-Id).
//
// N never repeats within an inbox, so an answer that comes late, or a
// second answer to one publish (two streams that take the subject, say a
// tap's own and one on a hub across a leaf node), finds the publish it
// was for, long acknowledged, and is dropped: it can never be taken for
// the acknowledgement of a later event that was not stored.

// ackInbox is the subscription acknowledgements come back on. An inbox is
// used only while every acknowledgement it waits for is accounted for:
// after a failed pass it is dropped and the next pass opens another, so
// that a late acknowledgement of an earlier pass cannot be taken for one
// of the next.
type ackInbox struct {
	sub    *nats.Subscription
	ch     chan *nats.Msg
	prefix string
	next   uint64 // the number of the next publish's reply subject
	// lap holds the reply subjects of the numbers lapStart onwards, cut
	// from one string, so that they cost one allocation per lap, not one
	// per publish; buf and ends are reused to build the next lap.
	lap      []string
	lapStart uint64
	buf      []byte
	ends     []int
	// done marks the records of the current pass acknowledged; reused.
	done []bool
}

// lapLen is how many reply subjects are made at a time, in windows.
const lapLen = 4

// openInbox makes sure the publisher has an inbox for acknowledgements.
func (p *Publisher) openInbox() (*ackInbox, error) {
	if in := p.inbox; in != nil && in.sub.IsValid() {
		return in, nil
	}
	p.closeInbox()
	// No more than a window is in flight, each answered once or (two
	// streams) twice: the channel holds every answer the sender waits for.
	n := lapLen * p.opts.Window
	in := &ackInbox{ch: make(chan *nats.Msg, n), prefix: p.nc.NewInbox(), lap: make([]string, n)}
	in.fillLap(0)
	sub, err := p.nc.ChanSubscribe(in.prefix+".*", in.ch)
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

// reply returns the reply subject of publish number k.
func (in *ackInbox) reply(k uint64) string {
	if k < in.lapStart || k-in.lapStart >= uint64(len(in.lap)) {
		in.fillLap(k)
	}
	return in.lap[k-in.lapStart]
}

// fillLap makes the reply subjects of the numbers from k on.
func (in *ackInbox) fillLap(k uint64) {
	b, ends := in.buf[:0], in.ends[:0]
	for j := range in.lap {
		b = append(b, in.prefix...)
		b = append(b, '.')
		b = strconv.AppendUint(b, k+uint64(j), 10)
		ends = append(ends, len(b))
	}
	all, from := string(b), 0
	for j, e := range ends {
		in.lap[j], from = all[from:e], e
	}
	in.buf, in.ends, in.lapStart = b, ends, k
}

// numberOf returns the publish number an acknowledgement's subject names.
func (in *ackInbox) numberOf(subject string) (uint64, bool) {
	i := len(subject)
	for i > 0 && subject[i-1] != '.' {
		i--
	}
	if i == 0 || subject[:i-1] != in.prefix {
		return 0, false
	}
	n, err := strconv.ParseUint(subject[i:], 10, 64)
	return n, err == nil
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
	base := in.next // the number of recs[0]'s publish
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
			p.setMsg(&recs[sent], in.reply(base+uint64(sent)))
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
			k, ok := in.numberOf(msg.Subject)
			if !ok || k < base || k-base >= uint64(sent) || in.done[k-base] {
				continue // not one of the pass's in flight: late, or a second answer
			}
			i := int(k - base)
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
	in.next = base + uint64(sent)
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
