package ftpstate

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestKeyOf: a connection has one key whichever way a segment goes, and
// connections that differ in an address, a port, or an address's family
// (IPv4 against its IPv4-mapped IPv6 form, the zero Addr against ::) have
// different keys.
func TestKeyOf(t *testing.T) {
	eps := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:21"),
		netip.MustParseAddrPort("10.0.0.1:20"),
		netip.MustParseAddrPort("10.0.0.2:21"),
		netip.MustParseAddrPort("[::ffff:10.0.0.1]:21"),
		netip.MustParseAddrPort("[2001:db8::1]:21"),
		netip.MustParseAddrPort("[2001:db8::1]:40000"),
		netip.MustParseAddrPort("[::]:21"),
		netip.AddrPortFrom(netip.Addr{}, 21),
		netip.MustParseAddrPort("255.255.255.255:65535"),
	}
	seen := map[connKey][2]netip.AddrPort{}
	for _, x := range eps {
		for _, y := range eps {
			k := keyOf(x, y)
			if k2 := keyOf(y, x); k2 != k {
				t.Errorf("keyOf(%v, %v) != keyOf(%v, %v)", x, y, y, x)
			}
			if p, ok := seen[k]; ok && !(p[0] == y && p[1] == x) && !(p[0] == x && p[1] == y) {
				t.Errorf("%v-%v and %v-%v have the same key", x, y, p[0], p[1])
			}
			seen[k] = [2]netip.AddrPort{x, y}
		}
	}
}

// mustIndex panics unless the tracker's counts and filters agree with the
// maps and the ring they stand for (the fuzz targets call it after every
// segment): a filter that counts too few would skip a lookup that finds
// something.
func (t *Tracker) mustIndex() {
	ns, nd := 0, 0
	for k, c := range t.conns {
		if c.s == nil && c.d == nil {
			panic(fmt.Sprintf("an empty entry at %v", k))
		}
		if c.s != nil {
			ns++
			if c.s.key() != k {
				panic(fmt.Sprintf("session %d under another key", c.s.id))
			}
		}
		if c.d != nil {
			nd++
			if c.d.key() != k {
				panic("a data connection under another key")
			}
		}
	}
	var buckets [4096]uint32
	for k := range t.conns {
		buckets[connBucket(k)]++
	}
	if buckets != t.connPorts {
		panic("the connections counted by bucket disagree with the map")
	}
	if ns != t.nSessions || nd != t.nData {
		panic(fmt.Sprintf("%d sessions and %d data connections counted, %d and %d in the map", t.nSessions, t.nData, ns, nd))
	}
	var held, exp portCounts
	for i := range t.held {
		if h := &t.held[i]; h.set {
			held.addHeld(h)
		}
	}
	for ep := range t.expects {
		exp.inc(ep.Port())
	}
	var dark [256]uint32
	for p := range t.dark {
		dark[pairBucket(p)]++
	}
	if held != t.heldPorts || exp != t.expectPorts || dark != t.darkPairs {
		panic("the port and address counts disagree with the held packets, expects or dark")
	}
}

// BenchmarkKeyOf: the key of an IPv4 and of an IPv6 connection, a
// segment's first cost in the tracker.
func BenchmarkKeyOf(b *testing.B) {
	for _, c := range [][2]string{{"10.0.0.2:40000", "10.0.0.1:21"}, {"[2001:db8::2]:40000", "[2001:db8::1]:21"}} {
		x, y := netip.MustParseAddrPort(c[0]), netip.MustParseAddrPort(c[1])
		b.Run(c[1], func(b *testing.B) {
			var k connKey
			for range b.N {
				k = keyOf(x, y)
				x, y = y, x
			}
			if k.ports == 0 {
				b.Fatal("no ports in the key")
			}
		})
	}
}
