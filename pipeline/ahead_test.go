package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/gopacket"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

// captureSets returns the captures to replay: the project's lab captures
// (both tap ports) and, when the corpus is beside the checkout, its gen/
// captures (ports and merged) and Zeek's traces.
func captureSets(t *testing.T) [][]string {
	t.Helper()
	var sets [][]string
	lab, _ := filepath.Glob("../ftpstate/testdata/lab/*")
	for _, d := range lab {
		sets = append(sets, []string{filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap")})
	}
	if len(sets) == 0 {
		t.Fatal("no lab captures under ../ftpstate/testdata/lab")
	}
	const corpus = "../../shared/corpus"
	if _, err := os.Stat(corpus); err != nil {
		t.Logf("corpus not found at %s: lab captures only", corpus)
		return sets
	}
	gen, _ := filepath.Glob(filepath.Join(corpus, "gen", "*"))
	for _, d := range gen {
		sets = append(sets, []string{filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap")}, []string{filepath.Join(d, "merged.pcap")})
	}
	zeek, _ := filepath.Glob(filepath.Join(corpus, "zeek", "*.pcap*"))
	for _, z := range zeek {
		sets = append(sets, []string{z})
	}
	return sets
}

// replayEvents replays files and returns the events as JSON lines, read
// ahead with o, or directly when o is nil.
func replayEvents(t *testing.T, files []string, o *pipeline.AheadOptions) ([]byte, error) {
	t.Helper()
	src, err := tap.OpenFiles(files...)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var out bytes.Buffer
	p, err := pipeline.New(pipeline.Options{Tap: "t", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(_ *event.Event, js []byte) {
		out.Write(js)
		out.WriteByte('\n')
	})}})
	if err != nil {
		t.Fatal(err)
	}
	var s pipeline.Source = src
	if o != nil {
		a := pipeline.ReadAhead(src, *o)
		defer a.Close()
		s = a
	}
	err = p.Run(context.Background(), s)
	return out.Bytes(), err
}

// TestReadAheadSameEvents: events with read-ahead are the events without,
// byte for byte, on every capture at hand, whatever the batch sizes (one
// frame, a few, the defaults, a byte limit that every frame passes), with
// frames decoded on the reading goroutine (the default) or not.
func TestReadAheadSameEvents(t *testing.T) {
	opts := []pipeline.AheadOptions{{}, {Batches: 1, Frames: 1}, {Batches: 2, Frames: 3}, {Batches: 3, Frames: 1000, Bytes: 1}, {NoDecode: true}}
	if testing.Short() {
		opts = opts[2:3] // under qemu-user (make test-arm): small batches only
	}
	n := 0
	for _, files := range captureSets(t) {
		want, wantErr := replayEvents(t, files, nil)
		if wantErr != nil && want == nil {
			continue // not a capture tap can open
		}
		for _, o := range opts {
			got, err := replayEvents(t, files, &o)
			if !bytes.Equal(got, want) {
				t.Errorf("%s with %+v: events differ from those without read-ahead (%d bytes, want %d)", files, o, len(got), len(want))
			}
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Errorf("%s with %+v: error %v, want %v", files, o, err, wantErr)
			}
		}
		n++
	}
	t.Logf("%d captures compared", n)
}

// errSource yields frames, then an error that is not the end.
type errSource struct {
	n   int
	err error
}

func (s *errSource) ReadFrame() (pipeline.Frame, error) {
	if s.n == 0 {
		return pipeline.Frame{}, s.err
	}
	s.n--
	return pipeline.Frame{Data: []byte{byte(s.n)}, Info: gopacketInfo()}, nil
}

func gopacketInfo() gopacket.CaptureInfo { return gopacket.CaptureInfo{Timestamp: time.Unix(1, 0)} }

// TestReadAheadError: a source's error comes after all its frames, and
// Close stops the goroutine even when nobody reads (no leak, no hang).
func TestReadAheadError(t *testing.T) {
	boom := errors.New("boom")
	a := pipeline.ReadAhead(&errSource{n: 10, err: boom}, pipeline.AheadOptions{Batches: 2, Frames: 4})
	for i := 9; i >= 0; i-- {
		f, err := a.ReadFrame()
		if err != nil || len(f.Data) != 1 || f.Data[0] != byte(i) {
			t.Fatalf("frame %d: %v %v", 9-i, f.Data, err)
		}
	}
	for range 2 {
		if _, err := a.ReadFrame(); !errors.Is(err, boom) {
			t.Fatalf("after the frames: %v, want boom", err)
		}
	}
	a.Close()
	a.Close()

	before := runtime.NumGoroutine()
	b := pipeline.ReadAhead(&errSource{n: 1 << 30, err: io.EOF}, pipeline.AheadOptions{Batches: 2, Frames: 4})
	if _, err := b.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	b.Close() // the reader is blocked on a full ring
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}
