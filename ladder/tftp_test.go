package ladder_test

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/truth"
	"github.com/ftptap/ftptap/ladder"
	"github.com/ftptap/ftptap/tap"
)

const tftpLabDir = "../tftpstate/testdata/lab"

// replayTFTP runs a TFTP lab capture through the pipeline and returns the
// diagram of every TFTP transfer, by client endpoint.
func replayTFTP(t *testing.T, scenario string) map[string]*ladder.Diagram {
	t.Helper()
	byID := replayDiagrams(t, filepath.Join(tftpLabDir, scenario), func(ev *event.Event) bool { return ev.Proto == event.ProtoTFTP })
	out := map[string]*ladder.Diagram{}
	for _, d := range byID {
		out[d.Client.String()] = d
	}
	return out
}

// transferPorts reads a capture with gopacket, apart from ftptap's decoder
// and tracker, and returns for each client endpoint the port the server
// first answered it from (its transfer ID), where it answered.
func transferPorts(t *testing.T, scenario string) map[string]uint16 {
	t.Helper()
	src, err := tap.OpenFiles(filepath.Join(tftpLabDir, scenario, "porta.pcap"), filepath.Join(tftpLabDir, scenario, "portb.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := map[string]uint16{}
	for {
		f, err := src.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		pk := gopacket.NewPacket(f.Data, f.LinkType, gopacket.NoCopy)
		udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || pk.NetworkLayer() == nil || udp.SrcPort == 69 || udp.DstPort == 69 {
			continue
		}
		srcIP, _ := netip.AddrFromSlice(pk.NetworkLayer().NetworkFlow().Src().Raw())
		dstIP, _ := netip.AddrFromSlice(pk.NetworkLayer().NetworkFlow().Dst().Raw())
		dst := netip.AddrPortFrom(dstIP.Unmap(), uint16(udp.DstPort)).String()
		if _, seen := out[dst]; !seen && srcIP.IsValid() {
			out[dst] = uint16(udp.SrcPort)
		}
	}
}

// TestTFTPLabDiagrams draws every transfer of every TFTP lab capture and
// checks it against the capture's truth and the capture itself: the
// request arrow client → server port 69; the server's first answer as a
// port-switch arrow server → client from the port the capture shows it
// used, marked unacknowledged exactly when the reply was blocked; a
// request nobody answered as a failure; the error code or the outcome.
func TestTFTPLabDiagrams(t *testing.T) {
	dirs, err := os.ReadDir(tftpLabDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(dir.Name(), func(t *testing.T) {
			tr, err := truth.LoadTFTP(filepath.Join(tftpLabDir, dir.Name(), "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			diagrams := replayTFTP(t, dir.Name())
			ports := transferPorts(t, dir.Name())
			for _, x := range tr.Transfers {
				d := diagrams[x.Client]
				if d == nil {
					t.Errorf("no diagram of the transfer of client %s", x.Client)
					continue
				}
				if !d.TFTP() || !strings.HasPrefix(d.ID(), "t") {
					t.Errorf("%s: diagram %s is not a TFTP transfer's", x.Client, d.ID())
				}
				port, answered := ports[x.Client]
				checkTFTP(t, x, port, answered, parseSVG(t, d.SVG()))
			}
		})
	}
}

func checkTFTP(t *testing.T, x truth.TFTPTransfer, port uint16, answered bool, svg *node) {
	t.Helper()
	if got := svg.Attr["data-session"]; !strings.HasPrefix(got, "t") {
		t.Errorf("%s: data-session %q", x.Client, got)
	}
	op := map[string]string{"read": "RRQ", "write": "WRQ"}[x.Op]
	reqs := svg.steps("request")
	if len(reqs) != 1 {
		t.Fatalf("%s: %d request arrows, want 1", x.Client, len(reqs))
	}
	r := reqs[0]
	if r.Attr["data-from"] != "client" || r.Attr["data-to"] != "server" || r.Attr["data-port"] != "69" ||
		!strings.HasPrefix(r.child("title").Text, op+" "+x.File+" ("+x.Mode) || !containsText(r, "port 69") {
		t.Errorf("%s: request arrow %v %q %q", x.Client, r.Attr, r.child("title").Text, r.texts())
	}
	switches := svg.steps("switch")
	fails := svg.steps("fail")
	if !answered {
		// Nothing came back from a new port: the request fails where it
		// went unanswered, and no port switch is drawn.
		if len(switches) != 0 || len(fails) != 1 || fails[0].Attr["data-to"] != "server" || !strings.Contains(fails[0].child("title").Text, "no answer") {
			t.Errorf("%s: never answered, but drawn with %d port switches and failures %v", x.Client, len(switches), len(fails))
		}
	} else {
		if len(switches) != 1 {
			t.Fatalf("%s: %d port-switch arrows, want 1", x.Client, len(switches))
		}
		s := switches[0]
		want := strconv.Itoa(int(port))
		if s.Attr["data-from"] != "server" || s.Attr["data-to"] != "client" || s.Attr["data-port"] != want ||
			!containsText(s, "port switch") || !containsText(s, "port "+want) {
			t.Errorf("%s: port switch %v %q, want server → client from port %s", x.Client, s.Attr, s.texts(), want)
		}
		if got := s.Attr["data-reason"] == "unacknowledged"; got != x.ReplyBlocked {
			t.Errorf("%s: port switch drawn unacknowledged=%v, but the reply was blocked=%v", x.Client, got, x.ReplyBlocked)
		}
		if len(fails) != 0 {
			t.Errorf("%s: %d failures drawn for an answered request", x.Client, len(fails))
		}
	}
	all := strings.Join(svg.texts(), "\n")
	switch {
	case x.ErrorCode != nil:
		if !strings.Contains(all, "ERROR "+strconv.Itoa(*x.ErrorCode)+" (") {
			t.Errorf("%s: error %d not drawn: %q", x.Client, *x.ErrorCode, all)
		}
	case x.Complete:
		if !strings.Contains(all, "transfer complete: "+op+" "+x.File) {
			t.Errorf("%s: no complete transfer note: %q", x.Client, all)
		}
	default:
		if !strings.Contains(all, "transfer incomplete (") {
			t.Errorf("%s: no incomplete transfer note: %q", x.Client, all)
		}
	}
	if x.ReplyBlocked && !strings.Contains(all, "alert tftp_reply_blocked") {
		t.Errorf("%s: a blocked reply without its alert: %q", x.Client, all)
	}
	if !strings.Contains(all, "transfer ended: "+x.Outcome) {
		t.Errorf("%s: the diagram does not say the transfer ended %s", x.Client, x.Outcome)
	}
	// The legend says what the port switch's line is.
	if !strings.Contains(all, "answer from the server's new port (transfer ID)") {
		t.Errorf("%s: no legend of the port switch", x.Client)
	}
}

// TestTFTPApart: a TFTP transfer and an FTP session of the same number are
// two diagrams.
func TestTFTPApart(t *testing.T) {
	c := netip.MustParseAddrPort("10.0.0.2:40000")
	s := netip.MustParseAddrPort("10.0.0.1:69")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var d ladder.Diagram
	d.Add(&event.Event{Type: event.TypeTFTPRequest, Proto: event.ProtoTFTP, Session: 1, Client: c, Server: s, Time: t0, File: "boot.img",
		TFTP: &event.TFTP{Op: "read", Mode: "octet", ErrorCode: -1}})
	d.Add(&event.Event{Type: event.TypeRequest, Proto: event.ProtoFTP, Session: 1, Client: c, Server: s, Time: t0, Command: "NOOP"})
	if len(d.Steps) != 1 || d.ID() != "t1" {
		t.Errorf("diagram %s has %d steps, want t1 with 1: %+v", d.ID(), len(d.Steps), d.Steps)
	}
}
