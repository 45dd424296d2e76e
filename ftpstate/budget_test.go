package ftpstate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

// ends returns the reason of each session.end, by session id.
func (r *rec) ends() map[uint64]string {
	m := map[uint64]string{}
	for _, e := range r.of(event.TypeSessionEnd) {
		m[e.Session] = e.Reason
	}
	return m
}

// TestHandshakeTimeout: a command channel whose SYN nothing answers ends
// HandshakeTimeout after that SYN, however often the client retransmits
// it; one the server answers, or whose client goes on (a capture of the
// client's side only), does not.
func TestHandshakeTimeout(t *testing.T) {
	t.Run("unanswered", func(t *testing.T) {
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		// Linux retransmits a SYN after 1, 3, 7, 15 and 31 s.
		for _, at := range []time.Duration{0, 1, 3, 7, 15} {
			k.feedAt(t0.Add(at*time.Second), true, 1000, event.FlagSYN, "")
		}
		tr.Advance(t0.Add(29 * time.Second))
		if n := len(r.of(event.TypeSessionEnd)); n != 0 {
			t.Fatalf("ended before the handshake timeout:\n%s", r.dump())
		}
		tr.Advance(t0.Add(31 * time.Second))
		end := r.of(event.TypeSessionEnd)
		if len(end) != 1 || end[0].Reason != "timeout" || end[0].Time.Before(t0.Add(30*time.Second)) {
			t.Fatalf("want one session.end, reason timeout, 30 s after the SYN:\n%s", r.dump())
		}
		if tr.OpenSessions() != 0 || tr.Bytes() != 0 {
			t.Errorf("open sessions %d, bytes %d after the end, want 0 and 0", tr.OpenSessions(), tr.Bytes())
		}
		// The retransmission after 31 s is a new attempt, as documented.
		k.feedAt(t0.Add(31*time.Second), true, 1000, event.FlagSYN, "")
		if n := len(r.of(event.TypeSessionStart)); n != 2 {
			t.Errorf("%d session.start, want 2:\n%s", n, r.dump())
		}
	})
	t.Run("next attempt on the same port", func(t *testing.T) {
		// The client gave up after 10 s (no answer) and its next
		// connection got the same port, with a new ISN: the server
		// answers that one. (Found in the lab's session storm.)
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.feedAt(t0, true, 1000, event.FlagSYN, "")
		k.feedAt(t0.Add(time.Second), true, 1000, event.FlagSYN, "")
		*clock = t0.Add(10 * time.Second)
		k.cseq = 777000
		k.handshake()
		login(k)
		ends := r.ends()
		if len(ends) != 1 || ends[1] != "timeout" || len(r.of(event.TypeLogin)) != 1 || r.of(event.TypeLogin)[0].Session != 2 {
			t.Fatalf("want the first attempt ended (timeout), the second logged in:\n%s", r.dump())
		}
	})
	t.Run("answered late", func(t *testing.T) {
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.feedAt(t0, true, 1000, event.FlagSYN, "")
		*clock = t0.Add(20 * time.Second) // the server's listen queue had room only now
		k.cseq++
		k.feed(false, k.sseq, event.FlagSYN|event.FlagACK, "")
		k.sseq++
		k.feed(true, k.cseq, event.FlagACK, "")
		tr.Advance(t0.Add(40 * time.Second))
		login(k)
		if n := len(r.of(event.TypeSessionEnd)); n != 0 || len(r.of(event.TypeLogin)) != 1 {
			t.Fatalf("want the session open, logged in:\n%s", r.dump())
		}
	})
	t.Run("client side only", func(t *testing.T) {
		// A tap that sees one direction (asymmetric routing): the
		// client's ACK and commands show the handshake went on.
		tr, r, clock := newTracker(nil)
		k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
		k.feed(true, k.cseq, event.FlagSYN, "")
		k.cseq++
		k.feed(true, k.cseq, event.FlagACK, "")
		k.send(true, "USER anonymous\r\n")
		tr.Advance(t0.Add(40 * time.Second))
		if n := len(r.of(event.TypeSessionEnd)); n != 0 {
			t.Fatalf("want the session open:\n%s", r.dump())
		}
	})
}

// TestRetransmittedFINIsNotActivity: a FIN the server never acknowledges
// (its side of the connection was never set up: a full listen queue) is
// retransmitted for minutes; the session ends 60 s after the first one, not
// 60 s after the last retransmission.
func TestRetransmittedFINIsNotActivity(t *testing.T) {
	tr, r, clock := newTracker(nil)
	k := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	k.handshake()
	fin := clock.Add(10 * time.Second) // the client gave up waiting for the greeting
	// Linux's retransmissions: 0.2 s, then twice as long each time.
	next, rto := time.Duration(0), 200*time.Millisecond
	for at := time.Duration(0); at < 110*time.Second; at += 100 * time.Millisecond {
		if at >= next {
			k.feedAt(fin.Add(at), true, k.cseq, event.FlagFIN|event.FlagACK, "")
			next, rto = next+rto, 2*rto
		}
		tr.Advance(fin.Add(at))
	}
	end := r.of(event.TypeSessionEnd)
	if len(end) != 1 || end[0].Reason != "close" {
		t.Fatalf("want one session.end, reason close:\n%s", r.dump())
	}
	if got := end[0].Time.Sub(fin); got < halfCloseQuiet || got > halfCloseQuiet+time.Second {
		t.Errorf("ended %v after the first FIN, want %v", got, halfCloseQuiet)
	}
}

// TestEvictIdleLongest: at the session cap, a new session ends the one idle
// longest, among those that have carried no command or reply first; the
// evicted session's next command starts a session again (caught mid-way),
// so nothing it says later is lost.
func TestEvictIdleLongest(t *testing.T) {
	tr, r, clock := newTracker(&Config{MaxSessions: 2})
	a := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	a.handshake()
	login(a)
	b := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:21", 1000, 5000)
	b.handshake()
	login(b)
	*clock = clock.Add(time.Minute)
	a.send(true, "NOOP\r\n") // a is active again: b is idle longest
	a.send(false, "200 ok\r\n")
	c := newConn(tr, clock, "10.0.0.2:40002", "10.0.0.1:21", 1000, 5000)
	c.feed(true, c.cseq, event.FlagSYN, "") // one over the cap: b goes
	d := newConn(tr, clock, "10.0.0.2:40003", "10.0.0.1:21", 1000, 5000)
	d.feed(true, d.cseq, event.FlagSYN, "") // c has said nothing: c goes, though a is older
	got := r.ends()
	if len(got) != 2 || got[2] != "evicted" || got[3] != "evicted" {
		t.Fatalf("ends = %v, want sessions 2 and 3 evicted:\n%s", got, r.dump())
	}
	if st := tr.Stats(); st.Evicted != 2 {
		t.Errorf("Evicted = %d, want 2", st.Evicted)
	}
	if a := r.of(event.TypeAlert); len(a) != 1 || a[0].Kind != "too_many_sessions" || !strings.Contains(a[0].Detail, "evicted") {
		t.Errorf("alerts = %+v, want one too_many_sessions", a)
	}
	// b speaks again: a session caught mid-way (and a, idle longest, goes).
	b.send(true, "PWD\r\n")
	starts := r.of(event.TypeSessionStart)
	last := starts[len(starts)-1]
	if !last.Midstream || last.Client != b.c {
		t.Fatalf("want b tracked again, mid-way:\n%s", r.dump())
	}
	if reqs := r.of(event.TypeRequest); reqs[len(reqs)-1].Command != "PWD" || reqs[len(reqs)-1].Session != last.Session {
		t.Errorf("b's PWD not reported in its new session:\n%s", r.dump())
	}
	tr.mustBudget()
	tr.Flush(clock.Add(time.Second))
	tr.mustBudget()
	if s, e := len(r.of(event.TypeSessionStart)), len(r.of(event.TypeSessionEnd)); s != e {
		t.Errorf("%d starts, %d ends", s, e)
	}
}

// TestMemoryBudget: sessions that each buffer out-of-order bytes (within
// their own caps) take the tracker over MaxBytes; it evicts the sessions
// idle longest to stay within it, and says so once.
func TestMemoryBudget(t *testing.T) {
	const budget = MinMaxBytes
	tr, r, clock := newTracker(&Config{MaxBytes: budget})
	const n = 400
	for i := range n {
		k := newConn(tr, clock, fmt.Sprintf("10.0.%d.%d:40000", i/200, i%200+2), "10.0.0.1:21", 1000, 5000)
		k.handshake()
		login(k)
		// 4 KB that come after a segment missing from the capture (so far).
		k.feed(true, k.cseq+100, event.FlagACK|event.FlagPSH, strings.Repeat("x", 4000))
		if b := tr.Bytes(); b > budget {
			t.Fatalf("session %d: %d bytes held, budget %d", i, b, budget)
		}
		tr.mustBudget()
	}
	st := tr.Stats()
	held := tr.OpenSessions()
	if st.Evicted == 0 || int(st.Evicted)+held != n {
		t.Fatalf("%d evicted, %d held, of %d", st.Evicted, held, n)
	}
	// Each session is idle longer than the next: the first ones go.
	ends := r.ends()
	for id := uint64(1); id <= st.Evicted; id++ {
		if ends[id] != "evicted" {
			t.Fatalf("session %d: end %q, want evicted (the first %d go first)", id, ends[id], st.Evicted)
		}
	}
	var alerts int
	for _, a := range r.of(event.TypeAlert) {
		if a.Kind == MemoryBudgetAlert {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d memory_budget alerts, want 1 (once a minute)", alerts)
	}
	// 4 KB of out-of-order bytes and about 1 KB of the session's own.
	if per := budget / held; per < 4000 || per > 8000 {
		t.Errorf("%d sessions held in %d bytes: %d each, want about 5,000", held, budget, per)
	}
	tr.Flush(clock.Add(time.Second))
	if b, table := tr.Bytes(), len(tr.evicted)*evictedBytes; b != table || table > budget/16 {
		t.Errorf("%d bytes held after Flush, want %d (the table of evicted sessions, at most a sixteenth of the budget)", b, table)
	}
}

// TestValidateMaxBytes: a budget too small for one session's buffers is
// refused; 0 is the default.
func TestValidateMaxBytes(t *testing.T) {
	if err := (&Config{MaxBytes: MinMaxBytes - 1}).Validate(); err == nil || !strings.Contains(err.Error(), "max bytes") {
		t.Errorf("Validate = %v", err)
	}
	if err := (&Config{MaxBytes: 0}).Validate(); err != nil {
		t.Errorf("Validate(0) = %v", err)
	}
	if d := Defaults(); d.MaxBytes != DefaultMaxBytes || d.MaxSessions != DefaultMaxSessions || d.HandshakeTimeout != 30*time.Second {
		t.Errorf("Defaults = %+v", d)
	}
}

// TestEvictedRetransmissions: the SYN or FIN that an evicted session's
// client retransmits starts no session (in a storm each would evict
// another); a new connection on the same ports, or data, does.
func TestEvictedRetransmissions(t *testing.T) {
	tr, r, clock := newTracker(&Config{MaxSessions: 1})
	a := newConn(tr, clock, "10.0.0.2:40000", "10.0.0.1:21", 1000, 5000)
	a.feed(true, 1000, event.FlagSYN, "")
	b := newConn(tr, clock, "10.0.0.2:40001", "10.0.0.1:21", 3000, 7000)
	b.feed(true, 3000, event.FlagSYN, "") // a is evicted
	*clock = clock.Add(time.Second)
	a.feed(true, 1000, event.FlagSYN, "")               // a's retransmission
	a.feed(true, 1001, event.FlagFIN|event.FlagACK, "") // a gave up
	if n, e := len(r.of(event.TypeSessionStart)), tr.Stats().Evicted; n != 2 || e != 1 {
		t.Fatalf("%d session.start, %d evicted; want 2 and 1:\n%s", n, e, r.dump())
	}
	a.feed(true, 900000, event.FlagSYN, "") // a new connection on a's ports: b goes
	if n, e := len(r.of(event.TypeSessionStart)), tr.Stats().Evicted; n != 3 || e != 2 {
		t.Fatalf("%d session.start, %d evicted; want 3 and 2:\n%s", n, e, r.dump())
	}
	b.feed(false, 7001, event.FlagACK|event.FlagPSH, "220 late greeting\r\n") // data: b is back
	starts := r.of(event.TypeSessionStart)
	if len(starts) != 4 || !starts[3].Midstream || len(r.of(event.TypeResponse)) != 1 {
		t.Fatalf("want b caught mid-way with its greeting:\n%s", r.dump())
	}
	// b's return evicted a's new connection. Its SYN again within two
	// minutes is a retransmission; after them, it is taken for a start.
	a.feed(true, 900000, event.FlagSYN, "")
	if n := len(r.of(event.TypeSessionStart)); n != 4 {
		t.Fatalf("%d session.start, want 4:\n%s", n, r.dump())
	}
	*clock = clock.Add(3 * time.Minute)
	a.feed(true, 900000, event.FlagSYN, "")
	if n := len(r.of(event.TypeSessionStart)); n != 5 {
		t.Errorf("%d session.start, want 5:\n%s", n, r.dump())
	}
}

// mustBudget panics unless the eviction lists hold every live session once
// and the bytes counted are the sum of what each was counted for (the
// fuzz targets call it after every segment).
func (t *Tracker) mustBudget() {
	n, sum := 0, 0
	for tier := range t.lru {
		var prev *session
		for s := t.lru[tier].head; s != nil; s = s.lruNext {
			if s.ended || !s.linked || int(s.tier) != tier || s.lruPrev != prev {
				panic(fmt.Sprintf("session %d on list %d: ended %v, linked %v, tier %d", s.id, tier, s.ended, s.linked, s.tier))
			}
			n++
			sum += s.counted
			prev = s
		}
		if t.lru[tier].tail != prev {
			panic(fmt.Sprintf("list %d: tail is not the last session", tier))
		}
	}
	if n != t.nSessions || sum != t.sessBytes {
		panic(fmt.Sprintf("%d sessions on the lists, %d tracked; %d bytes counted, %d summed", n, t.nSessions, t.sessBytes, sum))
	}
}
