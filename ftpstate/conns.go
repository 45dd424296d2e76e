package ftpstate

import (
	"encoding/binary"
	"net/netip"
)

// connKey names a TCP connection whichever way a segment of it goes: its
// two endpoints, the lower first, each as a 16-byte address and a port. It
// holds no pointer and takes 37 bytes, hashed in one pass: a map lookup is
// the tracker's first step for every segment, and two netip.AddrPort took
// 64 bytes, hashed field by field. An address's zone is not part of it (no
// packet carries one).
type connKey struct {
	a, b   [16]byte
	pa, pb [2]byte
	// fam: bits 0-1 the family of a, bits 2-3 that of b (see family), so
	// that an IPv4 address and its IPv4-mapped IPv6 form stay apart.
	fam uint8
}

// keyOf returns the key of the connection between x and y.
func keyOf(x, y netip.AddrPort) connKey {
	xa, ya := x.Addr(), y.Addr()
	xb, yb := xa.As16(), ya.As16()
	xp, yp := x.Port(), y.Port()
	xf, yf := family(xa), family(ya)
	if endLess(yb, yp, yf, xb, xp, xf) {
		xb, yb, xp, yp, xf, yf = yb, xb, yp, xp, yf, xf
	}
	k := connKey{a: xb, b: yb, fam: xf | yf<<2}
	binary.BigEndian.PutUint16(k.pa[:], xp)
	binary.BigEndian.PutUint16(k.pb[:], yp)
	return k
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

// endLess orders endpoints by address, port and family: any total order
// does for a key.
func endLess(a [16]byte, ap uint16, af uint8, b [16]byte, bp uint16, bf uint8) bool {
	ah, bh := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	if ah != bh {
		return ah < bh
	}
	al, bl := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])
	if al != bl {
		return al < bl
	}
	if ap != bp {
		return ap < bp
	}
	return af < bf
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

// portCounts counts the held packets by the ports they carry (source and
// destination; one bucket holds the ports equal modulo its size). A bucket
// at zero means no held packet has such a port, and the scan of the held
// packets for an announced port can be skipped: announcements are frequent
// and a SYN flood keeps the ring full.
type portCounts [4096]uint32

func (c *portCounts) add(h *heldPacket) {
	a, b := h.src.Port()%4096, h.dst.Port()%4096
	c[a]++
	if b != a {
		c[b]++
	}
}

func (c *portCounts) remove(h *heldPacket) {
	a, b := h.src.Port()%4096, h.dst.Port()%4096
	c[a]--
	if b != a {
		c[b]--
	}
}

// has reports whether a held packet may carry port p.
func (c *portCounts) has(p uint16) bool { return c[p%4096] != 0 }
