package event

import "time"

// Time arithmetic for the trackers' packet clocks (ftpstate, tftpstate),
// which run it on every packet.

// SubTime returns a.Sub(b), computed without Sub's overflow check where none
// can happen: a tracker's packet clock takes the difference of every packet's
// time with the one before. mono says whether a or b has a monotonic
// reading (see HasMono); such times, and times more than 2^33 seconds
// apart, go to Sub itself.
func SubTime(a, b time.Time, mono bool) time.Duration {
	as, bs := a.Unix(), b.Unix()
	if ds := as - bs; mono || ds > 1<<33 || ds < -(1<<33) {
		return a.Sub(b)
	}
	return time.Duration(as-bs)*time.Second + time.Duration(a.Nanosecond()-b.Nanosecond())
}

// HasMono reports whether t has a monotonic clock reading (time.Now
// gives one; packet times have none).
func HasMono(t time.Time) bool { return t != t.Round(0) }

// AddTime returns a.Add(d); with d zero (no clock step taken out, the common
// case) that is a itself.
func AddTime(a time.Time, d time.Duration) time.Time {
	if d == 0 {
		return a
	}
	return a.Add(d)
}
