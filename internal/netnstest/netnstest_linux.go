package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lab is the inline set-up built from network namespaces:
//
//	client ns (c0: 192.0.2.1, 2001:db8::1) — veth — tap ns (pa | pb) — veth — server ns (s0: 192.0.2.2, 2001:db8::2)
//
// Port A (pa) faces the client, port B (pb) the server. Nothing bridges pa
// and pb until a test calls SetupBridge in the tap namespace.
type Lab struct {
	Client, Tap, Server netns.NsHandle
	// Names of the namespaces, for ip netns exec.
	ClientNS, TapNS, ServerNS string
}

// Addresses of the client and the server.
const (
	ClientIP4 = "192.0.2.1"
	ServerIP4 = "192.0.2.2"
	ClientIP6 = "2001:db8::1"
	ServerIP6 = "2001:db8::2"
)

// New builds the lab and registers its removal. It skips the test
// when network namespaces cannot be made (not root).
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces (CI runs as root)")
	}
	// cross/test-arm.sh runs the tests for ARM under qemu-user, which
	// emulates neither namespaces nor packet rings; the native run has them.
	if e := os.Getenv("FTPTAP_EMULATED"); e != "" {
		t.Skipf("skipped: network namespaces are not emulated by %s", e)
	}
	var sfx [3]byte
	rand.Read(sfx[:])
	id := hex.EncodeToString(sfx[:])
	l := &Lab{}
	for _, ns := range []struct {
		h    *netns.NsHandle
		name string
	}{{&l.Client, "ftptap-c-" + id}, {&l.Tap, "ftptap-t-" + id}, {&l.Server, "ftptap-s-" + id}} {
		h, err := newNamedNS(ns.name)
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("skipped: cannot create network namespaces: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		*ns.h = h
		switch ns.h {
		case &l.Client:
			l.ClientNS = ns.name
		case &l.Tap:
			l.TapNS = ns.name
		default:
			l.ServerNS = ns.name
		}
		t.Cleanup(func() {
			h.Close()
			if err := netns.DeleteNamed(ns.name); err != nil {
				t.Errorf("delete netns %s: %v", ns.name, err)
			}
		})
	}
	l.Veth(t, l.Client, "c0", l.Tap, "pa")
	l.Veth(t, l.Tap, "pb", l.Server, "s0")
	l.Addr(t, l.Client, "c0", ClientIP4+"/24", ClientIP6+"/64")
	l.Addr(t, l.Server, "s0", ServerIP4+"/24", ServerIP6+"/64")
	return l
}

// newNamedNS creates a named namespace without leaving the calling thread
// in it.
func newNamedNS(name string) (h netns.NsHandle, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// This thread ends up in the new namespace: it stays locked, so
		// the runtime discards it when the goroutine exits.
		runtime.LockOSThread()
		h, err = netns.NewNamed(name)
	}()
	<-done
	return h, err
}

// in runs f on a thread inside ns. Sockets made there stay in ns and can
// be used from any goroutine afterwards.
func (l *Lab) In(t testing.TB, ns netns.NsHandle, f func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is discarded
		if err := netns.Set(ns); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func (l *Lab) Veth(t testing.TB, ns1 netns.NsHandle, n1 string, ns2 netns.NsHandle, n2 string) {
	t.Helper()
	la := netlink.NewLinkAttrs()
	la.Name = n1
	la.Namespace = netlink.NsFd(ns1)
	v := &netlink.Veth{LinkAttrs: la, PeerName: n2, PeerNamespace: netlink.NsFd(ns2)}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("veth %s-%s: %v", n1, n2, err)
	}
}

// Handle returns a route netlink handle in ns, closed when the test ends.
// Only NETLINK_ROUTE: with no family named, netlink opens XFRM and
// netfilter sockets too, which fail on a kernel that has them as modules
// not loaded (Debian's, in make test-vm's guests).
func (l *Lab) Handle(t testing.TB, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// addr puts addresses on a host's interface and brings it and lo up.
func (l *Lab) Addr(t testing.TB, ns netns.NsHandle, ifname string, cidrs ...string) {
	t.Helper()
	h := l.Handle(t, ns)
	link, err := h.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cidrs {
		a, err := netlink.ParseAddr(c)
		if err != nil {
			t.Fatal(err)
		}
		a.Flags = unix.IFA_F_NODAD
		if err := h.AddrAdd(link, a); err != nil {
			t.Fatalf("%s %s: %v", ifname, c, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		h.LinkSetUp(lo)
	}
}

// setUp brings interfaces of ns up.
func (l *Lab) SetUp(t testing.TB, ns netns.NsHandle, names ...string) {
	t.Helper()
	h := l.Handle(t, ns)
	for _, n := range names {
		link, err := h.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
}

// listen opens a TCP listener in the server namespace.
func (l *Lab) Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	l.In(t, l.Server, func() { ln, err = net.Listen(network, addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from the client namespace.
func (l *Lab) Dial(t testing.TB, network, addr string) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var err error
	l.In(t, l.Client, func() {
		d := net.Dialer{Timeout: 3 * 1e9}
		c, err = d.Dial(network, addr)
	})
	return c, err
}
