package ftpstate_test

import (
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/internal/replaytest"
	"github.com/ftptap/ftptap/internal/truth"
	"github.com/ftptap/ftptap/pipeline"
)

func tcpOf(f pipeline.Frame) *layers.TCP {
	tcp, _ := gopacket.NewPacket(f.Data, f.LinkType, gopacket.Lazy).Layer(layers.LayerTypeTCP).(*layers.TCP)
	return tcp
}

// TestCutLabCaptures replays the lab captures cut at many points, as a
// capture started late sees them: whatever is lost, nothing is invented
// (no transfer or login truth does not have), and every session and data
// connection that opens closes.
func TestCutLabCaptures(t *testing.T) {
	eachLab(t, func(t *testing.T, dir string, tr *truth.Truth) {
		whole := readCapture(t, filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
		step := max(1, len(whole.Frames)/60)
		for k := 0; k < len(whole.Frames); k += step {
			out := replaySource(t, nil, &replaytest.Source{Frames: whole.Frames[k:]})
			if _, spurious := truth.Check(tr, out); spurious != 0 {
				t.Errorf("cut at frame %d: %d spurious facts", k, spurious)
			}
			n := map[string]int{}
			for _, e := range parseEvents(t, out) {
				n[e.s("type")]++
			}
			if n["session.start"] != n["session.end"] || n["data.open"] != n["data.close"] {
				t.Errorf("cut at frame %d: %d session.start, %d session.end, %d data.open, %d data.close", k, n["session.start"], n["session.end"], n["data.open"], n["data.close"])
			}
		}
	})
}

// TestTeardownOnlyLabCaptures cuts each lab capture to its command
// channels' segments after their last bytes: a capture begun after the
// payload of each session (FIN, FIN, ACK, or a FIN and a RST). Each is
// still a session, caught mid-way, with no commands.
func TestTeardownOnlyLabCaptures(t *testing.T) {
	eachLab(t, func(t *testing.T, dir string, tr *truth.Truth) {
		src := readCapture(t, filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
		type conn struct{ a, b layers.TCPPort }
		last := map[conn]int{} // each command channel's last frame with payload
		for i, f := range src.Frames {
			if tcp := tcpOf(f); tcp != nil && (tcp.SrcPort == 21 || tcp.DstPort == 21) && len(tcp.Payload) > 0 {
				last[conn{min(tcp.SrcPort, tcp.DstPort), max(tcp.SrcPort, tcp.DstPort)}] = i
			}
		}
		var keep []pipeline.Frame
		for i, f := range src.Frames {
			tcp := tcpOf(f)
			if tcp == nil || tcp.SrcPort != 21 && tcp.DstPort != 21 {
				continue
			}
			if j, ok := last[conn{min(tcp.SrcPort, tcp.DstPort), max(tcp.SrcPort, tcp.DstPort)}]; ok && i > j {
				keep = append(keep, f)
			}
		}
		out := replaySource(t, nil, &replaytest.Source{Frames: keep})
		starts := map[string]bool{}
		for _, e := range parseEvents(t, out) {
			switch e.s("type") {
			case "session.start":
				if e["midstream"] != true {
					t.Errorf("session.start not midstream: %v", e)
				}
				starts[e.s("client")] = true
			case "request", "response", "transfer.end", "data.expect":
				t.Errorf("%s from a teardown: %v", e.s("type"), e)
			}
		}
		for _, s := range tr.Sessions {
			if !starts[s.Client] {
				t.Errorf("session of %s not reported from its teardown", s.Client)
			}
		}
	})
}
