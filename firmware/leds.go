package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/pin/pinreg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/rpi"
	"periph.io/x/host/v3/sysfs"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/leds"
)

func init() {
	registerSink(sinkOption{name: "leds", flags: ledFlags, attach: attachLEDs})
	register(command{name: "leds", summary: "check the LED wiring (ftptap leds test)", run: runLEDs})
}

var (
	// ledsFlag is --leds of the command being run.
	ledsFlag string
	// ledsOut is where --leds term draws and where missing hardware is
	// reported: stderr, so that events on stdout stay JSON lines.
	ledsOut io.Writer = os.Stderr
	// ledPanel is the attached panel, for reportDegraded and reportPort.
	ledPanel atomic.Pointer[leds.Panel]
)

// reportDegraded tells the alert LED that reason ("capture": packets
// dropped; "nats": the server is out of reach) is degraded or recovered.
// Any part of ftptap may call it, at any time; with no LEDs it does nothing.
func reportDegraded(reason string, on bool) {
	if p := ledPanel.Load(); p != nil {
		p.SetDegraded(reason, on)
	}
	if w := webServer.Load(); w != nil {
		w.SetDegraded(reason, on)
	}
}

// reportPort tells the heartbeat LED (and the page) whether a tap port is up.
func reportPort(side event.Side, up bool) {
	if p := ledPanel.Load(); p != nil {
		p.SetPort(side, up)
	}
	if w := webServer.Load(); w != nil {
		w.SetPort(side, up)
	}
}

// watchCaptureDrops reads the capture's drop counter every period until
// ctx ends, and keeps the alert LED blinking ("capture" degraded) while the
// count grew during the last period. ftptap run starts it for a live tap
// with the source's Stats().Drops; it returns when ctx is done.
func watchCaptureDrops(ctx context.Context, clock clockwork.Clock, period time.Duration, drops func() uint64) {
	last := drops() // before the ticker: once it exists, the start count is taken
	tk := clock.NewTicker(period)
	defer tk.Stop()
	degraded := false
	defer func() {
		if degraded {
			reportDegraded("capture", false)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.Chan():
			n := drops()
			if grew := n > last; grew != degraded {
				degraded = grew
				reportDegraded("capture", grew)
			}
			last = n
		}
	}
}

func ledFlags(fs *flag.FlagSet, cmd string) {
	def := "off"
	if cmd != "replay" {
		def = "the config's leds.mode, else gpio"
	}
	ledsFlag = ""
	fs.StringVar(&ledsFlag, "leds", "", "`MODE` of the LEDs: gpio (the configured pins), term (drawn on stderr), log (led events) or off (default: "+def+")")
}

// ledMode is the LED mode of a command: --leds, else (run) the config's,
// else off for replay and gpio for run.
func ledMode(env *sinkEnv) (string, error) {
	mode := ledsFlag
	if mode == "" && env.cmd != "replay" {
		mode = env.cfg.LEDs.Mode
		if mode == "" {
			mode = "gpio"
		}
	}
	if mode == "" {
		mode = "off"
	}
	if !validMode(mode) {
		return "", fmt.Errorf("%w: --leds %q: want gpio, term, log or off", errUsage, mode)
	}
	return mode, nil
}

// attachLEDs adds a leds.Panel to the pipeline. In replay the LEDs follow
// packet time, so --leds log gives the same timeline for a capture every
// time; live, they follow the wall clock and blink on a ticker.
func attachLEDs(ctx context.Context, env *sinkEnv) (func() error, error) {
	mode, err := ledMode(env)
	if err != nil || mode == "off" {
		return nil, err
	}
	cfg := &env.cfg.LEDs
	opts := leds.Options{PacketTime: !env.live, AlertHold: cfg.AlertHold}
	for _, rl := range cfg.roles() {
		opts.Roles = append(opts.Roles, rl.role)
	}
	var cleanup []func() error
	switch mode {
	case "log":
		emit := env.pipeline.Emit // replay: called on the pipeline goroutine
		if env.live {
			emit = env.pipeline.Inject // live: also from the ticker
		}
		opts.OnChange = func(c leds.Change) {
			emit(event.Event{Type: event.TypeLED, Time: c.Time, Kind: c.Role.String(), State: c.State.String()})
		}
	case "term":
		term := leds.NewTerm(ledsOut, env.live && isTerminal(ledsOut))
		opts.OnShow = term.Show
		cleanup = append(cleanup, func() error { term.Close(); return nil })
	case "gpio":
		outs, restore, err := openLEDs(cfg)
		if errors.Is(err, errNoGPIO) {
			fmt.Fprintf(ledsOut, "ftptap %s: %v; running without LEDs\n", env.cmd, err)
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		opts.Outputs = outs
		opts.Logf = func(format string, args ...any) {
			fmt.Fprintf(ledsOut, "ftptap %s: "+format+"\n", append([]any{env.cmd}, args...)...)
		}
		cleanup = append(cleanup, restore)
	}
	closeAll := func() error {
		var errs []error
		for i := len(cleanup) - 1; i >= 0; i-- {
			errs = append(errs, cleanup[i]())
		}
		return errors.Join(errs...)
	}
	panel, err := leds.New(opts)
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	env.pipeline.AddSink(panel)
	ledPanel.Store(panel)
	if env.live {
		panel.Start()
	}
	var once sync.Once
	var closeErr error
	return func() error {
		once.Do(func() {
			ledPanel.CompareAndSwap(panel, nil)
			// Halt first: every LED off, then the on-board ones go back
			// to their kernel triggers.
			closeErr = errors.Join(panel.Close(), closeAll())
		})
		return closeErr
	}, nil
}

// errNoGPIO is the error of a machine with none of the configured pins and
// no Raspberry Pi: ftptap runs on, without LEDs.
var errNoGPIO = errors.New("leds: no GPIO on this machine (not a Raspberry Pi)")

// openLEDs opens the configured LEDs: GPIO lines by name through periph's
// registry, on-board LEDs through its sysfs driver, whose kernel trigger it
// sets to none (restore puts them back). A pin that does not exist is an
// error naming it; with no pin found on a machine that is no Raspberry Pi,
// the error is errNoGPIO.
func openLEDs(cfg *LEDConfig) (outs []leds.Output, restore func() error, err error) {
	state, err := host.Init()
	if err != nil {
		return nil, nil, fmt.Errorf("leds: %w", err)
	}
	var missing []string
	var boards []string
	usedBy := map[string]leds.Role{}
	for _, rl := range cfg.roles() {
		var p gpio.PinOut
		var key string
		if rl.Pin != "" {
			gp := gpioreg.ByName(rl.Pin)
			if gp == nil {
				missing = append(missing, fmt.Sprintf("pin %q", rl.Pin))
				continue
			}
			p, key = gp, "pin "+realName(gp)
		} else {
			led, err := sysfs.LEDByName(rl.LED)
			if err != nil {
				missing = append(missing, fmt.Sprintf("on-board LED %q", rl.LED))
				continue
			}
			p, key = led, "led "+led.Name()
			boards = append(boards, rl.LED)
		}
		// Two names of one line (GPIO17 and P1_11) are one pin.
		if other, ok := usedBy[key]; ok {
			return nil, nil, fmt.Errorf("leds: %s and %s use the same %s", other, rl.role, key)
		}
		usedBy[key] = rl.role
		outs = append(outs, leds.Output{Role: rl.role, Pin: p, ActiveLow: rl.ActiveLow})
	}
	if len(missing) > 0 {
		if len(outs) == 0 && !rpi.Present() {
			return nil, nil, errNoGPIO
		}
		return nil, nil, fmt.Errorf("leds: %s not found%s", missing[0], driverFailures(state.Failed))
	}
	var restores []func() error
	restore = func() error {
		var errs []error
		for i := len(restores) - 1; i >= 0; i-- {
			errs = append(errs, restores[i]())
		}
		return errors.Join(errs...)
	}
	for _, name := range boards {
		r, err := leds.ClaimTrigger(filepath.Join(leds.SysfsLEDs, name))
		if err != nil {
			return nil, nil, errors.Join(err, restore())
		}
		restores = append(restores, r)
	}
	return outs, restore, nil
}

// realName returns the name of the line behind an alias.
func realName(p gpio.PinIO) string {
	if r, ok := p.(gpio.RealPin); ok {
		return r.Real().Name()
	}
	return p.Name()
}

// driverFailures explains a missing pin by the drivers that failed: on a
// Pi 5 bcm283x fails without /dev/gpiomem and gpioioctl carries the pins,
// but gpioioctl itself fails when /dev/gpiochip* is not readable (run in
// group gpio).
func driverFailures(failed []driverreg.DriverFailure) string {
	if len(failed) == 0 {
		return ""
	}
	var parts []string
	for _, f := range failed {
		parts = append(parts, f.String())
	}
	return " (drivers that failed: " + strings.Join(parts, "; ") + ")"
}

// isTerminal reports whether w is a terminal, where --leds term redraws one
// line in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && f.Name() != os.DevNull
}

// runLEDs is "ftptap leds test": it lights each configured LED in turn,
// printing its role, so that a person can check the wiring.
func runLEDs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return trimPrefix(testLEDs(ctx, args, stdout, stderr), "leds: ")
}

// trimPrefix drops a package prefix that would repeat the command's name
// ("ftptap leds: leds: ..."), keeping the error for errors.Is.
func trimPrefix(err error, prefix string) error {
	if err == nil || !strings.HasPrefix(err.Error(), prefix) {
		return err
	}
	return &prefixError{strings.TrimPrefix(err.Error(), prefix), err}
}

type prefixError struct {
	msg string
	err error
}

func (e *prefixError) Error() string { return e.msg }
func (e *prefixError) Unwrap() error { return e.err }

func testLEDs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("leds", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: ftptap leds test [flags]\n\nLights each configured LED in turn and prints its role.\n\nexample:\n  ftptap leds test --hold 2s\n\nflags:")
		printFlags(fs)
	}
	configPath := fs.String("config", DefaultConfigPath, "config `FILE`")
	hold := fs.Duration("hold", time.Second, "how long each LED stays lit (a `DURATION`)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "test" {
		fs.Usage()
		return fmt.Errorf("%w: want \"ftptap leds test\"", errUsage)
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	outs, restore, err := openLEDs(&cfg.LEDs)
	if errors.Is(err, errNoGPIO) {
		return fmt.Errorf("%w: nothing to test", err)
	}
	if err != nil {
		return err
	}
	// A panel of the same pins turns them all off first, and on return.
	panel, err := leds.New(leds.Options{Outputs: outs, PacketTime: true})
	if err != nil {
		return errors.Join(err, restore())
	}
	var testErr error
	for _, o := range outs {
		fmt.Fprintf(stdout, "%-9s %s\n", o.Role, describePin(o))
		if err := o.Pin.Out(gpio.Level(!o.ActiveLow)); err != nil {
			testErr = fmt.Errorf("leds: %s: %s: %w", o.Role, o.Pin, err)
			break
		}
		t := time.NewTimer(*hold)
		select {
		case <-ctx.Done():
			testErr = ctx.Err()
		case <-t.C:
		}
		t.Stop()
		if err := o.Pin.Out(gpio.Level(o.ActiveLow)); err != nil && testErr == nil {
			testErr = fmt.Errorf("leds: %s: %s: %w", o.Role, o.Pin, err)
		}
		if testErr != nil {
			break
		}
	}
	return errors.Join(testErr, panel.Close(), restore())
}

// describePin names a pin for a person with a wire in hand: the GPIO name
// and, on a Pi, the header pin.
func describePin(o leds.Output) string {
	var b strings.Builder
	switch p := o.Pin.(type) {
	case *sysfs.LED:
		fmt.Fprintf(&b, "on-board LED %s", p.Name())
	case gpio.PinIO:
		b.WriteString(realName(p))
		if hdr, n := pinreg.Position(p); n != 0 {
			fmt.Fprintf(&b, " (header %s pin %d)", hdr, n)
		}
	default:
		fmt.Fprint(&b, o.Pin)
	}
	if o.ActiveLow {
		b.WriteString(", active low")
	}
	return b.String()
}
