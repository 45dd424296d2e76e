//go:build linux

package perf

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/capgen"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

// BenchmarkReadAheadMixed replays the mixed capture in-process three ways
// (events encoded and dropped): read ahead with frames decoded on the
// reading goroutine (what ftptap replay does), read ahead with decoding
// left to the tracking goroutine, and read on the tracking goroutine
// alone. The events are the same (TestReadAheadSameEvents); the wall time
// shows what the second core takes over.
//
//	go test -run='^$' -bench=ReadAheadMixed -benchtime=5x ./internal/perf -perf
func BenchmarkReadAheadMixed(b *testing.B) {
	need(b)
	file := capture(b, "mixed-1.pcap", func(f *os.File) (*capgen.Writer, error) { return capgen.Mixed(f, 1) })
	for _, c := range []struct {
		name  string
		ahead *pipeline.AheadOptions
	}{
		{"decode-ahead", &pipeline.AheadOptions{}},
		{"decode-in-tracker", &pipeline.AheadOptions{NoDecode: true}},
		{"no-read-ahead", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			var wall, cpu time.Duration
			for range b.N {
				src, err := tap.OpenFiles(file)
				if err != nil {
					b.Fatal(err)
				}
				p, err := pipeline.New(pipeline.Options{Tap: "bench", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(*event.Event, []byte) {})}})
				if err != nil {
					b.Fatal(err)
				}
				c0, t0 := cpuTime(), time.Now()
				var in pipeline.Source = src
				var a *pipeline.AheadSource
				if c.ahead != nil {
					a = pipeline.ReadAhead(src, *c.ahead)
					in = a
				}
				err = p.Run(context.Background(), in)
				if a != nil {
					a.Close()
				}
				wall, cpu = wall+time.Since(t0), cpu+cpuTime()-c0
				src.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
		})
	}
}
