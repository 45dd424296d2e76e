package tftpstate

import (
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

// BenchmarkTransfer is the cost of one DATA or ACK of a running transfer
// (the per-packet path): a read of blocks of 512 bytes, wrapping past
// 65535 as it goes.
func BenchmarkTransfer(b *testing.B) {
	tr := New(nil, func(*event.Event) {})
	now := t0
	tr.Feed(&event.Packet{Time: now, Transport: event.TransportUDP, Src: cli, Dst: srv, Payload: req(OpRRQ, "big", "octet")})
	d, a := data(1, 512), ack(1)
	pd := &event.Packet{Transport: event.TransportUDP, Src: tid, Dst: cli, Payload: d, Length: len(d)}
	pa := &event.Packet{Transport: event.TransportUDP, Src: cli, Dst: tid, Payload: a, Length: len(a)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		blk := uint16(i + 1)
		d[2], d[3] = byte(blk>>8), byte(blk)
		a[2], a[3] = d[2], d[3]
		now = now.Add(time.Microsecond)
		pd.Time, pa.Time = now, now
		tr.Feed(pd)
		tr.Feed(pa)
	}
	b.StopTimer()
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "packets/s")
}
