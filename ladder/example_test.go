package ladder_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ladder"
)

// An active-mode upload: the client announces its port with PORT, and the
// server opens the data connection from port 20 to it.
func ExampleDiagram() {
	client := netip.MustParseAddrPort("192.0.2.1:40000")
	server := netip.MustParseAddrPort("192.0.2.2:21")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var d ladder.Diagram
	for i, ev := range []event.Event{
		{Type: event.TypeSessionStart},
		{Type: event.TypeRequest, Command: "PORT", Arg: "192,0,2,1,156,64"},
		{Type: event.TypeResponse, Code: 200, Text: "PORT command successful."},
		{Type: event.TypeRequest, Command: "STOR", Arg: "notes.txt"},
		{Type: event.TypeDataOpen, Mode: event.ModeActive, From: netip.MustParseAddrPort("192.0.2.2:20"), To: netip.MustParseAddrPort("192.0.2.1:40000")},
		{Type: event.TypeResponse, Code: 226, Text: "Transfer complete."},
		{Type: event.TypeSessionEnd, Reason: "quit"},
	} {
		ev.Session, ev.Client, ev.Server, ev.Time = 1, client, server, t0.Add(time.Duration(i)*time.Millisecond)
		d.Add(&ev)
	}
	for _, s := range d.Steps {
		fmt.Printf("%-7s %-6s → %-6s %s\n", s.Kind, s.From, s.To, s.Label)
	}
	svg := d.SVG() // a standalone SVG document: every label above is a <text> in it
	fmt.Println(len(svg) > 0)
	// Output:
	// request client → server PORT 192,0,2,1,156,64
	// reply   server → client 200 PORT command successful.
	// request client → server STOR notes.txt
	// data    server → client active data connection 192.0.2.2:20 → 192.0.2.1:40000
	// reply   server → client 226 Transfer complete.
	// true
}

// A TFTP read whose answer from the server's new port never reached the
// client: the request to port 69, the port switch, crossed out, and what
// the tracker said.
func ExampleDiagram_tftp() {
	client := netip.MustParseAddrPort("192.0.2.1:40000")
	server := netip.MustParseAddrPort("192.0.2.2:69")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var d ladder.Diagram
	for _, ev := range []event.Event{
		{Type: event.TypeTFTPRequest, Time: t0, File: "boot.img", TFTP: &event.TFTP{Op: "read", Mode: "octet", ErrorCode: -1}},
		{Type: event.TypeTFTPEnd, Time: t0.Add(4 * time.Second), File: "boot.img", Reason: "timeout", DurationMS: 4000,
			TFTP: &event.TFTP{Op: "read", Mode: "octet", Blocks: 1, BytesSent: 512, BlkSize: 512, ErrorCode: -1, Retransmits: 4,
				Transfer: netip.MustParseAddrPort("192.0.2.2:50123")}},
	} {
		ev.Proto, ev.Session, ev.Client, ev.Server = event.ProtoTFTP, 1, client, server
		d.Add(&ev)
	}
	fmt.Println(d.ID())
	for _, s := range d.Steps {
		if s.Kind == ladder.KindNote {
			fmt.Printf("note: %s\n", s.Label)
			continue
		}
		fmt.Printf("%s %s → %s, port %s %s: %s\n", s.Kind, s.From, s.To, s.Port, s.Reason, s.Label)
	}
	// Output:
	// t1
	// request client → server, port 69 : RRQ boot.img (octet)
	// switch server → client, port 50123 unacknowledged: port switch: DATA 1 from the server's new port 50123 (transfer ID)
	// note: 1 DATA block ⇄ ACKs, client ⇄ port 50123 (summed up, not drawn one by one)
	// note: transfer incomplete (timeout): RRQ boot.img, download, 0 bytes in 4000 ms
}
