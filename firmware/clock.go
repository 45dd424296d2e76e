package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
)

// liveClockStep is the forward jump of packet time that ftptap run takes
// as the clock being set rather than time passing: the live source ticks
// every half second, so a minute without one is the clock, not the
// network.
const liveClockStep = time.Minute

func init() {
	registerSink(sinkOption{name: "clock", flags: func(*flag.FlagSet, string) {}, attach: attachClockLog})
}

// attachClockLog logs each step of the clock once while ftptap run
// captures (a Pi has no real-time clock: NTP sets it after boot). The
// event itself (alert.clock_step) goes to every sink as usual.
func attachClockLog(ctx context.Context, env *sinkEnv) (func() error, error) {
	if env.live {
		env.pipeline.AddSink(clockLog{})
	}
	return nil, nil
}

type clockLog struct{}

func (clockLog) Event(ev *event.Event, _ []byte) {
	if ev.Type == event.TypeAlert && ev.Kind == ftpstate.ClockStepAlert {
		slog.Warn("clock: " + ev.Detail)
	}
}
