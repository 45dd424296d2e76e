package ftpstate

import (
	"encoding/binary"
	"net/netip"
)

// connKey names a TCP connection whichever way a segment of it goes: its
// two endpoints, the lower first (in the order of netip.AddrPort.Compare),
// each as a 16-byte address and a port. It holds no pointer and takes 37
// bytes, hashed in one pass: a map lookup is the tracker's first step for
// every segment, and two netip.AddrPort took 64 bytes, hashed field by
// field. An address's zone is not part of it (no packet carries one).
type connKey struct {
	a, b   [16]byte
	pa, pb [2]byte
	// v4: bit 0 when a is an IPv4 address, bit 1 when b is, so that an
	// IPv4 address and its IPv4-mapped IPv6 form stay apart.
	v4 uint8
}

func keyOf(x, y netip.AddrPort) connKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	var k connKey
	xa, ya := x.Addr(), y.Addr()
	k.a, k.b = xa.As16(), ya.As16()
	binary.BigEndian.PutUint16(k.pa[:], x.Port())
	binary.BigEndian.PutUint16(k.pb[:], y.Port())
	if xa.Is4() {
		k.v4 |= 1
	}
	if ya.Is4() {
		k.v4 |= 2
	}
	return k
}

// tracked is what the tracker follows on one connection: a command channel,
// a data connection, or (from crafted input) both.
type tracked struct {
	s *session
	d *dataConn
}

// The tracker's connections, command channels and data connections in one
// map, so that a segment costs one lookup (most segments of a tap belong
// to neither). nSessions and nData count them.

func (t *Tracker) sessionAt(k connKey) *session { return t.conns[k].s }

func (t *Tracker) dataAt(k connKey) *dataConn { return t.conns[k].d }

func (t *Tracker) putSession(k connKey, s *session) {
	c := t.conns[k]
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
		delete(t.conns, k)
		return
	}
	c.s = nil
	t.conns[k] = c
}

func (t *Tracker) putData(k connKey, d *dataConn) {
	c := t.conns[k]
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
		delete(t.conns, k)
		return
	}
	c.d = nil
	t.conns[k] = c
}
