package ftpstate

import (
	"bytes"
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
		a := run(in)
		b := run(in)
		if a.dump() != b.dump() {
			t.Fatalf("same input, different events:\n%s\n---\n%s", a.dump(), b.dump())
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
				if e.Bytes < 0 || e.Bytes > fuzzDataBytes {
					t.Fatalf("transfer counted %d bytes, %d were fed", e.Bytes, fuzzDataBytes)
				}
				if e.DataNotSeen && e.Bytes != 0 {
					t.Fatalf("transfer counted %d bytes of a data connection not seen", e.Bytes)
				}
			}
		}
		if starts != ends || opens != closes {
			t.Fatalf("after Flush: %d starts, %d ends, %d opens, %d closes\n%s", starts, ends, opens, closes, a.dump())
		}
	})
}

const fuzzDataBytes = 3000

func run(in []byte) *rec {
	tr, r, clock := newTracker(&Config{MaxLine: 256, MaxPending: 8, MaxExpected: 4, MaxReorder: 1024})
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
	*clock = clock.Add(time.Second)
	tr.Flush(*clock)
	return r
}
