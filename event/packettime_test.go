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

// TestClock: Map takes out steps forward and back, telling OnStep of
// each, lets small moves back (reordering) and the zero Time through
// unchanged, and Steady and MoveOn, where their caller's conditions hold,
// leave the clock as Map does.
func TestClock(t *testing.T) {
	const fwd = time.Hour
	var steps []time.Duration
	c := Clock{Forward: fwd, OnStep: func(d time.Duration) { steps = append(steps, d) }}
	t0 := time.Unix(1764600000, 0)
	for i, tt := range []struct {
		raw, want time.Time
		step      time.Duration
	}{
		{t0, t0, 0},
		{t0.Add(time.Second), t0.Add(time.Second), 0},
		{t0.Add(-5 * time.Second), t0.Add(-5 * time.Second), 0},                       // reordered: no step
		{time.Time{}, time.Time{}, 0},                                                 // zero: as it is
		{t0.Add(2 * time.Second), t0.Add(2 * time.Second), 0},                         // from t0+1s, not t0-5s
		{t0.Add(2*time.Second + 2*time.Hour), t0.Add(2 * time.Second), 2 * time.Hour}, // forward
		{t0.Add(3*time.Second + 2*time.Hour), t0.Add(3 * time.Second), 0},
		{t0.Add(3*time.Second - time.Minute), t0.Add(3 * time.Second), -(2*time.Hour + time.Minute)}, // back
		{t0.Add(4*time.Second - time.Minute), t0.Add(4 * time.Second), 0},
	} {
		steps = steps[:0]
		got, mono := c.Map(tt.raw)
		var step time.Duration
		if len(steps) == 1 {
			step = steps[0]
		}
		if got != tt.want || mono || step != tt.step || len(steps) > 1 || (len(steps) == 1) != (tt.step != 0) {
			t.Errorf("%d: Map(%v) = %v, %v, steps %v; want %v, false, %v", i, tt.raw, got, mono, steps, tt.want, tt.step)
		}
	}
	if got, want := c.Shift(), time.Minute; got != want {
		t.Errorf("Shift() = %v, want %v", got, want)
	}
	if got, want := c.Last(), t0.Add(4*time.Second-time.Minute); got != want {
		t.Errorf("Last() = %v, want %v", got, want)
	}
	if c.Steady(c.Last()) {
		t.Error("Steady on a shifted clock")
	}
	// A move back by ClockStepBack is reordering; by a nanosecond more, a
	// step.
	var n int
	e := Clock{Forward: fwd, OnStep: func(time.Duration) { n++ }}
	e.Map(t0)
	if e.Map(t0.Add(-ClockStepBack)); n != 0 {
		t.Errorf("a move back by ClockStepBack: %d steps", n)
	}
	if e.Map(t0.Add(-ClockStepBack - time.Nanosecond)); n != 1 || e.Shift() != ClockStepBack+time.Nanosecond {
		t.Errorf("a move back by more than ClockStepBack: %d steps, shift %v", n, e.Shift())
	}

	now := time.Now()
	if _, mono := c.Map(now); !mono {
		t.Error("Map(time.Now()): no monotonic reading")
	}

	// Steady and MoveOn against Map, over times that move on a little, stand still,
	// go back, step forward and back again (so the steps add up to none),
	// or carry a monotonic reading.
	a, b := Clock{Forward: fwd}, Clock{Forward: fwd}
	t1 := now.Round(0)
	tm := t1
	follows := 0
	for i := range 2000 {
		switch i % 10 {
		case 3:
			// standing still
		case 5:
			tm = tm.Add(-time.Second)
		case 7:
			tm = a.last.Add(2 * fwd)
		case 8:
			tm = a.last.Add(-2 * fwd)
		default:
			tm = tm.Add(time.Duration(i%7+1) * 100 * time.Millisecond)
		}
		raw := tm
		if i%50 == 9 {
			raw = now.Add(tm.Sub(t1)) // tm, with a monotonic reading
		}
		prev := a.last
		am, _ := a.Map(raw)
		if b.Steady(prev) && raw.After(prev) && raw.Sub(prev) < fwd && !raw.IsZero() && !HasMono(raw) {
			b.MoveOn(raw)
			if am != raw {
				t.Fatalf("%d: MoveOn(%v) where Map gives %v", i, raw, am)
			}
			follows++
		} else {
			b.Map(raw)
		}
		if a.last != b.last || a.lastMono != b.lastMono || a.shift != b.shift {
			t.Fatalf("%d (%v): Map and MoveOn differ:\n%+v\n%+v", i, raw, a, b)
		}
		if i%10 == 7 && a.shift == 0 {
			t.Fatalf("%d: no step taken", i)
		}
	}
	if follows < 500 {
		t.Errorf("%d of 2000 times taken by MoveOn: the test misses its case", follows)
	}
}
