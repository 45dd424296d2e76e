package tap

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

func checkPort(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return &OpError{Op: "open", Iface: name, Err: ErrNoInterface}
		}
		return &OpError{Op: "open", Iface: name, Err: err}
	}
	if l.Type() == "bridge" {
		return &OpError{Op: "open", Iface: name, Err: errors.New("is a bridge, not a port: name the two interfaces it should bridge")}
	}
	links := []netlink.Link{l}
	if m := l.Attrs().MasterIndex; m != 0 {
		if ml, err := netlink.LinkByIndex(m); err == nil && ml.Type() == "bridge" {
			links = append(links, ml)
		}
	}
	for _, lk := range links {
		via := ""
		if lk != l {
			via = " (through bridge " + lk.Attrs().Name + ")"
		}
		addrs, err := netlink.AddrList(lk, netlink.FAMILY_ALL)
		if err != nil {
			return &OpError{Op: "open", Iface: name, Err: fmt.Errorf("list addresses: %w", err)}
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() || a.IP.IsLoopback() {
				continue
			}
			return &OpError{Op: "open", Iface: name, Err: fmt.Errorf("%w%s: address %s", ErrManagedPort, via, a.IPNet)}
		}
		routes, err := netlink.RouteList(lk, netlink.FAMILY_ALL)
		if err != nil {
			return &OpError{Op: "open", Iface: name, Err: fmt.Errorf("list routes: %w", err)}
		}
		for _, r := range routes {
			if !isDefault(r.Dst) {
				continue
			}
			gw := "directly"
			if r.Gw != nil {
				gw = "via " + r.Gw.String()
			}
			return &OpError{Op: "open", Iface: name, Err: fmt.Errorf("%w%s: the default route (%s)", ErrManagedPort, via, gw)}
		}
	}
	return nil
}

// isDefault reports whether a route's destination is 0.0.0.0/0 or ::/0
// (netlink gives nil or the zero network, depending on its version).
func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0 && dst.IP.IsUnspecified()
}
