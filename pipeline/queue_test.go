package pipeline

import (
	"context"
	"io"
	"testing"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

type framesSource struct {
	frames []Frame
	i      int
}

func (s *framesSource) ReadFrame() (Frame, error) {
	if s.i == len(s.frames) {
		return Frame{}, io.EOF
	}
	s.i++
	return s.frames[s.i-1], nil
}

// TestFlushQueueBounded: when the flush at the end ends thousands of
// sessions at once, their events go out in order while the queue stays
// small, instead of all being held until the flush returns.
func TestFlushQueueBounded(t *testing.T) {
	const n = 3000
	src := &framesSource{}
	ts := t0
	for i := range n {
		ts = ts.Add(1000)
		c := []byte{10, 1, byte(i >> 8), byte(i)}
		data := frame(t, "10.1.0.1", "10.0.0.1", 40000, 21, uint32(i), 0, true, false, nil, 0)
		copy(data[14+12:], c) // source address
		src.frames = append(src.frames, Frame{Data: data, Info: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, LinkType: layers.LinkTypeEthernet})
	}
	var seq uint64
	ends, maxCap := 0, 0
	var p *Pipeline
	p, err := New(Options{Tap: "t", Tracker: &ftpstate.Config{MaxSessions: n + 1}, Sinks: []Sink{SinkFunc(func(ev *event.Event, _ []byte) {
		if ev.Seq != seq+1 {
			t.Fatalf("seq %d after %d", ev.Seq, seq)
		}
		seq = ev.Seq
		if ev.Type == event.TypeSessionEnd {
			ends++
		}
		maxCap = max(maxCap, cap(p.queue))
	})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if ends != n {
		t.Errorf("%d session.end events, want %d", ends, n)
	}
	if maxCap > 1024 {
		t.Errorf("the queue grew to %d events, want at most 1024", maxCap)
	}
}
