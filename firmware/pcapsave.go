package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ftptap/ftptap/pcapsave"
)

func init() {
	registerSink(sinkOption{name: "pcap", flags: pcapFlags, attach: attachPcap})
}

// SaveConfig is the capture.save: section of the config file.
type SaveConfig struct {
	// Dir is where the pcapng files go; empty: none (the default).
	Dir string `yaml:"dir"`
	// MaxFileMiB rotates a file at this size. Default: 64.
	MaxFileMiB int64 `yaml:"max_file_mib"`
	// MaxAge rotates a file after this long. Default: 1h.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxTotalMiB caps the files kept; the oldest go first. Default: 1024.
	MaxTotalMiB int64 `yaml:"max_total_mib"`
}

func (c *SaveConfig) validate() error {
	if c.MaxFileMiB < 0 || c.MaxTotalMiB < 0 || c.MaxAge < 0 {
		return fmt.Errorf("config: capture.save: sizes and max_age must not be negative")
	}
	f, t := c.MaxFileMiB, c.MaxTotalMiB
	if f == 0 {
		f = pcapsave.DefaultMaxFileBytes >> 20
	}
	if t == 0 {
		t = pcapsave.DefaultMaxTotalBytes >> 20
	}
	if t < 2*f {
		return fmt.Errorf("config: capture.save.max_total_mib %d: must hold two files of max_file_mib %d", t, f)
	}
	return nil
}

// pcapFlag is --pcap of run and replay.
var pcapFlag string

func pcapFlags(fs *flag.FlagSet, cmd string) {
	pcapFlag = ""
	fs.StringVar(&pcapFlag, "pcap", "", "save the FTP traffic (command and data channels) as rotating pcapng files in `DIR` (default: the config's capture.save.dir; none: off)")
}

func attachPcap(ctx context.Context, env *sinkEnv) (func() error, error) {
	sc := env.cfg.Capture.Save
	dir := flagDir(pcapFlag, sc.Dir)
	if dir == "" {
		return nil, nil
	}
	var ports []string
	switch {
	case env.live:
		ports = []string{env.cfg.PortA, env.cfg.PortB}
	case len(env.inputs) == 2:
		ports = []string{filepath.Base(env.inputs[0]), filepath.Base(env.inputs[1])}
	}
	s, err := pcapsave.New(pcapsave.Config{
		Dir:           dir,
		Ports:         ports,
		MaxFileBytes:  sc.MaxFileMiB << 20,
		MaxAge:        sc.MaxAge,
		MaxTotalBytes: sc.MaxTotalMiB << 20,
		Emit:          env.pipeline.Emit,
	})
	if err != nil {
		return nil, err
	}
	env.pipeline.AddSink(s)
	return s.Close, nil
}
