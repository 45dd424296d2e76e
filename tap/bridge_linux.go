package tap

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// groupFwdMask forwards every link-local group address 01:80:c2:00:00:0X
// that the kernel lets a bridge forward: all but STP, MAC pause and LACP
// (bits 0 to 2), which 802.1D forbids.
const groupFwdMask = 0xfff8

func setupBridge(name, portA, portB string, logf func(string, ...any)) (*Bridge, error) {
	if portA == portB {
		return nil, fmt.Errorf("tap: port A and port B are both %q: a tap needs two different interfaces", portA)
	}
	bridgeErr := func(err error) error { return &OpError{Op: "bridge", Iface: name, Err: err} }
	var ports [2]netlink.Link
	for i, pn := range []string{portA, portB} {
		l, err := netlink.LinkByName(pn)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil, &OpError{Op: "open", Iface: pn, Err: ErrNoInterface}
			}
			return nil, &OpError{Op: "open", Iface: pn, Err: err}
		}
		if l.Type() == "bridge" {
			return nil, &OpError{Op: "open", Iface: pn, Err: errors.New("is a bridge, not a port: name the two interfaces it should bridge")}
		}
		ports[i] = l
	}

	// Find the bridge: the one a port is already in, else the named one.
	var br netlink.Link
	for _, p := range ports {
		m := p.Attrs().MasterIndex
		if m == 0 {
			continue
		}
		ml, err := netlink.LinkByIndex(m)
		if err != nil {
			return nil, &OpError{Op: "open", Iface: p.Attrs().Name, Err: fmt.Errorf("master %d: %w", m, err)}
		}
		if ml.Type() != "bridge" {
			return nil, &OpError{Op: "open", Iface: p.Attrs().Name, Err: fmt.Errorf("is enslaved to %s (a %s, not a bridge)", ml.Attrs().Name, ml.Type())}
		}
		if br != nil && br.Attrs().Index != m {
			return nil, fmt.Errorf("tap: %s is a port of bridge %s and %s of bridge %s: they must be on one bridge, or on none",
				ports[0].Attrs().Name, br.Attrs().Name, p.Attrs().Name, ml.Attrs().Name)
		}
		br = ml
	}
	created := false
	if br == nil {
		l, err := netlink.LinkByName(name)
		switch {
		case err == nil && l.Type() != "bridge":
			return nil, bridgeErr(fmt.Errorf("exists and is a %s, not a bridge", l.Type()))
		case err == nil:
			br = l
		default:
			var nf netlink.LinkNotFoundError
			if !errors.As(err, &nf) {
				return nil, bridgeErr(err)
			}
			if br, err = createBridge(name); err != nil {
				return nil, bridgeErr(err)
			}
			created = true
			logf("tap: created bridge %s", name)
		}
	}
	bname := br.Attrs().Name
	if !created {
		logf("tap: adopting bridge %s", bname)
	}
	bridgeErr = func(err error) error { return &OpError{Op: "bridge", Iface: bname, Err: err} }

	for _, p := range ports {
		a := p.Attrs()
		if err := disableIPv6(a.Name); err != nil {
			return nil, &OpError{Op: "bridge", Iface: a.Name, Err: err}
		}
		if a.MasterIndex != br.Attrs().Index {
			if err := netlink.LinkSetMasterByIndex(p, br.Attrs().Index); err != nil {
				return nil, &OpError{Op: "bridge", Iface: a.Name, Err: fmt.Errorf("add to %s: %w", bname, err)}
			}
			logf("tap: added %s to bridge %s", a.Name, bname)
		}
		if a.Flags&net.FlagUp == 0 {
			if err := netlink.LinkSetUp(p); err != nil {
				return nil, &OpError{Op: "bridge", Iface: a.Name, Err: fmt.Errorf("set up: %w", err)}
			}
		}
		if addrs, err := netlink.AddrList(p, netlink.FAMILY_V4); err == nil && len(addrs) > 0 {
			logf("tap: warning: port %s has address %s: a bridge port should have none", a.Name, addrs[0].IPNet)
		}
	}
	if err := disableIPv6(bname); err != nil {
		return nil, bridgeErr(err)
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(br); err != nil {
			return nil, bridgeErr(fmt.Errorf("set up: %w", err))
		}
	}
	if addrs, err := netlink.AddrList(br, netlink.FAMILY_ALL); err == nil && len(addrs) > 0 {
		logf("tap: warning: bridge %s has address %s: the tap is visible on the segment", bname, addrs[0].IPNet)
	}
	return &Bridge{Name: bname, Created: created}, nil
}

// createBridge adds a bridge that forwards like a wire, down and with IPv6
// disabled before it first comes up (so it never gets a link-local address).
func createBridge(name string) (netlink.Link, error) {
	off := false
	mask := uint16(groupFwdMask)
	la := netlink.NewLinkAttrs()
	la.Name = name
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la, MulticastSnooping: &off, GroupFwdMask: &mask}); err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	// Spanning tree off first: with it on, the kernel refuses a forward
	// delay under 2s.
	if err := setBridgeAttr(l.Attrs().Index, nl.IFLA_BR_STP_STATE, 0); err != nil {
		return nil, fmt.Errorf("stp off: %w", err)
	}
	if err := setBridgeAttr(l.Attrs().Index, nl.IFLA_BR_FORWARD_DELAY, 0); err != nil {
		return nil, fmt.Errorf("forward delay 0: %w", err)
	}
	// Belt and braces for kernels where the sysctl below is missing.
	if err := netlink.LinkSetIP6AddrGenMode(l, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil && !errors.Is(err, unix.EAFNOSUPPORT) && !errors.Is(err, unix.EOPNOTSUPP) {
		return nil, fmt.Errorf("addrgenmode none: %w", err)
	}
	return l, nil
}

// setBridgeAttr sets one u32 IFLA_BR_* attribute of a bridge, one that
// netlink.Bridge does not carry.
func setBridgeAttr(index int, attr uint16, v uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	li := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	li.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := li.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(int(attr), nl.Uint32Attr(v))
	req.AddData(li)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// disableIPv6 turns IPv6 off on an interface, if IPv6 exists. The sysctl
// under /proc/sys/net belongs to the network namespace of the calling
// thread, as netlink does (sysfs would not: it shows the namespace it was
// mounted in).
func disableIPv6(ifname string) error {
	p := "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6"
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil && len(b) > 0 && b[0] == '1' {
		return nil
	}
	if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("disable IPv6: %w", err)
	}
	return nil
}
