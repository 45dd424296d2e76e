package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/tap"
)

// Alert kinds of a tap port's link going down and coming back.
const (
	portDownAlert = "port_down"
	portUpAlert   = "port_up"
)

// watchPortLinks reports each tap port's link going down (a pulled cable)
// and coming back, as alert events, log lines and the heartbeat LED, until
// ctx ends. Capture resumes by itself: the kernel's rings go on once the
// link is back.
func watchPortLinks(ctx context.Context, cfg *Config, inject func(event.Event), logger *slog.Logger) {
	w, err := tap.WatchPorts(cfg.PortA, cfg.PortB)
	if err != nil {
		logger.Warn("tap: port links are not watched", "err", err)
		return
	}
	r := &portReporter{names: [2]string{cfg.PortA, cfg.PortB}, inject: inject, logger: logger, now: time.Now}
	if err := w.Run(ctx, r.change); err != nil {
		logger.Warn("tap: port links are no longer watched", "err", err)
	}
}

// portReporter turns link changes into events.
type portReporter struct {
	names  [2]string
	inject func(event.Event)
	logger *slog.Logger
	now    func() time.Time
	downAt [2]time.Time // when each port went down; zero while up
}

func (r *portReporter) change(i int, up bool) {
	side := event.Side(i + 1)
	key := [2]string{"port_a", "port_b"}[i]
	now := r.now().UTC()
	reportPort(side, up)
	if !up {
		if !r.downAt[i].IsZero() {
			return
		}
		r.downAt[i] = now
		d := fmt.Sprintf("%s %s: link down (cable pulled, or the other end is off): what crosses it is not seen until it is back", key, r.names[i])
		r.logger.Warn("tap: " + d)
		r.inject(event.Event{Type: event.TypeAlert, Time: now, Kind: portDownAlert, Detail: d})
		return
	}
	if r.downAt[i].IsZero() {
		return // up, as it was
	}
	gap := now.Sub(r.downAt[i])
	d := fmt.Sprintf("%s %s: link up again after %v: capture resumed; nothing was seen on it from %s to %s",
		key, r.names[i], gap.Round(time.Millisecond), r.downAt[i].Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	r.downAt[i] = time.Time{}
	r.logger.Info("tap: " + d)
	r.inject(event.Event{Type: event.TypeAlert, Time: now, Kind: portUpAlert, Detail: d})
}
