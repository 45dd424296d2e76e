package ftpstate

import (
	"net/netip"
	"time"

	"github.com/ftptap/ftptap/event"
)

// Finding FTP on ports that are not control ports, by content, as Zeek's
// dynamic protocol detection and Suricata's app-layer probing do: a server
// segment that opens with a 220 greeting makes its connection a candidate;
// a client segment on that connection that starts with a command only FTP
// clients send first (USER, AUTH, FEAT, SYST, OPTS, HOST) confirms it, and
// the session starts with the greeting. An SMTP server greets with 220 too,
// but its clients say EHLO or HELO. Candidates live in a small fixed ring,
// so looking costs no allocation.

const (
	detectSlots  = 64
	detectWindow = 30 * time.Second
	greetMax     = 512
)

type greeting struct {
	time           time.Time
	server, client netip.AddrPort
	seq, ack       uint32
	side           event.Side
	n              int
	text           [greetMax]byte
}

// looksLikeGreeting: "220 " or "220-" at the start of a segment.
func looksLikeGreeting(b []byte) bool {
	return len(b) >= 5 && b[0] == '2' && b[1] == '2' && b[2] == '0' && (b[3] == ' ' || b[3] == '-')
}

// looksLikeFirstCommand: a command an FTP client sends after the greeting.
func looksLikeFirstCommand(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	var w [4]byte
	for i := range w {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		w[i] = c
	}
	end := b[4] == ' ' || b[4] == '\r' || b[4] == '\n'
	switch string(w[:]) {
	case "USER", "AUTH", "OPTS", "HOST":
		return b[4] == ' '
	case "FEAT", "SYST":
		return end
	}
	return false
}

// detect looks at a segment with data of a connection nobody tracks.
func (t *Tracker) detect(k connKey, p *event.Packet) {
	pl := p.Payload
	switch {
	case looksLikeGreeting(pl):
		g := &t.greets[t.greetN%detectSlots]
		t.greetN++
		g.time, g.server, g.client, g.seq, g.ack, g.side = p.Time, p.Src, p.Dst, p.Seq, p.Ack, p.Side
		g.n = copy(g.text[:], pl)
	case looksLikeFirstCommand(pl):
		for i := range t.greets {
			g := &t.greets[i]
			if g.server != p.Dst || g.client != p.Src || p.Time.Sub(g.time) > detectWindow || g.n == 0 {
				continue
			}
			greet := event.Packet{Time: g.time, Side: g.side, Src: g.server, Dst: g.client, Seq: g.seq, Ack: g.ack, Flags: event.FlagACK | event.FlagPSH, Payload: g.text[:g.n]}
			g.n = 0
			g.server, g.client = netip.AddrPort{}, netip.AddrPort{}
			t.startDetected(k, &greet, p)
			return
		}
	}
}

// startDetected starts a session found by content: the greeting first,
// then the client's command.
func (t *Tracker) startDetected(k connKey, greet, cmd *event.Packet) {
	s := t.newSession(k, cmd.Src, cmd.Dst, cmd.Side, greet.Time, false)
	if s == nil {
		return
	}
	s.dir[1].start(greet.Seq)
	s.dir[0].start(cmd.Seq)
	t.alert(s, "ftp_other_port", "FTP found by its content on port %d, not a configured control port (control_ports)", s.server.Port())
	t.controlPacket(s, greet)
	t.controlPacket(s, cmd)
}
