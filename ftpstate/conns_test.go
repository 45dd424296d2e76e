package ftpstate

import (
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
