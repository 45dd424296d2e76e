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

// ClockStepBack is the jump back of packet time that Clock takes as a step
// of the clock: more than the reordering of two tap ports under load.
const ClockStepBack = 10 * time.Second

// Clock is a tracker's packet clock: it maps packet (or tick) times onto the
// tracker's own time line, with steps of the clock taken out. A Pi has no
// real-time clock, boots with a stale time, and NTP steps it, often by
// months, forward or backward, while the tap runs; packet timestamps jump
// with it. After a step the time line carries on from the time before it, as
// if no time had passed in it, so what a tracker follows survives the step,
// its timeouts keep counting, and durations stay true. Times that go back by
// less than a step (the reordering of two tap ports) map as they are, and do
// not move the clock's latest time back.
//
// A Clock that has seen no time has taken out no step. Set its fields
// before the first Map.
type Clock struct {
	// A move of more than Forward from the latest time given, or back by
	// more than ClockStepBack, is a step. Forward may not be negative.
	Forward time.Duration
	// OnStep, if not nil, is told of each step as Map takes it out: the
	// move, negative for a step back (never zero).
	OnStep func(step time.Duration)

	last     time.Time     // the latest time given, as given
	lastMono bool          // last has a monotonic reading (see HasMono)
	shift    time.Duration // the sum of the steps taken out
}

// Map returns raw on the time line (raw plus Shift), and whether raw has a
// monotonic reading. The zero Time maps to itself, and moves nothing.
func (c *Clock) Map(raw time.Time) (t time.Time, mono bool) {
	mono = HasMono(raw)
	if raw.IsZero() {
		return raw, mono
	}
	if c.last.IsZero() {
		c.last, c.lastMono = raw, mono
		return AddTime(raw, c.shift), mono
	}
	d := SubTime(raw, c.last, mono || c.lastMono)
	switch {
	case d > c.Forward || d < -ClockStepBack:
		c.shift -= d
		c.last, c.lastMono = raw, mono
		if c.OnStep != nil {
			c.OnStep(d)
		}
	case d > 0:
		c.last, c.lastMono = raw, mono
	}
	return AddTime(raw, c.shift), mono
}

// Steady reports whether the clock's latest time is at, with no monotonic
// reading, and the steps it took out add up to none. Then Map of a time to
// that is not zero, has no monotonic reading and comes after at by less
// than Forward would return to itself and take it as the latest time; a
// tracker that moves its clock on at every packet may check that and call
// MoveOn(to) instead, the short way. Both are small enough to inline.
func (c *Clock) Steady(at time.Time) bool { return c.shift == 0 && !c.lastMono && c.last == at }

// MoveOn takes to as the latest time, as Map(to) would where Steady holds
// and to is as Steady says (the caller checks).
func (c *Clock) MoveOn(to time.Time) { c.last = to }

// Last returns the latest time Map was given (as given; times that went
// back by less than a step do not count), or the zero Time before any.
func (c *Clock) Last() time.Time { return c.last }

// Shift returns the sum of the steps taken out: a time t on the time line
// is t.Add(-Shift()) on the clock of the packets after the steps.
func (c *Clock) Shift() time.Duration { return c.shift }
