package ftpstate_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/internal/replaytest"
	"github.com/ftptap/ftptap/pipeline"
)

// runFrames runs frames through a pipeline and returns copies of the
// events.
func runFrames(t *testing.T, cfg *ftpstate.Config, frames []pipeline.Frame) []event.Event {
	t.Helper()
	var evs []event.Event
	p, err := pipeline.New(pipeline.Options{Tap: "test", Tracker: cfg, Sinks: []pipeline.Sink{pipeline.SinkFunc(func(ev *event.Event, _ []byte) {
		evs = append(evs, *ev)
	})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), &replaytest.Source{Frames: frames}); err != nil {
		t.Fatal(err)
	}
	return evs
}

// stepped returns a copy of frames whose timestamps from frame at on are
// moved by step: the clock set while the capture ran, as editcap -t does
// to a part of a capture.
func stepped(frames []pipeline.Frame, at int, step time.Duration) []pipeline.Frame {
	out := make([]pipeline.Frame, len(frames))
	copy(out, frames)
	for i := at; i < len(out); i++ {
		out[i].Info.Timestamp = out[i].Info.Timestamp.Add(step)
	}
	return out
}

// shape is an event without its time and seq, as JSON: what a clock step
// must not change.
func shape(t *testing.T, evs []event.Event) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		if ev.Type == event.TypeAlert && ev.Kind == ftpstate.ClockStepAlert {
			continue
		}
		ev.Time, ev.Seq = time.Time{}, 0
		b, err := json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// Issue 11: a Pi boots with a stale clock and NTP steps it, by months,
// either way, while sessions are open. The lab capture of concurrent
// sessions replayed with its second half moved by a step gives the same
// events as without (no session times out, every duration is the same and
// none is negative), one clock_step alert, and times on the new clock.
func TestClockStep(t *testing.T) {
	dir := filepath.Join("testdata", "lab", "concurrent")
	frames := readCapture(t, filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap")).Frames
	at := len(frames) / 2
	want := runFrames(t, nil, frames)
	for _, tt := range []struct {
		name string
		step time.Duration
		cfg  *ftpstate.Config
		dir  string
	}{
		{"forward 90 days", 90 * 24 * time.Hour, nil, "forward"},
		{"back 90 days", -90 * 24 * time.Hour, nil, "back"},
		{"back 1 minute", -time.Minute, nil, "back"},
		{"forward 20 minutes, live", 20 * time.Minute, &ftpstate.Config{ClockStep: time.Minute}, "forward"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := stepped(frames, at, tt.step)
			got := runFrames(t, tt.cfg, in)
			var steps []event.Event
			stepIdx := -1
			for i, ev := range got {
				if ev.Type == event.TypeAlert && ev.Kind == ftpstate.ClockStepAlert {
					steps = append(steps, ev)
					stepIdx = i
				}
				if ev.DurationMS < 0 {
					t.Errorf("event %d (%s): duration %d ms", i, ev.Type, ev.DurationMS)
				}
			}
			if len(steps) != 1 {
				t.Fatalf("%d clock_step alerts, want 1: %+v", len(steps), steps)
			}
			if !strings.Contains(steps[0].Detail, "stepped "+tt.dir) || !steps[0].Time.Equal(in[at].Info.Timestamp) {
				t.Errorf("alert %q at %v; want stepped %s, at %v (the first frame on the new clock)", steps[0].Detail, steps[0].Time, tt.dir, in[at].Info.Timestamp)
			}
			if diff := cmp.Diff(shape(t, want), shape(t, got)); diff != "" {
				t.Errorf("events besides the alert differ (-without step +with):\n%s", diff)
			}
			// Times: before the alert on the old clock, after it on the
			// new one (within what an event can lag its packet).
			newStart := in[at].Info.Timestamp
			for i, ev := range got {
				if i > stepIdx && ev.Time.Before(newStart.Add(-10*time.Second)) {
					t.Errorf("event %d (%s) after the step at %v, before the new clock's %v", i, ev.Type, ev.Time, newStart)
				}
				if i < stepIdx && ev.Time.After(in[at-1].Info.Timestamp) {
					t.Errorf("event %d (%s) before the step at %v, after the old clock's last frame", i, ev.Type, ev.Time)
				}
			}
		})
	}
}

// Timeouts keep working across a step: sessions left open when the clock
// steps back by 90 days time out IdleTimeout after their last packet, on
// the new clock, neither at once nor never.
func TestClockStepTimeouts(t *testing.T) {
	dir := filepath.Join("testdata", "lab", "concurrent")
	frames := readCapture(t, filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap")).Frames
	// Up to the middle of the capture: sessions are open.
	at, end := len(frames)/3, len(frames)/2
	for _, step := range []time.Duration{-90 * 24 * time.Hour, 90 * 24 * time.Hour} {
		in := stepped(frames[:end], at, step)
		last := in[end-1].Info.Timestamp
		tick := func(d time.Duration) pipeline.Frame { return pipeline.Frame{Info: captureAt(last.Add(d))} }
		idle := 15 * time.Minute
		early := runFrames(t, nil, append(in, tick(time.Second), tick(idle-time.Minute)))
		late := runFrames(t, nil, append(in, tick(time.Second), tick(idle+2*time.Second)))
		count := func(evs []event.Event, reason string) (n int, open int) {
			for _, ev := range evs {
				switch ev.Type {
				case event.TypeSessionStart:
					open++
				case event.TypeSessionEnd:
					open--
					if ev.Reason == reason {
						n++
					}
				}
			}
			return n, open
		}
		// Run ends with a flush ("shutdown"): what timed out before it is
		// what the ticks did.
		if n, _ := count(early, "timeout"); n != 0 {
			t.Errorf("step %v: %d sessions timed out %v after their last packet, want none", step, n, idle-time.Minute)
		}
		nShut, _ := count(early, "shutdown")
		if nShut == 0 {
			t.Fatalf("step %v: no session open at the cut: pick another cut", step)
		}
		if n, _ := count(late, "timeout"); n != nShut {
			t.Errorf("step %v: %d sessions timed out %v after their last packet, want %d", step, n, idle+2*time.Second, nShut)
		}
		for _, ev := range late {
			if ev.Type == event.TypeSessionEnd && ev.Reason == "timeout" && !ev.Time.After(last.Add(idle)) {
				t.Errorf("step %v: timeout at %v, before %v", step, ev.Time, last.Add(idle))
			}
		}
	}
}

func captureAt(ts time.Time) gopacket.CaptureInfo { return gopacket.CaptureInfo{Timestamp: ts} }
