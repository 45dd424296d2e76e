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
