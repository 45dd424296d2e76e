package pipeline

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/event"
)

// sliceSource yields frames, then io.EOF.
type sliceSource []Frame

func (s *sliceSource) ReadFrame() (Frame, error) {
	if len(*s) == 0 {
		return Frame{}, io.EOF
	}
	f := (*s)[0]
	*s = (*s)[1:]
	return f, nil
}

// TestRunUnsupportedLinkType checks that frames of a link type decode
// cannot read make Run fail naming the link type and the frames lost,
// after the frames it could read gave their events. Issue 10: such a
// replay ended with exit 0 and no events.
func TestRunUnsupportedLinkType(t *testing.T) {
	syn := frame(t, "10.0.0.2", "10.0.0.1", 40000, 21, 1, 0, true, false, nil, 0)
	src := sliceSource{{Data: syn, Info: gopacket.CaptureInfo{Timestamp: t0}, LinkType: layers.LinkTypeEthernet}}
	for i := range 3 {
		src = append(src, Frame{Data: syn, Info: gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i))}, LinkType: layers.LinkTypeIEEE802_11})
	}
	var types []string
	p, err := New(Options{Sinks: []Sink{SinkFunc(func(ev *event.Event, _ []byte) { types = append(types, ev.Type.String()) })}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(context.Background(), &src)
	if err == nil || !strings.Contains(err.Error(), "3 frames not read: decode: link type 802.11 (105) is not supported") {
		t.Errorf("Run: %v, want the link type and 3 frames named", err)
	}
	if strings.Join(types, ",") != "session.start,session.end" {
		t.Errorf("events %v, want the Ethernet frame's session started and ended", types)
	}
	if n := p.Stats.NotTCP.Load(); n != 3 {
		t.Errorf("NotTCP %d, want 3", n)
	}
}

// TestStatsPublished: while Run goes, Stats lags the frames handed to
// the pipeline by at most statsEvery (the counts are stored in batches),
// never leads them, and after Run it holds every frame, byte and event,
// the last sequence number and the tracker's session count.
func TestStatsPublished(t *testing.T) {
	var src sliceSource
	var bytes uint64
	for i := range 1000 {
		syn := frame(t, "10.0.0.2", "10.0.0.1", uint16(20000+i), 21, 1, 0, true, false, nil, 0)
		src = append(src, Frame{Data: syn, Info: gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Microsecond)}, LinkType: layers.LinkTypeEthernet, Side: event.SideA})
		bytes += uint64(len(syn))
	}
	total := len(src)
	var p *Pipeline
	events, lagMax := 0, 0
	var lastSeq uint64
	sink := SinkFunc(func(ev *event.Event, _ []byte) {
		events++
		lastSeq = ev.Seq
		handed := total - len(src)
		counted := int(p.Stats.Frames[0].Load() + p.Stats.Frames[1].Load() + p.Stats.Frames[2].Load())
		if counted > handed {
			t.Fatalf("Stats counts %d frames, %d handed out", counted, handed)
		}
		lagMax = max(lagMax, handed-counted)
	})
	p, err := New(Options{Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	if lagMax > statsEvery || lagMax == 0 {
		t.Errorf("Stats lagged by up to %d frames, want 1 to %d (stored in batches)", lagMax, statsEvery)
	}
	st := &p.Stats
	if n := st.Frames[event.SideA].Load(); n != uint64(total) {
		t.Errorf("Frames[A] %d, want %d", n, total)
	}
	if n := st.Bytes.Load(); n != bytes {
		t.Errorf("Bytes %d, want %d", n, bytes)
	}
	if n := st.Events.Load(); n != uint64(events) || events != 2*total {
		t.Errorf("Events %d, sink saw %d, want %d (a start and an end per SYN)", n, events, 2*total)
	}
	if n := st.LastSeq.Load(); n != lastSeq || n == 0 {
		t.Errorf("LastSeq %d, want the last event's %d", n, lastSeq)
	}
	if n := st.OpenSession.Load(); n != int64(p.tracker.OpenSessions()) {
		t.Errorf("OpenSession %d, the tracker has %d", n, p.tracker.OpenSessions())
	}
}
