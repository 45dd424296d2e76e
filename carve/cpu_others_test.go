//go:build !unix

package carve_test

import "time"

// cpuTime is not measured here: the benchmarks report 0 CPU per GB.
func cpuTime() time.Duration { return 0 }
