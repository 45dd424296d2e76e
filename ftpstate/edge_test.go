package ftpstate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

// dialogue lists a recording's requests and responses (with the command
// each answers) and its transfers, one per line.
func dialogue(r *rec) string {
	var b strings.Builder
	for _, e := range r.evs {
		switch e.Type {
		case event.TypeRequest:
			fmt.Fprintf(&b, "> %s %s\n", e.Command, e.Arg)
		case event.TypeResponse:
			fmt.Fprintf(&b, "< %d %q [%s]\n", e.Code, e.Text, e.Command)
		case event.TypeTransferEnd:
			bytes := fmt.Sprintf("%d bytes", e.Bytes)
			if e.DataNotSeen {
				bytes = "data not seen"
			}
			fmt.Fprintf(&b, "transfer %s %q %s code %d complete %v %s\n", e.Command, e.File, bytes, e.Code, e.Complete, e.Mode)
		case event.TypeSessionStart:
			fmt.Fprintf(&b, "start midstream=%v\n", e.Midstream)
		case event.TypeSessionEnd:
			fmt.Fprintf(&b, "end %s\n", e.Reason)
		case event.TypeAlert:
			fmt.Fprintf(&b, "alert %s\n", e.Kind)
		case event.TypeDataExpect:
			fmt.Fprintf(&b, "expect %s %s\n", e.Via, e.Endpoint)
		case event.TypeDataOpen:
			fmt.Fprintf(&b, "open %s -> %s\n", e.From, e.To)
		case event.TypeDataClose:
			fmt.Fprintf(&b, "close %s -> %s %d %s\n", e.From, e.To, e.Bytes, e.Reason)
		case event.TypeDataFail:
			fmt.Fprintf(&b, "fail %s %s\n", e.Endpoint, e.Reason)
		}
	}
	return b.String()
}

// after returns the part of a dialogue after the login of loggedIn.
func after(r *rec) string {
	d := dialogue(r)
	_, rest, _ := strings.Cut(d, "< 230 \"Login successful.\" [PASS]\n")
	return rest
}

func wantDialogue(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("events:\n%s\nwant:\n%s", got, want)
	}
}

// TestEPSVAllAnnouncesNothing: "EPSV ALL" (RFC 2428 section 4) is answered
// with a plain 200; only 227, 228 and 229 carry a data port.
func TestEPSVAllAnnouncesNothing(t *testing.T) {
	_, r, _, k := loggedIn(nil)
	k.send(true, "EPSV ALL\r\n")
	k.send(false, "200 EPSV ALL ok.\r\n")
	k.send(true, "EPSV\r\n")
	k.send(false, "229 Entering Extended Passive Mode (|||40000|)\r\n")
	wantDialogue(t, after(r), `> EPSV ALL
< 200 "EPSV ALL ok." [EPSV]
> EPSV 
< 229 "Entering Extended Passive Mode (|||40000|)" [EPSV]
expect EPSV 10.0.0.1:40000
`)
}

// TestMultilineReplyCutByGap: the closing line of a multi-line reply is
// lost from the capture. The lines that arrived are its reply, and the
// replies after the gap are replies, not more of its text.
func TestMultilineReplyCutByGap(t *testing.T) {
	_, r, _, k := loggedIn(nil)
	k.send(true, "STAT\r\n")
	k.send(false, "211-FTP server status:\r\n")
	k.sseq += uint32(len("     Connected to 10.0.0.2\r\n211 End of status\r\n")) // lost
	k.send(true, "PWD\r\n")
	k.send(false, "257 \"/\"\r\n")
	k.send(true, "SYST\r\n")
	k.send(false, "215 UNIX Type: L8\r\n")
	wantDialogue(t, after(r), `> STAT 
< 211 "FTP server status:" [STAT]
> PWD 
< 257 "\"/\"" [PWD]
> SYST 
< 215 "UNIX Type: L8" [SYST]
`)
}

// TestRefusedThenRetriedCarriesBytes: the server's connection back to the
// client is refused, then retried from another port and accepted; the
// retry is the transfer's data connection.
func TestRefusedThenRetriedCarriesBytes(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.send(true, "PORT 10,0,0,2,156,100\r\n")
	k.send(false, "200 PORT command successful.\r\n")
	k.send(true, "RETR f\r\n")
	d := newConn(tr, clock, "10.0.0.1:20", "10.0.0.2:40036", 7000, 9000)
	d.feed(true, d.cseq, event.FlagSYN, "")
	d.feed(false, 0, event.FlagRST|event.FlagACK, "")
	d = newConn(tr, clock, "10.0.0.1:2020", "10.0.0.2:40036", 8000, 9000)
	d.handshake()
	k.send(false, "150 Opening BINARY mode data connection.\r\n")
	d.send(true, strings.Repeat("x", 1000))
	d.close()
	k.send(false, "226 Transfer complete.\r\n")
	wantDialogue(t, after(r), `> PORT 10,0,0,2,156,100
expect PORT 10.0.0.2:40036
< 200 "PORT command successful." [PORT]
> RETR f
fail 10.0.0.2:40036 refused
open 10.0.0.1:2020 -> 10.0.0.2:40036
< 150 "Opening BINARY mode data connection." [RETR]
close 10.0.0.1:2020 -> 10.0.0.2:40036 1000 close
< 226 "Transfer complete." [RETR]
transfer RETR "f" 1000 bytes code 226 complete true active
`)
}

// TestDataPortsReusedAfterLostFIN: two active transfers to the same client
// port from the server's port 20; one FIN of the first data connection is
// missing from the capture. The second SYN on the same ports is a new
// connection, not more of the first.
func TestDataPortsReusedAfterLostFIN(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	for i := uint32(0); i < 2; i++ {
		k.send(true, "PORT 10,0,0,2,156,100\r\n")
		k.send(false, "200 ok\r\n")
		k.send(true, "RETR f\r\n")
		d := newConn(tr, clock, "10.0.0.1:20", "10.0.0.2:40036", 7000+i*100000, 9000+i*100000)
		d.handshake()
		k.send(false, "150 go\r\n")
		d.send(true, strings.Repeat("x", 1000+int(i)))
		d.feed(true, d.cseq, event.FlagFIN|event.FlagACK, "") // the client's FIN is lost
		k.send(false, "226 ok\r\n")
	}
	tr.Flush(*clock)
	got := after(r)
	if n := strings.Count(got, "open 10.0.0.1:20 -> 10.0.0.2:40036"); n != 2 {
		t.Errorf("data.open: %d, want 2", n)
	}
	if !strings.Contains(got, `transfer RETR "f" 1000 bytes`) || !strings.Contains(got, `transfer RETR "f" 1001 bytes`) {
		t.Errorf("transfers:\n%s", got)
	}
	if strings.Contains(got, "fail") {
		t.Errorf("a data channel failed:\n%s", got)
	}
}

// TestMidstreamSessionPortReuse: a session caught mid-way (no SYN) closes,
// and the client's next connection uses the same port: a new session.
func TestMidstreamSessionPortReuse(t *testing.T) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.send(true, "QUIT\r\n")
	k.send(false, "221 Goodbye.\r\n")
	k.feed(false, k.sseq, event.FlagFIN|event.FlagACK, "")
	k2 := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 3000000000, 7000)
	k2.handshake()
	k2.send(false, "220 ready\r\n")
	k2.send(true, "USER bob\r\n")
	k2.send(false, "331 Password?\r\n")
	tr.Flush(*clock)
	wantDialogue(t, dialogue(r), `start midstream=true
> QUIT 
< 221 "Goodbye." [QUIT]
end quit
start midstream=false
< 220 "ready" []
> USER bob
< 331 "Password?" [USER]
end shutdown
`)
}

// TestSTOUTakesServerFileName: STOU's file is named by the server, in its
// 150 reply (RFC 1123 section 4.1.2.9).
func TestSTOUTakesServerFileName(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	d := pasvData(tr, clock)
	k.send(true, "STOU\r\n")
	k.send(false, "150 FILE: up.1\r\n")
	d.send(true, "abc")
	d.close()
	k.send(false, "226 Transfer complete.\r\n")
	if e := r.of(event.TypeTransferEnd); len(e) != 1 || e[0].File != "up.1" || e[0].Bytes != 3 || e[0].Direction != event.DirUpload {
		t.Fatalf("transfer.end = %+v", e)
	}
}

func TestParseUniqueName(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"FILE: up.1", "up.1", true},
		{"file:  a b.txt ", "a b.txt", true},
		{"Opening BINARY mode data connection\nFILE: x", "x", true},
		{"FILE:", "", false},
		{"FILE: ", "", false},
		{"Ok to send data.", "", false},
		{"PROFILE: x", "", false},
		{"", "", false},
	} {
		got, ok := parseUniqueName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUniqueName(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestPipelinedPASVAndTransfer: the client sends LIST right behind PASV,
// before the 227 comes: the transfer uses that announcement.
func TestPipelinedPASVAndTransfer(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.send(true, "PASV\r\nLIST\r\n")
	k.send(false, "227 Entering Passive Mode (10,0,0,1,156,64).\r\n")
	d := pasvData(tr, clock)
	listing(k, d, false, strings.Repeat("x", 100))
	e := r.of(event.TypeTransferEnd)
	if len(e) != 1 || e[0].Bytes != 100 || e[0].Mode != event.ModePassive || e[0].Endpoint.String() != "10.0.0.1:40000" || !e[0].Complete {
		t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
	}
	if f := r.of(event.TypeDataFail); len(f) != 0 {
		t.Errorf("data.fail = %+v", f)
	}
}

// TestStrayAfterResetStartsNoSession: a reply in flight when the client
// reset the command channel arrives after the RST; it belongs to the
// session that ended, not to a new one caught mid-way. Later, past the
// Linger, a segment on the same ports is a session caught mid-way again.
func TestStrayAfterResetStartsNoSession(t *testing.T) {
	tr, r, clock, k := loggedIn(&Config{IdleTimeout: time.Minute})
	k.send(true, "NOOP\r\n")
	k.feed(true, k.cseq, event.FlagRST|event.FlagACK, "")
	k.send(false, "200 NOOP ok.\r\n")
	tr.Advance(clock.Add(2 * time.Minute))
	if n := len(r.of(event.TypeSessionStart)); n != 1 {
		t.Fatalf("sessions: %d, want 1\n%s", n, dialogue(r))
	}
	*clock = clock.Add(2 * time.Minute)
	k.send(true, "NOOP\r\n")
	if st := r.of(event.TypeSessionStart); len(st) != 2 || !st[1].Midstream {
		t.Fatalf("session.start = %+v", st)
	}
}

// TestFalseAckDoesNotBlindReplies: a client segment acknowledges server
// bytes never sent. The tracker skips them as a gap after its wait, but
// when the server's next segment starts where the gap began, the gap was
// false: the server's replies are still read (else one segment would hide
// every later reply of the session).
func TestFalseAckDoesNotBlindReplies(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.send(true, "NOOP\r\n")
	p := event.Packet{Time: clock.Add(time.Millisecond), Src: k.c, Dst: k.s, Seq: k.cseq, Ack: k.sseq + 1000000, Flags: event.FlagACK | event.FlagPSH, Payload: []byte("PORT 6,6,6,6,0,25\r\n")}
	tr.Feed(&p)
	k.cseq += uint32(len(p.Payload))
	*clock = clock.Add(time.Second) // past the wait
	k.send(false, "200 NOOP ok.\r\n")
	k.send(false, "200 PORT command successful.\r\n")
	k.send(true, "RETR secret\r\n")
	k.send(false, "425 Failed to establish connection.\r\n")
	got := after(r)
	for _, want := range []string{`< 200 "NOOP ok." [NOOP]`, `< 200 "PORT command successful." [PORT]`, `< 425 "Failed to establish connection." [RETR]`} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
}

// TestFalseAckDoesNotBlindCommands: the same from the server's side.
func TestFalseAckDoesNotBlindCommands(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	p := event.Packet{Time: clock.Add(time.Millisecond), Src: k.s, Dst: k.c, Seq: k.sseq, Ack: k.cseq + 1000000, Flags: event.FlagACK | event.FlagPSH, Payload: []byte("200 nothing\r\n")}
	tr.Feed(&p)
	k.sseq += uint32(len(p.Payload))
	*clock = clock.Add(time.Second)
	k.send(true, "CWD /etc\r\n")
	k.send(false, "250 Directory successfully changed.\r\n")
	k.send(true, "PWD\r\n")
	k.send(false, "257 \"/etc\"\r\n")
	wantDialogue(t, after(r), `< 200 "nothing" []
> CWD /etc
< 250 "Directory successfully changed." [CWD]
> PWD 
< 257 "\"/etc\"" [PWD]
`)
}

// TestRepliesSplitAtEveryByte: a dialogue cut into one-byte segments (with
// sequence numbers that wrap) gives the same events as in whole segments.
func TestRepliesSplitAtEveryByte(t *testing.T) {
	script := []struct {
		client bool
		s      string
	}{
		{false, "220-Hi\r\n220-220 inner\r\n 220 x\r\n230 other\r\n220 end\r\n"},
		{true, "USER a\r\nPASS b\r\n"},
		{false, "331 p\r\n230-a\r\n230-b\r\n230 c\r\n"},
		{true, "\xff\xf4\xff\xf2ABOR\r\nEPSV\r\n"},
		{false, "225 none\r\n229 Entering Extended Passive Mode (|||40000|)\r\n"},
		{true, "QUIT\r\n"},
		{false, "221 bye\r\n"},
	}
	run := func(split bool) string {
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 0xfffffff0, 0xfffffffa)
		k.handshake()
		for _, x := range script {
			if !split {
				k.send(x.client, x.s)
				continue
			}
			for i := 0; i < len(x.s); i++ {
				k.send(x.client, x.s[i:i+1])
			}
		}
		k.close()
		return dialogue(r)
	}
	whole, split := run(false), run(true)
	if whole != split {
		t.Errorf("one-byte segments:\n%s\nwhole segments:\n%s", split, whole)
	}
	wantDialogue(t, whole, `start midstream=false
< 220 "Hi\n220 inner\n 220 x\n230 other\nend" []
> USER a
> PASS ****
< 331 "p" [USER]
< 230 "a\nb\nc" [PASS]
> ABOR 
> EPSV 
< 225 "none" [ABOR]
< 229 "Entering Extended Passive Mode (|||40000|)" [EPSV]
expect EPSV 10.0.0.1:40000
> QUIT 
< 221 "bye" [QUIT]
fail 10.0.0.1:40000 unused
end quit
`)
}

// TestAbortDuringDownload: ABOR after Telnet IP and DM (RFC 959 section
// 4.1.3) during a download; the 426 answers RETR and the 226 answers ABOR.
func TestAbortDuringDownload(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	d := pasvData(tr, clock)
	k.send(true, "RETR big\r\n")
	k.send(false, "150 Opening BINARY mode data connection for big (100000 bytes).\r\n")
	d.send(false, strings.Repeat("x", 1000))
	k.send(true, "\xff\xf4\xff")
	k.send(true, "\xf2ABOR\r\n")
	d.feed(true, d.cseq, event.FlagRST|event.FlagACK, "")
	k.send(false, "426 Failure writing network stream.\r\n")
	k.send(false, "226 ABOR successful.\r\n")
	wantDialogue(t, after(r), `> PASV 
< 227 "Entering Passive Mode (10,0,0,1,156,64)." [PASV]
expect PASV 10.0.0.1:40000
open 10.0.0.2:40001 -> 10.0.0.1:40000
> RETR big
< 150 "Opening BINARY mode data connection for big (100000 bytes)." [RETR]
> ABOR 
close 10.0.0.2:40001 -> 10.0.0.1:40000 1000 reset
< 426 "Failure writing network stream." [RETR]
transfer RETR "big" 1000 bytes code 426 complete false passive
< 226 "ABOR successful." [ABOR]
`)
}

// TestEndedDataConnsAreForgotten: data connections that end with a FIN
// and a RST (a client that resets once it has its bytes), or with one FIN
// whose partner is missing from the capture, are forgotten; kept for the
// session's life, they filled MaxDataConns and the session's later data
// connections went untracked.
func TestEndedDataConnsAreForgotten(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(d *conn)
	}{
		{"fin then rst", func(d *conn) {
			d.feed(false, d.sseq, event.FlagFIN|event.FlagACK, "")
			d.feed(true, d.cseq, event.FlagRST|event.FlagACK, "")
		}},
		{"one fin", func(d *conn) { d.feed(false, d.sseq, event.FlagFIN|event.FlagACK, "") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, r, clock, k := loggedIn(&Config{MaxDataConns: 5, DataTimeout: time.Second})
			for i := 0; i < 20; i++ {
				pasv(k)
				d := newConn(tr, clock, fmt.Sprintf("10.0.0.2:%d", 41000+i), "10.0.0.1:40000", 7000, 9000)
				d.handshake()
				k.send(true, "RETR f\r\n")
				k.send(false, "150 go\r\n")
				d.send(false, strings.Repeat("x", 10))
				tt.end(d)
				k.send(false, "226 ok\r\n")
				*clock = clock.Add(2 * time.Second)
			}
			tr.Advance(*clock)
			if n := len(r.of(event.TypeDataOpen)); n != 20 {
				t.Errorf("data.open: %d, want 20", n)
			}
			ends := r.of(event.TypeTransferEnd)
			if len(ends) != 20 || ends[19].Bytes != 10 {
				t.Errorf("transfer.end: %d, last %+v", len(ends), ends[len(ends)-1])
			}
			if a := r.of(event.TypeAlert); len(a) != 0 {
				t.Errorf("alerts: %+v", a)
			}
			if tr.nData != 0 {
				t.Errorf("data connections still tracked: %d", tr.nData)
			}
		})
	}
}

// TestSessionChurnKeepsOrderBounded: thousands of command channels that
// open and reset within one second (a SYN flood answered by RSTs) do not
// pile up between sweeps.
func TestSessionChurnKeepsOrderBounded(t *testing.T) {
	tr, r, clock := newTracker(&Config{MaxSessions: 10})
	for i := 0; i < 10000; i++ {
		k := newConn(tr, clock, fmt.Sprintf("10.0.%d.%d:40000", i/250, i%250), "10.0.0.1:21", 1000, 5000)
		k.feed(true, k.cseq, event.FlagSYN, "")
		k.feed(true, k.cseq+1, event.FlagRST, "")
		*clock = clock.Add(-2*time.Millisecond + 10*time.Microsecond) // 10000 sessions in 0.1 s
	}
	if n := len(tr.order); n > 20 {
		t.Errorf("%d sessions remembered, 0 live, cap 10", n)
	}
	if s, e := len(r.of(event.TypeSessionStart)), len(r.of(event.TypeSessionEnd)); s != 10000 || e != 10000 {
		t.Errorf("%d starts, %d ends, want 10000 each", s, e)
	}
}

// TestValidateReportsFirstField: with several bad fields, Validate names
// the same one every time.
func TestValidateReportsFirstField(t *testing.T) {
	c := &Config{MaxSessions: -1, MaxPending: -2, MaxDataConns: -3}
	for i := 0; i < 50; i++ {
		if err := c.Validate(); err == nil || err.Error() != "ftpstate: max sessions -1 is negative" {
			t.Fatalf("Validate = %v", err)
		}
	}
}

// TestReplyEchoesPassword: a reply that echoes the password (some servers
// log the login line back) is redacted as the PASS request is, unless
// ShowPasswords.
func TestReplyEchoesPassword(t *testing.T) {
	for _, show := range []bool{false, true} {
		tr, r, clock := newTracker(&Config{ShowPasswords: show})
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.handshake()
		k.send(false, "220 ready\r\n")
		k.send(true, "USER bob\r\n")
		k.send(false, "331 Password required for bob.\r\n")
		k.send(true, "PASS s3cr3t-pw\r\n")
		k.send(false, "230 User bob logged in, PASS s3cr3t-pw, welcome. Your password s3cr3t-pw expires soon\r\n")
		d := dialogue(r)
		want := `< 230 "User bob logged in, PASS ****, welcome. Your password **** expires soon" [PASS]`
		if show {
			want = `< 230 "User bob logged in, PASS s3cr3t-pw, welcome. Your password s3cr3t-pw expires soon" [PASS]`
		}
		if !strings.Contains(d, want) || !show && strings.Contains(d, "s3cr3t") {
			t.Errorf("ShowPasswords %v: events:\n%s\nwant %s", show, d, want)
		}
	}
}
