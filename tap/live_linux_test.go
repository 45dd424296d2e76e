package tap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ftptap/ftptap/decode"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/netnstest"
	"github.com/ftptap/ftptap/pipeline"
)

// testBridge sets up the bridge over pa and pb in the tap namespace.
func testBridge(t testing.TB, l *netnstest.Lab) *Bridge {
	t.Helper()
	var br *Bridge
	var err error
	l.In(t, l.Tap, func() { br, err = SetupBridge("br0", "pa", "pb", t.Logf) })
	if err != nil {
		t.Fatal(err)
	}
	return br
}

// testOpen opens a live source on pa and pb in the tap namespace.
func testOpen(t testing.TB, l *netnstest.Lab, opts *LiveOptions) *LiveSource {
	t.Helper()
	var src *LiveSource
	var err error
	l.In(t, l.Tap, func() { src, err = OpenLive("pa", "pb", opts) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// seg is one captured TCP segment.
type seg struct {
	side     event.Side
	src, dst netip.AddrPort
	seq, ack uint32
	flags    event.Flags
	payload  string
	ts       time.Time
}

func (s seg) String() string {
	return fmt.Sprintf("%v %v>%v seq=%d ack=%d flags=%#x len=%d", s.side, s.src, s.dst, s.seq, s.ack, s.flags, len(s.payload))
}

// collector reads a source on its own goroutine until it ends.
type collector struct {
	mu    sync.Mutex // guards segs, ticks, other
	segs  []seg
	ticks []time.Time
	other int // frames that are not TCP
	done  chan error
}

func collect(t *testing.T, src pipeline.Source) *collector {
	c := &collector{done: make(chan error, 1)}
	d, err := decode.New(layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		var p event.Packet
		for {
			f, err := src.ReadFrame()
			if err != nil {
				c.done <- err
				return
			}
			c.mu.Lock()
			switch {
			case f.Data == nil:
				c.ticks = append(c.ticks, f.Info.Timestamp)
			case f.LinkType != layers.LinkTypeEthernet || !d.Decode(f.Data, &p):
				c.other++
			default:
				c.segs = append(c.segs, seg{f.Side, p.Src, p.Dst, p.Seq, p.Ack, p.Flags, string(p.Payload), f.Info.Timestamp})
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) snapshot() []seg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]seg(nil), c.segs...)
}

// waitFor waits until ok holds for the segments seen, or fails.
func (c *collector) waitFor(t *testing.T, what string, ok func([]seg) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(c.snapshot()) {
		if time.Now().After(deadline) {
			for _, s := range c.snapshot() {
				t.Log(s)
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exchange runs a small FTP-like dialogue over a connection from the
// client to the server's port 21, and a bulk transfer to port 6000.
func exchange(t *testing.T, l *netnstest.Lab, serverIP string) {
	t.Helper()
	ctl := l.Listen(t, "tcp", net.JoinHostPort(serverIP, "21"))
	data := l.Listen(t, "tcp", net.JoinHostPort(serverIP, "6000"))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c, err := ctl.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		io.WriteString(c, "220 hello\r\n")
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		if string(buf[:n]) != "USER anonymous\r\n" {
			t.Errorf("server read %q", buf[:n])
		}
		io.WriteString(c, "331 password\r\n")
		c.Read(buf) // until the client closes
	}()
	go func() {
		defer wg.Done()
		c, err := data.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
	}()
	c, err := l.Dial(t, "tcp", net.JoinHostPort(serverIP, "21"))
	if err != nil {
		t.Fatalf("dial across the bridge: %v", err)
	}
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if string(buf[:n]) != "220 hello\r\n" {
		t.Errorf("client read %q", buf[:n])
	}
	io.WriteString(c, "USER anonymous\r\n")
	c.Read(buf)
	c.Close()

	d, err := l.Dial(t, "tcp", net.JoinHostPort(serverIP, "6000"))
	if err != nil {
		t.Fatalf("dial data: %v", err)
	}
	if _, err := d.Write(bytes.Repeat([]byte("x"), 256<<10)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	wg.Wait()
}

// TestLiveSides checks that every frame crossing the bridge is taken once,
// on the port it entered, that the kernel filter keeps bulk data out, and
// that the source ticks when idle.
func TestLiveSides(t *testing.T) {
	l := netnstest.New(t)
	testBridge(t, l)
	src := testOpen(t, l, &LiveOptions{Tick: 200 * time.Millisecond})
	c := collect(t, src)

	for _, ips := range [][2]string{{netnstest.ClientIP4, netnstest.ServerIP4}, {netnstest.ClientIP6, netnstest.ServerIP6}} {
		client, server := netip.MustParseAddr(ips[0]), netip.MustParseAddr(ips[1])
		exchange(t, l, ips[1])
		c.waitFor(t, "both FINs of both connections", func(ss []seg) bool {
			n := 0
			for _, s := range ss {
				if s.flags.Has(event.FlagFIN) && (s.src.Addr() == client || s.src.Addr() == server) {
					n++
				}
			}
			return n >= 4
		})
		segs := c.snapshot()
		seen := map[string]int{}
		var synCtl, synAckCtl, user, greet, synData, dataPayload int
		for _, s := range segs {
			if s.src.Addr() != client && s.src.Addr() != server {
				continue
			}
			seen[s.String()]++
			want := event.SideA
			if s.src.Addr() == server {
				want = event.SideB
			}
			if s.side != want {
				t.Errorf("%v: side %v, want %v", s, s.side, want)
			}
			switch {
			case s.dst.Port() == 21 && s.flags.Has(event.FlagSYN):
				synCtl++
			case s.src.Port() == 21 && s.flags.Has(event.FlagSYN|event.FlagACK):
				synAckCtl++
			case s.dst.Port() == 21 && s.payload == "USER anonymous\r\n":
				user++
			case s.src.Port() == 21 && s.payload == "220 hello\r\n":
				greet++
			case s.dst.Port() == 6000 && s.flags.Has(event.FlagSYN):
				synData++
			case s.dst.Port() == 6000 && s.flags&(event.FlagSYN|event.FlagFIN|event.FlagRST) == 0 && s.seq&seqSampleMask != 0:
				dataPayload++ // neither SYN/FIN/RST nor in the sequence sample
			}
		}
		for k, n := range seen {
			if n > 1 {
				t.Errorf("%s: seen %d times, want once", k, n)
			}
		}
		for name, n := range map[string]int{"control SYN": synCtl, "control SYN-ACK": synAckCtl, "USER": user, "220": greet, "data SYN": synData} {
			if n != 1 {
				t.Errorf("%s %v: seen %d times, want once", ips[1], name, n)
			}
		}
		if dataPayload != 0 {
			t.Errorf("%s: %d data segments without SYN/FIN/RST passed the ftp filter", ips[1], dataPayload)
		}
	}

	// Idle: ticks come, stamped near the wall clock.
	time.Sleep(700 * time.Millisecond)
	c.mu.Lock()
	ticks := append([]time.Time(nil), c.ticks...)
	c.mu.Unlock()
	if len(ticks) < 2 {
		t.Errorf("%d ticks in an idle 700ms with Tick 200ms, want 2 or more", len(ticks))
	} else if d := time.Since(ticks[len(ticks)-1]); d < 0 || d > time.Second {
		t.Errorf("last tick is %v old", d)
	}

	// Frames come out in timestamp order.
	segs := c.snapshot()
	for i := 1; i < len(segs); i++ {
		if segs[i].ts.Before(segs[i-1].ts) {
			t.Errorf("frame %d (%v, %v) before frame %d (%v)", i, segs[i], segs[i].ts, i-1, segs[i-1].ts)
		}
	}

	st := src.Stats()
	if st.Ports[0].Name != "pa" || st.Ports[1].Name != "pb" {
		t.Errorf("stats names %q %q", st.Ports[0].Name, st.Ports[1].Name)
	}
	if st.Ports[0].Packets == 0 || st.Ports[1].Packets == 0 {
		t.Errorf("kernel counted no packets: %+v", st)
	}
	if st.Drops() != 0 {
		t.Errorf("kernel drops: %+v", st)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-c.done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close: %v, want net.ErrClosed", err)
	}
	if got := src.Stats().Frames; got != uint64(len(segs)+c.other) {
		t.Errorf("Stats().Frames = %d, want %d", got, len(segs)+c.other)
	}

	// Fail-open: with capture closed, the bridge still forwards.
	ln := l.Listen(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2100"))
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	conn, err := l.Dial(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2100"))
	if err != nil {
		t.Fatalf("bridge does not forward after capture closed: %v", err)
	}
	conn.Close()
}

// TestLiveVLAN sends 802.1Q-tagged frames across and checks that the tag is
// back in the captured frame and that the filter looks past it.
func TestLiveVLAN(t *testing.T) {
	l := netnstest.New(t)
	testBridge(t, l)
	src := testOpen(t, l, nil)
	c := collect(t, src)

	ctl := frameSpec{tags: []uint16{42}, ip: 4, sport: 40000, dport: 21, payload: "NOOP\r\n"}.bytes(t)
	data := frameSpec{tags: []uint16{42}, ip: 4, sport: 40000, dport: 6000, payload: "bulk"}.bytes(t)
	l.In(t, l.Client, func() { inject(t, "c0", data, ctl) })
	c.waitFor(t, "the tagged NOOP", func(ss []seg) bool { return len(ss) > 0 })
	time.Sleep(50 * time.Millisecond)
	segs := c.snapshot()
	if len(segs) != 1 || segs[0].payload != "NOOP\r\n" || segs[0].side != event.SideA {
		t.Fatalf("got %v, want only the NOOP on side a", segs)
	}
	src.Close()
	<-c.done
}

// inject sends raw frames out of ifname.
func inject(t *testing.T, ifname string, frames ...[]byte) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer unix.Close(fd)
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Error(err)
		return
	}
	for _, f := range frames {
		if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}); err != nil {
			t.Error(err)
		}
	}
}

func TestBridge(t *testing.T) {
	l := netnstest.New(t)
	br := testBridge(t, l)
	if !br.Created || br.Name != "br0" {
		t.Errorf("first SetupBridge = %+v, want br0 created", br)
	}
	br2 := testBridge(t, l)
	if br2.Created || br2.Name != "br0" {
		t.Errorf("second SetupBridge = %+v, want br0 adopted", br2)
	}
	// A bridge made by someone else under another name is adopted too.
	h := l.Handle(t, l.Tap)
	link, err := h.LinkByName("br0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetName(link, "other"); err == nil {
		var b *Bridge
		l.In(t, l.Tap, func() { b, err = SetupBridge("br0", "pb", "pa", nil) })
		if err != nil || b.Name != "other" || b.Created {
			t.Errorf("SetupBridge over a renamed bridge = %+v, %v; want other adopted", b, err)
		}
	}

	// Forwarding starts at once: no spanning-tree delay.
	ln := l.Listen(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2100"))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	start := time.Now()
	c, err := l.Dial(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2100"))
	if err != nil {
		t.Fatalf("no forwarding: %v", err)
	}
	c.Close()
	// Spanning tree's listening and learning would hold frames back for
	// 2 × 15 s; forwarding at once is well under that even on a loaded
	// machine.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("first connection across took %v", d)
	}

	// Invisible: no address of any family on the bridge or its ports, IPv6 off.
	time.Sleep(100 * time.Millisecond)
	for _, n := range []string{"other", "pa", "pb"} {
		link, err := h.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := h.AddrList(link, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) > 0 {
			t.Errorf("%s has addresses %v", n, addrs)
		}
		var v []byte
		l.In(t, l.Tap, func() { v, err = os.ReadFile("/proc/sys/net/ipv6/conf/" + n + "/disable_ipv6") })
		if err != nil || strings.TrimSpace(string(v)) != "1" {
			t.Errorf("%s: disable_ipv6 = %q, %v", n, v, err)
		}
	}
}

func TestBridgeErrors(t *testing.T) {
	l := netnstest.New(t)
	l.Veth(t, l.Tap, "dv0", l.Tap, "dv1")
	tests := []struct {
		name   string
		a, b   string
		bridge string
		want   string
		is     error
	}{
		{"missing port", "pa", "eth9", "br0", "open eth9: no such interface", ErrNoInterface},
		{"same port", "pa", "pa", "br0", "both \"pa\"", nil},
		{"name taken", "pa", "pb", "dv0", "bridge dv0: exists and is a veth, not a bridge", nil},
	}
	for _, tt := range tests {
		var err error
		l.In(t, l.Tap, func() { _, err = SetupBridge(tt.bridge, tt.a, tt.b, nil) })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: err = %v, not %v", tt.name, err, tt.is)
		}
	}
	// Without CAP_NET_ADMIN.
	var err error
	l.In(t, l.Tap, func() {
		dropCaps(t, unix.CAP_NET_ADMIN)
		_, err = SetupBridge("br0", "pa", "pb", nil)
	})
	var oe *OpError
	if !errors.Is(err, os.ErrPermission) || !errors.As(err, &oe) || oe.Capability() != "CAP_NET_ADMIN" {
		t.Errorf("without CAP_NET_ADMIN: %v, want a permission error naming CAP_NET_ADMIN", err)
	}
}

func TestOpenLiveErrors(t *testing.T) {
	l := netnstest.New(t)
	tests := []struct {
		name string
		a, b string
		is   error
		want string
	}{
		{"missing", "eth9", "pa", ErrNoInterface, "tap: open eth9: no such interface"},
		{"down", "pa", "pb", ErrInterfaceDown, "tap: open pa: interface is down"},
		{"same", "pa", "pa", nil, "both \"pa\""},
		{"not ethernet", "lo", "pb", nil, "tap: open lo: not an Ethernet interface"},
	}
	for _, tt := range tests {
		var err error
		l.In(t, l.Tap, func() { _, err = OpenLive(tt.a, tt.b, nil) })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: err = %v, not %v", tt.name, err, tt.is)
		}
	}
	l.SetUp(t, l.Tap, "pa", "pb")
	var err error
	l.In(t, l.Tap, func() {
		dropCaps(t, unix.CAP_NET_RAW)
		_, err = OpenLive("pa", "pb", nil)
	})
	var oe *OpError
	if !errors.Is(err, os.ErrPermission) || !errors.As(err, &oe) || oe.Capability() != "CAP_NET_RAW" {
		t.Errorf("without CAP_NET_RAW: %v, want a permission error naming CAP_NET_RAW", err)
	}
}

// dropCaps removes capabilities from the calling thread (capabilities are
// per thread; the caller's thread is locked and discarded afterwards).
func dropCaps(t *testing.T, caps ...uint) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Error(err)
		return
	}
	for _, c := range caps {
		data[c/32].Effective &^= 1 << (c % 32)
		data[c/32].Permitted &^= 1 << (c % 32)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		t.Error(err)
	}
}

// TestCloseUnblocks checks that Close wakes a ReadFrame blocked on an idle
// tap, and leaves no goroutine behind.
func TestCloseUnblocks(t *testing.T) {
	l := netnstest.New(t)
	l.SetUp(t, l.Tap, "pa", "pb")
	before := runtime.NumGoroutine()
	src := testOpen(t, l, &LiveOptions{Tick: time.Hour})
	done := blockedRead(src)
	start := time.Now()
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrame: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock ReadFrame")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Close took %v", d)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := src.ReadFrame(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close: %v", err)
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// BenchmarkLiveSource measures frames per second through the ring: the
// client side injects command-channel frames, the source reads them on
// port A.
func BenchmarkLiveSource(b *testing.B) {
	l := netnstest.New(b)
	l.SetUp(b, l.Tap, "pa", "pb")
	src := testOpen(b, l, &LiveOptions{Tick: 100 * time.Millisecond})
	frame := frameSpec{ip: 4, sport: 40000, dport: 21, payload: "NOOP\r\n"}.bytes(b)
	var fd int
	var ifindex int
	l.In(b, l.Client, func() {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			b.Fatal(err)
		}
		ifi, err := net.InterfaceByName("c0")
		if err != nil {
			b.Fatal(err)
		}
		ifindex = ifi.Index
	})
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	b.ReportAllocs()
	b.ResetTimer()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := 0; i < b.N; i++ {
			for unix.Sendto(fd, frame, 0, sa) == unix.ENOBUFS {
				runtime.Gosched()
			}
		}
	}()
	// Read until every frame came, or the sender is done and the source
	// has gone idle (the veth drops frames when its backlog overflows,
	// before the ring sees them).
	got := 0
	for got < b.N {
		f, err := src.ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		if f.Data != nil {
			got++
			continue
		}
		select {
		case <-sent:
		default:
			continue
		}
		break
	}
	b.StopTimer()
	st := src.Stats()
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(st.Drops()), "ring-drops")
	b.ReportMetric(float64(b.N-got-int(st.Drops())), "veth-drops")
}

// A tick's time follows the wall clock through a step of it, either way:
// no monotonic reading (which would hide the step from the tracker), and
// a frame's time from before a step back does not hold it.
func TestTickTime(t *testing.T) {
	s := &liveSource{hold: 20 * time.Millisecond}
	now := time.Now()
	ts := s.tickTime(now)
	if strings.Contains(ts.String(), "m=") {
		t.Errorf("tick %v has a monotonic reading", ts)
	}
	if want := now.Round(0).Add(-s.hold); !ts.Equal(want) {
		t.Errorf("tick %v, want %v", ts, want)
	}
	// A frame handed out a little ahead of the tick holds it.
	s.lastTS = now.Add(100 * time.Millisecond)
	if ts := s.tickTime(now); !ts.Equal(s.lastTS) {
		t.Errorf("tick %v before the last frame %v", ts, s.lastTS)
	}
	// The clock set back 90 days: the tick is on the new clock.
	back := now.Add(-90 * 24 * time.Hour)
	s.lastTS = now
	if ts := s.tickTime(back); !ts.Equal(back.Round(0).Add(-s.hold)) {
		t.Errorf("tick after a step back: %v, want %v", ts, back.Add(-s.hold))
	}
	// Forward: two ticks measure the step, not the time that passed.
	s.lastTS = time.Time{}
	fwd := s.tickTime(now.Add(90 * 24 * time.Hour))
	if d := fwd.Sub(s.tickTime(now)); d != 90*24*time.Hour {
		t.Errorf("ticks across a step of 90 days forward are %v apart", d)
	}
}

// TestStopDrains checks that Stop loses nothing captured: frames that came
// in before it and were never read, some still in the block the kernel
// fills, are all read after it, then io.EOF. A Close in its place loses
// them all.
func TestStopDrains(t *testing.T) {
	l := netnstest.New(t)
	l.SetUp(t, l.Tap, "pa", "pb")
	// A block timeout far above the test's pace: the frames are still in
	// the kernel's open block when Stop comes.
	src := testOpen(t, l, &LiveOptions{Tick: time.Hour, BlockTimeout: 200 * time.Millisecond})
	const n = 50
	var frames [][]byte
	for i := range n {
		frames = append(frames, frameSpec{ip: 4, sport: uint16(40000 + i), dport: 21, payload: "NOOP\r\n"}.bytes(t))
	}
	// One frame read first, so that the reader is in the middle of the
	// stream, as a running service is.
	l.In(t, l.Client, func() { inject(t, "c0", frames[0]) })
	f, err := src.ReadFrame()
	if err != nil || f.Data == nil {
		t.Fatalf("first frame: %v (tick: %v)", err, f.Data == nil)
	}
	l.In(t, l.Client, func() { inject(t, "c0", frames[1:]...) })
	// The kernel has counted them once they are in the ring.
	deadline := time.Now().Add(5 * time.Second)
	for st := src.Stats(); st.Ports[0].Packets < n; st = src.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the kernel counted %d frames, want %d", st.Ports[0].Packets, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	src.Stop()
	src.Stop() // twice is no error
	got := 1
	var last time.Time
	for {
		f, err := src.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ReadFrame after Stop: %v", err)
		}
		if f.Data == nil {
			continue
		}
		if f.Info.Timestamp.Before(last) {
			t.Errorf("frame %d stamped %v, before the one before it (%v)", got, f.Info.Timestamp, last)
		}
		last = f.Info.Timestamp
		got++
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the drain took %v", d)
	}
	if got != n {
		t.Errorf("read %d frames in all, want %d: Stop lost %d", got, n, n-got)
	}
	if _, err := src.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("ReadFrame after the end: %v, want io.EOF", err)
	}
	// Frames that come after Stop are not read.
	l.In(t, l.Client, func() { inject(t, "c0", frames[0]) })
	if _, err := src.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("ReadFrame after a frame that came after Stop: %v, want io.EOF", err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.ReadFrame(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close: %v, want net.ErrClosed", err)
	}
}

// TestStopUnblocks checks that Stop wakes a ReadFrame waiting on an idle
// tap, which then returns io.EOF.
func TestStopUnblocks(t *testing.T) {
	l := netnstest.New(t)
	l.SetUp(t, l.Tap, "pa", "pb")
	src := testOpen(t, l, &LiveOptions{Tick: time.Hour})
	done := blockedRead(src)
	src.Stop()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Errorf("ReadFrame: %v, want io.EOF", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Stop did not end ReadFrame")
	}
}

// blockedRead starts a ReadFrame on an idle src, which blocks, and gives
// it 100 ms to get there; its error comes on the channel once it returns.
func blockedRead(src *LiveSource) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := src.ReadFrame()
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	return done
}
