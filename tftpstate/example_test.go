package tftpstate_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/tftpstate"
)

// A read of 600 bytes: the request to port 69, the answer from the
// server's new port, two blocks and their ACKs.
func ExampleTracker() {
	client := netip.MustParseAddrPort("10.77.0.2:40000")
	server := netip.MustParseAddrPort("10.77.0.1:69")
	newPort := netip.MustParseAddrPort("10.77.0.1:50001")
	tr := tftpstate.New(nil, func(ev *event.Event) {
		fmt.Println(string(ev.AppendJSON(nil)))
	})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	feed := func(src, dst netip.AddrPort, payload string) {
		now = now.Add(time.Millisecond)
		tr.Feed(&event.Packet{Time: now, Transport: event.TransportUDP, Src: src, Dst: dst, Payload: []byte(payload), Length: len(payload)})
	}
	block := make([]byte, 512)
	feed(client, server, "\x00\x01boot.img\x00octet\x00")        // RRQ
	feed(newPort, client, "\x00\x03\x00\x01"+string(block))      // DATA 1, 512 bytes
	feed(client, newPort, "\x00\x04\x00\x01")                    // ACK 1
	feed(newPort, client, "\x00\x03\x00\x02"+string(block[:88])) // DATA 2, 88 bytes: the last
	feed(client, newPort, "\x00\x04\x00\x02")                    // ACK 2: complete
	tr.Flush(now)
	// Output:
	// {"v":1,"tap":"","seq":0,"ts":"2026-01-02T03:04:05.001000Z","type":"tftp.request","proto":"tftp","session":"t1","client":"10.77.0.2:40000","server":"10.77.0.1:69","op":"read","file":"boot.img","mode":"octet","options":{}}
	// {"v":1,"tap":"","seq":0,"ts":"2026-01-02T03:04:05.005000Z","type":"tftp.end","proto":"tftp","session":"t1","client":"10.77.0.2:40000","server":"10.77.0.1:69","op":"read","file":"boot.img","mode":"octet","options":{},"bytes":600,"bytes_sent":600,"blocks":2,"blksize":512,"complete":true,"reason":"done","transfer":"10.77.0.1:50001","duration_ms":4,"retransmits":0}
}
