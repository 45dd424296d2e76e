// Package pipeline runs frames from a source through the decoder and the
// tracker, numbers the events of one tap, encodes them once as JSON (unless
// no sink reads it: see JSONFree) and hands them to sinks. The live path (ftptap run) and ftptap replay use the same
// Pipeline; only the Source differs.
//
// One goroutine (the caller of Run) owns the tracker, so ftpstate needs no
// locks. Sinks are called on that goroutine and must not block for long: a
// sink that does I/O puts a bounded queue in front of it (see Queue).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/decode"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/tftpstate"
)

// Frame is one captured frame. Data is valid until the next ReadFrame.
// A Frame with no Data and a non-zero Timestamp is a tick: no packet came,
// but time has moved on (live sources use it to let timeouts run).
type Frame struct {
	Data     []byte
	Info     gopacket.CaptureInfo
	Side     event.Side
	LinkType layers.LinkType

	// Set by AheadSource, which decodes on its own goroutine: pkt is the
	// frame decoded (valid as long as Data), decoded what Decode
	// reported. A nil pkt: not decoded yet.
	pkt     *event.Packet
	decoded bool
}

// Source yields frames in capture order. ReadFrame returns io.EOF at the end
// of a finite source; a live source returns net.ErrClosed or io.EOF once it
// is closed, which Run takes as a clean end.
type Source interface {
	ReadFrame() (Frame, error)
}

// Sink receives every event. ev and js (its JSON form, no newline) are valid
// only during the call; js is nil when every sink of the pipeline is
// JSONFree. Event must not block for long.
type Sink interface {
	Event(ev *event.Event, js []byte)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ev *event.Event, js []byte)

// Event calls f.
func (f SinkFunc) Event(ev *event.Event, js []byte) { f(ev, js) }

// Options configure a Pipeline.
type Options struct {
	Tap     string           // the tap's id, in every event
	Tracker *ftpstate.Config // nil: defaults
	Sinks   []Sink
	// FirstSeq is the seq of the first event; 0 means 1.
	FirstSeq uint64

	// TFTP configures the TFTP tracker; nil: defaults.
	TFTP *tftpstate.Config
}

// Stats are counters of a running pipeline, safe to read from any goroutine.
type Stats struct {
	Frames      [3]atomic.Uint64 // by event.Side: unknown, a, b
	Bytes       atomic.Uint64
	NotTCP      atomic.Uint64 // frames that were not TCP over IP
	Events      atomic.Uint64
	LastSeq     atomic.Uint64
	OpenSession atomic.Int64
	Evicted     atomic.Uint64 // sessions the tracker ended to make room (ftpstate's Stats.Evicted)
	TrackerMem  atomic.Int64  // the tracker's estimate of the memory it holds (Tracker.Bytes)
	TFTPOpen    atomic.Int64  // TFTP transfers being tracked
	TFTPEnded   atomic.Uint64 // TFTP transfers ended (tftp.end events)
}

// counts are the Stats counters the pipeline goroutine keeps as it goes.
type counts struct {
	frames  [3]uint64
	bytes   uint64
	events  uint64
	pending int // frames since the last publishStats
}

// statsEvery is how many frames Stats may lag behind.
const statsEvery = 256

// publishStats stores the counts and the tracker's figures into Stats.
func (p *Pipeline) publishStats() {
	for i := range p.counts.frames {
		p.Stats.Frames[i].Store(p.counts.frames[i])
	}
	p.Stats.Bytes.Store(p.counts.bytes)
	p.Stats.Events.Store(p.counts.events)
	p.Stats.LastSeq.Store(p.seq)
	p.counts.pending = 0
	p.trackerStats()
}

// Pipeline connects a source to the tracker and the sinks.
type Pipeline struct {
	opts     Options
	tracker  *ftpstate.Tracker
	tftp     *tftpstate.Tracker                  // UDP datagrams go here, TCP segments to tracker
	decoders map[layers.LinkType]*decode.Decoder // nil: the link type is not supported
	lastLink layers.LinkType
	lastDec  *decode.Decoder
	// unsupported counts frames by link type that decode.New refused,
	// with its error: Run reports them.
	unsupported map[layers.LinkType]*linkFailure
	pkt         event.Packet
	in          *event.Packet // the packet being fed: &pkt, or one decoded ahead
	frame       Frame         // the frame handed to packet observers
	seq         uint64
	buf         []byte
	queue       []event.Event // events waiting for dispatch (FIFO)
	last        time.Time     // newest packet time
	// Stats is what the pipeline has counted, for other goroutines to
	// read. The pipeline counts in plain fields (counts) and stores them
	// into Stats every statsEvery frames, at each tick of a live source
	// and at the end of Run: an atomic add is a full memory barrier on
	// most CPUs, and seven of them per event (frames, bytes, events, the
	// last sequence number, the tracker's three figures) took a tenth of
	// a replay's CPU.
	Stats  Stats
	counts counts

	annotators  []Annotator
	needJSON    bool // a sink reads js: dispatch encodes each event
	dataObs     []DataObserver
	packetObs   []PacketObserver
	tftpDataObs []TFTPDataObserver

	mu       sync.Mutex // guards injected
	injected []event.Event
	nInject  atomic.Int32 // len(injected), readable without mu
}

// New returns a Pipeline. The tracker config is validated here.
func New(opts Options) (*Pipeline, error) {
	if err := opts.Tracker.Validate(); err != nil {
		return nil, err
	}
	if err := opts.TFTP.Validate(); err != nil {
		return nil, err
	}
	p := &Pipeline{opts: opts, decoders: make(map[layers.LinkType]*decode.Decoder), buf: make([]byte, 0, 4096)}
	p.seq = opts.FirstSeq
	if p.seq > 0 {
		p.seq--
	}
	tc := ftpstate.Config{}
	if opts.Tracker != nil {
		tc = *opts.Tracker
	}
	if tc.OnData == nil {
		tc.OnData = p.onData
	}
	for _, sk := range opts.Sinks {
		p.observe(sk)
	}
	p.tracker = ftpstate.New(&tc, p.emit)
	var fc tftpstate.Config
	if opts.TFTP != nil {
		fc = *opts.TFTP
	}
	if fc.OnData == nil {
		fc.OnData = p.onTFTPData
	}
	p.tftp = tftpstate.New(&fc, p.emit)
	return p, nil
}

// Tracker returns the pipeline's tracker, for reading its counters on the
// pipeline goroutine (from a sink).
func (p *Pipeline) Tracker() *ftpstate.Tracker { return p.tracker }

// AddSink adds a sink; call it before Run.
func (p *Pipeline) AddSink(s Sink) {
	p.opts.Sinks = append(p.opts.Sinks, s)
	p.observe(s)
}

// decoderFor returns the decoder of a link type, made once; nil for a link
// type that cannot be decoded (also remembered, so such frames cost a
// comparison, not an attempt each). The last one used is kept at hand: a
// capture rarely mixes link types.
func (p *Pipeline) decoderFor(link layers.LinkType) *decode.Decoder {
	if p.lastDec != nil && p.lastLink == link {
		return p.lastDec
	}
	d, ok := p.decoders[link]
	if !ok {
		var err error
		d, err = decode.New(link) // nil on error: counted as not TCP
		if d != nil {
			d.UDP = true // for the TFTP tracker
		}
		p.decoders[link] = d
		if err != nil {
			if p.unsupported == nil {
				p.unsupported = map[layers.LinkType]*linkFailure{}
			}
			p.unsupported[link] = &linkFailure{err: err}
		}
	}
	if d != nil {
		p.lastLink, p.lastDec = link, d
	} else {
		p.unsupported[link].frames++
	}
	return d
}

type linkFailure struct {
	err    error
	frames uint64
}

// linkErrors reports the link types that could not be decoded, in the
// order of their numbers.
func (p *Pipeline) linkErrors() error {
	var errs []error
	for link := range 256 {
		if lf := p.unsupported[layers.LinkType(link)]; lf != nil {
			errs = append(errs, fmt.Errorf("pipeline: %d frames not read: %w", lf.frames, lf.err))
		}
	}
	return errors.Join(errs...)
}

// maxQueued bounds the events queued during one call into the tracker.
const maxQueued = 256

// emit is the tracker's event callback: it queues, and dispatch numbers.
// A flush or a sweep that ends thousands of sessions at once would queue
// all their events (a hundred thousand idle sessions: 50 MB); past
// maxQueued they are sent on from here, in the same order.
func (p *Pipeline) emit(ev *event.Event) {
	p.queue = append(p.queue, *ev)
	if len(p.queue) >= maxQueued {
		p.dispatch()
	}
}

// Emit adds an event of the pipeline's own (a status or led event, say) to
// the stream. It must be called on the pipeline goroutine, for instance from
// a sink; from other goroutines use Inject. A zero Time takes the newest
// packet time.
func (p *Pipeline) Emit(ev event.Event) {
	if ev.Time.IsZero() {
		ev.Time = p.last
	}
	p.queue = append(p.queue, ev)
}

// Inject queues an event from any goroutine; Run sends it on after the next
// frame or tick.
func (p *Pipeline) Inject(ev event.Event) {
	p.mu.Lock()
	p.injected = append(p.injected, ev)
	p.nInject.Store(int32(len(p.injected)))
	p.mu.Unlock()
}

func (p *Pipeline) drainInjected() {
	p.mu.Lock()
	in := p.injected
	p.injected = nil
	p.nInject.Store(0)
	p.mu.Unlock()
	for _, ev := range in {
		p.Emit(ev)
	}
}

// dispatch numbers, encodes and hands out queued events, including those
// that sinks emit while handling them.
func (p *Pipeline) dispatch() {
	for i := 0; i < len(p.queue); i++ {
		// Not a copy: annotators and sinks may Emit, which can move the
		// queue to a new array, but ev still points into the old one,
		// which nothing writes to any more.
		ev := &p.queue[i]
		for _, a := range p.annotators {
			a.Annotate(ev)
		}
		p.seq++
		ev.Seq = p.seq
		ev.Tap = p.opts.Tap
		var js []byte
		if p.needJSON {
			p.buf = ev.AppendJSON(p.buf[:0])
			js = p.buf
		}
		for _, s := range p.opts.Sinks {
			s.Event(ev, js)
		}
		p.counts.events++
	}
	clear(p.queue)
	p.queue = p.queue[:0]
}

// Run reads src until it ends or ctx is done, then ends every open session
// (reason "shutdown"), sends the last events and returns. A source error
// other than the end of the source is returned, wrapped, after the flush, so
// nothing already captured is lost; so is one error per link type that
// frames came in and decode cannot read, with the count of such frames.
func (p *Pipeline) Run(ctx context.Context, src Source) error {
	var srcErr error
	ahead, _ := src.(*AheadSource)
	for ctx.Err() == nil {
		var f *Frame
		var err error
		if ahead != nil {
			f, err = ahead.next() // the frame where it lies in its batch, not a copy
		} else {
			var fr Frame
			fr, err = src.ReadFrame()
			f = &fr
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
				srcErr = err
			}
			break
		}
		p.feed(f)
	}
	p.drainInjected()
	p.tracker.Flush(p.last)
	p.tftp.Flush(p.last)
	p.dispatch()
	p.publishStats()
	// The source's errors name it already. Frames of a link type that
	// cannot be decoded are an error too: a replay that printed nothing
	// must not look like a capture without FTP.
	return errors.Join(srcErr, p.linkErrors())
}

// Feed runs one frame through the pipeline, and Stats is up to date
// after it. Run calls feed, which leaves Stats to publishStats; tests and
// benchmarks may call Feed directly.
func (p *Pipeline) Feed(f Frame) {
	p.feed(&f)
	p.publishStats()
}

func (p *Pipeline) feed(f *Frame) {
	if len(f.Data) == 0 {
		if !f.Info.Timestamp.IsZero() {
			// The tracker takes clock steps out (see ftpstate's clock):
			// it gets the time as it is, and p.last follows its clock.
			p.tracker.Advance(f.Info.Timestamp)
			p.last = p.tracker.Now()
			p.advanceTFTP(f.Info.Timestamp)
		}
		p.drainInjected()
		p.dispatch()
		p.publishStats()
		return
	}
	p.counts.frames[f.Side%3]++
	p.counts.bytes += uint64(len(f.Data))
	if p.counts.pending++; p.counts.pending >= statsEvery {
		p.publishStats()
	}
	var ok bool
	if f.pkt != nil {
		// Decoded ahead, by a decoder of the same link type: fed where
		// it lies, in its batch.
		ok = f.decoded
		p.in = f.pkt
	} else {
		p.in = &p.pkt
		d := p.decoderFor(f.LinkType)
		if d == nil {
			p.Stats.NotTCP.Add(1)
			return
		}
		ok = d.Decode(f.Data, &p.pkt)
	}
	if f.Info.Timestamp.After(p.last) {
		p.last = f.Info.Timestamp
	}
	if !ok {
		p.Stats.NotTCP.Add(1)
		if len(p.packetObs) > 0 {
			p.frame = *f
			p.observePacket(&p.frame, nil)
			p.frame = Frame{}
		}
		return
	}
	p.in.Time = f.Info.Timestamp
	p.in.Side = f.Side
	p.feedPacket()
	if len(p.queue) > 0 {
		p.dispatch()
	}
	if len(p.packetObs) > 0 {
		p.frame = *f
		p.observePacket(&p.frame, p.tcpPacket())
		p.frame = Frame{}
		if len(p.queue) > 0 {
			p.dispatch()
		}
	}
	p.in.Payload = nil
	p.in = nil
	if p.nInject.Load() > 0 {
		p.drainInjected()
		p.dispatch()
	}
}

// trackerStats refreshes the tracker's figures in Stats.
func (p *Pipeline) trackerStats() {
	p.Stats.OpenSession.Store(int64(p.tracker.OpenSessions()))
	p.Stats.Evicted.Store(p.tracker.Stats().Evicted)
	p.Stats.TrackerMem.Store(int64(p.tracker.Bytes()))
}
