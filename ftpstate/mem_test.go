package ftpstate_test

import (
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
)

var memSessions = flag.Int("mem.sessions", 2000, "sessions BenchmarkOpenSessions opens (make bench: 100000)")

// idleFeeder feeds a tracker the packets of sessions that log in and stay
// open, each optionally with an open passive data connection, as the
// lab's servers would send them.
type idleFeeder struct {
	t   *ftpstate.Tracker
	now time.Time
	pkt event.Packet
}

func (f *idleFeeder) send(src, dst netip.AddrPort, seq, ack uint32, flags event.Flags, payload string) uint32 {
	f.now = f.now.Add(10 * time.Microsecond)
	f.pkt = event.Packet{Time: f.now, Src: src, Dst: dst, Seq: seq, Ack: ack, Flags: flags}
	if payload != "" {
		f.pkt.Payload = []byte(payload)
	}
	f.t.Feed(&f.pkt)
	n := uint32(len(payload))
	if flags.Has(event.FlagSYN) || flags.Has(event.FlagFIN) {
		n++
	}
	return n
}

// What a session of BenchmarkOpenSessions does after its login.
const (
	loginOnly = iota // nothing more
	announced        // EPSV, 229, RETR, 150: a transfer with no data connection (yet)
	connected        // the same with the data connection set up
)

// session opens session i: handshake, greeting, login, and then what mode
// says.
func (f *idleFeeder) session(i int, mode int) {
	n := i + 1
	c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), uint16(1024+i%60000))
	s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 21}), 21)
	cs, ss := uint32(i)*7919, uint32(i)*104729
	ack, psh := event.FlagACK, event.FlagPSH|event.FlagACK
	cs += f.send(c, s, cs, 0, event.FlagSYN, "")
	ss += f.send(s, c, ss, cs, event.FlagSYN|ack, "")
	f.send(c, s, cs, ss, ack, "")
	say := func(client bool, line string) {
		if client {
			cs += f.send(c, s, cs, ss, psh, line+"\r\n")
		} else {
			ss += f.send(s, c, ss, cs, psh, line+"\r\n")
		}
	}
	say(false, "220 ready")
	say(true, "USER anonymous")
	say(false, "331 Please specify the password.")
	say(true, "PASS guest@example.com")
	say(false, "230 Login successful.")
	if mode == loginOnly {
		return
	}
	port := uint16(40000 + i%20000)
	say(true, "EPSV")
	say(false, "229 Entering Extended Passive Mode (|||"+strconv.Itoa(int(port))+"|)")
	if mode == connected {
		dc := netip.AddrPortFrom(c.Addr(), uint16(50000+i%10000))
		ds := netip.AddrPortFrom(s.Addr(), port)
		dcs, dss := uint32(i)*31, uint32(i)*37
		dcs += f.send(dc, ds, dcs, 0, event.FlagSYN, "")
		dss += f.send(ds, dc, dss, dcs, event.FlagSYN|ack, "")
		f.send(dc, ds, dcs, dss, ack, "")
	}
	say(true, "RETR pub/slow.bin")
	say(false, "150 Opening BINARY mode data connection.")
}

// rss returns the resident set of the process, in bytes (Linux; 0
// elsewhere).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// settled returns the live heap and the resident set after a collection
// that gives freed memory back to the system.
func settled() (heap, res int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc), rss()
}

// openSessions opens n sessions in a new tracker and returns the heap and
// RSS they added, and the tracker's own estimate (Tracker.Bytes), per
// session. The tracker is kept alive until the figures are taken.
func openSessions(tb testing.TB, n int, mode int) (heap, res, est float64) {
	tb.Helper()
	cfg := &ftpstate.Config{MaxSessions: n + 1, MaxDataConns: n + 1, MaxBytes: math.MaxInt, IdleTimeout: time.Hour, DataTimeout: time.Hour}
	events := 0
	h0, r0 := settled()
	f := &idleFeeder{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	f.t = ftpstate.New(cfg, func(*event.Event) { events++ })
	for i := range n {
		f.session(i, mode)
	}
	h1, r1 := settled()
	if got := f.t.OpenSessions(); got != n {
		tb.Fatalf("%d sessions open, want %d", got, n)
	}
	want := n * 5 // session.start, 2 logins' requests and responses... at least
	if events < want {
		tb.Fatalf("%d events, want at least %d", events, want)
	}
	runtime.KeepAlive(f.t)
	return float64(h1-h0) / float64(n), float64(r1-r0) / float64(n), float64(f.t.Bytes()) / float64(n)
}

// BenchmarkOpenSessions opens -mem.sessions idle command sessions (logged
// in, nothing more); then as many again each with a transfer announced
// (EPSV, RETR) but no data connection; then as many with the data
// connection set up. It reports the heap and the resident memory each
// costs: per idle session, per announced transfer (the second less the
// first) and per tracked data connection (the third less the second).
// Targets: 1 KB of RSS per idle session, 256 B per data connection. Beside
// them, the tracker's own estimate of each (Config.MaxBytes counts with
// it), which should stay at or above the heap measured.
//
//	go test -run='^$' -bench=OpenSessions ./ftpstate -mem.sessions=100000
func BenchmarkOpenSessions(b *testing.B) {
	n := *memSessions
	for range b.N {
		sh, sr, se := openSessions(b, n, loginOnly)
		ah, ar, ae := openSessions(b, n, announced)
		dh, dr, de := openSessions(b, n, connected)
		b.ReportMetric(sh, "heap-B/session")
		b.ReportMetric(sr, "rss-B/session")
		b.ReportMetric(ah-sh, "heap-B/transfer")
		b.ReportMetric(ar-sr, "rss-B/transfer")
		b.ReportMetric(dh-ah, "heap-B/dataconn")
		b.ReportMetric(dr-ar, "rss-B/dataconn")
		b.ReportMetric(se, "estimate-B/session")
		b.ReportMetric(ae-se, "estimate-B/transfer")
		b.ReportMetric(de-ae, "estimate-B/dataconn")
		b.ReportMetric(float64(n), "sessions")
		fmt.Fprintf(os.Stderr, "%d sessions: %.0f B heap, %.0f B RSS each; an announced transfer %.0f B heap, %.0f B RSS more; its data connection %.0f B heap, %.0f B RSS more\n",
			n, sh, sr, ah-sh, ar-sr, dh-ah, dr-ar)
		fmt.Fprintf(os.Stderr, "%d sessions: the tracker's estimate (MaxBytes): %.0f B each, %.0f B more per transfer, %.0f B more per data connection\n",
			n, se, ae-se, de-ae)
	}
}
