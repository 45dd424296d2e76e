package tap

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ftptap/ftptap/pipeline"
)

type controlSource struct {
	fds    [2]int
	names  [2]string
	closed atomic.Bool
	mu     sync.Mutex // held by readFrame; close takes it to wait for the reader
	buf    []byte
	next   int // the port polled first, in turn
}

func openControl(names [2]string, ports []uint16) (_ *controlSource, err error) {
	filter, err := sockFilter(filterControl, ports, nil)
	if err != nil {
		return nil, err
	}
	c := &controlSource{fds: [2]int{-1, -1}, names: names, buf: make([]byte, 1<<16)}
	defer func() {
		if err != nil {
			c.free()
		}
	}()
	for i, name := range names {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, &OpError{Op: "open", Iface: name, Err: ErrNoInterface}
		}
		// Protocol 0 until bind, after the filter: nothing unfiltered is
		// queued.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return nil, &OpError{Op: "socket", Iface: name, Err: err}
		}
		c.fds[i] = fd
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return nil, &OpError{Op: "filter", Iface: name, Err: err}
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			return nil, &OpError{Op: "bind", Iface: name, Err: err}
		}
	}
	return c, nil
}

// readFrame waits for a segment on either port, looking every 100ms
// whether the source was closed.
func (c *controlSource) readFrame() (pipeline.Frame, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pfds := []unix.PollFd{{Fd: int32(c.fds[0]), Events: unix.POLLIN}, {Fd: int32(c.fds[1]), Events: unix.POLLIN}}
	for {
		if c.closed.Load() {
			return pipeline.Frame{}, net.ErrClosed
		}
		for k := 0; k < 2; k++ {
			i := (c.next + k) % 2
			n, _, err := unix.Recvfrom(c.fds[i], c.buf, unix.MSG_DONTWAIT)
			if err != nil || n <= 0 {
				continue
			}
			c.next = (i + 1) % 2
			return pipeline.Frame{Data: c.buf[:n], Info: gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: n, Length: n}, Side: sideOf(i), LinkType: layers.LinkTypeEthernet}, nil
		}
		if _, err := unix.Poll(pfds, 100); err != nil && err != unix.EINTR {
			return pipeline.Frame{}, &OpError{Op: "read", Err: err}
		}
	}
}

func (c *controlSource) close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.mu.Lock() // wait for a reader to leave
	defer c.mu.Unlock()
	c.free()
	return nil
}

func (c *controlSource) free() {
	for i, fd := range c.fds {
		if fd >= 0 {
			unix.Close(fd)
			c.fds[i] = -1
		}
	}
}
