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
