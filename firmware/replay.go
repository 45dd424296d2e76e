package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

func init() {
	register(command{name: "replay", summary: "run the pipeline over pcap/pcapng files and print events", run: runReplay})
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: ftptap replay [flags] FILE...

Runs the pipeline over capture files (pcap or pcapng, gzip-compressed or
not; - reads standard input) and prints the events as JSON lines, or with
--summary as tables. Several files are several tap ports (A, B, ...),
merged by timestamp. A line on stderr says what was read.

examples:
  ftptap replay --tap lab1 capture.pcap
  ftptap replay --summary porta.pcap portb.pcap
  ftptap replay --types transfer.end,login,alert --host 10.0.0.5 capture.pcapng
  tcpdump -i any -w - port 21 | ftptap replay -

flags:
`)
		printFlags(fs)
	}
	tapID := fs.String("tap", "", "the tap's `ID` in events (default: config, else the host name)")
	wantSummary := fs.Bool("summary", false, "print a readable table of sessions and transfers instead of events")
	configPath := fs.String("config", "", "config `FILE` (default: none for replay)")
	showPass := fs.Bool("show-passwords", false, "put PASS arguments, and replies that echo them, into events")
	types := fs.String("types", "", "print only events of these `TYPES`, comma-separated (transfer.end,login,alert); NATS gets all")
	host := fs.String("host", "", "print only events with an end at `IP` (client, server or data connection); NATS gets all")
	port := fs.String("port", "", "print only events with an end on TCP `PORT`; NATS gets all")
	session := fs.String("session", "", "print only the events of session `N` (as the summary numbers it: 7 or s7); NATS gets all")
	readAhead := fs.Bool("read-ahead", true, "read the files ahead on a second goroutine (same events, sooner)")
	var ports portList
	fs.Var(&ports, "control-port", "TCP `PORT` of FTP command channels (repeatable; default 21)")
	for _, o := range sinkOptions {
		o.flags(fs, "replay")
	}
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return fmt.Errorf("%w: no capture file given", errUsage)
	}
	sel, err := parseSelection(*types, *host, *port, *session)
	if err != nil {
		return err
	}
	// The sinks (NATS) log through the default logger: the format of
	// ftptap run.
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, nil)))
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if *tapID != "" {
		cfg.Tap = *tapID
	}
	if *showPass {
		cfg.ShowPasswords = true
	}
	if len(ports) > 0 {
		cfg.ControlPorts = ports
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	src, err := tap.OpenFiles(files...)
	if err != nil {
		return err
	}
	defer src.Close()

	// Written on a goroutine of its own: the write system calls do not
	// hold up the events.
	out := pipeline.NewWriter(stdout, 0)
	defer out.Close()
	var sum *summary
	var sessions, tftps, printed uint64
	var lines *pipeline.JSONLines // the events out, when there is no summary
	sinks := []pipeline.Sink{pipeline.EventFunc(func(ev *event.Event) {
		switch ev.Type {
		case event.TypeSessionStart:
			sessions++
		case event.TypeTFTPRequest:
			tftps++
		}
	})}
	if *wantSummary {
		sum = newSummary(out)
		// The summary sees every event of the selected hosts, ports and
		// sessions: --types picks the lines it shows, not what it counts
		// (a transfer's bytes are known from its data.open).
		var ofSessions *selection
		if sel != nil {
			sum.types, sum.selecting = sel.types, true
			s := *sel
			s.types = nil
			ofSessions = &s
		}
		sinks = append(sinks, filtered(ofSessions, pipeline.SinkFunc(func(ev *event.Event, js []byte) {
			if sel == nil || sel.match(ev) {
				printed++
			}
			sum.Event(ev, js)
		})))
	} else {
		// Encoded on a goroutine of its own too: this one only tracks.
		lines = pipeline.NewJSONLines(out)
		defer lines.Close()
		sinks = append(sinks, filtered(sel, lines), pipeline.EventFunc(func(ev *event.Event) {
			if sel == nil || sel.match(ev) {
				printed++
			}
		}))
	}
	p, err := pipeline.New(pipeline.Options{Tap: cfg.TapID(), Tracker: cfg.TrackerConfig(), TFTP: cfg.TFTPConfig(), Sinks: sinks})
	if err != nil {
		return err
	}
	closeSinks, err := attachSinks(ctx, &sinkEnv{cmd: "replay", cfg: cfg, pipeline: p, inputs: files})
	if err != nil {
		return err
	}
	start := time.Now()
	var in pipeline.Source = src
	// Standard input may stall (tcpdump -w - | ftptap replay -): read
	// ahead, a frame could wait there for the ones after it, and Ctrl-C
	// for the next batch. Files are read to their end at once.
	if *readAhead && !slices.Contains(files, tap.Stdin) {
		a := pipeline.ReadAhead(src, pipeline.AheadOptions{})
		defer a.Close()
		in = a
	}
	stopProgress := func() {}
	if isTerminal(stderr) {
		stopProgress = showProgress(stderr, src, p, start)
	}
	// Ctrl-C ends a read that waits on standard input too.
	stopInterrupt := context.AfterFunc(ctx, src.Interrupt)
	runErr := p.Run(ctx, in)
	stopInterrupt()
	stopProgress()
	closeErr := closeSinks()
	if sum != nil {
		sum.write(out)
	}
	var flushErr error
	if lines != nil {
		flushErr = lines.Close()
	} else {
		flushErr = out.Flush()
	}

	// The closing line: a replay that printed nothing says why.
	st := &p.Stats
	frames := st.Frames[0].Load() + st.Frames[1].Load() + st.Frames[2].Load()
	seen := plural(sessions, "session")
	if tftps > 0 {
		// TFTP's frames are UDP, counted as not TCP; its transfers are
		// no FTP sessions, and are counted on their own.
		seen += ", " + plural(tftps, "TFTP transfer")
	}
	line := fmt.Sprintf("ftptap replay: %s read (%d not TCP/IP), %s, %s", plural(frames, "frame"), st.NotTCP.Load(),
		seen, plural(st.Events.Load(), "event"))
	if sel != nil {
		line += fmt.Sprintf(" (%d selected)", printed)
	}
	fmt.Fprintf(stderr, "%s in %s\n", line, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		return fmt.Errorf("%w: the events of the %s read are written", errInterrupted, plural(frames, "frame"))
	}
	if flushErr != nil {
		return fmt.Errorf("write events: %w", flushErr)
	}
	if runErr != nil {
		return runErr
	}
	return closeErr
}

// errInterrupted marks a command stopped by SIGINT or SIGTERM; main exits
// 130, as a shell does for Ctrl-C.
var errInterrupted = errors.New("interrupted")

// plural writes n and the noun, in the plural unless n is 1.
func plural[N ~int | ~int64 | ~uint64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// showProgress redraws one line on a terminal every half second: bytes
// read, frames per second and, when the size is known, the time left. The
// returned function stops it and clears the line.
func showProgress(w io.Writer, src *tap.FileSource, p *pipeline.Pipeline, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
				read, size := src.Progress()
				st := &p.Stats
				frames := st.Frames[0].Load() + st.Frames[1].Load() + st.Frames[2].Load()
				fmt.Fprint(w, "\r\x1b[K"+progressLine(read, size, frames, time.Since(start)))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// progressLine is the text of the progress line.
func progressLine(read, size int64, frames uint64, elapsed time.Duration) string {
	s := "read " + humanBytes(read)
	if size > 0 {
		s += " of " + humanBytes(size)
	}
	if sec := elapsed.Seconds(); sec > 0 {
		s += fmt.Sprintf(", %.0f frames/s", float64(frames)/sec)
	}
	if size > 0 && read > 0 && read < size {
		left := time.Duration(float64(elapsed) * float64(size-read) / float64(read))
		s += ", " + left.Round(time.Second).String() + " left"
	}
	return s
}

// humanBytes writes a size in bytes, KiB, MiB or GiB.
func humanBytes(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// portList is a repeatable flag of TCP ports.
type portList []uint16

func (p *portList) String() string { return fmt.Sprint([]uint16(*p)) }
func (p *portList) Set(s string) error {
	var v uint16
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || v == 0 {
		return fmt.Errorf("bad port %q", s)
	}
	*p = append(*p, v)
	return nil
}
