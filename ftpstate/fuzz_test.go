package ftpstate

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"220 ready", "230-Welcome", "227 Entering Passive Mode (10,77,0,1,156,68).",
		"229 Entering Extended Passive Mode (|||6446|)", "99 PASV invalid", "230_no_space", "SSH-2.0-x", "", "5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r := ParseReplyLine(line)
		if r.Code != 0 && (r.Code < 100 || r.Code > 699) {
			t.Fatalf("code %d out of range for %q", r.Code, line)
		}
		if r.Code == 0 && r.Text != string(line) {
			t.Fatalf("a line without a code must keep its text: %q -> %q", line, r.Text)
		}
		if ap, err := ParsePASV(string(line)); err == nil && !ap.Addr().Is4() {
			t.Fatalf("PASV gave a non-IPv4 address %v", ap)
		}
		if p, err := ParseEPSV(string(line)); err == nil && p == 0 {
			t.Fatalf("EPSV gave port 0")
		}
		ParseLPRT(string(line))
		parseSizeHint(string(line))
	})
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"USER anonymous", "PORT 10,77,0,2,143,203", "EPRT |2|fd77::2|40001|", "EPRT |1|1.2.3.4|5|",
		"retr file", "\xff\xf4\xff\xf2ABOR", "LPRT 4,4,10,0,0,1,2,4,1", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, arg := ParseCommand(line)
		if strings.IndexFunc(cmd, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0 {
			t.Fatalf("command %q not upper case", cmd)
		}
		if strings.Contains(cmd, " ") {
			t.Fatalf("command %q holds a space", cmd)
		}
		if ap, err := ParsePORT(arg); err == nil {
			// Round trip: the address PORT parsed is printed back the same.
			a := ap.Addr().As4()
			back := strings.Join([]string{itoa(a[0]), itoa(a[1]), itoa(a[2]), itoa(a[3]), itoa(byte(ap.Port() >> 8)), itoa(byte(ap.Port()))}, ",")
			if got, err := ParsePORT(back); err != nil || got != ap {
				t.Fatalf("PORT round trip %q -> %v -> %q -> %v, %v", arg, ap, back, got, err)
			}
		}
		if ap, err := ParseEPRT(arg); err == nil && (ap.Port() == 0 || ap.Addr().Zone() != "") {
			t.Fatalf("EPRT gave %v", ap)
		}
		stripTelnet(line)
	})
}

func itoa(b byte) string { return strconv.Itoa(int(b)) }

// FuzzTracker feeds a command channel (the input split at the first 0
// byte into client and server bytes, cut into segments whose sizes come from
// the input) and a data connection, and checks the tracker's invariants:
// the same input gives the same events, every session and data connection
// that opens is closed after Flush, and no transfer counts more bytes than
// were fed.
func FuzzTracker(f *testing.F) {
	f.Add([]byte("USER a\r\nPASS b\r\nPASV\r\nRETR f\r\nQUIT\r\n\x00220 hi\r\n331 pw\r\n230 ok\r\n227 (10,0,0,1,156,64)\r\n150 go\r\n226 done\r\n221 bye\r\n"))
	f.Add([]byte("EPRT |1|10.0.0.2|40100|\r\nSTOR x\r\n\x00220-a\r\n b\r\n220 c\r\n200 ok\r\n150 go\r\n226 ok\r\n"))
	f.Add([]byte("AUTH TLS\r\n\x16\x03\x01\x00\x00\x00220 x\r\n234 go\r\n\x16\x03"))
	// A refused RETR, then a LIST on the same announcement.
	f.Add([]byte("PASV\r\nRETR x\r\nLIST\r\n\x00220 hi\r\n227 (10,0,0,1,156,64)\r\n550 No such file\r\n150 go\r\n226 ok\r\n"))
	// PORT naming another host; the server connects to the client's own
	// address (10.0.0.2:40100) at the announced port.
	f.Add([]byte("PORT 192,0,2,9,156,164\r\nRETR f\r\n\x00220 x\r\n200 ok\r\n150 go\r\n226 ok\r\n"))
	// Transfers whose data connections the tap never sees.
	f.Add([]byte("PASV\r\nRETR a\r\nEPSV\r\nSTOR b\r\n\x00220 x\r\n227 (10,0,0,9,1,1)\r\n150 go\r\n226 ok\r\n229 (|||7|)\r\n150 go\r\n451 fail\r\n"))
	// The server's last reply after the client's QUIT, and a one-byte
	// segment.
	f.Add([]byte("QUIT\r\n\x00220 x\r\n\x00500 OOPS: vsf_sysutil_recv_peek: no data\r\n221 bye\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkRuns(t, run(in), run(in), fuzzDataBytes)
	})
}

// checkRuns checks two runs of one input, a and b, into which fed bytes
// of data went: the same events both times, none changed after it was
// emitted, transfers' byte counts within what was fed (none where the data
// connection was not seen), and after Flush an end for every start and a
// close for every open.
func checkRuns(t *testing.T, a, b *rec, fed int64) {
	t.Helper()
	if a.dump() != b.dump() {
		t.Fatalf("same input, different events:\n%s\n---\n%s", a.dump(), b.dump())
	}
	// The text of events is cut from blocks the tracker shares
	// (strArena): what it handed out must not change afterwards.
	if got := a.dump(); got != a.js.String() {
		t.Fatalf("events changed after they were emitted:\n%s\n--- when emitted:\n%s", got, a.js.String())
	}
	starts, ends, opens, closes := 0, 0, 0, 0
	for _, e := range a.evs {
		switch e.Type {
		case event.TypeSessionStart:
			starts++
		case event.TypeSessionEnd:
			ends++
		case event.TypeDataOpen:
			opens++
		case event.TypeDataClose:
			closes++
		case event.TypeTransferEnd:
			if e.Bytes < 0 || e.Bytes > fed {
				t.Fatalf("transfer.end %+v: counted %d bytes, %d were fed", e, e.Bytes, fed)
			}
			if e.DataNotSeen && e.Bytes != 0 {
				t.Fatalf("transfer.end %+v: counted %d bytes of a data connection not seen", e, e.Bytes)
			}
		}
	}
	if starts != ends || opens != closes {
		t.Fatalf("after Flush: %d starts, %d ends, %d opens, %d closes\n%s", starts, ends, opens, closes, a.dump())
	}
}

const fuzzDataBytes = 3000

func run(in []byte) *rec {
	tr, r, clock := newTracker(&Config{MaxLine: 256, MaxPending: 8, MaxExpected: 4, MaxReorder: 1024})
	r.js = new(strings.Builder)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.handshake()
	cl, sv, _ := bytes.Cut(in, []byte{0})
	for len(cl) > 0 || len(sv) > 0 {
		n := 1
		if len(cl) > 0 {
			n = int(cl[0]%13) + 1
		}
		if n > len(cl) {
			n = len(cl)
		}
		if n > 0 {
			k.send(true, string(cl[:n]))
			cl = cl[n:]
		}
		m := 1
		if len(sv) > 0 {
			m = int(sv[0]%17) + 1
		}
		if m > len(sv) {
			m = len(sv)
		}
		if m > 0 {
			k.send(false, string(sv[:m]))
			sv = sv[m:]
		}
	}
	// A data connection to the announcement of the seed, and one back.
	for _, pair := range [][2]string{{"10.0.0.2:40001", "10.0.0.1:40000"}, {"10.0.0.1:20", "10.0.0.2:40100"}} {
		d := newConn(tr, clock, pair[0], pair[1], 7000, 9000)
		d.handshake()
		d.send(false, strings.Repeat("x", fuzzDataBytes/2))
		d.send(true, strings.Repeat("y", fuzzDataBytes/2))
		d.close()
	}
	tr.mustIndex()
	tr.mustBudget()
	*clock = clock.Add(time.Second)
	tr.Flush(*clock)
	tr.mustIndex()
	tr.mustBudget()
	return r
}

// FuzzSegments feeds segments of a command channel and two data
// connections with flags, sequence numbers and timing from the input:
// keep-alives, retransmissions, gaps, FINs and RSTs at any point, pauses
// past the timeouts. Every 3 bytes are one segment: byte 0 picks the
// connection and direction (bits 0-2) and the flags (bits 3-6: SYN, FIN,
// RST, no ACK); byte 1 the payload (a line from fuzzLines on the command
// channel, that many bytes on a data connection); byte 2 the sequence
// number (bits 0-1: next, one byte back as a keep-alive, a retransmission,
// a gap) and the pause before it (bits 2-7, in steps of 500 ms). The
// tracker's invariants must hold: the same events for the same input,
// every session and data connection that opens closes after Flush, no
// transfer counts more bytes than the data connections carried.
func FuzzSegments(f *testing.F) {
	seg := func(conn, flags, payload, seqPause byte) []byte { return []byte{conn | flags<<3, payload, seqPause} }
	const syn, fin, rst = 1, 2, 4
	// A session seen only as its teardown: FIN, FIN, ACK.
	f.Add(slices.Concat(seg(0, fin, 0, 0), seg(1, fin, 0, 0), seg(0, 0, 0, 0)))
	// Client FIN without QUIT, a long pause, the server's 500 OOPS, the
	// client's RST.
	f.Add(slices.Concat(seg(0, syn, 0, 0), seg(1, syn, 0, 0), seg(1, 0, 1, 0), seg(0, fin, 0, 0), seg(1, 0, 9, 40<<2), seg(0, rst, 0, 0)))
	// Keep-alives both ways in a session caught mid-way.
	f.Add(slices.Concat(seg(1, 0, 7, 0), seg(0, 0, 10, 1), seg(1, 0, 0, 0), seg(0, 0, 2, 0), seg(1, 0, 10, 1|20<<2)))
	// PASV, a refused RETR, LIST on the same port, its data connection.
	f.Add(slices.Concat(seg(0, syn, 0, 0), seg(1, syn, 0, 0), seg(1, 0, 1, 0), seg(0, 0, 3, 0), seg(1, 0, 4, 0), seg(0, 0, 5, 0), seg(1, 0, 6, 0),
		seg(0, 0, 11, 0), seg(2, syn, 0, 0), seg(6, syn, 0, 0), seg(1, 0, 7, 0), seg(6, 0, 200, 0), seg(6, fin, 0, 0), seg(2, fin, 0, 0), seg(1, 0, 8, 0)))
	// A transfer whose data connection never shows.
	f.Add(slices.Concat(seg(1, 0, 4, 0), seg(0, 0, 5, 0), seg(1, 0, 7, 0), seg(1, 0, 8, 0), seg(0, 0, 12, 0), seg(1, 0, 13, 0)))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, fed := runSegments(in)
		b, _ := runSegments(in)
		checkRuns(t, a, b, fed)
	})
}

// fuzzLines are the command-channel payloads of FuzzSegments.
var fuzzLines = []string{
	"", "220 ready\r\n", "USER a\r\n", "PASV\r\n", "227 Entering Passive Mode (10,0,0,1,156,64).\r\n",
	"RETR x\r\n", "550 Failed to open file.\r\n", "150 Here it comes.\r\n", "226 Transfer complete.\r\n",
	"500 OOPS: vsf_sysutil_recv_peek: no data\r\n", "\x00", "LIST\r\n", "QUIT\r\n", "221 Goodbye.\r\n",
	"PORT 192,0,2,9,156,164\r\n", "PORT 10,0,0,2,156,164\r\n", "200 PORT command successful.\r\n",
	"EPSV\r\n", "229 Entering Extended Passive Mode (|||40000|)\r\n", "230-Hi\r\n", "230 ok\r\n",
}

// runSegments plays FuzzSegments' input and returns the events and the
// data bytes fed.
func runSegments(in []byte) (*rec, int64) {
	tr, r, clock := newTracker(&Config{MaxLine: 256, MaxPending: 8, MaxExpected: 4, MaxReorder: 1024})
	r.js = new(strings.Builder)
	type end struct {
		addr string
		seq  uint32
	}
	conns := [3][2]end{
		{{"10.0.0.2:40000", 1000}, {"10.0.0.1:21", 5000}},
		{{"10.0.0.2:40001", 7000}, {"10.0.0.1:40000", 9000}},
		{{"10.0.0.1:20", 11000}, {"10.0.0.2:40100", 13000}},
	}
	var fed int64
	for len(in) >= 3 {
		b0, b1, b2 := in[0], in[1], in[2]
		in = in[3:]
		c, dir := 0, int(b0&1)
		switch b0 & 7 {
		case 2, 6:
			c, dir = 1, int(b0>>2&1)
		case 3, 7:
			c, dir = 2, int(b0>>2&1)
		}
		*clock = clock.Add(time.Millisecond + time.Duration(b2>>2)*500*time.Millisecond)
		src, dst := &conns[c][dir], &conns[c][1-dir]
		var payload []byte
		if c == 0 {
			payload = []byte(fuzzLines[int(b1)%len(fuzzLines)])
		} else {
			payload = bytes.Repeat([]byte{'x'}, int(b1))
		}
		var fl event.Flags
		if b0&(1<<3) != 0 {
			fl |= event.FlagSYN
		}
		if b0&(2<<3) != 0 {
			fl |= event.FlagFIN
		}
		if b0&(4<<3) != 0 {
			fl |= event.FlagRST
		}
		if b0&(8<<3) == 0 {
			fl |= event.FlagACK
		}
		seq := src.seq
		switch b2 & 3 {
		case 1: // a keep-alive: one old byte
			seq--
			payload = []byte{0}
		case 2: // a retransmission of the bytes before
			seq -= uint32(len(payload))
		case 3: // bytes lost before this segment (counted: the peer got them)
			seq += 7
			if c != 0 {
				fed += 7
			}
		}
		if c != 0 {
			fed += int64(len(payload))
		}
		p := event.Packet{Time: *clock, Src: netip.MustParseAddrPort(src.addr), Dst: netip.MustParseAddrPort(dst.addr), Seq: seq, Ack: dst.seq, Flags: fl, Payload: payload}
		tr.Feed(&p)
		tr.mustIndex()
		tr.mustBudget()
		if b2&3 == 0 || b2&3 == 3 {
			src.seq = seq + uint32(len(payload))
			if fl.Has(event.FlagSYN) || fl.Has(event.FlagFIN) {
				src.seq++
			}
		}
	}
	*clock = clock.Add(time.Second)
	tr.Flush(*clock)
	tr.mustIndex()
	tr.mustBudget()
	return r, fed
}
