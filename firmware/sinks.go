package main

import (
	"context"
	"flag"
	"net/netip"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
)

// sinkOption is an optional sink (NATS, LEDs, metrics...) that both replay
// and run can attach. Each registers its flags on the command's FlagSet, then
// attach adds its sinks to the pipeline and returns a function that shuts it
// down after the pipeline has flushed (nil when there is nothing to close).
type sinkOption struct {
	name   string
	flags  func(fs *flag.FlagSet, cmd string)
	attach func(ctx context.Context, env *sinkEnv) (close func() error, err error)
}

// sinkEnv is what a sink option sees of the command it is attached to.
type sinkEnv struct {
	cmd      string // "replay" or "run"
	cfg      *Config
	pipeline *pipeline.Pipeline
	live     bool
	inputs   []string // replay: the capture files, one per tap port
	// setDataFilter tells the live source's kernel filter which data
	// channels to pass (run: tap.LiveSource.SetDataFilter once capture is
	// open); nil on replay.
	setDataFilter func(eps []netip.AddrPort, pairs [][2]netip.Addr) error
	// counters adds the source's own figures (run: kernel_drops) to status
	// events and /metrics; nil: none. Safe to call from any goroutine.
	counters func() []event.Counter
}

var sinkOptions []sinkOption

func registerSink(o sinkOption) { sinkOptions = append(sinkOptions, o) }

// attachSinks attaches every registered sink option; on error the ones
// already attached are closed.
func attachSinks(ctx context.Context, env *sinkEnv) (closeAll func() error, err error) {
	var closers []func() error
	closeAll = func() error {
		var first error
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](); err != nil && first == nil {
				first = err
			}
		}
		closers = nil
		return first
	}
	for _, o := range sinkOptions {
		c, err := o.attach(ctx, env)
		if err != nil {
			closeAll()
			return nil, err
		}
		if c != nil {
			closers = append(closers, c)
		}
	}
	return closeAll, nil
}

// flagDir is the directory a sink's flag (--carve, --pcap) or, without
// it, its config's dir names; "" when neither does, or the flag says none.
func flagDir(flag, cfgDir string) string {
	switch flag {
	case "none":
		return ""
	case "":
		return cfgDir
	}
	return flag
}
