// Package replaytest runs frames and capture files through the pipeline
// for the tests of the packages around it (trackers, sinks): Source holds
// frames in memory, Events replays capture files as ftptap replay does and
// returns the events. It imports pipeline and tap, so only tests outside
// those two packages may use it.
package replaytest

import (
	"context"
	"io"
	"testing"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

// Source is a pipeline.Source over frames in memory, read in order; with
// none, it reads io.EOF at once. Frames stay as they are after a run.
type Source struct {
	Frames []pipeline.Frame
	next   int
}

// ReadFrame returns the next frame, then io.EOF.
func (s *Source) ReadFrame() (pipeline.Frame, error) {
	if s.next >= len(s.Frames) {
		return pipeline.Frame{}, io.EOF
	}
	s.next++
	return s.Frames[s.next-1], nil
}

// Events runs capture files through the replay path of ftptap replay
// (tap.OpenFiles, the pipeline, tap "test") and returns a copy of every
// event. setup, when not nil, is called with the pipeline before the run:
// to add a sink of the test's, such as a carver.
func Events(t testing.TB, setup func(p *pipeline.Pipeline), files ...string) []event.Event {
	t.Helper()
	src, err := tap.OpenFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var evs []event.Event
	p, err := pipeline.New(pipeline.Options{Tap: "test", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(ev *event.Event, _ []byte) {
		evs = append(evs, *ev)
	})}})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(p)
	}
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return evs
}
