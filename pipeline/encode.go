package pipeline

import (
	"github.com/ftptap/ftptap/event"
)

// JSONFree is implemented by sinks that do not read the JSON form of the
// events they are handed. When every sink of a Pipeline is JSONFree, the
// pipeline encodes nothing and js is nil in each Event call.
type JSONFree interface {
	Sink
	jsonFree()
}

// NeedsJSON reports whether s reads the JSON form of events: false only for
// the JSONFree sinks of this package (EventFunc, JSONLines).
func NeedsJSON(s Sink) bool {
	_, free := s.(JSONFree)
	return !free
}

// EventFunc adapts a function that takes no JSON to Sink. It is
// JSONFree: a pipeline whose sinks are all EventFuncs or JSONLines does not
// encode events on its goroutine.
type EventFunc func(ev *event.Event)

// Event calls f with ev; js is ignored.
func (f EventFunc) Event(ev *event.Event, _ []byte) { f(ev) }

func (EventFunc) jsonFree() {}

// JSONLines is a Sink that writes each event as a JSON line (the bytes of
// Event.AppendJSON and a newline) to a Writer, encoding on a goroutine of
// its own: the pipeline goroutine only copies each event into a batch, and
// the second core encodes, in the order of the events. When the encoder
// falls behind, Event waits for a batch to come back (never drops, never
// queues more than a few batches).
//
// Event copies the Event struct only: the strings and slices it refers to
// must not change after the event is emitted (the trackers' are never
// changed; see ftpstate's strs.go).
//
// JSONLines owns w between NewJSONLines and Close, except just after a
// Flush: until the next Event the caller may write to w itself.
type JSONLines struct {
	w     *Writer
	batch []event.Event      // being filled, on the pipeline goroutine
	full  chan []event.Event // to the encoder, in order
	free  chan []event.Event // encoded, back
	done  chan struct{}
	// closed is set by Close.
	closed bool
}

const (
	// jsonBatch is the events of a batch (about 120 KB of them).
	jsonBatch = 256
	// jsonBatches is the batches of a JSONLines: one being filled, the
	// others encoded or waiting to be.
	jsonBatches = 4
)

// NewJSONLines returns a JSONLines writing to w; Close stops its goroutine
// (and not w).
func NewJSONLines(w *Writer) *JSONLines {
	j := &JSONLines{w: w, full: make(chan []event.Event, jsonBatches), free: make(chan []event.Event, jsonBatches), done: make(chan struct{})}
	for range jsonBatches - 1 {
		j.free <- make([]event.Event, 0, jsonBatch)
	}
	j.batch = make([]event.Event, 0, jsonBatch)
	go j.loop()
	return j
}

func (j *JSONLines) jsonFree() {}

// Event queues a copy of ev; js is ignored (nil when no other sink needs
// it). Events after Close are dropped.
func (j *JSONLines) Event(ev *event.Event, _ []byte) {
	if j.closed {
		return
	}
	j.batch = append(j.batch, *ev)
	if len(j.batch) == cap(j.batch) {
		j.send()
	}
}

// send hands the batch over and takes a free one, waiting for it when all
// are being encoded.
func (j *JSONLines) send() {
	j.full <- j.batch
	j.batch = <-j.free
}

func (j *JSONLines) loop() {
	defer close(j.done)
	for b := range j.full {
		for i := range b {
			j.w.appendLine(&b[i])
		}
		// The batch's strings are let go of: the tracker's blocks
		// they point into are not kept alive by a spare batch.
		clear(b)
		j.free <- b[:0]
	}
}

// Flush encodes every event queued so far, then flushes w: once it
// returns, all of them have been written to w's underlying writer (or w's
// first error is returned).
func (j *JSONLines) Flush() error {
	if j.closed {
		return j.w.Flush()
	}
	if len(j.batch) > 0 {
		j.send()
	}
	// Batches are encoded in order: once every one is back, all before
	// have been encoded.
	awaitAll(j.free, jsonBatches-1)
	return j.w.Flush()
}

// Close flushes and stops the encoding goroutine; it does not close w.
func (j *JSONLines) Close() error {
	if j.closed {
		return j.w.Err()
	}
	err := j.Flush()
	j.closed = true
	close(j.full)
	<-j.done
	return err
}
