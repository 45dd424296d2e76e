package pipeline

import (
	"errors"
	"sync"

	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/decode"
	"github.com/ftptap/ftptap/event"
)

// AheadOptions size the ring of a read-ahead source. Zero fields take the
// defaults.
type AheadOptions struct {
	Batches int // batches in the ring; default 4
	// Frames is the most frames in a batch; default 1024. Bytes: a batch
	// is sent once its frames hold this many bytes; default 512 KiB.
	// Every batch handed over may wake the other goroutine (a futex
	// call each way), so batches are large: with 128 frames and 64 KiB
	// (8 of them) the mixed capture of internal/perf replayed 12% to 18%
	// slower in wall time (BenchmarkReadAheadMixed). Four of them hold
	// about 3 MiB (bytes, frames and decoded packets), within the last
	// level cache of most processors.
	Frames int
	Bytes  int

	// NoDecode leaves decoding to the pipeline goroutine. By default the
	// reading goroutine decodes each frame too (with decoders of its own,
	// as the pipeline's: TCP, UDP and ICMP), and the pipeline takes the
	// decoded packet as it is.
	NoDecode bool
}

// AheadSource reads another source ahead of its consumer, on a goroutine of
// its own: frames are copied into a bounded ring of batches, reused, so
// reading (file I/O, pcap parsing, the copy) runs on a second core while
// the pipeline goroutine tracks; so does decoding, unless NoDecode is set.
// Frames come out in the order the source
// gave them, with the same bytes, so the events are the same as without
// it; only the time they take differs.
//
// It is for finite sources (capture files): a batch goes to the consumer
// when it is full, at a tick and at the end, so on a live source a frame
// could wait for the ones after it. A Frame's Data stays valid until the
// next ReadFrame, as the Source contract says (in fact until the batch
// after it is taken).
type AheadSource struct {
	src  Source
	full chan *batch
	free chan *batch
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	cur *batch // the batch being consumed; nil before the first
	i   int    // index of the next frame of cur
	err error  // the source's error, once reached

	dec decoders // the reading goroutine's; nil with NoDecode
}

// batch is frames read ahead, their bytes back to back in buf, and the
// packets decoded from them (pkts[i] from frames[i]; Payload points into
// buf).
type batch struct {
	buf    []byte
	frames []Frame
	pkts   []event.Packet
	err    error // the error the source returned after frames, if any
}

var errAheadClosed = errors.New("pipeline: read-ahead source closed")

// ReadAhead starts reading src ahead. Close stops it (and does not close
// src, which the caller owns).
func ReadAhead(src Source, o AheadOptions) *AheadSource {
	if o.Batches <= 0 {
		o.Batches = 4
	}
	if o.Frames <= 0 {
		o.Frames = 1024
	}
	if o.Bytes <= 0 {
		o.Bytes = 512 << 10
	}
	a := &AheadSource{
		src:  src,
		full: make(chan *batch, o.Batches),
		free: make(chan *batch, o.Batches),
		stop: make(chan struct{}),
	}
	if !o.NoDecode {
		a.dec = decoders{}
	}
	for range o.Batches {
		b := &batch{buf: make([]byte, 0, o.Bytes+2048), frames: make([]Frame, 0, o.Frames)}
		if !o.NoDecode {
			b.pkts = make([]event.Packet, o.Frames)
		}
		a.free <- b
	}
	a.wg.Add(1)
	go a.read(o)
	return a
}

// read fills batches until the source ends or Close is called.
func (a *AheadSource) read(o AheadOptions) {
	defer a.wg.Done()
	defer close(a.full)
	for {
		var b *batch
		select {
		case b = <-a.free:
		case <-a.stop:
			return
		}
		b.buf, b.frames, b.err = b.buf[:0], b.frames[:0], nil
		appender, _ := a.src.(frameAppender)
		for n := 0; n < o.Frames && len(b.buf) < o.Bytes; n++ {
			// The frame is read into its place in the batch. A frame
			// that would not fit makes the buffer grow: the frames
			// before it keep pointing at the old array, which nothing
			// writes to any more.
			b.frames = b.frames[:n+1]
			f := &b.frames[n]
			var err error
			if appender != nil {
				b.buf, err = appender.AppendFrame(b.buf, f)
			} else if *f, err = a.src.ReadFrame(); err == nil && len(f.Data) > 0 {
				off := len(b.buf)
				b.buf = append(b.buf, f.Data...)
				f.Data = b.buf[off:len(b.buf):len(b.buf)]
			}
			if err != nil {
				*f = Frame{}
				b.frames = b.frames[:n]
				b.err = err
				break
			}
			if len(f.Data) == 0 {
				break // a tick: time moved on, hand it over now
			}
			if a.dec != nil {
				a.decode(f, &b.pkts[n])
			}
		}
		select {
		case a.full <- b:
		case <-a.stop:
			return
		}
		if b.err != nil {
			return
		}
	}
}

// ReadFrame returns the next frame of the source, or the error the source
// returned after its last frame.
func (a *AheadSource) ReadFrame() (Frame, error) {
	f, err := a.next()
	if err != nil {
		return Frame{}, err
	}
	return *f, nil
}

// next is ReadFrame without the copy: the frame stays where it is in its
// batch, valid as long as its Data.
func (a *AheadSource) next() (*Frame, error) {
	for {
		if a.err != nil {
			return nil, a.err
		}
		if a.cur != nil && a.i < len(a.cur.frames) {
			a.i++
			return &a.cur.frames[a.i-1], nil
		}
		if a.cur != nil {
			if a.cur.err != nil {
				a.err = a.cur.err
				continue
			}
			// Every frame of cur has been returned and the consumer
			// has asked for the next: the last one's Data may go.
			a.free <- a.cur
			a.cur = nil
		}
		b, ok := <-a.full
		if !ok {
			a.err = errAheadClosed
			continue
		}
		a.cur, a.i = b, 0
	}
}

// Close stops the reading goroutine and waits for it. It is safe to call
// more than once; ReadFrame must not be running.
func (a *AheadSource) Close() error {
	a.once.Do(func() {
		close(a.stop)
		a.wg.Wait()
	})
	return nil
}

// decoders are the reading goroutine's decoders by link type; nil for a
// link type decode cannot read, whose frames the pipeline decodes (and
// counts) itself.
type decoders map[layers.LinkType]*decode.Decoder

// decode decodes f into pkt, as Pipeline.Feed would, and marks f decoded.
func (a *AheadSource) decode(f *Frame, pkt *event.Packet) {
	d, ok := a.dec[f.LinkType]
	if !ok {
		d, _ = decode.New(f.LinkType)
		if d != nil {
			d.UDP = true // as the pipeline's: for the TFTP tracker
		}
		a.dec[f.LinkType] = d
	}
	if d == nil {
		return
	}
	pkt.Time, pkt.Side = f.Info.Timestamp, f.Side
	f.pkt = pkt
	f.decoded = d.Decode(f.Data, pkt)
}

// frameAppender is a Source that can append a frame's bytes to a buffer
// itself, saving a copy (tap.FileSource): AppendFrame is ReadFrame into
// *f, with the frame's Data appended to buf, and buf returned.
type frameAppender interface {
	AppendFrame(buf []byte, f *Frame) ([]byte, error)
}
