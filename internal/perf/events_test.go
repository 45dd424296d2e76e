//go:build linux

package perf

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/capgen"
	"github.com/ftptap/ftptap/natsbus"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

var (
	ctlSessions = flag.Int("perf.control-sessions", 500, "sessions of the control-heavy capture")
	ctlCommands = flag.Int("perf.control-commands", 2000, "commands per session of the control-heavy capture (each: a request and a response event)")
)

func controlCapture(b *testing.B) string {
	return capture(b, fmt.Sprintf("control-%dx%d.pcap", *ctlSessions, *ctlCommands), func(f *os.File) (*capgen.Writer, error) {
		return capgen.Control(f, *ctlSessions, *ctlCommands)
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// replayInto replays file through the pipeline, read ahead, into sink,
// and returns the events and the wall and CPU time taken, close included.
func replayInto(b *testing.B, file string, sink pipeline.Sink, closeSink func() error) (n uint64, wall, cpu time.Duration) {
	n, wall, cpu, _ = replayCount(b, file, sink, closeSink)
	return n, wall, cpu
}

// replayCount is replayInto that also returns the heap allocations made.
func replayCount(b *testing.B, file string, sink pipeline.Sink, closeSink func() error) (n uint64, wall, cpu time.Duration, allocs uint64) {
	b.Helper()
	src, err := tap.OpenFiles(file)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	p, err := pipeline.New(pipeline.Options{Tap: "bench", Sinks: []pipeline.Sink{sink}})
	if err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m0 := ms.Mallocs
	c0, t0 := cpuTime(), time.Now()
	a := pipeline.ReadAhead(src, pipeline.AheadOptions{})
	err = p.Run(context.Background(), a)
	a.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := closeSink(); err != nil {
		b.Fatal(err)
	}
	wall, cpu = time.Since(t0), cpuTime()-c0
	runtime.ReadMemStats(&ms)
	return p.Stats.Events.Load(), wall, cpu, ms.Mallocs - m0
}

// BenchmarkControl replays a control-heavy capture (sessions that send
// -perf.control-commands commands each, every one a request and a
// response event) and reports events per second out: as JSON lines to a
// file through pipeline.JSONLines and pipeline.Writer (what ftptap replay >
// FILE does: the encoding and the writes on goroutines of their own), and
// published through the NATS sink to the embedded server with JetStream
// (every event acknowledged by the stream before the clock stops). The
// target is 1.5 million events per second.
//
//	make bench    (go test -run='^$' -bench=Control ./internal/perf -perf)
func BenchmarkControl(b *testing.B) {
	need(b)
	file := controlCapture(b)
	b.Run("file", func(b *testing.B) {
		out := filepath.Join(*dir, "control-events.jsonl")
		for range b.N {
			f, err := os.Create(out)
			if err != nil {
				b.Fatal(err)
			}
			w := pipeline.NewWriter(f, 0)
			sink := pipeline.NewJSONLines(w)
			n, wall, cpu, allocs := replayCount(b, file, sink, func() error {
				if err := sink.Close(); err != nil {
					return err
				}
				if err := w.Close(); err != nil {
					return err
				}
				return f.Close()
			})
			st, _ := os.Stat(out)
			os.Remove(out)
			report(b, "file", n, wall, cpu)
			b.ReportMetric(float64(st.Size())/float64(n), "B/event")
			b.ReportMetric(float64(allocs)/float64(n), "allocs/event")
		}
	})
	// Through core NATS (natsbus.Options.Core, nats.jetstream: false) no
	// stream stores the events; each counts once a flush round trip
	// confirms the server read it.
	b.Run("nats-core", func(b *testing.B) { natsControl(b, file, false) })
	b.Run("nats-embedded", func(b *testing.B) { natsControl(b, file, true) })
}

// natsControl replays file into the NATS sink and an embedded server,
// with JetStream (a stream of the tap's events, every event acknowledged)
// or without.
func natsControl(b *testing.B, file string, jetstream bool) {
	what := "core nats"
	if jetstream {
		what = "nats"
	}
	for range b.N {
		srv, err := natsbus.StartServer(natsbus.ServerOptions{StoreDir: b.TempDir(), Domain: "bench", MaxStore: 8 << 30})
		if err != nil {
			b.Fatal(err)
		}
		nc, err := srv.Connect()
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		if jetstream {
			if _, err := natsbus.EnsureStream(ctx, nc, natsbus.StreamOptions{Tap: "bench", Own: true, MaxBytes: 4 << 30}); err != nil {
				b.Fatal(err)
			}
		}
		pub, err := natsbus.NewPublisher(nc, natsbus.Options{Tap: "bench", Core: !jetstream, QueueLen: 1 << 20, SpoolBytes: 4 << 30})
		if err != nil {
			b.Fatal(err)
		}
		n, wall, cpu := replayInto(b, file, pub, func() error { return pub.Close(ctx) })
		st := pub.Stats()
		cancel()
		nc.Close()
		srv.Close()
		report(b, what, n, wall, cpu)
		b.ReportMetric(float64(st.Dropped), "dropped")
		fmt.Fprintf(os.Stderr, "%s publisher: %+v\n", what, st)
		if st.Published != n || st.Dropped != 0 {
			b.Fatalf("publisher: %+v, want all %d published", st, n)
		}
	}
}

func report(b *testing.B, what string, n uint64, wall, cpu time.Duration) {
	b.ReportMetric(float64(n), "events")
	b.ReportMetric(float64(n)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
	fmt.Fprintf(os.Stderr, "control capture to %s: %d events in %.2fs (cpu %.2fs): %.0f events/s, %.0f per CPU second\n",
		what, n, wall.Seconds(), cpu.Seconds(), float64(n)/wall.Seconds(), float64(n)/cpu.Seconds())
}

// BenchmarkReplayMixed replays the mixed capture in-process (read ahead,
// events encoded and dropped), for profiles of the replay path:
//
//	go test -run='^$' -bench=ReplayMixed -perf -cpuprofile cpu.out ./internal/perf
//	go tool pprof -top cpu.out
func BenchmarkReplayMixed(b *testing.B) {
	need(b)
	file := capture(b, "mixed-1.pcap", func(f *os.File) (*capgen.Writer, error) { return capgen.Mixed(f, 1) })
	for range b.N {
		n, wall, cpu := replayInto(b, file, pipeline.SinkFunc(func(*event.Event, []byte) {}), func() error { return nil })
		b.ReportMetric(float64(n), "events")
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(cpu.Seconds(), "cpu-s")
	}
}
