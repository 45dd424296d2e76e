package web_test

import (
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ftptap/ftptap/web"
)

// BenchmarkEvent: what the page costs the pipeline goroutine per event,
// with no browser and with one browser that has stopped reading (its
// queue is full: every message is dropped). Sessions of the pasv-retr lab
// capture, renumbered, end one after another.
func BenchmarkEvent(b *testing.B) {
	rec, err := web.New(web.Options{PacketTime: true})
	if err != nil {
		b.Fatal(err)
	}
	events := replay(b, rec, "pasv-retr", 0, nil)
	rec.Close()
	if len(events) == 0 {
		b.Fatal("no events")
	}
	for _, stalled := range []bool{false, true} {
		b.Run(fmt.Sprintf("stalled_browser=%v", stalled), func(b *testing.B) {
			srv, err := web.New(web.Options{PacketTime: true})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			if stalled {
				c, err := net.Dial("tcp", ts.Listener.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
				time.Sleep(50 * time.Millisecond) // connected; it never reads
			}
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for i := 0; i < b.N; i++ {
				for j := range events {
					ev := events[j]
					ev.Session += uint64(i) * 1000
					srv.Event(&ev, nil)
					n++
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(srv.Dropped()), "dropped")
		})
	}
}
