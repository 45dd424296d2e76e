package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ftptap/ftptap/datachan"
	"github.com/ftptap/ftptap/tap"
)

func init() {
	registerSink(sinkOption{name: "datachan", flags: func(*flag.FlagSet, string) {}, attach: attachDataChannels})
}

// wantsDataBytes reports whether a sink of ftptap run needs the bytes of
// data connections: carving or saving the traffic.
func wantsDataBytes(cfg *Config) bool {
	return flagDir(carveFlag, cfg.Carve.Dir) != "" || flagDir(pcapFlag, cfg.Capture.Save.Dir) != ""
}

// attachDataChannels makes ftptap run's kernel filter pass the announced
// data channels when carving or saving the traffic wants their bytes.
func attachDataChannels(ctx context.Context, env *sinkEnv) (func() error, error) {
	if env.setDataFilter == nil {
		return nil, nil // replay: the capture has everything
	}
	if !wantsDataBytes(env.cfg) {
		return nil, nil
	}
	logf := func(format string, args ...any) { slog.Warn(fmt.Sprintf(format, args...)) }
	t := datachan.New(env.setDataFilter, logf)
	env.pipeline.AddSink(t)
	cs, err := tap.OpenControl(env.cfg.PortA, env.cfg.PortB, env.cfg.ControlPorts)
	if err != nil {
		// The events still add endpoints, only later.
		logf("datachan: %v: data channels join the kernel filter when the pipeline reads their announcement", err)
		return nil, nil
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := t.Watch(cs, env.cfg.ControlPorts); err != nil {
			logf("datachan: %v", err)
		}
	})
	return func() error {
		cs.Close()
		wg.Wait()
		return nil
	}, nil
}
