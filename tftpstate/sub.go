package tftpstate

import "time"

// sub returns a.Sub(b), computed without Sub's overflow check where none
// can happen: the pipeline moves the TFTP tracker's clock on at every
// packet, TCP included. Times with a monotonic reading, and times more
// than 2^33 seconds apart, go to Sub itself. (ftpstate has the same.)
func sub(a, b time.Time) time.Duration {
	as, bs := a.Unix(), b.Unix()
	if ds := as - bs; ds > 1<<33 || ds < -(1<<33) || a != a.Round(0) || b != b.Round(0) {
		return a.Sub(b)
	}
	return time.Duration(as-bs)*time.Second + time.Duration(a.Nanosecond()-b.Nanosecond())
}

// add returns a.Add(d); with d zero (no clock step taken out, the common
// case) that is a itself.
func add(a time.Time, d time.Duration) time.Time {
	if d == 0 {
		return a
	}
	return a.Add(d)
}
