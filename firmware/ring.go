package main

import (
	"log/slog"

	"github.com/ftptap/ftptap/tap"
)

// Capture ring per port, in MiB: tap's default, and the size taken when
// carving or saving the traffic is on and capture.ring_mib is not set.
// With data channels reaching user space, the default ring drops frames
// when ftptap is not scheduled for a few milliseconds under load
// (docs/carve.md, BenchmarkLiveCarve: 1,508 of 63,661 frames lost with
// 8 MiB, none with 64).
const (
	defaultRingMiB = 8
	carveRingMiB   = 32
)

// ringMiB returns the capture ring per port in MiB for a run that carves
// into carveDir and saves pcapng files into pcapDir (empty: off), and
// whether it was raised from the default: only when one of them is on and
// the config does not set capture.ring_mib, which is always kept as given.
func ringMiB(c *Config, carveDir, pcapDir string) (mib int, raised bool) {
	if c.Capture.RingMiB != 0 || c.inFile("capture.ring_mib") {
		return c.Capture.RingMiB, false
	}
	if carveDir != "" || pcapDir != "" {
		return carveRingMiB, true
	}
	return defaultRingMiB, false
}

// applyRing sets the live source's ring size for the run's carving and
// saving (--carve, --pcap or the config), and says once when it raised it.
func applyRing(c *Config, opts *tap.LiveOptions, logger *slog.Logger) {
	carveDir, pcapDir := carveFlag, pcapFlag
	if carveDir == "" {
		carveDir = c.Carve.Dir
	}
	if pcapDir == "" {
		pcapDir = c.Capture.Save.Dir
	}
	mib, raised := ringMiB(c, carveDir, pcapDir)
	opts.RingSize = mib << 20
	if raised {
		logger.Info("capture ring raised for carving or saving: data channels reach user space, and a small ring drops frames under load; set capture.ring_mib to choose",
			"ring_mib", mib, "default_mib", defaultRingMiB)
	}
}
