package ftpstate

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

// rec collects a tracker's events; with js set, also their JSON form as
// it was when each was emitted.
type rec struct {
	evs []event.Event
	js  *strings.Builder
}

func (r *rec) emit(e *event.Event) {
	r.evs = append(r.evs, *e)
	if r.js != nil {
		r.js.Write(e.AppendJSON(nil))
		r.js.WriteByte('\n')
	}
}

func (r *rec) of(typ event.Type) []event.Event {
	var out []event.Event
	for _, e := range r.evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func (r *rec) dump() string {
	var b strings.Builder
	for _, e := range r.evs {
		b.Write(e.AppendJSON(nil))
		b.WriteByte('\n')
	}
	return b.String()
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// conn drives one TCP connection through a tracker, keeping sequence
// numbers like a real stack.
type conn struct {
	tr         *Tracker
	c, s       netip.AddrPort
	cseq, sseq uint32
	clock      *time.Time
}

func newConn(tr *Tracker, clock *time.Time, c, s string, cisn, sisn uint32) *conn {
	return &conn{tr: tr, c: netip.MustParseAddrPort(c), s: netip.MustParseAddrPort(s), cseq: cisn, sseq: sisn, clock: clock}
}

func (k *conn) feed(fromClient bool, seq uint32, fl event.Flags, data string) {
	*k.clock = k.clock.Add(time.Millisecond)
	k.feedAt(*k.clock, fromClient, seq, fl, data)
}

// feedAt feeds a segment captured at at, which may be before segments fed
// already (the other tap port's, handed over late).
func (k *conn) feedAt(at time.Time, fromClient bool, seq uint32, fl event.Flags, data string) {
	p := event.Packet{Time: at, Flags: fl, Seq: seq, Payload: []byte(data)}
	if fromClient {
		p.Src, p.Dst, p.Ack, p.Side = k.c, k.s, k.sseq, event.SideA
	} else {
		p.Src, p.Dst, p.Ack, p.Side = k.s, k.c, k.cseq, event.SideB
	}
	k.tr.Feed(&p)
}

func (k *conn) handshake() {
	k.feed(true, k.cseq, event.FlagSYN, "")
	k.cseq++
	k.feed(false, k.sseq, event.FlagSYN|event.FlagACK, "")
	k.sseq++
	k.feed(true, k.cseq, event.FlagACK, "")
}

// send sends data in order and returns the sequence number it started at.
func (k *conn) send(fromClient bool, data string) uint32 {
	if fromClient {
		seq := k.cseq
		k.feed(true, seq, event.FlagACK|event.FlagPSH, data)
		k.cseq += uint32(len(data))
		return seq
	}
	seq := k.sseq
	k.feed(false, seq, event.FlagACK|event.FlagPSH, data)
	k.sseq += uint32(len(data))
	return seq
}

func (k *conn) close() {
	k.feed(false, k.sseq, event.FlagFIN|event.FlagACK, "")
	k.sseq++
	k.feed(true, k.cseq, event.FlagFIN|event.FlagACK, "")
	k.cseq++
	k.feed(false, k.sseq, event.FlagACK, "")
}

func newTracker(cfg *Config) (*Tracker, *rec, *time.Time) {
	r := &rec{}
	clock := t0
	return New(cfg, r.emit), r, &clock
}

// loggedIn returns a tracker with one session from 10.0.0.2:40000 to
// 10.0.0.1:21, past its login.
func loggedIn(cfg *Config) (*Tracker, *rec, *time.Time, *conn) {
	tr, r, clock := newTracker(cfg)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.handshake()
	login(k)
	return tr, r, clock, k
}

// pasv announces the passive data channel 10.0.0.1:40000.
func pasv(k *conn) {
	k.send(true, "PASV\r\n")
	k.send(false, "227 Entering Passive Mode (10,0,0,1,156,64).\r\n")
}

// pasvData opens the client's data connection, 10.0.0.2:40001, to the
// endpoint pasv announces, through its handshake.
func pasvData(tr *Tracker, clock *time.Time) *conn {
	d := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:40000", 7000, 9000)
	d.handshake()
	return d
}

// refuseRETR has the client ask for a file the server refuses (550).
func refuseRETR(k *conn) {
	k.send(true, "RETR nothere\r\n")
	k.send(false, "550 Failed to open file.\r\n")
}

// listing answers the LIST (or NLST) just sent on k with data over d: the
// 150, the data (sent by d's client where fromClient, as in active mode,
// where that is the server's port 20), d's close and the 226.
func listing(k, d *conn, fromClient bool, data string) {
	k.send(false, "150 Here comes the directory listing.\r\n")
	d.send(fromClient, data)
	d.close()
	k.send(false, "226 Directory send OK.\r\n")
}

// quit ends the session on k: QUIT, its 221 and the close.
func quit(k *conn) {
	k.send(true, "QUIT\r\n")
	k.send(false, "221 Goodbye.\r\n")
	k.close()
}

func login(k *conn) {
	k.send(false, "220 ready\r\n")
	k.send(true, "USER anonymous\r\n")
	k.send(false, "331 Please specify the password.\r\n")
	k.send(true, "PASS secret\r\n")
	k.send(false, "230 Login successful.\r\n")
}

func TestSplitPipelinedMultiline(t *testing.T) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.handshake()
	k.send(false, "220-Welcome\r\n220-to the\r\n")
	k.send(false, "lab\r\n220 server\r\n")
	k.send(true, "US")
	k.send(true, "ER anonymous\r")
	k.send(true, "\nPASS x\r\nSYST\r\n") // pipelined
	k.send(false, "331 pw\r\n230-Hello\r\n 230 inside text\r\n230 ok\r\n215 UNIX\r\n")
	k.send(true, "QUIT\r\n")
	k.send(false, "221 bye\r\n")
	k.close()

	var got []string
	for _, e := range r.evs {
		switch e.Type {
		case event.TypeRequest:
			got = append(got, "> "+e.Command+" "+e.Arg)
		case event.TypeResponse:
			got = append(got, fmt.Sprintf("< %d %s [%s]", e.Code, e.Text, e.Command))
		case event.TypeLogin:
			got = append(got, fmt.Sprintf("login %s %v", e.User, e.OK))
		case event.TypeSessionEnd:
			got = append(got, "end "+e.Reason)
		}
	}
	want := []string{
		"< 220 Welcome\nto the\nlab\nserver []",
		"> USER anonymous",
		"> PASS ****",
		"> SYST ",
		"< 331 pw [USER]",
		"< 230 Hello\n 230 inside text\nok [PASS]",
		"login anonymous true",
		"< 215 UNIX [SYST]",
		"> QUIT ",
		"< 221 bye [QUIT]",
		"end quit",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReorderAndRetransmit(t *testing.T) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.handshake()
	k.send(false, "220 ready\r\n")
	// USER in two segments sent out of order, then the first again.
	a, b := "USER anon", "ymous\r\n"
	k.feed(true, k.cseq+uint32(len(a)), event.FlagACK, b)
	k.feed(true, k.cseq, event.FlagACK, a)
	k.feed(true, k.cseq, event.FlagACK, a)          // retransmission
	k.feed(true, k.cseq+3, event.FlagACK, "R anon") // overlapping retransmission
	k.cseq += uint32(len(a) + len(b))
	k.send(false, "230 ok\r\n")
	reqs := r.of(event.TypeRequest)
	if len(reqs) != 1 || reqs[0].Arg != "anonymous" {
		t.Fatalf("requests = %+v, want one USER anonymous\n%s", reqs, r.dump())
	}
	if l := r.of(event.TypeLogin); len(l) != 1 || !l[0].OK {
		t.Errorf("login = %+v", l)
	}
}

// TestGapAcked: a command segment missing from the capture (the server
// acknowledges it) must not hold back the commands after it.
func TestGapAcked(t *testing.T) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.handshake()
	k.send(false, "220 ready\r\n")
	lost := "CWD a\r\n"
	k.cseq += uint32(len(lost)) // never fed
	k.send(true, "PWD\r\n")
	k.send(false, "250 ok\r\n")
	k.send(false, "257 \"/a\"\r\n")
	var got []string
	for _, e := range r.evs {
		if e.Type == event.TypeResponse {
			got = append(got, fmt.Sprintf("%d:%s", e.Code, e.Command))
		}
	}
	// The 250 answers the lost CWD; tracking stays in step for PWD.
	if strings.Join(got, " ") != "220: 250: 257:PWD" {
		t.Errorf("responses: %v, want 220: 250: 257:PWD", got)
	}
	if n := len(r.of(event.TypeRequest)); n != 1 {
		t.Errorf("requests = %d, want 1 (PWD)\n%s", n, r.dump())
	}
}

func TestPassiveDownload(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	d := pasvData(tr, clock)
	k.send(true, "RETR f.bin\r\n")
	k.send(false, "150 Opening BINARY mode data connection for f.bin (3000 bytes).\r\n")
	d.send(false, strings.Repeat("x", 1000))
	seq := d.send(false, strings.Repeat("y", 1000))
	d.feed(false, seq, event.FlagACK, strings.Repeat("y", 1000)) // retransmission
	d.send(false, strings.Repeat("z", 1000))
	d.close()
	k.send(false, "226 Transfer complete.\r\n")
	ends := r.of(event.TypeTransferEnd)
	if len(ends) != 1 {
		t.Fatalf("transfer.end: %d\n%s", len(ends), r.dump())
	}
	e := ends[0]
	if e.Command != "RETR" || e.File != "f.bin" || e.Bytes != 3000 || e.Code != 226 || !e.Complete || e.Mode != event.ModePassive || e.Direction != event.DirDownload {
		t.Errorf("transfer.end = %+v", e)
	}
	opens := r.of(event.TypeDataOpen)
	if len(opens) != 1 || opens[0].From.String() != "10.0.0.2:40001" || opens[0].To.String() != "10.0.0.1:40000" {
		t.Errorf("data.open = %+v", opens)
	}
}

// TestHeldSYN: the data SYN reaches the tracker (through the other tap
// port) just before the 227 that announced its port.
func TestHeldSYN(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.send(true, "PASV\r\n")
	d := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:40000", 7000, 9000)
	d.feed(true, d.cseq, event.FlagSYN, "")
	d.cseq++
	k.send(false, "227 Entering Passive Mode (10,0,0,1,156,64).\r\n")
	d.feed(false, d.sseq, event.FlagSYN|event.FlagACK, "")
	d.sseq++
	d.feed(true, d.cseq, event.FlagACK, "")
	if n := len(r.of(event.TypeDataOpen)); n != 1 {
		t.Fatalf("data.open = %d, want 1\n%s", n, r.dump())
	}
	if tr.Stats().HeldMatched != 1 {
		t.Errorf("HeldMatched = %d", tr.Stats().HeldMatched)
	}
}

func TestActiveUpload(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	k.send(true, "EPRT |1|10.0.0.2|40100|\r\n")
	k.send(false, "200 EPRT command successful.\r\n")
	k.send(true, "STOR up.bin\r\n")
	d := newConn(tr, clock, "10.0.0.1:20", "10.0.0.2:40100", 7000, 9000)
	d.handshake()
	k.send(false, "150 Ok to send data.\r\n")
	// The client (the listening side) sends.
	for i := 0; i < 3; i++ {
		d.send(false, strings.Repeat("u", 500))
	}
	d.feed(false, d.sseq, event.FlagFIN|event.FlagACK, "")
	d.sseq++
	d.feed(true, d.cseq, event.FlagFIN|event.FlagACK, "")
	k.send(false, "226 Transfer complete.\r\n")
	ends := r.of(event.TypeTransferEnd)
	if len(ends) != 1 || ends[0].Bytes != 1500 || ends[0].Mode != event.ModeActive || ends[0].Direction != event.DirUpload || !ends[0].Complete {
		t.Fatalf("transfer.end = %+v\n%s", ends, r.dump())
	}
	ex := r.of(event.TypeDataExpect)
	if len(ex) != 1 || ex[0].Via != "EPRT" || ex[0].Endpoint.String() != "10.0.0.2:40100" {
		t.Errorf("data.expect = %+v", ex)
	}
}

func TestDataFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(d *conn)
		reason string
	}{
		{"refused", func(d *conn) { d.feed(false, 0, event.FlagRST|event.FlagACK, "") }, "refused"},
		{"timeout", func(d *conn) {}, "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, r, clock := newTracker(&Config{DataTimeout: 5 * time.Second})
			k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
			k.handshake()
			login(k)
			pasv(k)
			d := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:40000", 7000, 9000)
			d.feed(true, d.cseq, event.FlagSYN, "")
			tt.answer(d)
			tr.Advance(clock.Add(6 * time.Second))
			fails := r.of(event.TypeDataFail)
			if len(fails) != 1 || fails[0].Reason != tt.reason || fails[0].Endpoint.String() != "10.0.0.1:40000" || fails[0].Detail == "" {
				t.Fatalf("data.fail = %+v\n%s", fails, r.dump())
			}
			if n := len(r.of(event.TypeDataOpen)); n != 0 {
				t.Errorf("data.open = %d, want 0", n)
			}
		})
	}
}

func TestUnusedAndFlush(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	k.send(true, "PASV\r\n")
	k.send(false, "227 Entering Passive Mode (10,0,0,1,156,65).\r\n")
	tr.Flush(*clock)
	fails := r.of(event.TypeDataFail)
	if len(fails) != 2 || fails[0].Reason != "unused" || fails[1].Reason != "unused" {
		t.Fatalf("data.fail = %+v", fails)
	}
	ends := r.of(event.TypeSessionEnd)
	if len(ends) != 1 || ends[0].Reason != "shutdown" {
		t.Fatalf("session.end = %+v", ends)
	}
	if tr.OpenSessions() != 0 {
		t.Errorf("open sessions after flush: %d", tr.OpenSessions())
	}
}

func TestMidstreamAndIdle(t *testing.T) {
	tr, r, clock := newTracker(&Config{IdleTimeout: time.Minute})
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.send(true, "PWD\r\n")
	k.send(false, "257 \"/\"\r\n")
	st := r.of(event.TypeSessionStart)
	if len(st) != 1 || !st[0].Midstream || st[0].Client.String() != "10.0.0.2:40000" || st[0].ClientSide != event.SideA {
		t.Fatalf("session.start = %+v", st)
	}
	// A server segment first also finds the client.
	k2 := newConn(tr, clock, "10.0.0.3:40000", "10.0.0.1:21", 1000, 5000)
	k2.send(false, "200 ok\r\n")
	st = r.of(event.TypeSessionStart)
	if len(st) != 2 || st[1].Client.String() != "10.0.0.3:40000" || st[1].ClientSide != event.SideA {
		t.Fatalf("session.start = %+v", st)
	}
	tr.Advance(clock.Add(2 * time.Minute))
	ends := r.of(event.TypeSessionEnd)
	if len(ends) != 2 || ends[0].Reason != "timeout" {
		t.Fatalf("session.end = %+v", ends)
	}
}

func TestReset(t *testing.T) {
	_, r, _, k := loggedIn(nil)
	k.feed(true, k.cseq, event.FlagRST, "")
	if e := r.of(event.TypeSessionEnd); len(e) != 1 || e[0].Reason != "reset" {
		t.Fatalf("session.end = %+v", e)
	}
}

func TestTLSGoesDark(t *testing.T) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.handshake()
	k.send(false, "220 ready\r\n")
	k.send(true, "AUTH TLS\r\n")
	k.send(false, "234 Proceed with negotiation.\r\n")
	k.send(true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 USER x\r\n")
	k.send(false, "\x16\x03\x03\x00\x7a\x02\r\n")
	d := pasvData(tr, clock)
	d.send(false, strings.Repeat("x", 100))
	d.close()
	if n := len(r.of(event.TypeTLS)); n != 1 {
		t.Fatalf("tls events = %d", n)
	}
	if n := len(r.of(event.TypeRequest)); n != 1 {
		t.Errorf("requests after TLS were parsed: %d\n%s", n, r.dump())
	}
	opens := r.of(event.TypeDataOpen)
	if len(opens) != 1 || opens[0].Mode != event.ModePassive {
		t.Errorf("data.open on a dark session = %+v", opens)
	}
	cl := r.of(event.TypeDataClose)
	if len(cl) != 1 || cl[0].Bytes != 100 {
		t.Errorf("data.close = %+v", cl)
	}
}

// natSession returns a tracker with one session from 203.0.113.7:40000 to
// a server behind a NAT, 198.51.100.1:21, past its login, where the server
// has announced its inside address, 192.168.1.10:40000, by PASV.
func natSession() (*Tracker, *rec, *time.Time) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "203.0.113.7:40000", "198.51.100.1:21", 1000, 5000)
	k.handshake()
	login(k)
	k.send(true, "PASV\r\n")
	k.send(false, "227 Entering Passive Mode (192,168,1,10,156,64).\r\n")
	return tr, r, clock
}

func TestNATAnnouncement(t *testing.T) {
	tr, r, clock := natSession()
	// The client tries the inside address: nothing answers.
	d := newConn(tr, clock, "203.0.113.7:40001", "192.168.1.10:40000", 7000, 9000)
	d.feed(true, d.cseq, event.FlagSYN, "")
	tr.Advance(clock.Add(time.Minute))
	alerts := r.of(event.TypeAlert)
	if len(alerts) != 1 || alerts[0].Kind != "nat_mismatch" {
		t.Fatalf("alerts = %+v", alerts)
	}
	fails := r.of(event.TypeDataFail)
	if len(fails) != 1 || fails[0].Reason != "timeout" || !strings.Contains(fails[0].Detail, "NAT") {
		t.Fatalf("data.fail = %+v", fails)
	}
}

func TestNATAltEndpoint(t *testing.T) {
	tr, r, clock := natSession()
	// A client that ignores the announced address connects to the
	// control address (as curl does by default).
	d := newConn(tr, clock, "203.0.113.7:40001", "198.51.100.1:40000", 7000, 9000)
	d.handshake()
	if n := len(r.of(event.TypeDataOpen)); n != 1 {
		t.Fatalf("data.open = %d\n%s", n, r.dump())
	}
}

func TestCaps(t *testing.T) {
	t.Run("sessions", func(t *testing.T) {
		// Past the cap, each new session ends the one idle longest
		// (TestEvictIdleLongest has the order).
		tr, r, clock := newTracker(&Config{MaxSessions: 2})
		for i := 0; i < 5; i++ {
			k := newConn(tr, clock, fmt.Sprintf("10.0.0.2:%d", 40000+i), "10.0.0.1:21", 1000, 5000)
			k.handshake()
		}
		if n := len(r.of(event.TypeSessionStart)); n != 5 {
			t.Errorf("sessions = %d, want 5", n)
		}
		if n := tr.OpenSessions(); n != 2 {
			t.Errorf("open sessions = %d, want 2", n)
		}
		if a := r.of(event.TypeAlert); len(a) != 1 || a[0].Kind != "too_many_sessions" {
			t.Errorf("alerts = %+v", a)
		}
		if st := tr.Stats(); st.CapHits != 3 || st.Evicted != 3 {
			t.Errorf("CapHits = %d, Evicted = %d, want 3 and 3", st.CapHits, st.Evicted)
		}
	})
	t.Run("line", func(t *testing.T) {
		tr, r, clock := newTracker(&Config{MaxLine: 64})
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.handshake()
		k.send(false, "220 ready\r\n")
		for i := 0; i < 10; i++ {
			k.send(true, strings.Repeat("A", 50))
		}
		k.send(true, "\r\nNOOP\r\n")
		reqs := r.of(event.TypeRequest)
		if len(reqs) != 2 || len(reqs[0].Command) > maxCommandLen || reqs[1].Command != "NOOP" {
			t.Errorf("requests = %+v", reqs)
		}
		if a := r.of(event.TypeAlert); len(a) == 0 || a[0].Kind != "line_too_long" {
			t.Errorf("alerts = %+v", a)
		}
	})
	t.Run("pending", func(t *testing.T) {
		tr, r, clock := newTracker(&Config{MaxPending: 4})
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.handshake()
		for i := 0; i < 10; i++ {
			k.send(true, "NOOP\r\n")
		}
		if len(tr.sessionAt(k.key()).pending) != 4 {
			t.Errorf("pending = %d", len(tr.sessionAt(k.key()).pending))
		}
		if a := r.of(event.TypeAlert); len(a) != 1 || a[0].Kind != "too_many_pending" {
			t.Errorf("alerts = %+v", a)
		}
	})
}

func (k *conn) key() connKey { return keyOf(k.c, k.s) }

func TestNonStandardPort(t *testing.T) {
	tr, r, clock := newTracker(&Config{ControlPorts: []uint16{2121}})
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:2121", 1000, 5000)
	k.handshake()
	login(k)
	k21 := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:21", 1000, 5000)
	k21.handshake()
	if n := len(r.of(event.TypeSessionStart)); n != 1 {
		t.Errorf("sessions = %d, want 1 (port 2121 only)", n)
	}
}

// TestLostCommand: a RETR missing from the capture (the server's replies
// acknowledge it), then more commands: the replies to the lost command
// answer a placeholder and the rest stay matched (cwd-navigation.pcap has
// this).
func TestLostCommand(t *testing.T) {
	_, r, _, k := loggedIn(nil)
	pasv(k)
	k.cseq += uint32(len("RETR f\r\n")) // lost
	k.send(false, "150 Opening BINARY mode data connection for f (3 bytes).\r\n")
	k.feed(true, k.cseq, event.FlagACK, "")
	k.send(false, "226 Transfer complete\r\n")
	k.send(true, "CWD ../\r\n")
	k.send(false, "250 CWD command successful\r\n")
	k.send(true, "PWD\r\n")
	k.send(false, "257 \"/\"\r\n")
	var got []string
	for _, e := range r.evs {
		if e.Type == event.TypeResponse && e.Code != 220 {
			got = append(got, fmt.Sprintf("%d:%s", e.Code, e.Command))
		}
	}
	want := "331:USER 230:PASS 227:PASV 150: 226: 250:CWD 257:PWD"
	if strings.Join(got, " ") != want {
		t.Errorf("responses: %s\nwant       %s\n%s", strings.Join(got, " "), want, r.dump())
	}
}

// TestCrossPortReorder: frames from the two tap ports reach the tracker
// slightly out of order, a reply before the command it answers.
func TestCrossPortReorder(t *testing.T) {
	tr, r, _, k := loggedIn(nil)
	cmd := "PWD\r\n"
	seq := k.cseq
	k.cseq += uint32(len(cmd))
	k.send(false, "257 \"/\"\r\n") // acknowledges PWD, which comes next
	k.feed(true, seq, event.FlagACK, cmd)
	k.send(true, "SYST\r\n")
	k.send(false, "215 UNIX\r\n")
	var got []string
	for _, e := range r.evs {
		if e.Type == event.TypeResponse && (e.Command == "PWD" || e.Command == "SYST") {
			got = append(got, fmt.Sprintf("%d:%s", e.Code, e.Command))
		}
	}
	if want := "257:PWD 215:SYST"; strings.Join(got, " ") != want {
		t.Errorf("responses %v, want %s\n%s", got, want, r.dump())
	}
	if tr.Stats().Gaps != 0 {
		t.Errorf("gaps = %d, want 0", tr.Stats().Gaps)
	}
}

// TestIdleWithOpenData: a session whose data connection is open is not
// idle, even when no segment shows for longer than the idle timeout (a
// live tap's filter passes few data segments).
func TestIdleWithOpenData(t *testing.T) {
	tr, r, clock, k := loggedIn(&Config{IdleTimeout: time.Minute})
	pasv(k)
	d := pasvData(tr, clock)
	k.send(true, "RETR big\r\n")
	k.send(false, "150 go\r\n")
	tr.Advance(clock.Add(10 * time.Minute))
	if n := len(r.of(event.TypeSessionEnd)); n != 0 {
		t.Fatalf("session ended while its data connection is open")
	}
	// A twin session whose data connection's end is never seen still
	// ends, after maxIdleWithData.
	tr2, r2, clock2, k2 := loggedIn(&Config{IdleTimeout: time.Minute})
	pasv(k2)
	d2 := newConn(tr2, clock2, "10.0.0.2:40001", "10.0.0.1:40000", 7000, 9000)
	d2.handshake()
	tr2.Advance(clock2.Add(maxIdleWithData - time.Minute))
	if n := len(r2.of(event.TypeSessionEnd)); n != 0 {
		t.Fatal("session ended before maxIdleWithData")
	}
	tr2.Advance(clock2.Add(maxIdleWithData + time.Second))
	if e := r2.of(event.TypeSessionEnd); len(e) != 1 || e[0].Reason != "timeout" {
		t.Fatalf("session.end = %+v", e)
	}
	*clock = clock.Add(10 * time.Minute)
	d.sseq += 5 << 20 // five MiB the filter did not pass
	d.close()
	k.send(false, "226 done\r\n")
	ends := r.of(event.TypeTransferEnd)
	if len(ends) != 1 || ends[0].Bytes != 5<<20 || ends[0].DurationMS < 10*60*1000 {
		t.Fatalf("transfer.end = %+v", ends)
	}
	tr.Advance(clock.Add(2 * time.Minute))
	if e := r.of(event.TypeSessionEnd); len(e) != 1 || e[0].Reason != "timeout" {
		t.Fatalf("session.end = %+v", e)
	}
}

// TestDetectOtherPort: FTP on a port that is not configured is found by
// its content; SMTP, which greets with 220 too, is not.
func TestDetectOtherPort(t *testing.T) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:2121", 1000, 5000)
	k.handshake()
	k.send(false, "220-Welcome\r\n220 FTP on 2121\r\n")
	k.send(true, "USER anonymous\r\n")
	k.send(false, "230 ok\r\n")
	m := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:25", 1000, 5000)
	m.handshake()
	m.send(false, "220 mail.example.com ESMTP\r\n")
	m.send(true, "EHLO me\r\n")
	m.send(false, "250 hello\r\n")
	st := r.of(event.TypeSessionStart)
	if len(st) != 1 || st[0].Server.String() != "10.0.0.1:2121" || st[0].Midstream {
		t.Fatalf("session.start = %+v\n%s", st, r.dump())
	}
	var got []string
	for _, e := range r.evs {
		switch e.Type {
		case event.TypeRequest:
			got = append(got, "> "+e.Command)
		case event.TypeResponse:
			got = append(got, fmt.Sprintf("< %d %s [%s]", e.Code, e.Text, e.Command))
		case event.TypeLogin:
			got = append(got, "login")
		}
	}
	want := "< 220 Welcome\nFTP on 2121 []|> USER|< 230 ok [USER]|login"
	if strings.Join(got, "|") != want {
		t.Errorf("events %q, want %q", strings.Join(got, "|"), want)
	}
	if a := r.of(event.TypeAlert); len(a) != 1 || a[0].Kind != "ftp_other_port" {
		t.Errorf("alerts = %+v", a)
	}
	tr2, r2, clock2 := newTracker(&Config{NoDetect: true})
	k2 := newConn(tr2, clock2, "10.0.0.2:40000", "10.0.0.1:2121", 1000, 5000)
	k2.handshake()
	k2.send(false, "220 FTP\r\n")
	k2.send(true, "USER anonymous\r\n")
	if len(r2.evs) != 0 {
		t.Errorf("NoDetect: %d events", len(r2.evs))
	}
}

// TestHeldSYNACK: on a live tap the SYN-ACK (through one port) can reach
// the tracker before the SYN it answers (through the other), the
// announcement long since read. Under the FTP kernel filter the next
// server segment is its FIN, so without the SYN-ACK the byte count would
// start there. Both orders of SYN-ACK and 227 are covered.
func TestHeldSYNACK(t *testing.T) {
	for _, late227 := range []bool{false, true} {
		t.Run(fmt.Sprintf("late227=%v", late227), func(t *testing.T) {
			tr, r, clock, k := loggedIn(nil)
			k.send(true, "PASV\r\n")
			if !late227 {
				k.send(false, "227 Entering Passive Mode (10,0,0,1,156,64).\r\n")
			}
			d := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:40000", 7000, 9000)
			// The SYN, captured first on port A, is handed over after
			// the SYN-ACK of port B.
			syn := clock.Add(time.Millisecond)
			*clock = syn.Add(time.Millisecond)
			d.feed(false, d.sseq, event.FlagSYN|event.FlagACK, "")
			d.sseq++
			d.feedAt(syn, true, d.cseq, event.FlagSYN, "")
			d.cseq++
			if late227 {
				k.send(false, "227 Entering Passive Mode (10,0,0,1,156,64).\r\n")
			}
			d.feed(true, d.cseq, event.FlagACK, "")
			k.send(true, "RETR f.bin\r\n")
			k.send(false, "150 Opening BINARY mode data connection for f.bin (3000 bytes).\r\n")
			// The kernel filter keeps the bulk out: only the last
			// segment, with the FIN, comes.
			d.sseq += 2000
			d.feed(false, d.sseq, event.FlagFIN|event.FlagACK, strings.Repeat("z", 1000))
			d.sseq += 1001
			d.feed(true, d.cseq, event.FlagFIN|event.FlagACK, "")
			k.send(false, "226 Transfer complete.\r\n")
			if n := len(r.of(event.TypeDataOpen)); n != 1 {
				t.Fatalf("data.open = %d, want 1\n%s", n, r.dump())
			}
			ends := r.of(event.TypeTransferEnd)
			if len(ends) != 1 || ends[0].Bytes != 3000 {
				t.Fatalf("transfer.end = %+v, want 3000 bytes\n%s", ends, r.dump())
			}
		})
	}
}

// TestHeldRST: a refusal (the server's RST) reaching the tracker before
// the SYN it answers still fails the connection as refused.
func TestHeldRST(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	d := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:40000", 7000, 9000)
	syn := clock.Add(time.Millisecond)
	*clock = syn.Add(time.Millisecond)
	d.feed(false, 0, event.FlagRST|event.FlagACK, "")
	d.feedAt(syn, true, d.cseq, event.FlagSYN, "")
	fails := r.of(event.TypeDataFail)
	if len(fails) != 1 || fails[0].Reason != "refused" {
		t.Fatalf("data.fail = %+v, want one refused\n%s", fails, r.dump())
	}
}

// TestHeldRSTOlder: a reset held from before a SYN of the same ports (the
// end of an earlier connection) does not fail the new one.
func TestHeldRSTOlder(t *testing.T) {
	tr, r, clock, k := loggedIn(nil)
	pasv(k)
	d := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:40000", 7000, 9000)
	d.feed(false, 0, event.FlagRST|event.FlagACK, "")
	*clock = clock.Add(500 * time.Millisecond)
	d.handshake()
	if n := len(r.of(event.TypeDataFail)); n != 0 {
		t.Fatalf("data.fail = %d, want 0\n%s", n, r.dump())
	}
	if n := len(r.of(event.TypeDataOpen)); n != 1 {
		t.Fatalf("data.open = %d, want 1\n%s", n, r.dump())
	}
}
