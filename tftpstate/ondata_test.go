package tftpstate

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ftptap/ftptap/event"
)

// TestOnData checks what the tracker hands Config.OnData: each DATA block
// with its absolute number and offset in the file, at the OACK's blksize,
// past the 16-bit wrap, repeats marked, nothing after the final block or
// the transfer's end, and every block before the tftp.end.
func TestOnData(t *testing.T) {
	var got []string
	r := &run{t: t, now: t0}
	r.tr = New(&Config{OnData: func(s *DataSegment) {
		got = append(got, fmt.Sprintf("t%d %s #%d @%d %dB repeat=%v", s.Transfer, s.File, s.Block, s.Offset, len(s.Payload), s.Repeat))
	}}, func(ev *event.Event) {
		if ev.Type == event.TypeTFTPEnd {
			got = append(got, "end")
		}
	})
	r.udp(cli, srv, req(OpRRQ, "big.bin", "octet", "blksize", "1024"))
	r.udp(tid, cli, oack("blksize", "1024"))
	r.udp(cli, tid, ack(0))
	const blocks = 65538
	for i := 1; i <= blocks; i++ {
		n := 1024
		if i == blocks {
			n = 7
		}
		r.udp(tid, cli, data(uint16(i), n))
		if i == 65537 {
			r.udp(tid, cli, data(uint16(i), n)) // a retransmission, after the wrap
		}
		r.udp(cli, tid, ack(uint16(i)))
	}
	r.udp(tid, cli, data(uint16(blocks%65536), 7)) // after the end
	r.flush()
	want := []string{
		"t1 big.bin #1 @0 1024B repeat=false",
		"t1 big.bin #65535 @67106816 1024B repeat=false",
		"t1 big.bin #65536 @67107840 1024B repeat=false",
		"t1 big.bin #65537 @67108864 1024B repeat=false",
		"t1 big.bin #65537 @67108864 1024B repeat=true",
		"t1 big.bin #65538 @67109888 7B repeat=false",
		"end",
	}
	keep := map[string]bool{}
	for _, w := range want {
		keep[w] = true
	}
	var seen []string
	for _, g := range got {
		if keep[g] {
			seen = append(seen, g)
		}
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("OnData (-want +got):\n%s", diff)
	}
	if n := len(got); n != blocks+2 {
		t.Errorf("%d calls and ends, want %d", n, blocks+2)
	}
}
