package pipeline

import (
	"errors"
	"io"
	"sync"

	"github.com/ftptap/ftptap/event"
)

// Writer buffers what is written to it and hands each full buffer to a
// goroutine of its own that writes it to the underlying io.Writer, so
// that the write system calls (for a file, the copy into the page cache)
// take no time of the pipeline goroutine that encodes the events: a sink
// that writes JSON lines (ftptap replay > FILE) uses the second core for
// them. Bytes reach w in the order written.
//
// Writer is not safe for concurrent use; Flush and Close wait until all
// that was written is written. The first error w returns is kept: later
// writes are dropped, and Write, Flush and Close return it.
type Writer struct {
	w    io.Writer
	size int
	buf  []byte
	full chan []byte // filled buffers, in order, to the writing goroutine
	free chan []byte // written buffers, back
	done chan struct{}
	// closed is set by Close; the writes that follow fail.
	closed bool

	mu  sync.Mutex // guards err
	err error

	closeOnce sync.Once
}

// writerBuffers is how many buffers a Writer has: one being filled, the
// others written or waiting to be.
const writerBuffers = 4

// NewWriter returns a Writer on w with buffers of size bytes (at least
// 4 KiB; 0 means 256 KiB). Close stops its goroutine.
func NewWriter(w io.Writer, size int) *Writer {
	if size <= 0 {
		size = 256 << 10
	}
	size = max(size, 4<<10)
	a := &Writer{w: w, size: size, full: make(chan []byte, writerBuffers), free: make(chan []byte, writerBuffers), done: make(chan struct{})}
	for range writerBuffers - 1 {
		a.free <- make([]byte, 0, size)
	}
	a.buf = make([]byte, 0, size)
	go a.loop()
	return a
}

func (a *Writer) loop() {
	defer close(a.done)
	for b := range a.full {
		if len(b) > 0 && a.Err() == nil {
			if _, err := a.w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

// Err returns the first error of the underlying writer, or nil.
func (a *Writer) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Write appends p; it never returns a short count without an error.
func (a *Writer) Write(p []byte) (int, error) {
	if a.closed {
		return 0, errWriterClosed
	}
	if err := a.Err(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(a.buf)+len(p) > a.size {
		k := a.size - len(a.buf)
		a.buf = append(a.buf, p[:k]...)
		p = p[k:]
		a.send()
	}
	a.buf = append(a.buf, p...)
	return n, nil
}

// WriteByte appends c.
func (a *Writer) WriteByte(c byte) error {
	if a.closed {
		return errWriterClosed
	}
	if len(a.buf) == a.size {
		a.send()
	}
	a.buf = append(a.buf, c)
	return nil
}

// send hands the buffer over and takes a free one, waiting for it when
// all are being written (the disk or the pipe is slower than the events).
func (a *Writer) send() {
	a.full <- a.buf
	a.buf = <-a.free
}

var errWriterClosed = errors.New("pipeline: writer closed")

// Flush writes what is buffered and waits until the underlying writer has
// taken everything written so far.
func (a *Writer) Flush() error {
	if a.closed {
		return errors.Join(a.Err(), errWriterClosed)
	}
	if len(a.buf) > 0 {
		a.send()
	}
	// The goroutine takes buffers in order: once every buffer is back,
	// all before have been written.
	awaitAll(a.free, writerBuffers-1)
	return a.Err()
}

// Close flushes and stops the writing goroutine. It does not close the
// underlying writer. Calling it again returns the first error, if any.
func (a *Writer) Close() error {
	var err error
	a.closeOnce.Do(func() {
		err = a.Flush()
		a.closed = true
		close(a.full)
		<-a.done
	})
	if err == nil {
		err = a.Err()
	}
	return err
}

// lineRoom is the room a buffer keeps for the next line: a buffer holding
// more than size-lineRoom bytes is sent before a line is appended. A longer
// line grows the buffer.
const lineRoom = 4 << 10

// appendLine appends ev's JSON form and a newline, encoded straight into
// the buffer (JSONLines' goroutine is the only one to call it).
func (a *Writer) appendLine(ev *event.Event) {
	if a.closed {
		return
	}
	if len(a.buf) > a.size-lineRoom {
		a.send()
	}
	a.buf = ev.AppendJSON(a.buf)
	a.buf = append(a.buf, '\n')
}

// awaitAll waits until the n buffers handed to a goroutine that works
// through them in order have all come back on free, then puts them back:
// once it returns, everything handed over before has been done.
func awaitAll[T any](free chan T, n int) {
	held := make([]T, 0, n)
	for range n {
		held = append(held, <-free)
	}
	for _, b := range held {
		free <- b
	}
}
