package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

// replayLines replays files, read ahead, into a JSONLines on a Writer of
// size bytes; with also set, a sink that reads js runs beside it and its
// lines are returned too.
func replayLines(t *testing.T, files []string, size int, also bool) (lines, js []byte, err error) {
	t.Helper()
	src, err := tap.OpenFiles(files...)
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	var out, other bytes.Buffer
	w := pipeline.NewWriter(&out, size)
	jl := pipeline.NewJSONLines(w)
	sinks := []pipeline.Sink{jl}
	if also {
		sinks = append(sinks, pipeline.SinkFunc(func(_ *event.Event, b []byte) {
			other.Write(b)
			other.WriteByte('\n')
		}))
	}
	p, err := pipeline.New(pipeline.Options{Tap: "t", Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	a := pipeline.ReadAhead(src, pipeline.AheadOptions{})
	defer a.Close()
	err = p.Run(context.Background(), a)
	if cerr := jl.Close(); cerr != nil {
		t.Fatal(cerr)
	}
	if cerr := w.Close(); cerr != nil {
		t.Fatal(cerr)
	}
	return out.Bytes(), other.Bytes(), err
}

// TestJSONLinesSameEvents: events encoded on JSONLines' goroutine are those
// encoded on the pipeline's, byte for byte and in order, on every capture
// at hand, with the pipeline encoding nothing itself (only JSONFree sinks)
// or with a sink beside that reads js.
func TestJSONLinesSameEvents(t *testing.T) {
	n := 0
	for _, files := range captureSets(t) {
		want, wantErr := replayEvents(t, files, nil)
		if wantErr != nil && want == nil {
			continue
		}
		for _, size := range []int{4 << 10, 0} {
			for _, also := range []bool{false, true} {
				got, js, err := replayLines(t, files, size, also)
				if !bytes.Equal(got, want) {
					t.Errorf("%s (writer of %d, js sink %v): JSONLines wrote %d bytes unlike the pipeline's %d", files, size, also, len(got), len(want))
				}
				if also && !bytes.Equal(js, want) {
					t.Errorf("%s: the js sink beside JSONLines got %d bytes, want %d", files, len(js), len(want))
				}
				if (err == nil) != (wantErr == nil) {
					t.Errorf("%s: error %v, want %v", files, err, wantErr)
				}
			}
		}
		n++
	}
	t.Logf("%d captures compared", n)
}

// TestJSONFreeNoEncoding: js is nil when every sink is JSONFree, and the
// JSON form as soon as one sink is not.
func TestJSONFreeNoEncoding(t *testing.T) {
	for _, withJS := range []bool{false, true} {
		var nilJS, gotJS int
		var sinks []pipeline.Sink
		sinks = append(sinks, pipeline.SinkFunc(func(_ *event.Event, js []byte) {
			if js == nil {
				nilJS++
			} else {
				gotJS++
			}
		}))
		if !withJS {
			// The same counting, through EventFunc: js must not be
			// needed, so the pipeline encodes nothing.
			sinks = []pipeline.Sink{pipeline.EventFunc(func(*event.Event) {}), &jsonFreeProbe{nilJS: &nilJS, gotJS: &gotJS}}
		}
		p, err := pipeline.New(pipeline.Options{Tap: "t", Sinks: sinks})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			p.Emit(event.Event{Type: event.TypeStatus, Time: time.Unix(1, 0)})
		}
		p.Feed(pipeline.Frame{Info: gopacketInfo()}) // a tick: dispatches
		if withJS && (gotJS != 3 || nilJS != 0) || !withJS && (nilJS != 3 || gotJS != 0) {
			t.Errorf("sink reading js %v: %d events with js, %d without", withJS, gotJS, nilJS)
		}
	}
	if pipeline.NeedsJSON(pipeline.EventFunc(nil)) || pipeline.NeedsJSON(&pipeline.JSONLines{}) || !pipeline.NeedsJSON(pipeline.SinkFunc(nil)) {
		t.Error("NeedsJSON: EventFunc and JSONLines need none, SinkFunc does")
	}
}

// jsonFreeProbe counts events by whether js came; it is JSONFree by
// embedding an EventFunc.
type jsonFreeProbe struct {
	pipeline.EventFunc
	nilJS, gotJS *int
}

func (s *jsonFreeProbe) Event(_ *event.Event, js []byte) {
	if js == nil {
		*s.nilJS++
	} else {
		*s.gotJS++
	}
}

// gatedWriter blocks every Write until open is closed, and counts bytes.
type gatedWriter struct {
	open chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

// testEvent is event i of a session, with text that varies in length.
func testEvent(i int) event.Event {
	return event.Event{
		Tap: "t", Seq: uint64(i + 1), Time: time.Unix(1700000000, int64(i)*1000).UTC(), Type: event.TypeRequest,
		Proto: event.ProtoFTP, Session: 7, Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:21"),
		Command: "SIZE", Arg: fmt.Sprintf("file-%d-%s", i, bytes.Repeat([]byte{'x'}, i%300)),
	}
}

// TestJSONLinesBackPressure: with the underlying writer stuck, Event stops
// taking events after a bounded number (the batches and the writer's
// buffers), never dropping one; once the writer moves, every event is
// written, in order, and Flush returns after the last.
func TestJSONLinesBackPressure(t *testing.T) {
	const total = 20000
	g := &gatedWriter{open: make(chan struct{})}
	w := pipeline.NewWriter(g, 4<<10)
	jl := pipeline.NewJSONLines(w)
	var taken atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			ev := testEvent(i)
			jl.Event(&ev, nil)
			taken.Add(1)
		}
	}()
	// Wait until Event blocks: the count stops moving.
	last := int64(-1)
	for n := taken.Load(); n != last; n = taken.Load() {
		last = n
		time.Sleep(200 * time.Millisecond)
	}
	if last >= total {
		t.Fatalf("all %d events taken with the writer stuck: no back-pressure", total)
	}
	t.Logf("%d events taken before Event blocked", last)
	close(g.open)
	<-done
	if err := jl.Flush(); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := range total {
		ev := testEvent(i)
		want = ev.AppendJSON(want)
		want = append(want, '\n')
	}
	g.mu.Lock()
	got := g.buf.Bytes()
	g.mu.Unlock()
	if !bytes.Equal(got, want) {
		t.Errorf("after Flush: %d bytes written, want %d", len(got), len(want))
	}
	if err := jl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := jl.Close(); err != nil {
		t.Fatal(err)
	}
	ev := testEvent(0)
	jl.Event(&ev, nil) // after Close: dropped, no panic
}

// TestJSONLinesFlushThenWrite: after Flush the caller may write to the
// Writer itself, and what it writes lands between the events before and
// after, as in ftptap replay's summary.
func TestJSONLinesFlushThenWrite(t *testing.T) {
	var out bytes.Buffer
	w := pipeline.NewWriter(&out, 0)
	jl := pipeline.NewJSONLines(w)
	var want []byte
	for round := range 3 {
		for i := range 300 {
			ev := testEvent(round*1000 + i)
			jl.Event(&ev, nil)
			want = append(ev.AppendJSON(want), '\n')
		}
		if err := jl.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("round %d: after Flush %d bytes, want %d", round, out.Len(), len(want))
		}
		line := fmt.Sprintf("-- round %d\n", round)
		io.WriteString(w, line)
		want = append(want, line...)
	}
	if err := jl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("after Close: %d bytes, want %d", out.Len(), len(want))
	}
}
