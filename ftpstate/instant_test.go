package ftpstate

import (
	"testing"
	"time"
)

// TestInstant: packet times survive the 8-byte form to the nanosecond;
// the zero Time stays none; times past its range are clamped, not wrapped.
func TestInstant(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC),
		time.Unix(1, 0),
		time.Unix(-86400, 5),
		time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got := instantOf(tm).Time(); !got.Equal(tm) {
			t.Errorf("%v came back as %v", tm, got)
		}
	}
	if i := instantOf(time.Time{}); !i.IsZero() || !i.Time().IsZero() {
		t.Errorf("zero time: %d, %v", i, i.Time())
	}
	if i := instantOf(time.Unix(0, 0)); i.IsZero() {
		t.Error("the epoch itself is none")
	}
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := instantOf(far).Time(); got.Before(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("year 3000 became %v", got)
	}
	early := time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := instantOf(early).Time(); got.After(time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)) || got.IsZero() {
		t.Errorf("year 1000 became %v", got)
	}
}

// TestSub: sub and add give what time.Time's Sub and Add give, for packet
// times, times with a monotonic reading, the zero Time and times too far
// apart for a Duration.
func TestSub(t *testing.T) {
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
			if got, want := sub(a, b, hasMono(a) || hasMono(b)), a.Sub(b); got != want {
				t.Errorf("sub(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
		if got, want := hasMono(a), a == now || a == now.Add(1500*time.Millisecond); got != want {
			t.Errorf("hasMono(%v) = %v, want %v", a, got, want)
		}
		for _, d := range []time.Duration{0, time.Second, -time.Hour} {
			if got, want := add(a, d), a.Add(d); got != want {
				t.Errorf("add(%v, %v) = %v, want %v", a, d, got, want)
			}
		}
	}
}
