package natsbus

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkPublish measures events per second from Event to a JetStream
// acknowledgement, through the embedded server (in-process, the default)
// and through a server over loopback TCP with a disk spool.
func BenchmarkPublish(b *testing.B) {
	evs := sessionEvents(1, 50, time.Now())
	b.Run("embedded", func(b *testing.B) {
		s := startServer(b, ServerOptions{StoreDir: b.TempDir(), Domain: "bench"})
		nc, err := s.Connect()
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		benchPublish(b, nc, evs, "")
	})
	b.Run("tcp-disk-spool", func(b *testing.B) {
		srv := runServer(b, b.TempDir(), -1)
		nc := dial(b, srv.ClientURL())
		benchPublish(b, nc, evs, b.TempDir())
	})
}

func benchPublish(b *testing.B, nc *nats.Conn, evs []event.Event, spoolDir string) {
	stream := ensureStream(b, nc, StreamOptions{Tap: "bench", Own: true})
	p, err := NewPublisher(nc, Options{Tap: "bench", SpoolDir: spoolDir, QueueLen: 1 << 20, SpoolBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	n := &numberer{tap: "bench", sink: p}
	var ms runtime.MemStats
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := 0; i < b.N; i++ {
		n.emit(evs[i%len(evs)])
	}
	enqueue := time.Since(start)
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer ccancel()
	if err := p.Close(cctx); err != nil {
		b.Fatal(err)
	}
	total, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/total.Seconds(), "events/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	b.ReportMetric(float64(enqueue.Nanoseconds())/float64(b.N), "ns/enqueue")
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	js, _ := jetstream.New(nc)
	if got := streamCount(b, js, stream); got < uint64(b.N) {
		b.Fatalf("stream holds %d of %d events", got, b.N)
	}
}
