package ftpstate

import (
	"encoding/binary"
	"net/netip"
)

// connKey names a TCP connection whichever way a segment of it goes: its
// two endpoints, the lower first, each as a 16-byte address and a port. It
// holds no pointer and takes 40 bytes in five words, hashed in one pass: a
// map lookup is the tracker's first step for every segment, and two
// netip.AddrPort took 64 bytes, hashed field by field. An address's zone
// is not part of it (no packet carries one).
type connKey struct {
	ah, al uint64 // the lower endpoint's address (as netip.Addr.As16)
	bh, bl uint64 // the other's
	// ports: each endpoint's port and, in the two bits below it, its
	// address's family (see family), so that an IPv4 address and its
	// IPv4-mapped IPv6 form stay apart; the lower endpoint's 18 bits
	// above the other's.
	ports uint64
}

// keyOf returns the key of the connection between x and y.
func keyOf(x, y netip.AddrPort) connKey {
	xa, ya := x.Addr(), y.Addr()
	var xh, xl, yh, yl, xp, yp uint64
	if xa.Is4() && ya.Is4() {
		// The tap's usual case, the short way (As16 costs more): the
		// same words as As16 gives, an IPv4-mapped address.
		x4, y4 := xa.As4(), ya.As4()
		xl, yl = 0xffff<<32|uint64(binary.BigEndian.Uint32(x4[:])), 0xffff<<32|uint64(binary.BigEndian.Uint32(y4[:]))
		xp, yp = uint64(x.Port())<<2|1, uint64(y.Port())<<2|1
	} else {
		x16, y16 := xa.As16(), ya.As16()
		xh, xl = binary.BigEndian.Uint64(x16[:8]), binary.BigEndian.Uint64(x16[8:])
		yh, yl = binary.BigEndian.Uint64(y16[:8]), binary.BigEndian.Uint64(y16[8:])
		xp, yp = uint64(x.Port())<<2|uint64(family(xa)), uint64(y.Port())<<2|uint64(family(ya))
	}
	// Any total order does for a key: address, then port and family.
	if yh < xh || yh == xh && (yl < xl || yl == xl && yp < xp) {
		xh, xl, xp, yh, yl, yp = yh, yl, yp, xh, xl, xp
	}
	return connKey{ah: xh, al: xl, bh: yh, bl: yl, ports: xp<<18 | yp}
}

// family is 0 for the zero Addr, 1 for IPv4, 2 for IPv6.
func family(a netip.Addr) uint8 {
	switch {
	case a.Is4():
		return 1
	case a.Is6():
		return 2
	}
	return 0
}

// tracked is what the tracker follows on one connection: a command channel,
// a data connection, or (from crafted input) both.
type tracked struct {
	s *session
	d *dataConn
}

// The tracker's connections, command channels and data connections in one
// map, so that a segment costs one lookup (most segments of a tap belong
// to neither, and cost none: see lookup). nSessions and nData count them,
// connPorts counts the entries by connBucket.

// connBucket is the bucket of k in Tracker.connPorts: its two ports
// XORed, so a segment's bucket costs no lookup.
func connBucket(k connKey) uint16 { return uint16(k.ports>>20^k.ports>>2) % 4096 }

// lookup returns what is tracked on connection k. Most segments of a tap
// belong to no tracked connection (a SYN flood, other protocols): their
// bucket in connPorts is empty and they cost no map lookup.
func (t *Tracker) lookup(k connKey) tracked {
	if t.connPorts[connBucket(k)] == 0 {
		return tracked{}
	}
	return t.conns[k]
}

func (t *Tracker) sessionAt(k connKey) *session { return t.conns[k].s }

func (t *Tracker) dataAt(k connKey) *dataConn { return t.conns[k].d }

func (t *Tracker) putSession(k connKey, s *session) {
	c, ok := t.conns[k]
	if !ok {
		t.connPorts[connBucket(k)]++
	}
	if c.s == nil {
		t.nSessions++
	}
	c.s = s
	t.conns[k] = c
}

func (t *Tracker) deleteSession(k connKey) {
	c, ok := t.conns[k]
	if !ok || c.s == nil {
		return
	}
	t.nSessions--
	if c.d == nil {
		t.connPorts[connBucket(k)]--
		delete(t.conns, k)
		return
	}
	c.s = nil
	t.conns[k] = c
}

func (t *Tracker) putData(k connKey, d *dataConn) {
	c, ok := t.conns[k]
	if !ok {
		t.connPorts[connBucket(k)]++
	}
	if c.d == nil {
		t.nData++
	}
	c.d = d
	t.conns[k] = c
}

func (t *Tracker) deleteData(k connKey) {
	c, ok := t.conns[k]
	if !ok || c.d == nil {
		return
	}
	t.nData--
	if c.s == nil {
		t.connPorts[connBucket(k)]--
		delete(t.conns, k)
		return
	}
	c.d = nil
	t.conns[k] = c
}

// portCounts counts entries by port, for filters ahead of scans and map
// lookups that would mostly find nothing (a SYN flood's segments are
// looked up in each): one bucket holds the ports equal modulo its size, and
// a bucket at zero means no entry has such a port.
type portCounts [4096]uint32

func (c *portCounts) inc(p uint16) { c[p%4096]++ }
func (c *portCounts) dec(p uint16) { c[p%4096]-- }

// has reports whether an entry may have port p.
func (c *portCounts) has(p uint16) bool { return c[p%4096] != 0 }

// Tracker.heldPorts counts the held packets by their ports, source and
// destination.

func (c *portCounts) addHeld(h *heldPacket) {
	c.inc(h.src.Port())
	if h.dst.Port() != h.src.Port() {
		c.inc(h.dst.Port())
	}
}

func (c *portCounts) removeHeld(h *heldPacket) {
	c.dec(h.src.Port())
	if h.dst.Port() != h.src.Port() {
		c.dec(h.dst.Port())
	}
}

// Tracker.expects is changed only here, so that expectPorts counts its
// endpoints by port.

func (t *Tracker) putExpect(ep netip.AddrPort, e *expectation) {
	if _, ok := t.expects[ep]; !ok {
		t.expectPorts.inc(ep.Port())
	}
	t.expects[ep] = e
}

func (t *Tracker) deleteExpect(ep netip.AddrPort) {
	if _, ok := t.expects[ep]; ok {
		t.expectPorts.dec(ep.Port())
		delete(t.expects, ep)
	}
}

// Tracker.dark is changed only here, so that darkPairs counts its address
// pairs by pairBucket.

// pairBucket is the same for (a, b) and (b, a).
func pairBucket(p addrPair) uint8 {
	a, b := p.client.As16(), p.server.As16()
	return a[15] ^ b[15]
}

func (t *Tracker) putDark(p addrPair, s *session) {
	if _, ok := t.dark[p]; !ok {
		t.darkPairs[pairBucket(p)]++
	}
	t.dark[p] = s
}

func (t *Tracker) deleteDark(p addrPair) {
	if _, ok := t.dark[p]; ok {
		t.darkPairs[pairBucket(p)]--
		delete(t.dark, p)
	}
}
