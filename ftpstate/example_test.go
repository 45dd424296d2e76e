package ftpstate_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
)

// A login, fed segment by segment: the tracker reports the session, the
// commands, the replies matched to them and the login.
func Example() {
	tr := ftpstate.New(nil, func(e *event.Event) {
		switch e.Type {
		case event.TypeRequest:
			fmt.Printf("%s %s %s\n", e.Type, e.Command, e.Arg)
		case event.TypeResponse:
			fmt.Printf("%s %d %q (answers %q)\n", e.Type, e.Code, e.Text, e.Command)
		case event.TypeLogin:
			fmt.Printf("%s %s ok=%v\n", e.Type, e.User, e.OK)
		default:
			fmt.Println(e.Type, e.Client, "->", e.Server)
		}
	})
	client := netip.MustParseAddrPort("10.77.0.2:50000")
	server := netip.MustParseAddrPort("10.77.0.1:21")
	ts := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	cseq, sseq := uint32(100), uint32(900)
	send := func(fromClient bool, flags event.Flags, data string) {
		ts = ts.Add(time.Millisecond)
		p := event.Packet{Time: ts, Flags: flags | event.FlagACK, Payload: []byte(data)}
		if fromClient {
			p.Src, p.Dst, p.Seq, p.Ack = client, server, cseq, sseq
			cseq += uint32(len(data))
		} else {
			p.Src, p.Dst, p.Seq, p.Ack = server, client, sseq, cseq
			sseq += uint32(len(data))
		}
		tr.Feed(&p)
	}
	tr.Feed(&event.Packet{Time: ts, Src: client, Dst: server, Seq: cseq, Flags: event.FlagSYN})
	cseq++
	tr.Feed(&event.Packet{Time: ts, Src: server, Dst: client, Seq: sseq, Ack: cseq, Flags: event.FlagSYN | event.FlagACK})
	sseq++
	send(false, 0, "220 (vsFTPd 3.0.3)\r\n")
	send(true, 0, "USER anonymous\r\nPASS ")
	send(true, 0, "guest@\r\n")
	send(false, 0, "331 Please specify the password.\r\n230-Welcome\r\n230 Login successful.\r\n")
	tr.Flush(ts)
	// Output:
	// session.start 10.77.0.2:50000 -> 10.77.0.1:21
	// response 220 "(vsFTPd 3.0.3)" (answers "")
	// request USER anonymous
	// request PASS ****
	// response 331 "Please specify the password." (answers "USER")
	// response 230 "Welcome\nLogin successful." (answers "PASS")
	// login anonymous ok=true
	// session.end 10.77.0.2:50000 -> 10.77.0.1:21
}
