package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

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
		fmt.Fprintln(stderr, "usage: ftptap replay [flags] FILE...\n\nSeveral files are several tap ports (A, B, ...), merged by timestamp.\n\nflags:")
		fs.PrintDefaults()
	}
	tapID := fs.String("tap", "", "the tap's id in events (default: config, else the host name)")
	wantSummary := fs.Bool("summary", false, "print a readable table of sessions and transfers instead of events")
	configPath := fs.String("config", "", "config file (default: none for replay)")
	showPass := fs.Bool("show-passwords", false, "put PASS arguments into events")
	readAhead := fs.Bool("read-ahead", true, "read the files ahead on a second goroutine (same events, sooner)")
	var ports portList
	fs.Var(&ports, "control-port", "TCP port of FTP command channels (repeatable; default 21)")
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

	out := bufio.NewWriterSize(stdout, 64<<10)
	var sum *summary
	var sinks []pipeline.Sink
	if *wantSummary {
		sum = newSummary()
		sinks = append(sinks, sum)
	} else {
		sinks = append(sinks, pipeline.SinkFunc(func(ev *event.Event, js []byte) {
			out.Write(js)
			out.WriteByte('\n')
		}))
	}
	p, err := pipeline.New(pipeline.Options{Tap: cfg.TapID(), Tracker: cfg.TrackerConfig(), Sinks: sinks})
	if err != nil {
		return err
	}
	closeSinks, err := attachSinks(ctx, &sinkEnv{cmd: "replay", cfg: cfg, pipeline: p})
	if err != nil {
		return err
	}
	var in pipeline.Source = src
	if *readAhead {
		a := pipeline.ReadAhead(src, pipeline.AheadOptions{})
		defer a.Close()
		in = a
	}
	runErr := p.Run(ctx, in)
	closeErr := closeSinks()
	if sum != nil {
		sum.write(out)
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	if runErr != nil {
		return runErr
	}
	return closeErr
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
