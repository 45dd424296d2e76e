package pipeline_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/natsbus"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

// labLoop is every lab capture, both tap ports merged by time, one
// capture after the other.
func labLoop(b *testing.B) []pipeline.Frame {
	b.Helper()
	dirs, _ := filepath.Glob("../ftpstate/testdata/lab/*")
	var out []pipeline.Frame
	for _, dir := range dirs {
		src, err := tap.OpenFiles(filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
		if err != nil {
			b.Fatal(err)
		}
		var off time.Duration
		first := true
		for {
			f, err := src.ReadFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if first && len(out) > 0 {
				// Each capture starts a second after the one before.
				off = out[len(out)-1].Info.Timestamp.Add(time.Second).Sub(f.Info.Timestamp)
			}
			first = false
			f.Data = append([]byte(nil), f.Data...)
			f.Info.Timestamp = f.Info.Timestamp.Add(off)
			out = append(out, f)
		}
		src.Close()
	}
	if len(out) == 0 {
		b.Fatal("no lab captures")
	}
	return out
}

// soakDup is the stream's duplicate window in BenchmarkSoak. JetStream
// keeps the Nats-Msg-Id of every event of the window (default 2 minutes
// of wall time) to drop re-sent ones: at the soak's full replay speed that
// is hundreds of thousands of ids, tens of MiB of heap, which levels off
// after the window and would hide a leak; a live tap's event rate keeps it
// small.
var soakDup = flag.Duration("soak.dup", 5*time.Second, "duplicate window of the soak's stream")

// resources are the figures that must stay flat over a long run.
type resources struct {
	heap       uint64
	goroutines int
	fds        int
}

func measure(b *testing.B) resources {
	b.Helper()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		ents = nil // not Linux: no count
	}
	return resources{heap: m.HeapAlloc, goroutines: runtime.NumGoroutine(), fds: len(ents)}
}

// BenchmarkSoak replays the lab's captures in a loop, each pass moved on
// in time (and every 100th pass stepped back 30 days, as NTP does to a
// Pi), through the pipeline and into the embedded NATS server's stream
// (file store, capped at 8 MiB, oldest dropped), as ftptap run does. Each
// iteration is one pass. At the end it prints the heap, goroutines and
// open files, and how much they grew over the second half of the run: they
// must stay flat (make soak runs 3,000 passes, about 3.7 million frames).
func BenchmarkSoak(b *testing.B) {
	frames := labLoop(b)
	span := frames[len(frames)-1].Info.Timestamp.Sub(frames[0].Info.Timestamp) + time.Minute
	srv, err := natsbus.StartServer(natsbus.ServerOptions{StoreDir: b.TempDir(), Domain: "soak", MaxStore: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	nc, err := srv.Connect()
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	if _, err := natsbus.EnsureStream(ctx, nc, natsbus.StreamOptions{Tap: "soak", Own: true, MaxBytes: 8 << 20, Duplicates: *soakDup}); err != nil {
		b.Fatal(err)
	}
	pub, err := natsbus.NewPublisher(nc, natsbus.Options{Tap: "soak"})
	if err != nil {
		b.Fatal(err)
	}
	var events uint64
	count := pipeline.SinkFunc(func(*event.Event, []byte) { events++ })
	p, err := pipeline.New(pipeline.Options{Tap: "soak", Sinks: []pipeline.Sink{count, pub}})
	if err != nil {
		b.Fatal(err)
	}
	var warm resources
	var shift time.Duration
	nframes := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%100 == 0 {
			shift -= 30 * 24 * time.Hour
		} else if i > 0 {
			shift += span
		}
		for _, f := range frames {
			f.Info.Timestamp = f.Info.Timestamp.Add(shift)
			p.Feed(f)
		}
		nframes += len(frames)
		if i == b.N/2 {
			b.StopTimer()
			warm = measure(b)
			b.StartTimer()
		}
		// Let the publisher keep up, as a real link's pace does: the
		// queue is bounded and would drop a flood replayed at full speed.
		for pub.Stats().Pending > 8192 {
			time.Sleep(time.Millisecond)
		}
	}
	p.Tracker().Flush(time.Time{})
	b.StopTimer()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pub.Close(dctx); err != nil {
		b.Errorf("publisher: %v", err)
	}
	end := measure(b)
	st := pub.Stats()
	b.ReportMetric(float64(nframes)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(end.heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(int64(end.heap)-int64(warm.heap))/(1<<20), "heap-growth-MiB")
	b.ReportMetric(float64(end.goroutines), "goroutines")
	b.ReportMetric(float64(end.goroutines-warm.goroutines), "goroutine-growth")
	b.ReportMetric(float64(end.fds), "open-files")
	b.ReportMetric(float64(end.fds-warm.fds), "open-file-growth")
	b.ReportMetric(float64(st.Dropped), "nats-dropped")
	b.Logf("%d passes, %d frames, %d events, %d published, %d dropped; open sessions at the end %d; heap %.1f MiB (%.1f at half-time), %d goroutines (%d), %d open files (%d)",
		b.N, nframes, events, st.Published, st.Dropped, p.Tracker().OpenSessions(),
		float64(end.heap)/(1<<20), float64(warm.heap)/(1<<20), end.goroutines, warm.goroutines, end.fds, warm.fds)
}
