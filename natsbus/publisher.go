package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure a Publisher. Zero values take the defaults.
type Options struct {
	// Tap is the tap's id, one subject token. Required.
	Tap string
	// BootID tells this start of the process apart from earlier ones in
	// Nats-Msg-Id. Empty: NewBootID.
	BootID string
	// Core publishes with core NATS instead of JetStream: an event counts
	// as delivered once a flush round trip confirms the server read it,
	// not once a stream stored it. Use it for servers without JetStream.
	Core bool
	// SpoolDir keeps undelivered events on disk, so they survive a restart
	// of ftptap as well as an outage of the server. Empty: in memory.
	SpoolDir string
	// SpoolBytes caps the spool. Default: 64 MiB on disk, 16 MiB in memory.
	SpoolBytes int64
	// QueueLen caps the events waiting to be written to the spool.
	// Default: 16384.
	QueueLen int
	// Window is how many published events may wait for their
	// acknowledgements at a time; each one acknowledged lets the next
	// go. Default: 256.
	Window int
	// AckTimeout bounds the wait for an acknowledgement. Default: 5s.
	AckTimeout time.Duration
	// SyncInterval is how often a disk spool is fsynced; negative: after
	// every write. Default: 30s, about the kernel's own writeback delay,
	// so syncing adds little wear to an SD card.
	SyncInterval time.Duration
	// Stream, when set, is made sure of (EnsureStream) before the first
	// publish, and again when publishes find no stream. A server without
	// JetStream turns the publisher to Core, with a log line.
	Stream *StreamOptions
	// OnDrop is called, on a goroutine of the publisher, when events were
	// dropped because the queue or the spool was full: at once for the
	// first drop, then at most every DropInterval with the count since the
	// last call. It must not block.
	OnDrop func(n uint64)
	// DropInterval groups drop reports. Default: 10s.
	DropInterval time.Duration
	// Logf logs connection trouble; nil: no logs.
	Logf func(format string, args ...any)
}

// Stats are a Publisher's counters.
type Stats struct {
	Accepted     uint64 // events taken by Event
	Published    uint64 // events the server acknowledged
	Spooled      uint64 // events written to the spool (on disk: they survive a crash of the process)
	Dropped      uint64 // events dropped: queue or spool full, or after Close
	Retries      uint64 // failed sends, each retried later
	Pending      int    // events queued or spooled, not yet acknowledged
	PendingBytes int64  // bytes in the spool
	Connected    bool
}

// Publisher is a pipeline sink that publishes events over NATS without
// ever making its caller wait. See the package doc for the delivery model.
type Publisher struct {
	opts  Options
	nc    *nats.Conn
	js    jetstream.JetStream
	spool spool

	mu     sync.Mutex // guards queue and closed
	queue  []record
	closed bool

	wake       chan struct{} // Event → writer
	avail      chan struct{} // writer → sender
	stopWriter chan struct{} // closed by Close
	abort      chan struct{} // closed when Close's deadline passes
	writerDone chan struct{}
	senderDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	// needStream is set while Options.Stream must be ensured; sender only.
	needStream bool
	// The sender's own: the inbox of acknowledgements (see sendJS), and
	// the message it publishes, reused, with its Nats-Msg-Id value.
	inbox *ackInbox
	out   nats.Msg
	msgID []string

	accepted  atomic.Uint64
	published atomic.Uint64
	dropped   atomic.Uint64
	spooled   atomic.Uint64
	retries   atomic.Uint64
	reported  uint64 // drops passed to OnDrop; writer goroutine only
	// syncFailing: the last sync of the spool failed (logged once);
	// writer goroutine only.
	syncFailing bool
	reportAt    time.Time
}

// NewPublisher starts a Publisher on nc, which the caller keeps and closes
// after Close. nc should be made with Conn's options (no reconnect buffer,
// endless reconnects); a connection that is not yet up is fine.
func NewPublisher(nc *nats.Conn, opts Options) (*Publisher, error) {
	if err := checkTap(opts.Tap); err != nil {
		return nil, err
	}
	if opts.BootID == "" {
		opts.BootID = NewBootID()
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 16384
	}
	if opts.Window <= 0 {
		opts.Window = 256
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 5 * time.Second
	}
	if opts.DropInterval <= 0 {
		opts.DropInterval = 10 * time.Second
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = 30 * time.Second
	}
	p := &Publisher{
		opts:       opts,
		nc:         nc,
		wake:       make(chan struct{}, 1),
		avail:      make(chan struct{}, 1),
		stopWriter: make(chan struct{}),
		abort:      make(chan struct{}),
		writerDone: make(chan struct{}),
		senderDone: make(chan struct{}),
	}
	if opts.SpoolDir != "" {
		if opts.SpoolBytes <= 0 {
			p.opts.SpoolBytes = 64 << 20
		}
		fs, err := openFileSpool(opts.SpoolDir, p.opts.SpoolBytes)
		if err != nil {
			return nil, err
		}
		p.spool = fs
	} else {
		if opts.SpoolBytes <= 0 {
			p.opts.SpoolBytes = 16 << 20
		}
		p.spool = newMemSpool(p.opts.SpoolBytes)
	}
	if !opts.Core {
		js, err := jetstream.New(nc)
		if err != nil {
			p.spool.close()
			return nil, fmt.Errorf("natsbus: %w", err)
		}
		p.js = js
	}
	p.needStream = opts.Stream != nil
	go p.writeLoop()
	go p.sendLoop()
	return p, nil
}

// Event queues ev for publishing; js is its JSON form. It never blocks on
// the network: when the queue is full the event is dropped and counted.
func (p *Publisher) Event(ev *event.Event, js []byte) {
	r := newRecord(p.opts.Tap, p.opts.BootID, ev, js)
	p.mu.Lock()
	if p.closed || len(p.queue) >= p.opts.QueueLen {
		p.mu.Unlock()
		p.dropped.Add(1)
		return
	}
	p.queue = append(p.queue, r)
	p.mu.Unlock()
	p.accepted.Add(1)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stats returns the publisher's counters; safe from any goroutine.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	q := len(p.queue)
	p.mu.Unlock()
	n, b := p.spool.pending()
	return Stats{
		Accepted:     p.accepted.Load(),
		Published:    p.published.Load(),
		Spooled:      p.spooled.Load(),
		Dropped:      p.dropped.Load(),
		Retries:      p.retries.Load(),
		Pending:      q + n,
		PendingBytes: b,
		Connected:    p.nc.IsConnected(),
	}
}

// BootID returns the boot id in the publisher's Nats-Msg-Ids.
func (p *Publisher) BootID() string { return p.opts.BootID }

// Close stops taking events and delivers what is pending until it is all
// acknowledged or ctx is done, then stops the publisher's goroutines. It
// returns an error when events were dropped or are left undelivered (a disk
// spool keeps those for the next start). Close does not close the
// connection. Calling it again returns the first result.
func (p *Publisher) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.stopWriter)
		// The deadline stops the sender, wherever it waits.
		stop := context.AfterFunc(ctx, func() { close(p.abort) })
		<-p.writerDone
		<-p.senderDone
		stop()
		// The drops since the last report (the writer's last pass, the
		// sender's), at once: OnDrop's count ends equal to Stats'. Both
		// goroutines are done, so the report's fields are ours.
		p.reportAt = time.Time{}
		p.reportDrops(time.Now())
		err := p.spool.close()
		n, _ := p.spool.pending()
		var errs []error
		if err != nil {
			errs = append(errs, err)
		}
		if n > 0 {
			where := "lost: the spool is in memory"
			if p.opts.SpoolDir != "" {
				where = "kept in " + p.opts.SpoolDir + " for the next start"
			}
			errs = append(errs, fmt.Errorf("natsbus: %d events not delivered before the deadline (%s)", n, where))
		}
		if d := p.dropped.Load(); d > 0 {
			errs = append(errs, fmt.Errorf("natsbus: %d events dropped (queue or spool full)", d))
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

func (p *Publisher) logf(format string, args ...any) {
	if p.opts.Logf != nil {
		p.opts.Logf(format, args...)
	}
}

// takeQueue returns the queued records and empties the queue.
func (p *Publisher) takeQueue() []record {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queue
	p.queue = nil
	return q
}

// writeLoop moves queued events into the spool and syncs it.
func (p *Publisher) writeLoop() {
	defer close(p.writerDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastSync := time.Now()
	stopping := false
	var failing bool
	var resumeAt int64 // the free bytes a failing spool waits for
	for {
		select {
		case <-p.wake:
		case <-tick.C:
		case <-p.stopWriter:
			stopping = true
		}
		batch := p.takeQueue()
		if len(batch) > 0 && failing && !p.roomToResume(resumeAt) {
			// Still full: the bytes a cut-short write gave back fit a
			// small batch, and would make the spool flap between
			// "full" and "writing again". Wait for real room.
			p.dropped.Add(uint64(len(batch)))
			batch = nil
		}
		if len(batch) > 0 {
			n, err := p.spool.append(batch)
			switch {
			case err != nil && !failing:
				// Said once (a full disk, say); the drops are counted
				// and reported through OnDrop meanwhile.
				p.logf("%v: events that cannot be stored are dropped and counted until it can write again", err)
				resumeAt = p.resumeThreshold()
			case err == nil && failing:
				p.logf("natsbus: spool: writing again, after %d events dropped in all", p.dropped.Load()+uint64(len(batch)-n))
			}
			failing = err != nil
			p.spooled.Add(uint64(n))
			if n < len(batch) {
				p.dropped.Add(uint64(len(batch) - n))
			}
			if n > 0 {
				select {
				case p.avail <- struct{}{}:
				default:
				}
			}
			if n > 0 && p.opts.SyncInterval < 0 {
				p.syncSpool()
				lastSync = time.Now()
			}
		}
		now := time.Now()
		if p.opts.SyncInterval > 0 && now.Sub(lastSync) >= p.opts.SyncInterval {
			p.syncSpool()
			lastSync = now
		}
		p.reportDrops(now)
		if stopping {
			// Event no longer queues after Close, so one more pass empties
			// the queue for good.
			if q := p.takeQueue(); len(q) > 0 {
				n, _ := p.spool.append(q)
				p.dropped.Add(uint64(len(q) - n))
			}
			p.syncSpool()
			select {
			case p.avail <- struct{}{}:
			default:
			}
			return
		}
	}
}

func (p *Publisher) syncSpool() {
	err := p.spool.sync()
	if err != nil && !p.syncFailing {
		p.logf("%v", err) // once, until a sync succeeds again
	}
	p.syncFailing = err != nil
}

func (p *Publisher) reportDrops(now time.Time) {
	d := p.dropped.Load()
	if d == p.reported || p.opts.OnDrop == nil {
		return
	}
	if !p.reportAt.IsZero() && now.Sub(p.reportAt) < p.opts.DropInterval {
		return
	}
	p.opts.OnDrop(d - p.reported)
	p.reported, p.reportAt = d, now
}

// writerStopped reports whether the writer goroutine has finished.
func (p *Publisher) writerStopped() bool {
	select {
	case <-p.writerDone:
		return true
	default:
		return false
	}
}

// sendLoop publishes the spool in order, a window at a time, and removes
// what the server acknowledged. It ends once Close was called and the
// spool is empty, or when Close's deadline passes.
func (p *Publisher) sendLoop() {
	defer close(p.senderDone)
	defer p.closeInbox()
	const minBackoff, maxBackoff = 50 * time.Millisecond, time.Second
	backoff := minBackoff
	var failingSince time.Time
	var lastLog time.Time
	for {
		select {
		case <-p.abort:
			return
		default:
		}
		recs, err := p.spool.peek(p.batch())
		if err == nil && len(recs) == 0 {
			if p.writerStopped() {
				// The writer has spooled everything it ever will.
				if recs, err = p.spool.peek(p.batch()); err == nil && len(recs) == 0 {
					return
				}
			} else {
				select {
				case <-p.avail:
				case <-p.writerDone:
				case <-p.abort:
					return
				}
				continue
			}
		}
		var n int
		if err == nil && !p.nc.IsConnected() {
			err = errNotConnected
		}
		if err == nil && p.needStream {
			err = p.ensureStream()
		}
		if err == nil {
			n, err = p.send(recs)
			if errors.Is(err, jetstream.ErrNoStreamResponse) && p.opts.Stream != nil {
				p.needStream = true
			}
			if errors.Is(err, nats.ErrMaxPayload) && n < len(recs) {
				// No retry can deliver an event larger than the server
				// takes: drop it, counted, rather than block the rest.
				p.logf("natsbus: event %s (%d bytes) is larger than the server's max_payload: dropped", recs[n].id, len(recs[n].data))
				p.dropped.Add(1)
				p.published.Add(uint64(n))
				if aerr := p.spool.ack(n + 1); aerr != nil {
					p.logf("natsbus: %v", aerr)
				}
				continue
			}
			if n > 0 {
				if aerr := p.spool.ack(n); aerr != nil {
					err = aerr
				}
				p.published.Add(uint64(n))
			}
		}
		if err == nil {
			if !failingSince.IsZero() {
				p.logf("natsbus: delivering again after %v", time.Since(failingSince).Round(time.Second))
				failingSince = time.Time{}
			}
			backoff = minBackoff
			continue
		}
		p.retries.Add(1)
		now := time.Now()
		if failingSince.IsZero() {
			failingSince = now
		}
		if now.Sub(lastLog) >= 30*time.Second {
			pn, _ := p.spool.pending()
			p.logf("natsbus: publish: %v (%d events kept, retrying)", err, pn)
			lastLog = now
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-p.abort:
			t.Stop()
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// batch is how many spooled events one pass of the sender takes: several
// windows, so that the wait for the last acknowledgements of a pass, with
// nothing more in flight, comes seldom.
func (p *Publisher) batch() int { return 16 * p.opts.Window }

var errNotConnected = errors.New("not connected to the server")

// ensureStream runs EnsureStream for Options.Stream, or turns the
// publisher to core NATS when the server has no JetStream.
func (p *Publisher) ensureStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.AckTimeout)
	defer cancel()
	name, err := EnsureStream(ctx, p.nc, *p.opts.Stream)
	switch {
	case err == nil:
		p.logf("natsbus: publishing to stream %s", name)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrNoResponders): // nobody answers the JetStream API
		p.logf("natsbus: the server has no JetStream: publishing with core NATS (confirmed by flush, not stored)")
		p.js = nil
	default:
		return err
	}
	p.needStream = false
	return nil
}

// send publishes recs and returns how many of them, from the first, the
// server acknowledged.
func (p *Publisher) send(recs []record) (int, error) {
	if p.js == nil {
		n := len(recs)
		var pubErr error
		for i := range recs {
			p.setMsg(&recs[i], "")
			if pubErr = p.nc.PublishMsg(&p.out); pubErr != nil {
				n = i
				break
			}
		}
		if err := p.nc.FlushTimeout(p.opts.AckTimeout); err != nil {
			return 0, err
		}
		return n, pubErr
	}
	return p.sendJS(recs)
}

// resumeRoom is the free space the disk spool waits for, once a write
// failed for want of it, before it writes again: room beyond what the
// disk had just after the failure, since the cut-short write gave its
// bytes back (a whole batch's, after a slow spell: more than any fixed
// amount).
const resumeRoom = 32 << 10

// resumeThreshold is the free space to wait for after a failed write:
// resumeRoom more than there is now.
func (p *Publisher) resumeThreshold() int64 {
	if p.opts.SpoolDir == "" {
		return 0
	}
	free, _ := freeBytes(p.opts.SpoolDir)
	return free + resumeRoom
}

// roomToResume reports whether the disk under the spool has the free
// space a failing spool waits for; where that cannot be told (a memory
// spool, another OS), it lets the write be tried.
func (p *Publisher) roomToResume(threshold int64) bool {
	if p.opts.SpoolDir == "" {
		return true
	}
	free, ok := freeBytes(p.opts.SpoolDir)
	return !ok || free >= threshold
}
