package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// The service runs as Type=notify with WatchdogSec= (firmware/ftptap.service):
// systemd counts ftptap as started only once it says READY=1, and restarts it
// when no WATCHDOG=1 arrives within WatchdogSec. Outside systemd
// (NOTIFY_SOCKET and WATCHDOG_USEC unset) every function here does nothing,
// so `ftptap run` behaves the same by hand and under the unit.
//
// The protocol is sd_notify(3): one datagram of NEWLINE-separated
// VARIABLE=value assignments to the unix socket named in $NOTIFY_SOCKET.

// notifyReady tells systemd that capture has started: call it once the ports
// are open and the pipeline runs, not before, so that `systemctl start`
// returns only when the tap really watches. status is a one-line text that
// `systemctl status ftptap` shows; it may be empty.
func notifyReady(status string) error {
	state := daemon.SdNotifyReady
	if status != "" {
		state += "\nSTATUS=" + oneLine(status)
	}
	return sdNotify(state)
}

// notifyStatus updates the text that `systemctl status ftptap` shows.
func notifyStatus(status string) error {
	return sdNotify("STATUS=" + oneLine(status))
}

// notifyStopping tells systemd that shutdown has begun (the flush of open
// sessions and the NATS drain may take a few seconds), so that it waits for
// TimeoutStopSec instead of treating the pause as a hang.
func notifyStopping() error {
	return sdNotify(daemon.SdNotifyStopping)
}

func sdNotify(state string) error {
	// unsetEnvironment false: the watchdog goroutine and later calls still
	// need NOTIFY_SOCKET.
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// oneLine keeps a status text from adding assignments of its own.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}

// watchdogInterval is how long systemd waits for a WATCHDOG=1 from this
// process: zero when the watchdog is off (no WATCHDOG_USEC, or it names
// another PID).
func watchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("sd_notify: watchdog: %w", err)
	}
	return d, nil
}

// startWatchdog feeds systemd's watchdog until ctx is done or stop is called.
// It sends WATCHDOG=1 every third of the interval, but only while healthy
// returns nil: a pipeline that has stopped moving must not be kept alive by
// a timer that still ticks, so a failing check withholds the ping and
// systemd restarts ftptap after WatchdogSec (the bridge keeps forwarding
// meanwhile). Pinging three times per interval, not the usual two, lets one
// failed check pass (a check that saw the wall clock step at NTP sync, say)
// without a restart; a stall that lasts trips the watchdog all the same.
// A nil healthy counts as always healthy. Failures are logged once per
// change, on logger (nil: slog.Default()).
//
// stop ends the loop and waits for its goroutine; it is safe to call more
// than once. With the watchdog off, startWatchdog starts nothing.
func startWatchdog(ctx context.Context, healthy func() error, logger *slog.Logger) (stop func(), err error) {
	interval, err := watchdogInterval()
	if err != nil || interval <= 0 {
		return func() {}, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runWatchdog(ctx, interval/3, healthy, logger)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}, nil
}

// runWatchdog is startWatchdog's loop: a ping right away, then one per tick.
func runWatchdog(ctx context.Context, every time.Duration, healthy func() error, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var failing error // the check's last error, to log changes only
	for {
		var err error
		if healthy != nil {
			err = healthy()
		}
		switch {
		case err != nil:
			if failing == nil || failing.Error() != err.Error() {
				logger.Error("watchdog: not pinging systemd; it will restart ftptap", "err", err)
			}
			failing = err
		default:
			if failing != nil {
				logger.Info("watchdog: healthy again")
				failing = nil
			}
			if err := sdNotify(daemon.SdNotifyWatchdog); err != nil {
				logger.Warn("watchdog: ping failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
