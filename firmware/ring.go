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
//
// The default, 16 MiB (128 blocks of 128 KiB), is what a storm of 1,000
// new sessions a second needs on a loaded machine (docs/performance.md,
// BenchmarkLiveStorm: no drops with 16 MiB; 2,292 with 8 MiB in 128 KiB
// blocks, 44,131 with 8 MiB in 1 MiB blocks): the kernel hands a block
// over after 5 ms however full, so at a light rate the ring holds
// 5 ms per block, and the count of blocks is what rides out the time
// ftptap waits for a core. Both ports' rings take 32 MiB of a Pi Zero's
// 512 MB.
const (
	defaultRingMiB = tap.DefaultRingSize >> 20
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
	carveDir, pcapDir := flagDir(carveFlag, c.Carve.Dir), flagDir(pcapFlag, c.Capture.Save.Dir)
	mib, raised := ringMiB(c, carveDir, pcapDir)
	opts.RingSize = mib << 20
	if raised {
		logger.Info("capture ring raised for carving or saving: data channels reach user space, and a small ring drops frames under load; set capture.ring_mib to choose",
			"ring_mib", mib, "default_mib", defaultRingMiB)
	}
}
