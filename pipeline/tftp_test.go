package pipeline

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/frametest"
)

// TestTFTPWrap runs a generated capture of a TFTP read past block 65535
// (33 MB at blksize 512: block numbers wrap to 0) through the pipeline,
// beside an FTP session's SYN: UDP goes to the TFTP tracker, TCP to
// ftpstate, and the transfer ends complete with every byte counted.
func TestTFTPWrap(t *testing.T) {
	const blocks = 65600
	rrq := []byte("\x00\x01wrap.bin\x00octet\x00")
	data := make([]byte, 4+512)
	data[1] = 3
	ack := []byte{0, 4, 0, 0}
	frames := []Frame{
		{Data: frame(t, "10.0.0.2", "10.0.0.1", 40000, 21, 1, 0, true, false, nil, 0)},
		{Data: frametest.UDP4(t, "10.77.0.2", "10.77.0.1", 40000, 69, rrq)},
	}
	// The frames of a block differ only in the block number (and the
	// UDP checksum, which the decoder does not check): build one DATA and
	// one ACK frame, and stamp the number in per block.
	dframe := frametest.UDP4(t, "10.77.0.1", "10.77.0.2", 50001, 40000, data)
	aframe := frametest.UDP4(t, "10.77.0.2", "10.77.0.1", 40000, 50001, ack)
	last := frametest.UDP4(t, "10.77.0.1", "10.77.0.2", 50001, 40000, data[:4+100])
	now := t0
	var got []map[string]any
	p, err := New(Options{Sinks: []Sink{SinkFunc(func(ev *event.Event, js []byte) {
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	})}})
	if err != nil {
		t.Fatal(err)
	}
	feed := func(b []byte) {
		now = now.Add(100 * time.Microsecond)
		p.Feed(Frame{Data: b, Info: gopacket.CaptureInfo{Timestamp: now}, LinkType: layers.LinkTypeEthernet})
	}
	for _, f := range frames {
		feed(f.Data)
	}
	for i := 1; i <= blocks; i++ {
		d := dframe
		if i == blocks {
			d = last
		}
		binary.BigEndian.PutUint16(d[14+20+8+2:], uint16(i))
		binary.BigEndian.PutUint16(aframe[14+20+8+2:], uint16(i))
		feed(d)
		feed(aframe)
	}
	if err := p.Run(context.Background(), &sliceSource{}); err != nil {
		t.Fatal(err)
	}
	var types []string
	var end map[string]any
	for _, m := range got {
		types = append(types, m["type"].(string)+"/"+m["session"].(string))
		if m["type"] == "tftp.end" {
			end = m
		}
	}
	want := []string{"session.start/s1", "tftp.request/t1", "tftp.end/t1", "session.end/s1"}
	if len(types) != len(want) || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] || types[3] != want[3] {
		t.Fatalf("events %v, want %v", types, want)
	}
	if end["bytes"] != float64((blocks-1)*512+100) || end["blocks"] != float64(blocks) || end["complete"] != true || end["reason"] != "done" {
		t.Errorf("tftp.end %v", end)
	}
	if n := p.Stats.TFTPEnded.Load(); n != 1 {
		t.Errorf("TFTPEnded %d", n)
	}
}
