package tap

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ftptap/ftptap/pipeline"
)

type liveSource struct {
	opts  LiveOptions
	rings [2]*ring
	efd   int // eventfd that Close writes to wake the reader
	// hold is how long a frame waits for the other port: a frame with an
	// earlier timestamp can still be in the other port's kernel block, which
	// the kernel hands over at most two block timeouts after it opened.
	hold time.Duration

	closed    atomic.Bool
	closeOnce sync.Once
	// stopAt is the wall clock (Unix ns) when Stop was called; 0: not
	// stopping. Frames stamped up to then are still read; see stop.
	stopAt   atomic.Int64
	stopOnce sync.Once
	readMu   sync.Mutex // held by readFrame; close takes it to wait for the reader
	statsMu  sync.Mutex // guards the rings' stats totals and their fds' lifetime

	// Owned by the reader (under readMu).
	lastOut time.Time // wall clock (monotonic) of the last frame or tick returned
	lastTS  time.Time // newest timestamp returned
	gone    [2]bool   // the port's interface was unregistered
	pfds    []unix.PollFd

	frames atomic.Uint64
}

func openLive(names [2]string, o LiveOptions) (*liveSource, error) {
	filter, err := sockFilter(o.Filter, o.ControlPorts, nil)
	if err != nil {
		return nil, err
	}
	s := &liveSource{opts: o, efd: -1, hold: 2*o.BlockTimeout + 2*time.Millisecond}
	for i, name := range names {
		r, err := openRing(name, sideOf(i), o, filter)
		if err != nil {
			s.free()
			return nil, err
		}
		s.rings[i] = r
	}
	s.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		s.efd = -1
		s.free()
		return nil, &OpError{Op: "open", Err: err}
	}
	s.lastOut = time.Now()
	return s, nil
}

// clockBack is how far the newest frame's timestamp may lie ahead of the
// wall clock before it is taken as the clock having been set back: a frame
// is stamped when it arrives, before it is read.
const clockBack = time.Second

// readFrame merges the two rings. A frame is returned when the other port
// also has one pending (the earlier goes first), or when the other port can
// no longer have an earlier one (see due).
// With no frame for Tick, a tick is returned, stamped with the wall clock
// less hold, a time before which every frame has been handed out.
func (s *liveSource) readFrame() (pipeline.Frame, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for {
		if s.closed.Load() {
			return pipeline.Frame{}, net.ErrClosed
		}
		now := time.Now()
		clock := func() time.Time { return now }
		a, b := s.rings[0], s.rings[1]
		a.next(clock)
		b.next(clock)
		stopping, drained := s.draining(now)
		var pick *ring
		switch {
		case a.pending && b.pending:
			pick = a
			if b.ci.Timestamp.Before(a.ci.Timestamp) {
				pick = b
			}
		case a.pending && (drained || s.due(a, now)):
			pick = a
		case b.pending && (drained || s.due(b, now)):
			pick = b
		}
		if stopping && pick != nil && pick.ci.Timestamp.UnixNano() > s.stopAt.Load() {
			// Stamped after Stop: capture has ended before it. Both
			// rings hand out frames in time order, so nothing earlier
			// is left.
			pick = nil
			if drained {
				return pipeline.Frame{}, io.EOF
			}
		}
		if stopping && drained && pick == nil && !a.pending && !b.pending {
			return pipeline.Frame{}, io.EOF
		}
		if pick != nil {
			pick.pending = false
			s.lastOut = now
			if ts := pick.ci.Timestamp; ts.After(s.lastTS) || s.lastTS.Sub(ts) >= clockBack {
				s.lastTS = ts
			}
			s.frames.Add(1)
			return pipeline.Frame{Data: pick.data, Info: pick.ci, Side: pick.side, LinkType: layers.LinkTypeEthernet}, nil
		}

		var wait time.Duration
		switch {
		case a.pending:
			wait = s.holdLeft(a, now)
		case b.pending:
			wait = s.holdLeft(b, now)
		default:
			if since := now.Sub(s.lastOut); since >= s.opts.Tick {
				s.lastOut = now
				return pipeline.Frame{Info: gopacket.CaptureInfo{Timestamp: s.tickTime(now)}}, nil
			} else {
				wait = s.opts.Tick - since
			}
		}
		if stopping {
			wait = min(wait, max(s.drainEnd().Sub(now), time.Millisecond))
		}
		if err := s.wait(wait); err != nil {
			return pipeline.Frame{}, err
		}
	}
}

// drainEnd is when, after Stop, the kernel has handed over every block
// holding a frame stamped before Stop: it retires a block at most
// BlockTimeout after it opened (hold allows two, as due does), and
// drainSlack more covers a frame stamped before Stop but written into
// the ring after it, and a retire timer late on a loaded machine.
func (s *liveSource) drainEnd() time.Time {
	return time.Unix(0, s.stopAt.Load()).Add(s.hold + drainSlack)
}

// drainSlack: see drainEnd. Stop takes that much longer at most.
const drainSlack = 50 * time.Millisecond

// draining reports whether Stop was called, and whether the rings now hold
// every frame stamped before it (so a pending frame need not wait for the
// other port, and empty rings are the end).
func (s *liveSource) draining(now time.Time) (stopping, drained bool) {
	if s.stopAt.Load() == 0 {
		return false, false
	}
	return true, !now.Round(0).Before(s.drainEnd())
}

// stop ends capture without losing what it holds: frames stamped until now
// (in the rings, or in a block the kernel still fills) are read, then
// readFrame returns io.EOF. Frames stamped later stay unread.
func (s *liveSource) stop() {
	s.stopOnce.Do(func() {
		s.stopAt.Store(time.Now().UnixNano())
		if s.efd >= 0 {
			// Wake a reader waiting for a tick, so that it sees the
			// end on time; wait leaves the eventfd out from now on.
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			unix.Write(s.efd, one[:])
		}
	})
}

// tickTime is the timestamp of a tick read at now: the wall clock less
// hold, as the kernel stamps frames, without the monotonic reading that
// Time.Sub would prefer and that would hide a step of the clock from the
// tracker. Not before a frame already handed out, unless that frame is
// clockBack or more ahead (the clock was set back): then the tick carries
// the new clock, so that time, and the timeouts, go on.
func (s *liveSource) tickTime(now time.Time) time.Time {
	ts := now.Round(0).Add(-s.hold)
	if ts.Before(s.lastTS) && s.lastTS.Sub(ts) < clockBack {
		ts = s.lastTS
	}
	return ts
}

// due reports whether r's pending frame has waited long enough for the
// other port: its timestamp is hold older than the wall clock (so a backlog
// drains at full speed), or, should the clock have jumped back, it has been
// held for hold.
func (s *liveSource) due(r *ring, now time.Time) bool {
	return now.Round(0).Sub(r.ci.Timestamp) >= s.hold || now.Sub(r.seen) >= s.hold
}

// holdLeft is how long r's pending frame has yet to wait.
func (s *liveSource) holdLeft(r *ring, now time.Time) time.Duration {
	return min(s.hold-now.Round(0).Sub(r.ci.Timestamp), s.hold-now.Sub(r.seen))
}

// wait polls the rings that have nothing pending, and the eventfd, for at
// most d.
func (s *liveSource) wait(d time.Duration) error {
	s.pfds = s.pfds[:0]
	for i, r := range s.rings {
		if !r.pending && !s.gone[i] {
			s.pfds = append(s.pfds, unix.PollFd{Fd: int32(r.fd), Events: unix.POLLIN})
		}
	}
	if s.stopAt.Load() == 0 || s.closed.Load() {
		// Once Stop has written it, the eventfd stays readable: polled
		// still, it would turn the drain into a busy loop. Close
		// writes it too and then waits for this poll, which the drain
		// keeps short.
		s.pfds = append(s.pfds, unix.PollFd{Fd: int32(s.efd), Events: unix.POLLIN})
	}
	ms := int((d + time.Millisecond - 1) / time.Millisecond)
	_, err := unix.Poll(s.pfds, max(ms, 1))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return &OpError{Op: "read", Err: err}
	}
	for _, p := range s.pfds {
		if p.Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) == 0 || int(p.Fd) == s.efd {
			continue
		}
		for i, r := range s.rings {
			if int(p.Fd) != r.fd {
				continue
			}
			sockErr, gone := r.sockErr()
			if gone {
				s.gone[i] = true
				return &OpError{Op: "read", Iface: r.name, Err: errors.New("interface is gone")}
			}
			if sockErr != nil && s.opts.Logf != nil {
				// ENETDOWN: the interface went down. The kernel
				// resumes capture when it comes up again.
				s.opts.Logf("tap: %s: %v (capture resumes when it is up)", r.name, sockErr)
			}
		}
	}
	return nil
}

func (s *liveSource) stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	var st Stats
	for i, r := range s.rings {
		r.readStatsLocked()
		st.Ports[i] = r.stats
		st.Ports[i].Name = r.name
	}
	st.Frames = s.frames.Load()
	return st
}

func (s *liveSource) close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.efd >= 0 {
			var one [8]byte
			binary.NativeEndian.PutUint64(one[:], 1)
			unix.Write(s.efd, one[:])
		}
		s.readMu.Lock() // wait for a reader to leave
		defer s.readMu.Unlock()
		s.free()
	})
	return nil
}

// free reads the last counters and releases the rings and the eventfd.
func (s *liveSource) free() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	for _, r := range s.rings {
		if r != nil {
			r.readStatsLocked()
			r.free()
		}
	}
	if s.efd >= 0 {
		unix.Close(s.efd)
		s.efd = -1
	}
}

// sockFilter assembles the kernel filter into the kernel's form.
func sockFilter(f Filter, ports []uint16, df *DataFilter) ([]unix.SockFilter, error) {
	raw, err := kernelFilterData(f, ports, df)
	if err != nil {
		return nil, err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return filter, nil
}

// setFilter attaches a filter with data-channel endpoints to both rings.
func (s *liveSource) setFilter(df *DataFilter) error {
	if s.opts.Filter != FilterFTP {
		return nil
	}
	filter, err := sockFilter(s.opts.Filter, s.opts.ControlPorts, df)
	if err != nil {
		return err
	}
	s.statsMu.Lock() // the rings' fds live while it is held
	defer s.statsMu.Unlock()
	if s.closed.Load() {
		return net.ErrClosed
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	for _, r := range s.rings {
		if r == nil || r.fd < 0 {
			continue
		}
		if err := unix.SetsockoptSockFprog(r.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return r.opError("filter", err)
		}
	}
	return nil
}
