package event

import (
	"testing"
	"time"
)

// TestSubTime: SubTime and AddTime give what time.Time's Sub and Add give, for packet
// times, times with a monotonic reading, the zero Time and times too far
// apart for a Duration.
func TestSubTime(t *testing.T) {
	now := time.Now() // with a monotonic reading
	times := []time.Time{
		{},
		time.Unix(0, 0),
		time.Unix(1764600000, 999999999),
		time.Unix(1764600001, 1),
		time.Unix(1764600000, 0).Add(-time.Nanosecond),
		time.Unix(1<<33, 5),
		time.Unix(-(1 << 33), 7),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		now,
		now.Add(1500 * time.Millisecond),
		now.Round(0),
	}
	for _, a := range times {
		for _, b := range times {
			if got, want := SubTime(a, b, HasMono(a) || HasMono(b)), a.Sub(b); got != want {
				t.Errorf("SubTime(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
		if got, want := HasMono(a), a == now || a == now.Add(1500*time.Millisecond); got != want {
			t.Errorf("HasMono(%v) = %v, want %v", a, got, want)
		}
		for _, d := range []time.Duration{0, time.Second, -time.Hour} {
			if got, want := AddTime(a, d), a.Add(d); got != want {
				t.Errorf("AddTime(%v, %v) = %v, want %v", a, d, got, want)
			}
		}
	}
}
