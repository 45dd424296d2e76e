package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ftptap/ftptap/carve"
	"github.com/ftptap/ftptap/event"
)

func init() {
	registerSink(sinkOption{name: "carve", flags: carveFlags, attach: attachCarve})
	for name, s := range map[string]promSpec{
		"carve_files":     {"ftptap_carve_files_total", "Files carved from data channels.", prometheus.CounterValue, nil},
		"carve_bytes":     {"ftptap_carve_bytes_total", "Bytes written to carved files.", prometheus.CounterValue, nil},
		"carve_partial":   {"ftptap_carve_partial_total", "Carved files with gaps, cut short, or of incomplete transfers.", prometheus.CounterValue, nil},
		"carve_skipped":   {"ftptap_carve_skipped_total", "Transfers not carved: TLS, too many at once.", prometheus.CounterValue, nil},
		"carve_file_caps": {"ftptap_carve_file_caps_total", "Files cut at the per-file cap.", prometheus.CounterValue, nil},
		"carve_errors":    {"ftptap_carve_errors_total", "Carving write, rename and sidecar errors.", prometheus.CounterValue, nil},
		"carve_stopped":   {"ftptap_carve_stopped", "1 once carving has stopped (a cap, a full disk).", prometheus.GaugeValue, nil},
	} {
		promSpecs[name] = s
	}
}

// CarveConfig is the carve: section of the config file.
type CarveConfig struct {
	// Dir is where carved files go; empty: no carving (the default).
	Dir string `yaml:"dir"`
	// MaxFileMiB caps one file. Default: 4096.
	MaxFileMiB int64 `yaml:"max_file_mib"`
	// MaxTotalMiB caps what one run carves. Default: 65536.
	MaxTotalMiB int64 `yaml:"max_total_mib"`
	// MinFreeMiB is the free space carving leaves on the disk. Default: 256.
	MinFreeMiB int64 `yaml:"min_free_mib"`
	// MaxOpen caps the transfers carved at once. Default: 256.
	MaxOpen int `yaml:"max_open"`
}

func (c *CarveConfig) validate() error {
	for _, v := range []struct {
		key string
		n   int64
	}{{"max_file_mib", c.MaxFileMiB}, {"max_total_mib", c.MaxTotalMiB}, {"min_free_mib", c.MinFreeMiB}, {"max_open", int64(c.MaxOpen)}} {
		if v.n < 0 || v.n > 1<<30 {
			return fmt.Errorf("config: carve.%s %d: want 0 (the default) or a positive size", v.key, v.n)
		}
	}
	return nil
}

// carveFlag is --carve of run and replay.
var carveFlag string

// carver is the running carver, for status counters; nil when off.
var carver atomic.Pointer[carve.Carver]

func carveFlags(fs *flag.FlagSet, cmd string) {
	carveFlag = ""
	fs.StringVar(&carveFlag, "carve", "", "write every transferred file and listing under `DIR` (default: the config's carve.dir; none: off)")
}

// carveCounters returns the carver's figures for status events and /metrics.
func carveCounters() []event.Counter {
	if c := carver.Load(); c != nil {
		return c.Counters()
	}
	return nil
}

func attachCarve(ctx context.Context, env *sinkEnv) (func() error, error) {
	dir := flagDir(carveFlag, env.cfg.Carve.Dir)
	if dir == "" {
		return nil, nil
	}
	cc := env.cfg.Carve
	c, err := carve.New(carve.Config{
		Dir:           dir,
		MaxFileBytes:  cc.MaxFileMiB << 20,
		MaxTotalBytes: cc.MaxTotalMiB << 20,
		MinFreeBytes:  cc.MinFreeMiB << 20,
		MaxOpen:       cc.MaxOpen,
		Emit:          env.pipeline.Emit,
		Logf:          func(format string, args ...any) { slog.Warn(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return nil, err
	}
	env.pipeline.AddSink(c)
	carver.Store(c)
	return func() error {
		carver.Store(nil)
		return c.Close()
	}, nil
}
