package tap

import (
	"errors"

	"github.com/ftptap/ftptap/pipeline"
)

// ControlSource reads the command-channel segments (to or from a control
// port) entering either tap port, each as soon as the kernel has it: plain
// packet sockets, without the capture ring's blocks, which hand frames over
// a few milliseconds late. It lets the data channels an FTP session
// announces join the kernel filter before their first segment crosses the
// tap (see package datachan). Frames carry the wall clock, not the
// kernel's timestamp: they are for looking at, not for the tracker.
//
// ReadFrame must be called from one goroutine at a time; Close, from any,
// makes it return net.ErrClosed within 100ms.
type ControlSource struct {
	s *controlSource
}

// OpenControl opens both ports for command-channel segments. It needs
// CAP_NET_RAW, as OpenLive does.
func OpenControl(portA, portB string, controlPorts []uint16) (*ControlSource, error) {
	if portA == "" || portB == "" {
		return nil, errors.New("tap: two ports are needed (port A and port B)")
	}
	if len(controlPorts) == 0 {
		controlPorts = []uint16{21}
	}
	s, err := openControl([2]string{portA, portB}, controlPorts)
	if err != nil {
		return nil, err
	}
	return &ControlSource{s: s}, nil
}

// ReadFrame returns the next command-channel frame of either port. Data is
// valid until the next call.
func (c *ControlSource) ReadFrame() (pipeline.Frame, error) { return c.s.readFrame() }

// Close closes the sockets once the reader has left. It is safe to call
// more than once.
func (c *ControlSource) Close() error { return c.s.close() }
