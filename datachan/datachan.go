// Package datachan keeps a live tap's kernel filter passing the data
// connections FTP sessions announce, whole, and nothing else: carving and
// saving the traffic need their bytes, which the default kernel filter
// (tap.FilterFTP) keeps out of user space.
//
// Two paths feed one endpoint table. The pipeline's events (Table is a
// sink) add an endpoint at its data.expect, or at its data.open for a
// connection found without one, and drop it when its connection closes or
// fails, or its session ends. But the capture ring hands frames over in
// blocks, milliseconds late, and a data connection in a LAN can open and
// finish within one millisecond of its announcement. So Watch also reads
// the command channels as they cross (tap.ControlSource, plain packet
// sockets), parses PORT, EPRT, and the 227 and 229 replies to PASV and EPSV
// there (RFC 959, RFC 2428), and adds their endpoints at once: the filter
// then passes the connection from its first segment. An endpoint added that
// way and never confirmed by the pipeline gives way to newer ones, oldest
// first, at tap.MaxDataEndpoints.
package datachan

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/decode"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/pipeline"
)

// MaxEndpoints and MaxPairs bound the table (tap.MaxDataEndpoints and
// tap.MaxHostPairs: what the kernel filter takes).
const (
	MaxEndpoints = 96
	MaxPairs     = 24
)

// maxEnded bounds the command channels remembered as ended (see
// Table.ended).
const maxEnded = 64

// Table is the endpoint table and the pipeline sink that maintains it.
type Table struct {
	set  func(eps []netip.AddrPort, pairs [][2]netip.Addr) error
	logf func(format string, args ...any)

	mu    sync.Mutex // guards the fields below
	eps   []entry    // oldest first
	pairs []pair     // oldest first
	// ended are command channels (client, server) whose session.end the
	// pipeline has passed, newest last. Watch can lag behind the
	// pipeline when the process is not scheduled for a while; a segment
	// of such a channel read late must not bring back a pair that
	// nothing would remove.
	ended []connKey
	err   bool // an error was reported
	buf   []netip.AddrPort
	pbuf  [][2]netip.Addr
}

// pair is the two hosts of command channels, with the sessions between
// them that the pipeline knows and the command connections Watch saw open
// that the pipeline may not know yet: the pipeline reads its frames
// milliseconds later, so the end of one session can come from it after
// the next one between the same hosts has opened, and the pair must stay
// for that one.
type pair struct {
	a, b     netip.Addr // a < b
	sessions int
	open     []connKey // oldest first, at most maxOpen
}

// maxOpen bounds the command connections a pair keeps open from Watch
// alone (a SYN whose session the pipeline never reports, say after a
// kernel drop, gives way to newer ones).
const maxOpen = 64

// connKey is a command connection, its endpoints in a fixed order.
type connKey struct{ x, y netip.AddrPort }

func connOf(x, y netip.AddrPort) connKey {
	x = netip.AddrPortFrom(x.Addr().Unmap(), x.Port())
	y = netip.AddrPortFrom(y.Addr().Unmap(), y.Port())
	if y.Addr().Less(x.Addr()) || y.Addr() == x.Addr() && y.Port() < x.Port() {
		x, y = y, x
	}
	return connKey{x, y}
}

func pairOf(x, y netip.Addr) pair {
	x, y = x.Unmap(), y.Unmap()
	if y.Less(x) {
		x, y = y, x
	}
	return pair{a: x, b: y}
}

type entry struct {
	ep      netip.AddrPort
	session uint64 // 0: seen by Watch, not yet by the pipeline
}

// New returns a table; set gives the kernel filter its endpoints and host
// pairs (tap.LiveSource.SetDataFilter, once capture is open). logf, when not nil, reports
// the first failure to replace the filter.
func New(set func(eps []netip.AddrPort, pairs [][2]netip.Addr) error, logf func(format string, args ...any)) *Table {
	return &Table{set: set, logf: logf}
}

// Endpoints returns the endpoints the filter passes now.
func (t *Table) Endpoints() []netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]netip.AddrPort, len(t.eps))
	for i, e := range t.eps {
		out[i] = e.ep
	}
	return out
}

// Event follows the data channels' announcements and ends.
func (t *Table) Event(ev *event.Event, _ []byte) {
	if ev.Proto != event.ProtoFTP {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	switch ev.Type {
	case event.TypeDataExpect:
		changed = t.addLocked(ev.Endpoint, ev.Session)
	case event.TypeDataOpen:
		changed = t.addLocked(ev.To, ev.Session)
	case event.TypeDataClose, event.TypeDataFail:
		changed = t.removeLocked(func(e entry) bool { return e.ep == ev.Endpoint || e.ep == ev.To })
	case event.TypeSessionStart:
		k := connOf(ev.Client, ev.Server)
		t.ended = slices.DeleteFunc(t.ended, func(c connKey) bool { return c == k })
		changed = t.pairLocked(ev.Client.Addr(), ev.Server.Addr(), 1)
	case event.TypeSessionEnd:
		if len(t.ended) >= maxEnded {
			t.ended = slices.Delete(t.ended, 0, 1)
		}
		t.ended = append(t.ended, connOf(ev.Client, ev.Server))
		changed = t.removeLocked(func(e entry) bool { return e.session == ev.Session })
		t.closeLocked(ev.Client, ev.Server)
		changed = t.pairLocked(ev.Client.Addr(), ev.Server.Addr(), -1) || changed
	}
	if changed {
		t.applyLocked()
	}
}

// Add adds endpoints found outside the pipeline (by Watch).
func (t *Table) Add(eps ...netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	for _, ep := range eps {
		changed = t.addLocked(ep, 0) || changed
	}
	if changed {
		t.applyLocked()
	}
}

// AddPair lets the data connections between two hosts through before
// their announcements are read: Watch calls it for each command-channel
// segment; the pair leaves with the last of its sessions.
func (t *Table) AddPair(x, y netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pairLocked(x, y, 0) {
		t.applyLocked()
	}
}

// Seen follows a command-channel segment read by Watch: its hosts' pair
// joins the filter (AddPair), a SYN opening a connection keeps the pair
// until that connection's session ends, and a FIN or RST lets it go. A
// segment of a connection whose session the pipeline has already ended
// (Watch lagging behind it) changes nothing, and Seen reports false: what
// it announces is not added either.
func (t *Table) Seen(pkt *event.Packet) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if slices.Contains(t.ended, connOf(pkt.Src, pkt.Dst)) {
		return false
	}
	changed := t.pairLocked(pkt.Src.Addr(), pkt.Dst.Addr(), 0)
	switch {
	case pkt.Flags.Has(event.FlagSYN) && !pkt.Flags.Has(event.FlagACK):
		if p := t.findLocked(pkt.Src.Addr(), pkt.Dst.Addr()); p != nil {
			k := connOf(pkt.Src, pkt.Dst)
			if !slices.Contains(p.open, k) {
				if len(p.open) >= maxOpen {
					p.open = slices.Delete(p.open, 0, 1)
				}
				p.open = append(p.open, k)
			}
		}
	case pkt.Flags.Has(event.FlagFIN) || pkt.Flags.Has(event.FlagRST):
		t.closeLocked(pkt.Src, pkt.Dst)
	}
	if changed {
		t.applyLocked()
	}
	return true
}

// closeLocked forgets command connection x, y as open.
func (t *Table) closeLocked(x, y netip.AddrPort) {
	if p := t.findLocked(x.Addr(), y.Addr()); p != nil {
		k := connOf(x, y)
		p.open = slices.DeleteFunc(p.open, func(c connKey) bool { return c == k })
	}
}

func (t *Table) findLocked(x, y netip.Addr) *pair {
	k := pairOf(x, y)
	for i := range t.pairs {
		if p := &t.pairs[i]; p.a == k.a && p.b == k.b {
			return p
		}
	}
	return nil
}

// pairLocked adds pair x, y if missing and counts delta sessions on it; at
// no session left (after one ended) it goes. It reports a change to the
// set.
func (t *Table) pairLocked(x, y netip.Addr, delta int) bool {
	if !x.IsValid() || !y.IsValid() || x.Unmap().Is4() != y.Unmap().Is4() {
		return false
	}
	k := pairOf(x, y)
	for i := range t.pairs {
		if p := &t.pairs[i]; p.a == k.a && p.b == k.b {
			p.sessions += delta
			if delta < 0 && p.sessions <= 0 && len(p.open) == 0 {
				t.pairs = slices.Delete(t.pairs, i, i+1)
				return true
			}
			return false
		}
	}
	if delta < 0 {
		return false
	}
	if len(t.pairs) >= MaxPairs {
		t.pairs = slices.Delete(t.pairs, 0, 1)
	}
	k.sessions = delta
	t.pairs = append(t.pairs, k)
	return true
}

func (t *Table) addLocked(ep netip.AddrPort, session uint64) bool {
	if !ep.IsValid() || ep.Port() == 0 {
		return false
	}
	for i := range t.eps {
		if t.eps[i].ep == ep {
			if t.eps[i].session == 0 {
				t.eps[i].session = session // the pipeline confirms it
			}
			return false
		}
	}
	if len(t.eps) >= MaxEndpoints {
		t.eps = slices.Delete(t.eps, 0, 1) // the oldest gives way
	}
	t.eps = append(t.eps, entry{ep, session})
	return true
}

func (t *Table) removeLocked(f func(entry) bool) bool {
	n := len(t.eps)
	t.eps = slices.DeleteFunc(t.eps, f)
	return len(t.eps) != n
}

func (t *Table) applyLocked() {
	t.buf = t.buf[:0]
	for _, e := range t.eps {
		t.buf = append(t.buf, e.ep)
	}
	t.pbuf = t.pbuf[:0]
	for _, p := range t.pairs {
		t.pbuf = append(t.pbuf, [2]netip.Addr{p.a, p.b})
	}
	if err := t.set(t.buf, t.pbuf); err != nil && !t.err {
		t.err = true
		if t.logf != nil {
			t.logf("datachan: %v (data-channel bytes stay in the kernel)", err)
		}
	}
}

// Watch reads command-channel frames from src (tap.ControlSource) until it
// ends, and adds the endpoints they announce. controlPorts tell commands
// (to a control port) from replies (from one). It returns nil when src is
// closed.
func (t *Table) Watch(src pipeline.Source, controlPorts []uint16) error {
	if len(controlPorts) == 0 {
		controlPorts = []uint16{21}
	}
	d, err := decode.New(layers.LinkTypeEthernet)
	if err != nil {
		return err
	}
	var pkt event.Packet
	for {
		f, err := src.ReadFrame()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(f.Data) == 0 || !d.Decode(f.Data, &pkt) {
			continue
		}
		toServer := slices.Contains(controlPorts, pkt.Dst.Port())
		if !t.Seen(&pkt) {
			continue
		}
		if eps := Announced(pkt.Payload, pkt.Src, toServer); len(eps) > 0 {
			t.Add(eps...)
		}
	}
}

// Announced returns the data-channel endpoints that a command-channel
// segment announces: PORT and EPRT from the client (toServer), the 227
// and 229 replies from the server (from is the segment's source). With
// each, the sender's own address with the announced port, as the tracker
// also matches it (a NAT that does not rewrite the announcement).
func Announced(payload []byte, from netip.AddrPort, toServer bool) []netip.AddrPort {
	var out []netip.AddrPort
	add := func(ep netip.AddrPort) {
		out = append(out, ep)
		if alt := netip.AddrPortFrom(from.Addr(), ep.Port()); alt != ep {
			out = append(out, alt)
		}
	}
	for len(payload) > 0 {
		line := payload
		if i := bytes.IndexByte(payload, '\n'); i >= 0 {
			line, payload = payload[:i], payload[i+1:]
		} else {
			payload = nil
		}
		line = bytes.TrimRight(line, "\r")
		if toServer {
			cmd, arg := ftpstate.ParseCommand(line)
			switch cmd {
			case "PORT":
				if ep, err := ftpstate.ParsePORT(arg); err == nil {
					add(ep)
				}
			case "EPRT":
				if ep, err := ftpstate.ParseEPRT(arg); err == nil {
					add(ep)
				}
			}
			continue
		}
		switch {
		case bytes.HasPrefix(line, []byte("227")):
			if ep, err := ftpstate.ParsePASV(string(line[3:])); err == nil {
				add(ep)
			}
		case bytes.HasPrefix(line, []byte("229")):
			if port, err := ftpstate.ParseEPSV(string(line[3:])); err == nil {
				add(netip.AddrPortFrom(from.Addr(), port))
			}
		}
	}
	return out
}
