package tap

// Bridge is the Linux bridge that forwards frames between the two ports of
// an inline tap. The kernel forwards, not ftptap: if ftptap stops or
// crashes, the link stays up (fail-open). ftptap never deletes the bridge.
type Bridge struct {
	Name    string // the bridge's interface name
	Created bool   // false: the bridge existed and was adopted
}

// SetupBridge makes the kernel forward between portA and portB through a
// bridge, and returns it.
//
// If the ports are already ports of one bridge, that bridge is adopted as
// it is (it is only brought up). Otherwise the bridge called name is used,
// created if it does not exist: spanning tree off and forward delay 0, so
// that it forwards at once; multicast snooping off and every link-local
// group address the kernel allows forwarded (LLDP, 802.1X), so that it
// passes what a wire passes. The bridge and both ports get no address, and
// IPv6 is disabled on them, so that no link-local address appears and the
// tap stays invisible on the segment it watches. Ports and bridge are
// brought up.
//
// It needs CAP_NET_ADMIN: without it the error satisfies errors.Is(err,
// os.ErrPermission), and is an *OpError with Op "bridge". logf, when not
// nil, reports what was found and changed.
func SetupBridge(name, portA, portB string, logf func(format string, args ...any)) (*Bridge, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return setupBridge(name, portA, portB, logf)
}
