package ftpstate_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/internal/replaytest"
)

// wireshark runs one of Wireshark's command-line tools (editcap, mergecap).
func wireshark(t *testing.T, tool string, args ...string) {
	t.Helper()
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
}

// seconds is a step as editcap -t takes it.
func seconds(d time.Duration) string { return fmt.Sprintf("%.6f", d.Seconds()) }

// frameTimes returns the timestamps of a capture's frames.
func frameTimes(t *testing.T, name string) []time.Time {
	t.Helper()
	var ts []time.Time
	for _, fr := range readCapture(t, name).Frames {
		ts = append(ts, fr.Info.Timestamp)
	}
	return ts
}

// Issue 11, with Wireshark's tools: the lab's concurrent sessions, as one
// capture in arrival order (what a tap that sees both ports on one clock
// saves), split with editcap -r at a frame in the middle of the sessions,
// the second part moved with editcap -t, joined again with mergecap -a, and
// replayed from the file. The same sessions and transfers as without the
// step, no negative duration, one clock_step alert.
//
// Two port files stepped back cannot be replayed side by side: merged by
// time, the stepped part of one file would come before the rest of the
// other. Forward, they can, and the step is tried on each port's file too.
func TestClockStepEditcap(t *testing.T) {
	for _, tool := range []string{"editcap", "mergecap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (Debian package wireshark-common, installed by cross/setup.sh): %v", tool, err)
		}
	}
	lab := filepath.Join("testdata", "lab", "concurrent")
	porta, portb := filepath.Join(lab, "porta.pcap"), filepath.Join(lab, "portb.pcap")
	dir := t.TempDir()
	both := filepath.Join(dir, "both.pcap")
	wireshark(t, "mergecap", "-F", "pcap", "-w", both, porta, portb)
	times := frameTimes(t, both)
	n := len(times)
	k := n/2 + 1 // editcap numbers frames from 1: the first on the new clock
	cut := times[k-1]

	// step writes the capture in with its frames from the first at or
	// after cut moved by d.
	step := func(in, name string, d time.Duration) string {
		ts := frameTimes(t, in)
		first := 1
		for first <= len(ts) && ts[first-1].Before(cut) {
			first++
		}
		if first == 1 || first > len(ts) {
			t.Fatalf("%s: no frame on both sides of %v", in, cut)
		}
		a, b, out := filepath.Join(dir, name+".1.pcap"), filepath.Join(dir, name+".2.pcap"), filepath.Join(dir, name+".pcap")
		wireshark(t, "editcap", "-r", in, a, fmt.Sprintf("1-%d", first-1))
		wireshark(t, "editcap", "-r", "-t", seconds(d), in, b, fmt.Sprintf("%d-%d", first, len(ts)))
		wireshark(t, "mergecap", "-F", "pcap", "-a", "-w", out, a, b)
		return out
	}

	check := func(t *testing.T, want, got []event.Event, dir string, newStart time.Time) {
		t.Helper()
		var steps []event.Event
		for i, ev := range got {
			if ev.Type == event.TypeAlert && ev.Kind == ftpstate.ClockStepAlert {
				steps = append(steps, ev)
			}
			if ev.DurationMS < 0 {
				t.Errorf("event %d (%s): duration %d ms", i, ev.Type, ev.DurationMS)
			}
		}
		if len(steps) != 1 {
			t.Fatalf("%d clock_step alerts, want 1: %+v", len(steps), steps)
		}
		if !strings.Contains(steps[0].Detail, "stepped "+dir) || !steps[0].Time.Equal(newStart) {
			t.Errorf("alert %q at %v; want stepped %s, at %v", steps[0].Detail, steps[0].Time, dir, newStart)
		}
		if diff := cmp.Diff(shape(t, want), shape(t, got)); diff != "" {
			t.Errorf("events besides the alert differ (-without step +with):\n%s", diff)
		}
	}

	want := replaytest.Events(t, nil, both)
	sessions, transfers := 0, 0
	for _, ev := range want {
		switch ev.Type {
		case event.TypeSessionStart:
			sessions++
		case event.TypeTransferEnd:
			transfers++
		}
	}
	if sessions < 2 || transfers < 2 {
		t.Fatalf("the capture without a step gives %d sessions, %d transfers", sessions, transfers)
	}
	for _, tt := range []struct {
		name string
		d    time.Duration
		dir  string
	}{
		{"forward 90 days", 90 * 24 * time.Hour, "forward"},
		{"back 90 days", -90 * 24 * time.Hour, "back"},
		{"back 1 minute", -time.Minute, "back"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := replaytest.Events(t, nil, step(both, "stepped", tt.d))
			check(t, want, got, tt.dir, cut.Add(tt.d))
		})
	}
	t.Run("forward 90 days, each port", func(t *testing.T) {
		d := 90 * 24 * time.Hour
		want := replaytest.Events(t, nil, porta, portb)
		got := replaytest.Events(t, nil, step(porta, "porta", d), step(portb, "portb", d))
		check(t, want, got, "forward", cut.Add(d))
	})

	// Timeouts on the new clock: the capture cut at its middle, frames from
	// a third on stepped, then nothing from the sessions open at the cut but
	// two copies of a frame of other hosts (a bare ACK of a data
	// connection of the lab's IPv6 capture, moved with editcap -t): 14
	// minutes and 15 minutes 2 s after the last packet. Replay has no clock but the packets': the sessions
	// open at the end time out at the second, not the first.
	at, end := n/3+1, n/2
	other := filepath.Join("testdata", "lab", "ipv6", "porta.pcap")
	otherTimes := frameTimes(t, other)
	stray := strayFrame(t, other, len(otherTimes)+1)
	for _, d := range []time.Duration{90 * 24 * time.Hour, -90 * 24 * time.Hour} {
		t.Run(fmt.Sprintf("timeout after %v", d), func(t *testing.T) {
			a, b := filepath.Join(dir, "t.1.pcap"), filepath.Join(dir, "t.2.pcap")
			wireshark(t, "editcap", "-r", both, a, fmt.Sprintf("1-%d", at-1))
			wireshark(t, "editcap", "-r", "-t", seconds(d), both, b, fmt.Sprintf("%d-%d", at, end))
			last := times[end-1].Add(d)
			idle := 15 * time.Minute
			files := []string{a, b}
			for i, after := range []time.Duration{idle - time.Minute, idle + 2*time.Second} {
				tick := filepath.Join(dir, fmt.Sprintf("t.tick%d.pcap", i))
				wireshark(t, "editcap", "-r", "-t", seconds(last.Add(after).Sub(otherTimes[stray-1])), other, tick, fmt.Sprint(stray))
				files = append(files, tick)
			}
			cutOnly := filepath.Join(dir, "t.cut.pcap")
			wireshark(t, "mergecap", "-F", "pcap", "-a", "-w", cutOnly, a, b)
			ticked := filepath.Join(dir, "t.pcap")
			wireshark(t, "mergecap", append([]string{"-F", "pcap", "-a", "-w", ticked}, files...)...)

			// Without the ticks, the sessions open at the end end with
			// the replay ("shutdown").
			open := 0
			for _, ev := range replaytest.Events(t, nil, cutOnly) {
				if ev.Type == event.TypeSessionEnd && ev.Reason == "shutdown" {
					open++
				}
			}
			if open == 0 {
				t.Fatalf("no session open at frame %d: pick another cut", end)
			}
			got := replaytest.Events(t, nil, ticked)
			timeouts, steps := 0, 0
			for i, ev := range got {
				if ev.DurationMS < 0 {
					t.Errorf("event %d (%s): duration %d ms", i, ev.Type, ev.DurationMS)
				}
				if ev.Type == event.TypeAlert && ev.Kind == ftpstate.ClockStepAlert {
					steps++
				}
				if ev.Type != event.TypeSessionEnd {
					continue
				}
				switch ev.Reason {
				case "timeout":
					timeouts++
					if !ev.Time.After(last.Add(idle)) || ev.Time.After(last.Add(idle+2*time.Second)) {
						t.Errorf("timeout at %v, want in (%v, %v]: %v after the last packet on the new clock", ev.Time, last.Add(idle), last.Add(idle+2*time.Second), ev.Time.Sub(last))
					}
				case "shutdown":
					t.Errorf("session %d still open at the end: %+v", ev.Session, ev)
				}
			}
			t.Logf("%d sessions open at frame %d of %d timed out %v after their last packet on the new clock", timeouts, end, n, idle)
			if timeouts != open || steps != 1 {
				t.Errorf("%d sessions timed out (want %d), %d clock_step alerts (want 1)", timeouts, open, steps)
			}
		})
	}
}

// strayFrame returns the number (from 1) of a frame before frame before: a
// bare ACK of a connection off port 21 whose last frame comes before it.
func strayFrame(t *testing.T, name string, before int) int {
	t.Helper()
	frames := readCapture(t, name).Frames
	type conn struct{ a, b gopacket.Endpoint }
	last := map[conn]int{}
	bare := map[int]conn{}
	for i, fr := range frames {
		pkt := gopacket.NewPacket(fr.Data, layers.LayerTypeEthernet, gopacket.NoCopy)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || pkt.NetworkLayer() == nil {
			continue
		}
		net, tr := pkt.NetworkLayer().NetworkFlow(), tcp.TransportFlow()
		c := conn{net.Src(), tr.Src()}
		if d := (conn{net.Dst(), tr.Dst()}); d.a.LessThan(c.a) || (d.a == c.a && d.b.LessThan(c.b)) {
			c = d
		}
		last[c] = i
		if tcp.SrcPort != 21 && tcp.DstPort != 21 && tcp.ACK && !tcp.SYN && !tcp.FIN && !tcp.RST && len(tcp.Payload) == 0 {
			bare[i] = c
		}
	}
	for i := 0; i < before-1; i++ {
		if c, ok := bare[i]; ok && last[c] < before-1 {
			return i + 1
		}
	}
	t.Fatalf("%s: no bare ACK of a finished data connection before frame %d", name, before)
	return 0
}
