package ftpstate

import (
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

// Wire patterns of servers and clients other than the lab's (vsftpd 2.3 to
// 3.0.5, Pure-FTPd, pyftpdlib, Microsoft FTP Service, wu-ftpd, GNU ftpd),
// of NATs, cut captures and control-only captures, built segment by
// segment.

// TestRefusedCommandKeepsAnnouncement: RETR of a missing file is refused
// (550, no 1xx, no connection attempt); the server still listens on its
// passive port, and the LIST after it, with no new PASV, uses it.
func TestRefusedCommandKeepsAnnouncement(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	refuseRETR(k)
	k.send(true, "RETR /\r\n")
	k.send(false, "550 Not a regular file\r\n")
	k.send(true, "LIST\r\n")
	d := pasvData(tr, clock)
	listing(k, d, false, strings.Repeat("x", 300))
	tr.Flush(*clock)
	wantDialogue(t, after(r), `> PASV 
< 227 "Entering Passive Mode (10,0,0,1,156,64)." [PASV]
expect PASV 10.0.0.1:40000
> RETR nothere
< 550 "Failed to open file." [RETR]
transfer RETR "nothere" 0 bytes code 550 complete false passive
> RETR /
< 550 "Not a regular file" [RETR]
transfer RETR "/" 0 bytes code 550 complete false passive
> LIST 
open 10.0.0.2:40001 -> 10.0.0.1:40000
< 150 "Here comes the directory listing." [LIST]
close 10.0.0.2:40001 -> 10.0.0.1:40000 300 close
< 226 "Directory send OK." [LIST]
transfer LIST "" 300 bytes code 226 complete true passive
end shutdown
`)
}

// TestRefusedCommandActive: the same in active mode: the server keeps the
// PORT address, and connects to it for the LIST.
func TestRefusedCommandActive(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.send(true, "PORT 10,0,0,2,156,100\r\n")
	k.send(false, "200 PORT command successful.\r\n")
	k.send(true, "STOR /ro/x\r\n")
	k.send(false, "553 Could not create file.\r\n")
	k.send(true, "LIST\r\n")
	d := newConn(tr, clock, "10.0.0.1:20", "10.0.0.2:40036", 7000, 9000)
	d.handshake()
	listing(k, d, true, strings.Repeat("x", 42))
	if e := r.of(event.TypeTransferEnd); len(e) != 2 || e[1].Command != "LIST" || e[1].Mode != event.ModeActive || e[1].Bytes != 42 || !e[1].Complete {
		t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
	}
	if f := r.of(event.TypeDataFail); len(f) != 0 {
		t.Errorf("data.fail = %+v", f)
	}
}

// TestRefusedCommandConnectedEarly: the client connects to the passive
// port right after the 227, before its RETR (as many clients do); the RETR
// is refused and the LIST after it takes that connection.
func TestRefusedCommandConnectedEarly(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	d := pasvData(tr, clock)
	refuseRETR(k)
	k.send(true, "NLST\r\n")
	listing(k, d, false, strings.Repeat("n", 17))
	e := r.of(event.TypeTransferEnd)
	if len(e) != 2 || e[0].Bytes != 0 || e[0].Complete || e[1].Command != "NLST" || e[1].Bytes != 17 || e[1].Mode != event.ModePassive || !e[1].Complete {
		t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
	}
}

// TestRefusedAnnouncementRetired: an announcement kept after a refused
// command is reported unused when a newer one replaces it, when the session
// ends, and not at all for 425 (the server could not open the data
// connection: the command did use it up).
func TestRefusedAnnouncementRetired(t *testing.T) {
	_, r, _, k := loggedIn(nil)
	pasv(k)
	refuseRETR(k)
	k.send(true, "PASV\r\n")
	k.send(false, "227 Entering Passive Mode (10,0,0,1,156,65).\r\n")
	k.send(true, "RETR f\r\n")
	k.send(false, "425 Failed to establish connection.\r\n")
	k.send(true, "EPSV\r\n")
	k.send(false, "229 Entering Extended Passive Mode (|||40002|)\r\n")
	k.send(true, "RETR nothere\r\n")
	k.send(false, "450 No such file.\r\n")
	quit(k)
	var got []string
	for _, e := range r.of(event.TypeDataFail) {
		got = append(got, e.Endpoint.String()+" "+e.Reason)
	}
	want := "10.0.0.1:40000 unused, 10.0.0.1:40001 unused, 10.0.0.1:40002 unused"
	if strings.Join(got, ", ") != want {
		t.Errorf("data.fail: %s\nwant: %s\n%s", strings.Join(got, ", "), want, dialogue(r))
	}
	// Each is reported when it is retired: the first when the second
	// PASV replaces it, the second with the 425 to its RETR.
	d := after(r)
	if i, j := strings.Index(d, "fail 10.0.0.1:40000"), strings.Index(d, "expect PASV 10.0.0.1:40001"); i < 0 || j < 0 || i > j {
		t.Errorf("the first announcement is not retired by the second:\n%s", d)
	}
	if i, j := strings.Index(d, "fail 10.0.0.1:40001"), strings.Index(d, "> EPSV"); i < 0 || j < 0 || i > j {
		t.Errorf("the 425 does not retire the second announcement:\n%s", d)
	}
}

// TestRefusedAnnouncementTimesOut: RETR is refused and no transfer command
// comes for DataTimeout after the refusal: the announcement is reported
// unused once, when the timeout passes, with what happened in its detail.
// The LIST that comes later still gets the connection made to the same
// endpoint (vsftpd keeps its passive port listening that long).
func TestRefusedAnnouncementTimesOut(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	refuseRETR(k)
	refused := *clock
	tr.Advance(refused.Add(30*time.Second - time.Millisecond))
	if f := r.of(event.TypeDataFail); len(f) != 0 {
		t.Fatalf("data.fail before the timeout: %+v", f)
	}
	tr.Advance(refused.Add(30 * time.Second))
	f := r.of(event.TypeDataFail)
	want := "PASV announced 10.0.0.1:40000 at 10:00:00.010; RETR was refused (550) at 10:00:00.012 and no transfer command used it in the 30s after"
	if len(f) != 1 || f[0].Reason != "unused" || f[0].Endpoint.String() != "10.0.0.1:40000" || f[0].Mode != event.ModePassive || f[0].Detail != want || !f[0].Time.Equal(refused.Add(30*time.Second)) {
		t.Fatalf("data.fail = %+v\nwant one unused at %v: %s", f, refused.Add(30*time.Second), want)
	}
	*clock = refused.Add(45 * time.Second)
	k.send(true, "LIST\r\n")
	d := pasvData(tr, clock)
	listing(k, d, false, strings.Repeat("x", 300))
	tr.Flush(*clock)
	wantDialogue(t, after(r), `> PASV 
< 227 "Entering Passive Mode (10,0,0,1,156,64)." [PASV]
expect PASV 10.0.0.1:40000
> RETR nothere
< 550 "Failed to open file." [RETR]
transfer RETR "nothere" 0 bytes code 550 complete false passive
fail 10.0.0.1:40000 unused
> LIST 
open 10.0.0.2:40001 -> 10.0.0.1:40000
< 150 "Here comes the directory listing." [LIST]
close 10.0.0.2:40001 -> 10.0.0.1:40000 300 close
< 226 "Directory send OK." [LIST]
transfer LIST "" 300 bytes code 226 complete true passive
end shutdown
`)
	if o := r.of(event.TypeDataOpen); len(o) != 1 || o[0].Endpoint.String() != "10.0.0.1:40000" || o[0].Via != "PASV" {
		t.Errorf("data.open = %+v", o)
	}
}

// TestExpiredAnnouncementNoConnection: a transfer command after the
// announcement expired, with no connection to it (the server closed its
// passive port and says so): the transfer's mode is unknown, and the
// announcement is not reported twice.
func TestExpiredAnnouncementNoConnection(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	k.send(true, "RETR nothere\r\n")
	k.send(false, "550 No such file.\r\n")
	*clock = clock.Add(time.Minute)
	k.send(true, "LIST\r\n")
	k.send(false, "425 Use PORT or PASV first.\r\n")
	quit(k)
	tr.Flush(*clock)
	e := r.of(event.TypeTransferEnd)
	if len(e) != 2 || e[1].Command != "LIST" || e[1].Mode != event.ModeUnknown || e[1].Endpoint.IsValid() || e[1].Code != 425 || e[1].DataNotSeen {
		t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
	}
	if f := r.of(event.TypeDataFail); len(f) != 1 || f[0].Reason != "unused" {
		t.Errorf("data.fail = %+v, want one unused", f)
	}
}

// TestRefusedAnnouncementWithinTimeout: the timeout counts from the
// refusal, not from the announcement: a LIST 45s after the PASV but 25s
// after the refused RETR uses the announcement, and nothing is unused.
func TestRefusedAnnouncementWithinTimeout(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	*clock = clock.Add(20 * time.Second)
	refuseRETR(k)
	*clock = clock.Add(25 * time.Second)
	k.send(true, "LIST\r\n")
	d := pasvData(tr, clock)
	listing(k, d, false, strings.Repeat("x", 300))
	tr.Advance(clock.Add(10 * time.Minute))
	tr.Flush(*clock)
	if f := r.of(event.TypeDataFail); len(f) != 0 {
		t.Errorf("data.fail = %+v\n%s", f, dialogue(r))
	}
	e := r.of(event.TypeTransferEnd)
	if len(e) != 2 || e[1].Command != "LIST" || e[1].Bytes != 300 || e[1].Mode != event.ModePassive || e[1].Endpoint.String() != "10.0.0.1:40000" || !e[1].Complete {
		t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
	}
}

// TestRefusedAnnouncementSessionEnds: the session ends before the timeout:
// the announcement is reported unused then, once.
func TestRefusedAnnouncementSessionEnds(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	refuseRETR(k)
	refused := *clock
	*clock = clock.Add(5 * time.Second)
	quit(k)
	tr.Advance(clock.Add(time.Minute))
	tr.Flush(clock.Add(time.Minute))
	f := r.of(event.TypeDataFail)
	if len(f) != 1 || f[0].Reason != "unused" || f[0].Endpoint.String() != "10.0.0.1:40000" || !f[0].Time.Before(refused.Add(30*time.Second)) {
		t.Fatalf("data.fail = %+v, want one unused before %v", f, refused.Add(30*time.Second))
	}
	end := r.of(event.TypeSessionEnd)
	if len(end) != 1 || end[0].Reason != "quit" || f[0].Time.After(end[0].Time) || !strings.HasSuffix(after(r), "fail 10.0.0.1:40000 unused\nend quit\n") {
		t.Errorf("the unused announcement is not reported with the end of the session:\n%s", after(r))
	}
}

// TestAnnouncementTimesOut: an announcement no transfer command takes is
// reported unused after DataTimeout (configured here), unless a connection
// was made to it: a client that connected and is slow to send its command
// still gets its transfer.
func TestAnnouncementTimesOut(t *testing.T) {
	t.Run("untaken", func(t *testing.T) {
		tr, r, clock, k := loggedIn(&Config{DataTimeout: 10 * time.Second})
		pasv(k)
		tr.Advance(clock.Add(10 * time.Second))
		tr.Flush(clock.Add(time.Minute))
		f := r.of(event.TypeDataFail)
		want := "PASV announced 10.0.0.1:40000 at 10:00:00.010, but no transfer command used it within 10s"
		if len(f) != 1 || f[0].Reason != "unused" || f[0].Detail != want || !f[0].Time.Equal(clock.Add(10*time.Second)) {
			t.Errorf("data.fail = %+v\nwant one unused at %v: %s", f, clock.Add(10*time.Second), want)
		}
	})
	t.Run("connected", func(t *testing.T) {
		tr, r, clock, k := loggedIn(&Config{DataTimeout: 10 * time.Second})
		pasv(k)
		d := pasvData(tr, clock)
		tr.Advance(clock.Add(time.Minute))
		*clock = clock.Add(time.Minute)
		k.send(true, "RETR f\r\n")
		k.send(false, "150 Opening BINARY mode data connection for f (5 bytes).\r\n")
		d.send(false, "hello")
		d.close()
		k.send(false, "226 Transfer complete.\r\n")
		if f := r.of(event.TypeDataFail); len(f) != 0 {
			t.Errorf("data.fail = %+v", f)
		}
		if e := r.of(event.TypeTransferEnd); len(e) != 1 || e[0].Bytes != 5 || e[0].Mode != event.ModePassive || !e[0].Complete {
			t.Errorf("transfer.end = %+v\n%s", e, dialogue(r))
		}
	})
}

// TestForeignPORTServerConnectsToClient: the client names another host in
// PORT (a public address, so no NAT case), and the server connects from
// port 20 to the client's own address at the announced port: that
// connection carries the transfer, and the bounce alert says so.
func TestForeignPORTServerConnectsToClient(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.send(true, "PORT 192,0,2,9,156,100\r\n") // 192.0.2.9:40036
	k.send(false, "200 PORT command successful. Consider using PASV.\r\n")
	k.send(true, "RETR f\r\n")
	k.send(false, "150 Opening BINARY mode data connection for f (1000 bytes).\r\n")
	d := newConn(tr, clock, "10.0.0.1:20", "10.0.0.2:40036", 7000, 9000)
	d.handshake()
	d.send(true, strings.Repeat("x", 1000))
	d.close()
	k.send(false, "226 Transfer complete.\r\n")
	e := r.of(event.TypeTransferEnd)
	if len(e) != 1 || e[0].Bytes != 1000 || e[0].Mode != event.ModeActive || !e[0].Complete || e[0].Endpoint.String() != "192.0.2.9:40036" {
		t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
	}
	if o := r.of(event.TypeDataOpen); len(o) != 1 || o[0].From.String() != "10.0.0.1:20" || o[0].To.String() != "10.0.0.2:40036" {
		t.Errorf("data.open = %+v", o)
	}
	a := r.of(event.TypeAlert)
	if len(a) != 1 || a[0].Kind != "bounce" || !strings.Contains(a[0].Detail, "192.0.2.9:40036") || !strings.Contains(a[0].Detail, "the server connected to the client instead, at 10.0.0.2:40036") {
		t.Errorf("alerts = %+v", a)
	}
	if f := r.of(event.TypeDataFail); len(f) != 0 {
		t.Errorf("data.fail = %+v", f)
	}
}

// TestBounceOutcomes: the bounce alert says what the server did with the
// third host's address.
func TestBounceOutcomes(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		run        func(tr *Tracker, clock *time.Time, k *conn)
	}{
		{"refused by the server", "the server refused it (500)", func(tr *Tracker, clock *time.Time, k *conn) {
			k.send(false, "500 Illegal PORT command.\r\n")
		}},
		{"connected to the third host", "the server connected to 192.0.2.9:40036", func(tr *Tracker, clock *time.Time, k *conn) {
			k.send(false, "200 PORT command successful.\r\n")
			k.send(true, "STOR f\r\n")
			d := newConn(tr, clock, "10.0.0.1:20", "192.0.2.9:40036", 7000, 9000)
			d.handshake()
		}},
		{"nothing seen", "no connection to it was seen", func(tr *Tracker, clock *time.Time, k *conn) {
			k.send(false, "200 PORT command successful.\r\n")
			tr.Flush(*clock)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, r, clock, k := loggedIn(nil)
			k.send(true, "PORT 192,0,2,9,156,100\r\n")
			tt.run(tr, clock, k)
			a := r.of(event.TypeAlert)
			if len(a) != 1 || a[0].Kind != "bounce" || !strings.HasSuffix(a[0].Detail, "; "+tt.want) {
				t.Errorf("alerts = %+v, want a bounce ending %q", a, tt.want)
			}
		})
	}
}

// TestHalfCloseLastReply: the client closes its side without QUIT; the
// server answers the end of its input with vsftpd's "500 OOPS" well after
// the Linger, and the client, gone, answers that with a RST. All of it is
// the one session.
func TestHalfCloseLastReply(t *testing.T) {
	for _, tt := range []struct {
		name, send, reply, end string
		delay                  time.Duration
	}{
		{"500 OOPS", "", "500 OOPS: vsf_sysutil_recv_peek: no data\r\n", "reset", 20 * time.Second},
		{"221 after QUIT and FIN", "QUIT\r\n", "221 Goodbye.\r\n", "quit", 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, r, clock, k := loggedIn(nil)
			if tt.send != "" {
				k.send(true, tt.send)
			}
			k.feed(true, k.cseq, event.FlagFIN|event.FlagACK, "")
			k.cseq++
			k.feed(false, k.sseq, event.FlagACK, "")
			*clock = clock.Add(tt.delay)
			tr.Advance(*clock)
			k.send(false, tt.reply)
			k.feed(true, k.cseq, event.FlagRST, "")
			*clock = clock.Add(time.Minute)
			tr.Flush(*clock)
			got := dialogue(r)
			if n := strings.Count(got, "start "); n != 1 {
				t.Errorf("%d sessions, want 1:\n%s", n, got)
			}
			if !strings.Contains(got, `< `+strings.TrimSuffix(tt.reply[:3], " ")) || !strings.HasSuffix(got, "end "+tt.end+"\n") {
				t.Errorf("the last reply or the end is lost:\n%s", got)
			}
		})
	}
}

// TestHalfCloseQuietEnds: a session whose other FIN is missing from the
// capture still ends once it has been quiet for as long as TCP waits for
// that FIN (FIN-WAIT-2), not before.
func TestHalfCloseQuietEnds(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.feed(true, k.cseq, event.FlagFIN|event.FlagACK, "")
	tr.Advance(clock.Add(halfCloseQuiet - time.Second))
	if e := r.of(event.TypeSessionEnd); len(e) != 0 {
		t.Errorf("session.end = %+v before the FIN-WAIT-2 time", e)
	}
	tr.Advance(clock.Add(halfCloseQuiet))
	if e := r.of(event.TypeSessionEnd); len(e) != 1 || e[0].Reason != "close" {
		t.Errorf("session.end = %+v", e)
	}
}

// TestKeepAliveIsOldData: TCP keep-alives (one byte at seq = ack-1, here
// 0x00, as Windows sends them) on a command channel are old bytes: no
// request, no line prefix, no session of their own.
func TestKeepAliveIsOldData(t *testing.T) {
	t.Run("in a session caught mid-way", func(t *testing.T) {
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.send(false, "226 Transfer complete.\r\n") // acknowledges client bytes up to 1000
		k.feed(true, k.cseq-1, event.FlagACK, "\x00")
		k.feed(false, k.sseq, event.FlagACK, "")
		k.send(true, "NOOP\r\n")
		k.send(false, "200 NOOP ok.\r\n")
		wantDialogue(t, dialogue(r), `start midstream=true
< 226 "Transfer complete." []
> NOOP 
< 200 "NOOP ok." [NOOP]
`)
	})
	t.Run("in a session with its start", func(t *testing.T) {
		_, r, _, k := loggedIn(nil)
		k.feed(false, k.sseq-1, event.FlagACK, "\x00")
		k.feed(true, k.cseq-1, event.FlagACK, "\x00")
		k.send(true, "PWD\r\n")
		k.send(false, "257 \"/\"\r\n")
		wantDialogue(t, after(r), `> PWD 
< 257 "\"/\"" [PWD]
`)
	})
	t.Run("alone", func(t *testing.T) {
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		for i := 0; i < 3; i++ {
			k.feed(true, k.cseq-1, event.FlagACK, "\x00")
			k.feed(false, k.sseq, event.FlagACK, "")
			*clock = clock.Add(45 * time.Second)
		}
		tr.Flush(*clock)
		if len(r.evs) != 0 {
			t.Errorf("keep-alives gave events:\n%s", dialogue(r))
		}
	})
}

// TestControlOnlyCapture: the capture holds the command channel only (a
// SPAN of port 21). The 150 and 226 show each transfer's data connection
// was made: no data.fail unused, no "bytes": 0, one alert for the session.
func TestControlOnlyCapture(t *testing.T) {
	_, r, _, k := loggedIn(nil)
	pasv(k)
	k.send(true, "RETR a\r\n")
	k.send(false, "150 Opening BINARY mode data connection for a (5 bytes).\r\n")
	k.send(false, "226 Transfer complete.\r\n")
	k.send(true, "EPSV\r\n")
	k.send(false, "229 Entering Extended Passive Mode (|||40002|)\r\n")
	k.send(true, "STOR b\r\n")
	k.send(false, "150 Ok to send data.\r\n")
	k.send(false, "451 Failure writing to local file.\r\n")
	k.send(true, "PORT 10,0,0,2,156,100\r\n")
	k.send(false, "200 PORT command successful.\r\n")
	k.send(true, "LIST\r\n")
	k.send(false, "226 Directory send OK.\r\n") // its 150 lost from the capture
	quit(k)
	wantDialogue(t, after(r), `> PASV 
< 227 "Entering Passive Mode (10,0,0,1,156,64)." [PASV]
expect PASV 10.0.0.1:40000
> RETR a
< 150 "Opening BINARY mode data connection for a (5 bytes)." [RETR]
< 226 "Transfer complete." [RETR]
alert data_not_seen
transfer RETR "a" data not seen code 226 complete true passive
> EPSV 
< 229 "Entering Extended Passive Mode (|||40002|)" [EPSV]
expect EPSV 10.0.0.1:40002
> STOR b
< 150 "Ok to send data." [STOR]
< 451 "Failure writing to local file." [STOR]
transfer STOR "b" data not seen code 451 complete false passive
> PORT 10,0,0,2,156,100
expect PORT 10.0.0.2:40036
< 200 "PORT command successful." [PORT]
> LIST 
< 226 "Directory send OK." [LIST]
transfer LIST "" data not seen code 226 complete true active
> QUIT 
< 221 "Goodbye." [QUIT]
end quit
`)
	a := r.of(event.TypeAlert)
	if len(a) != 1 || !strings.Contains(a[0].Detail, "did not cross the tap") || !strings.Contains(a[0].Detail, "SPAN") {
		t.Errorf("alert = %+v", a)
	}
	e := r.of(event.TypeTransferEnd)[0]
	js := string(e.AppendJSON(nil))
	if !strings.Contains(js, `"direction":"download","data_seen":false,"code":226`) || strings.Contains(js, `"bytes"`) {
		t.Errorf("transfer.end JSON: %s", js)
	}
}

// TestDataNotSeenOnlyWithProof: a transfer whose data connection the tap
// saw keeps its bytes (0 for an empty file); one answered 425 after its
// 150 (wu-ftpd's active mode), or refused outright, has no proof of a data
// connection.
func TestDataNotSeenOnlyWithProof(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	d := pasvData(tr, clock)
	k.send(true, "RETR empty\r\n")
	k.send(false, "150 Opening BINARY mode data connection for empty (0 bytes).\r\n")
	d.close()
	k.send(false, "226 Transfer complete.\r\n")
	k.send(true, "PORT 10,0,0,2,156,100\r\n")
	k.send(false, "200 PORT command successful.\r\n")
	k.send(true, "RETR f\r\n")
	k.send(false, "150 Opening BINARY mode data connection for f.\r\n")
	k.send(false, "425 Can't build data connection: Connection refused.\r\n")
	for _, e := range r.of(event.TypeTransferEnd) {
		if e.DataNotSeen {
			t.Errorf("transfer.end %s %s: data not seen\n%s", e.Command, e.File, dialogue(r))
		}
	}
	if a := r.of(event.TypeAlert); len(a) != 0 {
		t.Errorf("alerts = %+v", a)
	}
}

// TestTeardownOnlySession: the capture began after the last bytes of a
// command channel: only FIN, FIN, ACK are seen. It is a session, caught
// mid-way, with no commands.
func TestTeardownOnlySession(t *testing.T) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.close()
	tr.Flush(*clock)
	wantDialogue(t, dialogue(r), `start midstream=true
end close
`)
	if s := r.of(event.TypeSessionStart); len(s) != 1 || s[0].Client.String() != "10.0.0.2:40000" || s[0].Server.String() != "10.0.0.1:21" {
		t.Errorf("session.start = %+v", s)
	}
	// A retransmitted FIN right after is the same connection's.
	k.feed(false, k.sseq-1, event.FlagFIN|event.FlagACK, "")
	if n := len(r.of(event.TypeSessionStart)); n != 1 {
		t.Errorf("%d sessions after a retransmitted FIN", n)
	}
}

// TestLostTransferCommandUsesAnnouncement: the RETR after a PASV is
// missing from the capture, but its 150 and 226 are there: the
// announcement was used, not unused, and no transfer is made up for a
// command nobody saw.
func TestLostTransferCommandUsesAnnouncement(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	k.cseq += uint32(len("RETR f\r\n")) // lost
	k.send(false, "150 Opening BINARY mode data connection for f (3 bytes).\r\n")
	k.send(false, "226 Transfer complete.\r\n")
	k.send(true, "PASV\r\n")
	k.send(false, "227 Entering Passive Mode (10,0,0,1,156,65).\r\n")
	tr.Flush(clock.Add(time.Second))
	f := r.of(event.TypeDataFail)
	if len(f) != 1 || f[0].Endpoint.String() != "10.0.0.1:40001" {
		t.Errorf("data.fail = %+v, want only the second PASV's, unused at the end\n%s", f, dialogue(r))
	}
	if e := r.of(event.TypeTransferEnd); len(e) != 0 {
		t.Errorf("transfer.end = %+v", e)
	}
}

// TestRefusedAfterConnectUsesAnnouncement: the server connected back for
// the RETR, then refused it: that command did use the PORT address (the
// connection was attempted for it), and the LIST after it has none.
func TestRefusedAfterConnectUsesAnnouncement(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.send(true, "PORT 10,0,0,2,156,100\r\n")
	k.send(false, "200 PORT command successful.\r\n")
	k.send(true, "RETR f\r\n")
	d := newConn(tr, clock, "10.0.0.1:20", "10.0.0.2:40036", 7000, 9000)
	d.handshake()
	k.send(false, "550 Permission denied.\r\n")
	d.close()
	k.send(true, "LIST\r\n")
	k.send(false, "425 Use PORT or PASV first.\r\n")
	e := r.of(event.TypeTransferEnd)
	if len(e) != 2 || e[0].Mode != event.ModeActive || e[1].Mode != event.ModeUnknown {
		t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
	}
}

// TestCutBeforeTransferAdoptsDataConn: the capture began between the
// announcement and the transfer command. The session, caught mid-way, has
// seen no announcement; the data connection between its two hosts is the
// transfer's: the client's, held from just before RETR (passive), or the
// server's, made after it (active).
func TestCutBeforeTransferAdoptsDataConn(t *testing.T) {
	t.Run("passive", func(t *testing.T) {
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		d := pasvData(tr, clock)
		k.send(true, "RETR f\r\n")
		k.send(false, "150 Opening BINARY mode data connection for f (500 bytes).\r\n")
		d.send(false, strings.Repeat("x", 500))
		d.close()
		k.send(false, "226 Transfer complete.\r\n")
		e := r.of(event.TypeTransferEnd)
		if len(e) != 1 || e[0].Bytes != 500 || e[0].DataNotSeen || e[0].Mode != event.ModePassive || !e[0].Complete {
			t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
		}
		if o := r.of(event.TypeDataOpen); len(o) != 1 || o[0].From.String() != "10.0.0.2:40001" {
			t.Errorf("data.open = %+v", o)
		}
	})
	t.Run("active", func(t *testing.T) {
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.send(true, "NLST\r\n")
		d := newConn(tr, clock, "10.0.0.1:20", "10.0.0.2:40036", 7000, 9000)
		d.handshake()
		listing(k, d, true, strings.Repeat("n", 30))
		e := r.of(event.TypeTransferEnd)
		if len(e) != 1 || e[0].Bytes != 30 || e[0].Mode != event.ModeActive {
			t.Fatalf("transfer.end = %+v\n%s", e, dialogue(r))
		}
	})
	t.Run("not with an announcement in sight", func(t *testing.T) {
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.send(true, "PASV\r\n")
		k.send(false, "227 Entering Passive Mode (10,0,0,1,156,64).\r\n")
		k.send(true, "RETR f\r\n")
		k.send(false, "425 Failed to establish connection.\r\n")
		k.send(true, "LIST\r\n")
		d := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:50000", 7000, 9000) // an unrelated connection
		d.handshake()
		k.send(false, "425 Use PORT or PASV first.\r\n")
		if o := r.of(event.TypeDataOpen); len(o) != 0 {
			t.Errorf("data.open = %+v", o)
		}
	})
}
