package tap

import (
	"errors"
	"fmt"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
)

// LiveOptions configure live capture. A nil *LiveOptions, and every zero
// field, takes the default given beside the field.
type LiveOptions struct {
	// Filter chooses what the kernel passes up. Default: FilterFTP.
	Filter Filter
	// ControlPorts are the TCP ports of FTP command channels, passed whole
	// by FilterFTP. Default: 21.
	ControlPorts []uint16
	// RingSize is the size in bytes of each port's memory-mapped ring,
	// rounded up to whole blocks. Default: DefaultRingSize.
	RingSize int
	// BlockSize is the size of one ring block, rounded up to a multiple of
	// the page size (16 KiB pages on a Raspberry Pi 5). The largest frame
	// that fits whole is a little smaller: 128 KiB holds a 64 KiB
	// GRO-merged frame. The kernel hands a block over when it is full or
	// BlockTimeout has passed, so when frames come slowly each block
	// holds BlockTimeout's worth, and the number of blocks (RingSize /
	// BlockSize) bounds how long the ring lasts while ftptap waits to be
	// scheduled. Default: DefaultBlockSize.
	BlockSize int
	// BlockTimeout is how long the kernel fills a block before it hands a
	// partly filled block over. It bounds the latency of capture, and how
	// long a frame of one port is held back so that an earlier frame of the
	// other port can overtake it. Default: 5ms.
	BlockTimeout time.Duration
	// Tick is how often ReadFrame returns a tick (a Frame with no Data) when
	// no frame comes, so that the tracker's timeouts run. Default: 500ms.
	Tick time.Duration
	// Logf, when not nil, reports conditions that do not stop capture (a
	// port that went down and will resume).
	Logf func(format string, args ...any)
}

// The capture ring's defaults: 128 blocks of 128 KiB per port, 640 ms of
// frames at a light rate (BlockTimeout 5 ms each) and 16 MiB at a heavy
// one (see firmware/ring.go for the figures behind them).
const (
	DefaultRingSize  = 16 << 20
	DefaultBlockSize = 128 << 10
)

func (o *LiveOptions) withDefaults() LiveOptions {
	var d LiveOptions
	if o != nil {
		d = *o
	}
	if d.Filter == FilterUnknown {
		d.Filter = FilterFTP
	}
	if len(d.ControlPorts) == 0 {
		d.ControlPorts = []uint16{21}
	}
	if d.RingSize <= 0 {
		d.RingSize = DefaultRingSize
	}
	if d.BlockSize <= 0 {
		d.BlockSize = DefaultBlockSize
	}
	if d.BlockTimeout <= 0 {
		d.BlockTimeout = 5 * time.Millisecond
	}
	if d.Tick <= 0 {
		d.Tick = 500 * time.Millisecond
	}
	return d
}

// Filter names a kernel packet filter.
type Filter uint8

// Kernel filters, from the narrowest. Every filter passes only frames that
// entered on the port (never the copies the port sends out), so each frame
// that the bridge forwards is taken once.
const (
	FilterUnknown Filter = iota
	// FilterFTP passes every TCP segment to or from a control port, and the
	// SYN, FIN and RST segments of every other TCP connection, over IPv4 and
	// IPv6, with up to two VLAN tags; of the other segments, only those
	// whose sequence number lies in the first MiB of a GiB (about one in a
	// thousand). The tracker follows the command channel whole and counts
	// data-channel bytes from sequence numbers (at SYN, FIN and the
	// samples, which keep counts right past the 32-bit wrap), so bulk data
	// never reaches user space and cannot crowd out a command-channel
	// segment.
	FilterFTP
	// FilterTCP passes every TCP segment over IPv4 and IPv6. Needed when
	// data-channel payload is wanted (carving files).
	FilterTCP
	// FilterAll passes every frame.
	FilterAll
)

func (f Filter) String() string {
	switch f {
	case FilterFTP:
		return "ftp"
	case FilterTCP:
		return "tcp"
	case FilterAll:
		return "all"
	}
	return fmt.Sprintf("Filter(%d)", uint8(f))
}

// ParseFilter parses a filter name as String returns it; the empty string
// is FilterFTP.
func ParseFilter(s string) (Filter, error) {
	switch s {
	case "", "ftp":
		return FilterFTP, nil
	case "tcp":
		return FilterTCP, nil
	case "all":
		return FilterAll, nil
	}
	return FilterUnknown, fmt.Errorf("tap: filter %q: want ftp, tcp or all", s)
}

// PortStats are the kernel's counters for one port since it was opened.
type PortStats struct {
	Name    string // interface name
	Packets uint64 // frames that passed the filter, dropped ones included
	Drops   uint64 // frames the kernel dropped because the ring was full
	// FreezeQueue counts times the ring was found full: each is a burst
	// of drops.
	FreezeQueue uint64
}

// Stats are the counters of a LiveSource.
type Stats struct {
	Ports [2]PortStats // port A, port B
	// Frames is the number of frames ReadFrame returned (ticks excluded).
	Frames uint64
}

// Drops is the sum of both ports' kernel drops.
func (s Stats) Drops() uint64 { return s.Ports[0].Drops + s.Ports[1].Drops }

// LiveSource captures on the two ports of a tap with AF_PACKET and a
// memory-mapped TPACKET_V3 ring per port, filtered in the kernel, and merges
// the two into one stream in timestamp order. Each Frame carries the port it
// entered on as Side (event.SideA or SideB) and the kernel's receive
// timestamp. When no frame comes, ReadFrame returns a tick about every
// LiveOptions.Tick.
//
// ReadFrame must be called from one goroutine at a time. Close may be called
// from any goroutine: it unblocks ReadFrame, which then returns
// net.ErrClosed. Stats may be called at any time.
type LiveSource struct {
	s *liveSource
}

// OpenLive opens both ports of a tap for capture: portA and portB are
// interface names. The interfaces must exist and be up; they are put in
// promiscuous mode for as long as the source is open. Opening needs
// CAP_NET_RAW: without it the error satisfies errors.Is(err,
// os.ErrPermission). Errors are *OpError naming the port.
func OpenLive(portA, portB string, opts *LiveOptions) (*LiveSource, error) {
	if portA == "" || portB == "" {
		return nil, errors.New("tap: two ports are needed (port A and port B)")
	}
	if portA == portB {
		return nil, fmt.Errorf("tap: port A and port B are both %q: a tap needs two different interfaces", portA)
	}
	o := opts.withDefaults()
	if _, err := filterProgram(o.Filter, o.ControlPorts); err != nil {
		return nil, err
	}
	s, err := openLive([2]string{portA, portB}, o)
	if err != nil {
		return nil, err
	}
	return &LiveSource{s: s}, nil
}

// ReadFrame returns the next frame of either port, earliest first, or a
// tick. Data is valid until the next call. After Close it returns
// net.ErrClosed.
func (l *LiveSource) ReadFrame() (pipeline.Frame, error) { return l.s.readFrame() }

// Close stops capture, unblocks a ReadFrame in progress, waits for it to
// return and frees the rings. It is safe to call more than once.
func (l *LiveSource) Close() error { return l.s.close() }

// Stats returns the kernel's counters of both ports and the frames read.
// The kernel's counters are read (and added up) on each call.
func (l *LiveSource) Stats() Stats { return l.s.stats() }

// sideOf maps a port index to its Side.
func sideOf(i int) event.Side { return event.Side(i + 1) }

// OpError is an error of live capture or bridge set-up. Op is what failed:
// "open", "socket", "ring", "filter", "bind", "promisc", "read", "stats" or
// "bridge".
type OpError struct {
	Op    string
	Iface string // the interface, if any
	Err   error
}

func (e *OpError) Error() string {
	if e.Iface == "" {
		return "tap: " + e.Op + ": " + e.Err.Error()
	}
	return "tap: " + e.Op + " " + e.Iface + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// Capability names the Linux capability that op needs: "CAP_NET_ADMIN" to
// set up the bridge, "CAP_NET_RAW" to capture.
func (e *OpError) Capability() string {
	if e.Op == "bridge" {
		return "CAP_NET_ADMIN"
	}
	return "CAP_NET_RAW"
}

// ErrNoInterface is wrapped by errors about an interface that does not exist.
var ErrNoInterface = errors.New("no such interface")

// ErrInterfaceDown is wrapped by errors about an interface that is down.
var ErrInterfaceDown = errors.New("interface is down")

// SetDataFilter replaces the kernel filter of both ports with one that also
// passes the data channels df names (with FilterFTP; the wider filters
// pass them already; nil: none). The kernel swaps a socket's filter at once
// (SO_ATTACH_FILTER on a live socket), so no frame is filtered by neither
// program. It may be called from any goroutine.
func (l *LiveSource) SetDataFilter(df *DataFilter) error { return l.s.setFilter(df) }
