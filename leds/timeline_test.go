package leds_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/leds"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

// timeline is what a replay showed: the tracker's events and the LED
// changes, both in packet time.
type timeline struct {
	events  []event.Event
	changes []leds.Change
}

// first returns the first event of type typ, failing the test if none.
func (tl *timeline) first(t *testing.T, typ event.Type) event.Event {
	t.Helper()
	for _, ev := range tl.events {
		if ev.Type == typ {
			return ev
		}
	}
	t.Fatalf("no %s event", typ)
	return event.Event{}
}

// of returns the changes of role r.
func (tl *timeline) of(r leds.Role) []leds.Change {
	var out []leds.Change
	for _, c := range tl.changes {
		if c.Role == r {
			out = append(out, c)
		}
	}
	return out
}

func newTimeline(t *testing.T) (*timeline, *pipeline.Pipeline) {
	t.Helper()
	tl := &timeline{}
	panel, err := leds.New(leds.Options{PacketTime: true, OnChange: func(c leds.Change) { tl.changes = append(tl.changes, c) }})
	if err != nil {
		t.Fatal(err)
	}
	rec := pipeline.SinkFunc(func(ev *event.Event, _ []byte) { tl.events = append(tl.events, *ev) })
	p, err := pipeline.New(pipeline.Options{Tap: "test", Sinks: []pipeline.Sink{rec, panel}})
	if err != nil {
		t.Fatal(err)
	}
	return tl, p
}

// replayCorpus runs a capture of ../shared/corpus/gen through the pipeline
// with a Panel in packet time.
func replayCorpus(t *testing.T, scenario string) *timeline {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "corpus", "gen", scenario, "merged.pcap")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("corpus capture %s not available: %v", path, err)
	}
	src, err := tap.OpenFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tl, p := newTimeline(t)
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return tl
}

// checkDataLED checks the LED of a data-channel mode over a replay: it
// lights when the first channel of that mode is announced, blinks fast
// while data moves, goes dark before its session ends, and the LED of the
// other mode never lights.
func checkDataLED(t *testing.T, tl *timeline, lit, dark leds.Role, transfer bool) {
	t.Helper()
	exp := tl.first(t, event.TypeDataExpect)
	end := tl.first(t, event.TypeSessionEnd)
	ch := tl.of(lit)
	if len(ch) < 2 {
		t.Fatalf("%s LED changes: %v, want at least on and off", lit, ch)
	}
	if ch[0].State != leds.StateOn || !ch[0].Time.Equal(exp.Time) {
		t.Errorf("%s LED first change %v at %v; want on at the data.expect, %v", lit, ch[0].State, ch[0].Time, exp.Time)
	}
	last := ch[len(ch)-1]
	if last.State != leds.StateOff || last.Time.After(end.Time) || last.Time.Before(exp.Time) {
		t.Errorf("%s LED last change %v at %v; want off between %v and the session's end %v", lit, last.State, last.Time, exp.Time, end.Time)
	}
	if transfer {
		open := tl.first(t, event.TypeDataOpen)
		fast := false
		for _, c := range ch {
			if c.State == leds.StateBlinkFast {
				fast = true
				if !c.Time.Equal(open.Time) {
					t.Errorf("%s LED blinks fast from %v, want from the data.open at %v", lit, c.Time, open.Time)
				}
			}
		}
		if !fast {
			t.Errorf("%s LED never blinked fast during the transfer: %v", lit, ch)
		}
	}
	if got := tl.of(dark); len(got) != 0 {
		t.Errorf("%s LED changed in a capture with no such data channel: %v", dark, got)
	}
}

func TestTimelinePassive(t *testing.T) {
	for _, scenario := range []string{"pasv-retr", "epsv-retr"} {
		t.Run(scenario, func(t *testing.T) {
			tl := replayCorpus(t, scenario)
			checkDataLED(t, tl, leds.RolePassive, leds.RoleActive, true)
			if got := tl.of(leds.RoleAlert); len(got) != 0 {
				t.Errorf("alert LED changed in a clean capture: %v", got)
			}
		})
	}
}

func TestTimelineActive(t *testing.T) {
	tl := replayCorpus(t, "port-stor")
	checkDataLED(t, tl, leds.RoleActive, leds.RolePassive, true)
	if got := tl.of(leds.RoleAlert); len(got) != 0 {
		t.Errorf("alert LED changed in a clean capture: %v", got)
	}
}

func TestTimelineRefused(t *testing.T) {
	tl := replayCorpus(t, "pasv-rst")
	checkDataLED(t, tl, leds.RolePassive, leds.RoleActive, false)
	fail := tl.first(t, event.TypeDataFail)
	alert := tl.of(leds.RoleAlert)
	if len(alert) == 0 || alert[0].State != leds.StateOn || !alert[0].Time.Equal(fail.Time) {
		t.Fatalf("alert LED changes %v; want on at the refused data.fail, %v", alert, fail.Time)
	}
}

// TestTimelineTimeout builds a capture in which the client connects to the
// port a 227 announced and the server never answers: the tracker times the
// data channel out and the alert LED lights. The passive LED goes dark when
// the channel fails.
func TestTimelineTimeout(t *testing.T) {
	cli := net.IPv4(10, 0, 0, 2)
	srv := net.IPv4(10, 0, 0, 1)
	start := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tl, p := newTimeline(t)
	var cseq, sseq uint32 = 1000, 5000
	feed := func(ms int, from, to net.IP, sport, dport uint16, flags string, seq, ack uint32, payload string) {
		t.Helper()
		p.Feed(pipeline.Frame{
			Data:     tcpFrame(t, from, to, sport, dport, flags, seq, ack, payload),
			Info:     gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(ms) * time.Millisecond)},
			LinkType: layers.LinkTypeEthernet,
		})
	}
	c2s := func(ms int, flags, payload string) {
		feed(ms, cli, srv, 40000, 21, flags, cseq, sseq, payload)
		cseq += uint32(len(payload))
	}
	s2c := func(ms int, flags, payload string) {
		feed(ms, srv, cli, 21, 40000, flags, sseq, cseq, payload)
		sseq += uint32(len(payload))
	}
	// 10.0.0.2.40000 > 10.0.0.1.21: Flags [S]; the handshake.
	feed(0, cli, srv, 40000, 21, "S", cseq-1, 0, "")
	feed(1, srv, cli, 21, 40000, "SA", sseq-1, cseq, "")
	c2s(2, "A", "")
	s2c(3, "PA", "220 ready\r\n")
	c2s(4, "PA", "USER anonymous\r\n")
	s2c(5, "PA", "230 Login successful.\r\n")
	c2s(6, "PA", "PASV\r\n")
	// 10.0.0.1.21 > 10.0.0.2.40000: 227 announces 10.0.0.1:40960.
	s2c(7, "PA", "227 Entering Passive Mode (10,0,0,1,160,0).\r\n")
	c2s(8, "PA", "RETR f.bin\r\n")
	// 10.0.0.2.51000 > 10.0.0.1.40960: Flags [S], three tries, no answer.
	for _, ms := range []int{9, 1009, 3009} {
		feed(ms, cli, srv, 51000, 40960, "S", 7000, 0, "")
	}
	// The server gives up on the transfer; the session goes on.
	s2c(15000, "PA", "425 Failed to establish connection.\r\n")
	for ms := 16000; ms <= 45000; ms += 1000 {
		c2s(ms, "PA", "NOOP\r\n")
		s2c(ms+1, "PA", "200 NOOP ok.\r\n")
	}
	// Time passes with no packets: a live tap's tick.
	p.Feed(pipeline.Frame{Info: gopacket.CaptureInfo{Timestamp: start.Add(50 * time.Second)}})

	var fail event.Event
	for _, ev := range tl.events {
		if ev.Type == event.TypeDataFail {
			fail = ev
		}
	}
	if fail.Reason != "timeout" {
		t.Fatalf("events %v: no data.fail timeout", types(tl.events))
	}
	t.Logf("events: %v", types(tl.events))
	alert := tl.of(leds.RoleAlert)
	if len(alert) == 0 || alert[0].State != leds.StateOn || !alert[0].Time.Equal(fail.Time) {
		t.Fatalf("alert LED changes %v; want on at the data.fail timeout, %v", alert, fail.Time)
	}
	pasv := tl.of(leds.RolePassive)
	if len(pasv) < 2 || pasv[0].State != leds.StateOn || pasv[len(pasv)-1].State != leds.StateOff || pasv[len(pasv)-1].Time.After(fail.Time) {
		t.Errorf("passive LED changes %v; want on at the 227, off by the data.fail at %v", pasv, fail.Time)
	}
}

func types(evs []event.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type != event.TypeRequest && ev.Type != event.TypeResponse {
			out = append(out, ev.Type.String()+":"+ev.Reason)
		}
	}
	return out
}

// tcpFrame serializes an Ethernet/IPv4/TCP frame. flags holds S, A, P, F, R.
func tcpFrame(t *testing.T, from, to net.IP, sport, dport uint16, flags string, seq, ack uint32, payload string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, from[15]}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, to[15]}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: from.To4(), DstIP: to.To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, Window: 65535}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'P':
			tcp.PSH = true
		case 'F':
			tcp.FIN = true
		case 'R':
			tcp.RST = true
		}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
