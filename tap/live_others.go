//go:build !linux

package tap

import (
	"fmt"
	"runtime"

	"github.com/ftptap/ftptap/pipeline"
)

// errUnimplemented is returned on every OS but Linux: live capture uses
// AF_PACKET.
var errUnimplemented = fmt.Errorf("tap: live capture is not supported on %s (it needs Linux AF_PACKET)", runtime.GOOS)

type liveSource struct{}

func openLive([2]string, LiveOptions) (*liveSource, error) { return nil, errUnimplemented }

func (*liveSource) readFrame() (pipeline.Frame, error) { return pipeline.Frame{}, errUnimplemented }
func (*liveSource) close() error                       { return nil }
func (*liveSource) stop()                              {}
func (*liveSource) stats() Stats                       { return Stats{} }
func (*liveSource) setFilter(*DataFilter) error        { return errUnimplemented }

type controlSource struct{}

func openControl([2]string, []uint16) (*controlSource, error) { return nil, errUnimplemented }
func (*controlSource) readFrame() (pipeline.Frame, error)     { return pipeline.Frame{}, errUnimplemented }
func (*controlSource) close() error                           { return nil }
