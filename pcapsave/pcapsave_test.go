package pcapsave_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/decode"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/replaytest"
	"github.com/ftptap/ftptap/pcapsave"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

const labDir = "../ftpstate/testdata/lab"

// frames reads capture files into memory, merged by time.
func frames(t testing.TB, files ...string) []pipeline.Frame {
	t.Helper()
	src, err := tap.OpenFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []pipeline.Frame
	for {
		f, err := src.ReadFrame()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Data = bytes.Clone(f.Data)
		out = append(out, f)
	}
}

// run replays frames, with a saver under dir when dir is not empty, and
// returns the JSON lines.
func run(t testing.TB, src pipeline.Source, dir string, cfg pcapsave.Config) []string {
	t.Helper()
	var lines []string
	p, err := pipeline.New(pipeline.Options{Tap: "t", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(_ *event.Event, js []byte) {
		lines = append(lines, string(js))
	})}})
	if err != nil {
		t.Fatal(err)
	}
	var s *pcapsave.Saver
	if dir != "" {
		cfg.Dir = dir
		cfg.Emit = p.Emit
		if s, err = pcapsave.New(cfg); err != nil {
			t.Fatal(err)
		}
		p.AddSink(s)
	}
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if s != nil {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return lines
}

func saved(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "ftptap-*.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// unrelated returns TCP frames of a bulk transfer between two hosts that
// have no FTP session, and of a connection between the FTP hosts on
// another port that nobody announced, at times spread over [from, to).
func unrelated(t testing.TB, from, to time.Time, n int) []pipeline.Frame {
	t.Helper()
	var out []pipeline.Frame
	mk := func(src, dst string, sport, dport uint16, seq uint32, flags string, payload []byte, ts time.Time) {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: 1, ACK: true, SYN: strings.Contains(flags, "S"), FIN: strings.Contains(flags, "F"), Window: 65535}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		b := bytes.Clone(buf.Bytes())
		out = append(out, pipeline.Frame{Data: b, Info: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}, Side: event.SideA, LinkType: layers.LinkTypeEthernet})
	}
	step := to.Sub(from) / time.Duration(n+1)
	chunk := bytes.Repeat([]byte("B"), 1000)
	ts := from
	mk("192.0.2.10", "192.0.2.20", 5555, 80, 1000, "S", nil, ts)
	mk("10.77.0.2", "10.77.0.1", 6666, 40050, 1000, "S", nil, ts) // an FTP pair, unannounced port
	for i := range n {
		ts = ts.Add(step)
		mk("192.0.2.10", "192.0.2.20", 5555, 80, 1001+uint32(i*1000), "", chunk, ts)
		mk("10.77.0.2", "10.77.0.1", 6666, 40050, 1001+uint32(i*1000), "", chunk, ts)
	}
	return out
}

// tcpFrames counts the frames that are TCP over IP.
func tcpFrames(t testing.TB, fs []pipeline.Frame) int {
	n := 0
	var pkt event.Packet
	for _, f := range fs {
		d, err := decode.New(f.LinkType)
		if err != nil {
			t.Fatal(err)
		}
		if d.Decode(f.Data, &pkt) {
			n++
		}
	}
	return n
}

func merge(a, b []pipeline.Frame) []pipeline.Frame {
	out := append(append([]pipeline.Frame(nil), a...), b...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Info.Timestamp.Before(out[j].Info.Timestamp) })
	return out
}

// TestRoundTrip saves the FTP part of each lab capture, with unrelated
// bulk traffic mixed in, and replays the saved file alone: the events are
// the same as the original's, and none of the unrelated frames was kept.
func TestRoundTrip(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(labDir, "*"))
	if len(dirs) == 0 {
		t.Fatalf("no lab captures under %s", labDir)
	}
	for _, d := range dirs {
		t.Run(filepath.Base(d), func(t *testing.T) {
			orig := frames(t, filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap"))
			noise := unrelated(t, orig[0].Info.Timestamp, orig[len(orig)-1].Info.Timestamp, 200)
			want := run(t, &replaytest.Source{Frames: orig}, "", pcapsave.Config{})
			out := t.TempDir()
			got := run(t, &replaytest.Source{Frames: merge(orig, noise)}, out, pcapsave.Config{Ports: []string{"porta", "portb"}})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("saving changed the events (-want +got):\n%s", diff)
			}
			files := saved(t, out)
			if len(files) != 1 {
				t.Fatalf("saved %v, want one file", files)
			}
			back := frames(t, files[0])
			if n := tcpFrames(t, orig); len(back) != n {
				t.Errorf("saved %d frames, the capture has %d TCP frames, all FTP (and %d others)", len(back), n, len(noise))
			}
			for _, f := range back {
				if bytes.Contains(f.Data, []byte("BBBBBBBBBB")) {
					t.Fatal("an unrelated frame was saved")
				}
			}
			replayed := run(t, &replaytest.Source{Frames: back}, "", pcapsave.Config{})
			if diff := cmp.Diff(want, replayed); diff != "" {
				t.Errorf("the saved file replays to other events (-original +saved):\n%s", diff)
			}
		})
	}
}

// TestTshark: Wireshark's reader takes the saved file, dissects FTP and
// FTP-DATA, shows two interfaces and the session comment.
func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (Debian package tshark; cross/setup.sh installs it)")
	}
	d := filepath.Join(labDir, "multi")
	out := t.TempDir()
	run(t, &replaytest.Source{Frames: frames(t, filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap"))}, out, pcapsave.Config{Ports: []string{"porta", "portb"}})
	files := saved(t, out)
	if len(files) != 1 {
		t.Fatalf("saved %v", files)
	}
	cmd := exec.Command("tshark", "-n", "-r", files[0], "-Y", "ftp || ftp-data", "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment", "-e", "_ws.col.Protocol")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	ifaces, data := map[string]bool{}, 0
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) < 3 {
			continue
		}
		ifaces[f[0]] = true
		if f[2] == "FTP-DATA" {
			data++
		}
	}
	if !ifaces["porta"] || !ifaces["portb"] || data == 0 || len(lines) < 50 {
		t.Errorf("tshark shows interfaces %v, %d FTP-DATA frames in %d lines:\n%s", ifaces, data, len(lines), b)
	}
	// The comment sits on the session's SYN, which the ftp filter does
	// not show: ask for it directly.
	b, err = exec.Command("tshark", "-n", "-r", files[0], "-Y", "frame.comment", "-T", "fields", "-e", "frame.comment").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "ftptap session s1: client 10.77.0.2:41186, server 10.77.0.1:21") {
		t.Errorf("no session comment: %v\n%s", err, b)
	}
}

// TestRotation rotates by size and by time and keeps the total under its
// cap, the oldest removed first; every file stays readable.
func TestRotation(t *testing.T) {
	d := filepath.Join(labDir, "concurrent")
	orig := frames(t, filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap"))
	t.Run("size", func(t *testing.T) {
		out := t.TempDir()
		run(t, &replaytest.Source{Frames: orig}, out, pcapsave.Config{Ports: []string{"a", "b"}, MaxFileBytes: 16 << 10, MaxTotalBytes: 64 << 10})
		files := saved(t, out)
		var total int64
		for _, f := range files {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			total += st.Size()
			frames(t, f) // readable whole
		}
		if len(files) < 2 || total > 64<<10 {
			t.Errorf("%d files, %d bytes in all", len(files), total)
		}
		if strings.HasSuffix(files[0], "-0001.pcapng") {
			t.Errorf("the oldest file was kept: %v", files)
		}
	})
	t.Run("time", func(t *testing.T) {
		out := t.TempDir()
		span := orig[len(orig)-1].Info.Timestamp.Sub(orig[0].Info.Timestamp)
		run(t, &replaytest.Source{Frames: orig}, out, pcapsave.Config{Ports: []string{"a", "b"}, MaxAge: span / 4})
		if files := saved(t, out); len(files) < 3 {
			t.Errorf("frames over %v, rotated every %v: %d files", span, span/4, len(files))
		}
	})
}

// TestFullDisk: a write error stops saving with one alert.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "ftptap-pcap-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v: %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	d := filepath.Join(labDir, "concurrent")
	lines := run(t, &replaytest.Source{Frames: frames(t, filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap"))}, dir, pcapsave.Config{MaxFileBytes: 1 << 20, MaxTotalBytes: 4 << 20})
	n := 0
	for _, l := range lines {
		if strings.Contains(l, `"kind":"pcap_stopped"`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d pcap_stopped alerts, want 1", n)
	}
}

// TestCorpusRoundTrip saves and replays Zeek's FTP traces from the shared
// corpus (FTP on other ports found by content, AUTH TLS, IPv6, many PORTs):
// the saved file gives the same events.
func TestCorpusRoundTrip(t *testing.T) {
	const corpus = "../../shared/corpus/zeek"
	files, _ := filepath.Glob(filepath.Join(corpus, "*.pcap*"))
	if len(files) == 0 {
		t.Skipf("corpus not found at %s (it sits beside the checkout on the project's CI)", corpus)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			orig := frames(t, f)
			want := run(t, &replaytest.Source{Frames: orig}, "", pcapsave.Config{})
			out := t.TempDir()
			run(t, &replaytest.Source{Frames: orig}, out, pcapsave.Config{})
			var back []pipeline.Frame
			for _, s := range saved(t, out) {
				back = append(back, frames(t, s)...)
			}
			if diff := cmp.Diff(want, run(t, &replaytest.Source{Frames: back}, "", pcapsave.Config{})); diff != "" {
				t.Errorf("the saved file replays to other events (-original +saved):\n%s", diff)
			}
		})
	}
}
