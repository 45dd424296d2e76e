package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

func init() {
	register(command{name: "run", summary: "capture live on the two ports of an inline tap and report events", run: runRun})
}

// runFlags are the flags of ftptap run that override the config.
type runFlags struct {
	portA, portB, tapID, events, config string
	noBridge, showPass, force           bool
	ports                               portList
}

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	fs.Usage = func() {
		d := ftpstate.Defaults()
		fmt.Fprintf(fs.Output(), `usage: ftptap run --port-a IF --port-b IF [--no-bridge] [--tap ID] [--events FILE|-] [--config FILE]

Captures on two interfaces, the ports of an inline tap, and reports every FTP
session that crosses it. By default ftptap bridges the two ports (the kernel
forwards, so the link survives ftptap); --no-bridge where something else
forwards. Needs CAP_NET_RAW and, for the bridge, CAP_NET_ADMIN.

Everything is checked before the ports are touched: a port that carries a
global address or the default route (the management NIC) is refused unless
--force.

The default caps fit a Raspberry Pi Zero (512 MB) with room to spare: %d
sessions, %d data connections, a tracker memory budget of %d MiB (the
session idle longest is evicted past them), a %d MiB capture ring per port
(config limits: and capture.ring_mib; docs/performance.md).

examples:
  ftptap run --port-a eth1 --port-b eth2 --events -
  ftptap run --config /etc/ftptap/config.yaml
  ftptap run --port-a eth1 --port-b eth2 --no-bridge --nats off --events /var/log/ftptap.jsonl

flags:
`, d.MaxSessions, d.MaxDataConns, d.MaxBytes>>20, defaultRingMiB)
		printFlags(fs)
	}
	var f runFlags
	fs.StringVar(&f.portA, "port-a", "", "`IF`: interface of tap port A (default: config port_a)")
	fs.StringVar(&f.portB, "port-b", "", "`IF`: interface of tap port B (default: config port_b)")
	fs.BoolVar(&f.noBridge, "no-bridge", false, "do not bridge the ports: something else forwards (passive tap, SPAN)")
	fs.BoolVar(&f.force, "force", false, "bridge a port even if it carries a global address or the default route (config bridge.force)")
	fs.StringVar(&f.tapID, "tap", "", "the tap's `ID` in events (default: config, else the host name)")
	fs.StringVar(&f.events, "events", "", "write events as JSON lines to `FILE` (appended), or - for stdout (default: config events, else none)")
	fs.StringVar(&f.config, "config", "", "config `FILE` (default: "+DefaultConfigPath+" if present)")
	fs.BoolVar(&f.showPass, "show-passwords", false, "put PASS arguments into events")
	fs.Var(&f.ports, "control-port", "TCP `PORT` of FTP command channels (repeatable; default 21)")
	for _, o := range sinkOptions {
		o.flags(fs, "run")
	}
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected argument %q (ports are named with --port-a and --port-b)", errUsage, rest[0])
	}
	cfg, err := runConfig(&f)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	// The sinks (NATS, LEDs) log through the default logger: one format
	// for journald.
	slog.SetDefault(logger)
	return runTap(ctx, cfg, stdout, logger)
}

// runConfig loads the config and lays the flags over it.
func runConfig(f *runFlags) (*Config, error) {
	path := f.config
	if path == "" {
		path = DefaultConfigPath
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if f.portA != "" {
		cfg.PortA = f.portA
		cfg.setByFlag("port_a")
	}
	if f.portB != "" {
		cfg.PortB = f.portB
		cfg.setByFlag("port_b")
	}
	if f.noBridge {
		off := false
		cfg.Bridge.Enabled = &off
	}
	if f.force {
		cfg.Bridge.Force = true
	}
	if f.tapID != "" {
		cfg.Tap = f.tapID
		cfg.setByFlag("tap")
	}
	if f.events != "" {
		cfg.Events = f.events
	}
	if f.showPass {
		cfg.ShowPasswords = true
	}
	if len(f.ports) > 0 {
		cfg.ControlPorts = f.ports
		cfg.setByFlag("control_ports")
	}
	if cfg.PortA == "" || cfg.PortB == "" {
		return nil, fmt.Errorf("%w: two ports are needed: --port-a and --port-b (or port_a and port_b in the config)", errUsage)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// runTap is ftptap run once the config is known: bridge, capture, the
// pipeline and its sinks, until ctx ends (SIGINT, SIGTERM). Then it stops
// capture, ends open sessions (reason shutdown), writes the last events and
// returns nil.
//
// Everything that can be refused is checked, opened or bound before the
// bridge touches a port: the ports themselves (checkPorts), the events file,
// the sinks (LED mode and pins, the NATS and /metrics listen addresses). A
// mistake then leaves the interfaces as they were; on a Pi, naming the
// management NIC as a port would otherwise cut the SSH session before the
// refusal.
func runTap(ctx context.Context, cfg *Config, stdout io.Writer, logger *slog.Logger) error {
	logf := func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) }
	if err := checkPorts(cfg); err != nil {
		return err
	}
	var events *eventWriter
	var sinks []pipeline.Sink
	if cfg.Events != "" {
		var err error
		if events, err = openEventWriter(cfg.Events, stdout); err != nil {
			return err
		}
		sinks = append(sinks, events)
	}
	tc := cfg.TrackerConfig()
	tc.ClockStep = liveClockStep
	// Without carving or saving, the kernel filter keeps data bytes out
	// (see attachDataChannels), so a data FIN is never a sign of bytes
	// still to come.
	tc.DataFiltered = !wantsDataBytes(cfg)
	p, err := pipeline.New(pipeline.Options{Tap: cfg.TapID(), Tracker: tc, TFTP: cfg.TFTPConfig(), Sinks: sinks})
	if err != nil {
		events.Close()
		return err
	}
	var capture atomic.Pointer[tap.LiveSource] // set once capture is open
	// The sinks start before capture does: a data filter set meanwhile
	// waits in pending and is applied once capture is open.
	var filterMu sync.Mutex // guards pending
	var pending *tap.DataFilter
	env := &sinkEnv{cmd: "run", cfg: cfg, pipeline: p, live: true, setDataFilter: func(eps []netip.AddrPort, pairs [][2]netip.Addr) error {
		f := &tap.DataFilter{Endpoints: eps, Pairs: pairs}
		filterMu.Lock()
		defer filterMu.Unlock()
		if l := capture.Load(); l != nil {
			return l.SetDataFilter(f)
		}
		pending = f
		return nil
	}, counters: func() []event.Counter {
		if l := capture.Load(); l != nil {
			return captureCounters(l.Stats())
		}
		return captureCounters(tap.Stats{})
	}}
	closeSinks, err := attachSinks(ctx, env)
	if err != nil {
		events.Close()
		return err
	}
	abort := func(err error) error {
		closeSinks()
		events.Close()
		return err
	}

	bridge := "none"
	if cfg.BridgeOn() {
		br, err := tap.SetupBridge(cfg.BridgeIfName(), cfg.PortA, cfg.PortB, logf)
		if err != nil {
			return abort(captureError(err))
		}
		bridge = br.Name
	}
	opts := cfg.LiveOptions()
	applyRing(cfg, opts, logger)
	opts.Logf = func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) }
	live, err := tap.OpenLive(cfg.PortA, cfg.PortB, opts)
	if err != nil {
		return abort(captureError(err))
	}
	defer live.Close()
	filterMu.Lock()
	capture.Store(live)
	if pending != nil {
		if err := live.SetDataFilter(pending); err != nil {
			logger.Warn("datachan: " + err.Error())
		}
	}
	filterMu.Unlock()
	src := &watchedSource{src: live, start: time.Now()}

	// Stop the source when ctx ends: ReadFrame returns what the rings
	// still hold, then io.EOF, and Run flushes the tracker. Closing it
	// instead would lose the frames captured but not read yet.
	var wg sync.WaitGroup
	runCtx, stopWatchers := context.WithCancel(ctx)
	wg.Add(3)
	go func() {
		defer wg.Done()
		<-runCtx.Done()
		live.Stop()
	}()
	go func() {
		defer wg.Done()
		watchPortLinks(runCtx, cfg, p.Inject, logger)
	}()
	go func() {
		defer wg.Done()
		watchCaptureDrops(runCtx, clockwork.NewRealClock(), 5*time.Second, func() uint64 { return live.Stats().Drops() })
	}()
	for _, side := range []event.Side{event.SideA, event.SideB} {
		reportPort(side, true)
	}
	stopWatchdog, err := startWatchdog(runCtx, src.healthy, logger)
	if err != nil {
		logger.Warn("systemd watchdog off", "err", err)
	}
	ports := cfg.ControlPorts
	if len(ports) == 0 {
		ports = []uint16{21}
	}
	logger.Info("capturing", "tap", cfg.TapID(), "port_a", cfg.PortA, "port_b", cfg.PortB,
		"bridge", bridge, "filter", opts.Filter.String(), "control_ports", fmt.Sprint(ports), "events", cfg.Events)
	if err := notifyReady(fmt.Sprintf("capturing on %s and %s", cfg.PortA, cfg.PortB)); err != nil {
		logger.Warn("sd_notify", "err", err)
	}

	// Not ctx: Run would stop at once, before the source drains.
	runErr := p.Run(context.WithoutCancel(ctx), src)
	notifyStopping()
	stopWatchdog()
	stopWatchers()
	wg.Wait()
	live.Close()
	st := live.Stats()
	logger.Info("stopped", "frames", st.Frames, "events", p.Stats.Events.Load(),
		"kernel_packets", st.Ports[0].Packets+st.Ports[1].Packets, "kernel_drops", st.Drops())
	closeErr := closeSinks()
	evErr := events.Close()
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return errors.Join(closeErr, evErr)
}

// checkPorts checks both ports before anything changes them: they exist,
// and, when ftptap bridges them, neither carries this machine's own traffic
// (a global address, the default route) unless bridge.force or --force
// says to go ahead.
func checkPorts(cfg *Config) error {
	for _, port := range []string{cfg.PortA, cfg.PortB} {
		err := tap.CheckPort(port)
		switch {
		case errors.Is(err, tap.ErrManagedPort) && !cfg.BridgeOn():
			// Only watched: capture changes nothing on the port.
		case errors.Is(err, tap.ErrManagedPort) && cfg.Bridge.Force:
			slog.Warn("bridging a port that carries this machine's own traffic (--force)", "port", port, "err", err)
		case errors.Is(err, tap.ErrManagedPort):
			return fmt.Errorf("%w: bridging it would cut this machine off that network (and an SSH session over it); "+
				"name the two interfaces of the tap, or --force (bridge.force: true) if this is really meant", err)
		case err != nil:
			return captureError(err)
		}
	}
	return nil
}

// captureCounters are the live source's figures for status events and
// /metrics.
func captureCounters(st tap.Stats) []event.Counter {
	return []event.Counter{
		{Name: "kernel_drops", Value: int64(st.Drops())},
		{Name: "kernel_packets_a", Value: int64(st.Ports[0].Packets)},
		{Name: "kernel_packets_b", Value: int64(st.Ports[1].Packets)},
		{Name: "kernel_freeze_a", Value: int64(st.Ports[0].FreezeQueue)},
		{Name: "kernel_freeze_b", Value: int64(st.Ports[1].FreezeQueue)},
	}
}

// captureError adds to a capture or bridge error what to do about it.
func captureError(err error) error {
	var oe *tap.OpError
	switch {
	case errors.Is(err, os.ErrPermission) && errors.As(err, &oe):
		c := oe.Capability()
		return fmt.Errorf("%w: needs %s (run as root, or grant it: setcap %s+ep, or the service's AmbientCapabilities)", err, c, strings.ToLower(c))
	case errors.Is(err, tap.ErrInterfaceDown):
		return fmt.Errorf("%w (bring it up, or leave out --no-bridge so that ftptap bridges and brings up the ports)", err)
	}
	return err
}

// watchedSource records when the source last returned, for the watchdog:
// a live source returns a frame or a tick at least every 500ms.
// Times are taken on the monotonic clock (durations since start): a Pi has
// no RTC, and its wall clock steps at NTP sync.
type watchedSource struct {
	src   pipeline.Source
	start time.Time    // set before the first ReadFrame
	last  atomic.Int64 // time.Since(start) at the last return, in ns; 0: none yet
}

func (w *watchedSource) ReadFrame() (pipeline.Frame, error) {
	f, err := w.src.ReadFrame()
	w.last.Store(int64(time.Since(w.start)) | 1)
	return f, err
}

// healthy fails when the pipeline has not read from the source for 10s:
// capture or the tracker is stuck.
func (w *watchedSource) healthy() error {
	last := w.last.Load()
	if last == 0 {
		return nil // not started yet
	}
	if d := time.Since(w.start) - time.Duration(last); d > 10*time.Second {
		return fmt.Errorf("no frame or tick read for %v", d.Round(time.Second))
	}
	return nil
}

// eventWriter writes events as JSON lines through a bounded queue, so that a
// slow reader of stdout or a slow disk never stalls capture: when the queue
// is full, events are dropped and counted.
type eventWriter struct {
	ch      chan []byte
	done    chan struct{}
	w       *bufio.Writer
	f       *os.File // nil for stdout
	dropped atomic.Uint64
	err     error // the first write error; read after done
	once    sync.Once
}

const eventQueue = 1 << 16

// openEventWriter opens dest: "-" is stdout, anything else a file that is
// appended to (created 0640).
func openEventWriter(dest string, stdout io.Writer) (*eventWriter, error) {
	e := &eventWriter{ch: make(chan []byte, eventQueue), done: make(chan struct{})}
	out := stdout
	if dest != "-" {
		f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		e.f, out = f, f
	}
	e.w = bufio.NewWriterSize(out, 64<<10)
	go e.loop()
	return e, nil
}

// Event queues one event; it never blocks.
func (e *eventWriter) Event(_ *event.Event, js []byte) {
	b := make([]byte, len(js)+1)
	copy(b, js)
	b[len(js)] = '\n'
	select {
	case e.ch <- b:
	default:
		e.dropped.Add(1)
	}
}

func (e *eventWriter) loop() {
	defer close(e.done)
	for b := range e.ch {
		if e.err != nil {
			continue
		}
		_, e.err = e.w.Write(b)
		if len(e.ch) == 0 && e.err == nil {
			e.err = e.w.Flush() // idle: let readers see it now
		}
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
}

// Close writes what is queued and closes the file. A nil *eventWriter is
// fine.
func (e *eventWriter) Close() error {
	if e == nil {
		return nil
	}
	e.once.Do(func() {
		close(e.ch)
		<-e.done
		if e.f != nil {
			if err := e.f.Close(); e.err == nil {
				e.err = err
			}
		}
		if n := e.dropped.Load(); n > 0 && e.err == nil {
			e.err = fmt.Errorf("%d events dropped: the events output was too slow", n)
		}
	})
	if e.err != nil {
		return fmt.Errorf("events: %w", e.err)
	}
	return nil
}
