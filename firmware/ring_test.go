package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCarveRing checks the capture ring a run takes: the default
// without carving or saving, 32 MiB per port with either on (from a flag
// or the config), and capture.ring_mib as given whenever the config sets
// it, even to the default.
func TestConfigCarveRing(t *testing.T) {
	dir := t.TempDir()
	load := func(text string) *Config {
		t.Helper()
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name        string
		config      string
		carve, pcap string // flags
		want        int
		wantRaised  bool
		wantData    bool // carving or saving is on
	}{
		{"default", "tap: t\n", "", "", 16, false, false},
		{"--carve", "tap: t\n", "/c", "", 32, true, true},
		{"--pcap", "tap: t\n", "", "/p", 32, true, true},
		{"carve.dir", "carve:\n  dir: /c\n", "", "", 32, true, true},
		{"capture.save.dir", "capture:\n  save:\n    dir: /p\n", "", "", 32, true, true},
		{"ring_mib set, carving", "capture:\n  ring_mib: 16\ncarve:\n  dir: /c\n", "", "", 16, false, true},
		{"ring_mib 8 set, --carve", "capture:\n  ring_mib: 8\n", "/c", "", 8, false, true},
		{"ring_mib set, no carving", "capture:\n  ring_mib: 64\n", "", "", 64, false, false},
		{"carve.dir, --carve none", "carve:\n  dir: /c\n", "none", "", 16, false, false},
		{"capture.save.dir, --pcap none", "capture:\n  save:\n    dir: /p\n", "", "none", 16, false, false},
		{"carve.dir, --pcap none", "carve:\n  dir: /c\n", "", "none", 32, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := load(tc.config)
			carveFlag, pcapFlag = tc.carve, tc.pcap
			defer func() { carveFlag, pcapFlag = "", "" }()
			var log bytes.Buffer
			opts := c.LiveOptions()
			applyRing(c, opts, slog.New(slog.NewTextHandler(&log, nil)))
			// Data bytes are wanted (and the tracker told that they
			// are not filtered out) when carving or saving is on,
			// whatever capture.ring_mib says.
			if got := wantsDataBytes(c); got != tc.wantData {
				t.Errorf("wantsDataBytes %v", got)
			}
			if opts.RingSize != tc.want<<20 {
				t.Errorf("ring %d MiB, want %d", opts.RingSize>>20, tc.want)
			}
			said := strings.Count(log.String(), "capture ring raised")
			if tc.wantRaised && (said != 1 || !strings.Contains(log.String(), "ring_mib=32")) || !tc.wantRaised && said != 0 {
				t.Errorf("log %q", log.String())
			}
		})
	}
	// Without a config file at all.
	carveFlag = "/c"
	defer func() { carveFlag = "" }()
	if mib, raised := ringMiB(&Config{}, carveFlag, ""); mib != 32 || !raised {
		t.Errorf("no config file, --carve: %d MiB, raised %v", mib, raised)
	}
}
