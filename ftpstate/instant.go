package ftpstate

import (
	"math"
	"time"
)

// instant is a packet time in 8 bytes, where a time.Time takes 24: the
// nanoseconds since 1970 (UTC), 0 for none. Structs the tracker keeps by
// the ten thousand (data connections) store their times this way.
//
// It spans the years 1678 to 2262; a time outside (a capture's hostile
// timestamp) is clamped to the nearest end, so its durations are wrong but
// nothing breaks.
type instant int64

func instantOf(t time.Time) instant {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix()
	switch {
	case sec >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	case sec <= math.MinInt64/int64(time.Second):
		return math.MinInt64 + 1
	}
	if n := t.UnixNano(); n != 0 {
		return instant(n)
	}
	return 1 // 1970-01-01T00:00:00Z itself: not "none"
}

// Time returns the time (in the local zone, as capture readers give
// them), or the zero Time for none.
func (i instant) Time() time.Time {
	if i == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(i))
}

// IsZero reports whether i is none.
func (i instant) IsZero() bool { return i == 0 }
