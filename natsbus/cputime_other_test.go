//go:build !unix

package natsbus

import "time"

// cpuTime is not measured here; benchmarks then print no CPU figure.
func cpuTime() time.Duration { return 0 }
