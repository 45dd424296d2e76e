package ftpstate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
)

// TestStrArenaKeepsStrings checks that the strings cut from the arena's
// blocks keep their text while later ones fill the same block and the
// next, and that the bytes they came from may be reused at once.
func TestStrArenaKeepsStrings(t *testing.T) {
	var a strArena
	var got, want []string
	buf := make([]byte, 0, 2*strMax)
	for i := range 3000 {
		buf = fmt.Appendf(buf[:0], "arg-%d-%s", i, strings.Repeat("x", i%(strMax+40)))
		want = append(want, string(buf))
		if i%3 == 0 {
			got = append(got, a.upper(buf))
			want[i] = strings.ToUpper(want[i])
		} else {
			got = append(got, a.str(buf))
		}
		clear(buf) // the caller's bytes are not the string's
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d = %q, want %q", i, got[i], want[i])
		}
	}
	if s := a.str(nil); s != "" {
		t.Errorf("str(nil) = %q", s)
	}
}

// TestRequestResponseText checks that the text of request and response
// events stays theirs across thousands of events, the tracker cutting it
// from shared blocks, and that the tracker keeps copies of what outlives
// the event: the user, a transfer's file, a password it must hide in a
// reply, the command of an unknown verb still waiting for its reply.
func TestRequestResponseText(t *testing.T) {
	tr, r, _, k := loggedIn(nil)
	_ = tr
	const n = 2000
	for i := range n {
		k.send(true, fmt.Sprintf("cwd /dir-%d\r\n", i))
		k.send(false, fmt.Sprintf("250 Directory %d changed.\r\n", i))
	}
	k.send(true, "xfoo bar\r\n")
	for i := range 50 {
		k.send(true, fmt.Sprintf("NOOP %d\r\n", i))
	}
	for i := range 51 {
		k.send(false, fmt.Sprintf("200 ok %d\r\n", i))
	}
	k.close()
	reqs, resps := r.of(event.TypeRequest), r.of(event.TypeResponse)
	for i := range n {
		q, p := reqs[2+i], resps[3+i] // after USER, PASS; after 220, 331, 230
		if q.Command != "CWD" || q.Arg != fmt.Sprintf("/dir-%d", i) {
			t.Fatalf("request %d: %q %q", i, q.Command, q.Arg)
		}
		if p.Code != 250 || p.Text != fmt.Sprintf("Directory %d changed.", i) || p.Command != "CWD" {
			t.Fatalf("response %d: %d %q to %q", i, p.Code, p.Text, p.Command)
		}
	}
	if p := resps[3+n]; p.Command != "XFOO" || p.Text != "ok 0" {
		t.Errorf("reply to the unknown verb: %q %q", p.Command, p.Text)
	}
	if l := r.of(event.TypeLogin); len(l) != 1 || l[0].User != "anonymous" {
		t.Errorf("login events %+v", l)
	}
}

// TestRequestResponseAllocs checks that a request and its response cost
// the tracker no allocation of their own once it runs: their text comes
// from shared blocks.
func TestRequestResponseAllocs(t *testing.T) {
	tr, r, _, k := loggedIn(nil)
	_ = tr
	r.evs = nil
	cmd := []byte("SIZE file.bin\r\n")
	reply := []byte("213 1048576\r\n")
	emit := func(*event.Event) {}
	tr.emit = emit
	pkt := new(event.Packet)
	send := func(fromClient bool, data []byte) {
		*k.clock = k.clock.Add(time.Millisecond)
		*pkt = event.Packet{Time: *k.clock, Flags: event.FlagACK | event.FlagPSH, Payload: data}
		if fromClient {
			pkt.Src, pkt.Dst, pkt.Seq, pkt.Ack, pkt.Side = k.c, k.s, k.cseq, k.sseq, event.SideA
			k.cseq += uint32(len(data))
		} else {
			pkt.Src, pkt.Dst, pkt.Seq, pkt.Ack, pkt.Side = k.s, k.c, k.sseq, k.cseq, event.SideB
			k.sseq += uint32(len(data))
		}
		tr.Feed(pkt)
	}
	allocs := testing.AllocsPerRun(2000, func() {
		send(true, cmd)
		send(false, reply)
	})
	// One 4 KiB block serves about a hundred requests and replies.
	if allocs > 0.05 {
		t.Errorf("a request and its response allocate %.3f times, want at most 0.05", allocs)
	}
}
