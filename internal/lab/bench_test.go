//go:build linux

package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var loadTime = flag.Duration("load", 3*time.Second, "how long BenchmarkLiveLoad runs iperf3 (make bench-live: 20s)")

// BenchmarkLiveLoad runs ftptap inline while iperf3 pushes TCP through
// the bridge as fast as it goes, and runs the concurrent scenario (8 FTP
// sessions at once) b.N times meanwhile. It reports what ftptap counted
// (frames it tracked, frames its kernel filter passed, kernel drops: from
// the figures it logs when it stops), the load
// (iperf3's throughput), and the command-channel events lost: requests and
// responses the clients' transcripts show that ftptap did not report. The
// target is zero lost.
//
//	make bench-live    (go test -bench=BenchmarkLiveLoad -benchtime=5x ./internal/lab -load=20s)
func BenchmarkLiveLoad(b *testing.B) {
	if why := CanRun(); why != "" {
		b.Skip("lab: " + why)
	}
	needIperf(b)
	l := New(b, Options{})
	dir := b.TempDir()
	ft := startBenchFtptap(b, l, filepath.Join(dir, "events.jsonl"))
	iperfOut := filepath.Join(dir, "iperf.json")
	cli := startIperf(b, l, netip.AddrPortFrom(Vsftpd.IP4, 5201), iperfOut, *loadTime, "-P", "2")
	time.Sleep(500 * time.Millisecond) // let the load ramp up
	sc, _ := ScenarioByName("concurrent")
	var runs []*Run
	b.ResetTimer()
	for range b.N {
		rs, _, err := sc.Run(l, context.Background())
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, rs...)
	}
	b.StopTimer()
	loadErr := cli.Wait(*loadTime + 30*time.Second)
	ft.stop(b, l)
	ev := ft.events(b)
	lost, want := commandEventsLost(runs, ev)
	b.ReportMetric(float64(lost), "cmd-events-lost")
	b.ReportMetric(float64(want), "cmd-events-expected")
	stopped := ft.reportCapture(b)
	if sum, err := readIperf(iperfOut); err == nil && loadErr == nil {
		b.ReportMetric(sum.SumReceived.BitsPerSecond/1e6, "load-Mbit/s")
	} else {
		b.Logf("iperf3: %v %v", loadErr, err)
	}
	b.Logf("ftptap: %v", stopped)
	if lost > 0 {
		b.Errorf("%d of %d command-channel events lost under load", lost, want)
	}
}

// commandEventsLost counts, per session a client reported its port for,
// the requests it sent and the replies it read (a multi-line reply is
// one), and how many of those ftptap's request and response events miss.
func commandEventsLost(runs []*Run, events []byte) (lost, want int) {
	type key struct{ client, kind string }
	got := map[key]int{}
	for _, line := range bytes.Split(events, []byte("\n")) {
		var e struct{ Type, Client string }
		if json.Unmarshal(line, &e) == nil && (e.Type == "request" || e.Type == "response") {
			got[key{e.Client, e.Type}]++
		}
	}
	for _, r := range runs {
		for _, t := range r.Sessions {
			if t.LocalPort == 0 {
				continue
			}
			client := hostPort(ClientIP4, t.LocalPort)
			if t.Server.Addr().Is6() {
				client = hostPort(ClientIP6, t.LocalPort)
			}
			var req, resp int
			multi := ""
			for _, l := range t.Lines {
				if l.Sent {
					req++
					continue
				}
				m := replyLine.FindStringSubmatch(l.Text)
				switch {
				case multi != "":
					if m != nil && m[1] == multi && m[2] == " " {
						multi = ""
						resp++
					}
				case m != nil && m[2] == "-":
					multi = m[1]
				case m != nil:
					resp++
				}
			}
			want += req + resp
			lost += max(0, req-got[key{client, "request"}]) + max(0, resp-got[key{client, "response"}])
		}
	}
	return lost, want
}

// logFields returns the numeric fields of ftptap's last log line with
// the message msg (log/slog's text form: msg=stopped frames=45 ...).
func logFields(log, msg string) map[string]int64 {
	fields := map[string]int64{}
	for _, line := range strings.Split(log, "\n") {
		f := strings.Fields(line)
		if !slices.Contains(f, "msg="+msg) {
			continue
		}
		clear(fields)
		for _, kv := range f {
			k, v, ok := strings.Cut(kv, "=")
			if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
				fields[k] = n
			}
		}
	}
	return fields
}

// benchFtptap is ftptap run inline in a benchmark's lab, writing its
// events to a file.
type benchFtptap struct {
	*Ftptap
	Events string // its --events file
}

// startBenchFtptap builds ftptap and runs it in l as "ftptap run --tap
// bench --events events args...", once it captures on the bridged tap
// ports. It fails b if ftptap does not start.
func startBenchFtptap(b *testing.B, l *Lab, events string, args ...string) *benchFtptap {
	b.Helper()
	bin, err := BuildFtptap()
	if err != nil {
		b.Fatal(err)
	}
	ft, err := l.StartFtptap(bin, append([]string{"--tap", "bench", "--events", events}, args...)...)
	if err != nil {
		b.Fatal(err)
	}
	return &benchFtptap{Ftptap: ft, Events: events}
}

// stop waits until the lab's traffic is over (Lab.WaitQuiet: every
// connection closed, no server still resending), so that ftptap has seen
// all of it, then stops ftptap with SIGTERM. It fails b if the traffic
// goes on for more than a minute or ftptap does not exit cleanly.
func (f *benchFtptap) stop(b *testing.B, l *Lab) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.WaitQuiet(ctx); err != nil {
		b.Fatal(err)
	}
	if err := f.Term(); err != nil {
		b.Fatal(err)
	}
}

// events returns what ftptap wrote to its events file.
func (f *benchFtptap) events(b *testing.B) []byte {
	b.Helper()
	ev, err := os.ReadFile(f.Events)
	if err != nil {
		b.Fatal(err)
	}
	return ev
}

// reportCapture reports what ftptap, stopped, says it captured (its
// "stopped" log line): frames it tracked (frames-seen), frames its kernel
// filter passed (kernel-packets) and kernel drops. It returns the line's
// fields.
func (f *benchFtptap) reportCapture(b *testing.B) map[string]int64 {
	stopped := logFields(f.Log(), "stopped")
	b.ReportMetric(float64(stopped["frames"]), "frames-seen")
	b.ReportMetric(float64(stopped["kernel_packets"]), "kernel-packets")
	b.ReportMetric(float64(stopped["kernel_drops"]), "kernel-drops")
	return stopped
}

// startIperf starts iperf3 as load through the lab's bridge: a server for
// one test (-s -1) on to in the server namespace, stopped when the test
// ends, and a client in the client namespace that sends to it for d (whole
// seconds, at least one) with args, its JSON summary (-J) going to out
// (see readIperf). The caller waits for the client.
func startIperf(tb testing.TB, l *Lab, to netip.AddrPort, out string, d time.Duration, args ...string) *Proc {
	tb.Helper()
	host, port := to.Addr().String(), fmt.Sprint(to.Port())
	srv, err := l.Start(l.ServerNS, nil, nil, "iperf3", "-s", "-B", host, "-p", port, "-1")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Stop(time.Second) })
	if err := l.waitListen(to, 5*time.Second); err != nil {
		tb.Fatal(err)
	}
	of, err := os.Create(out)
	if err != nil {
		tb.Fatal(err)
	}
	defer of.Close()
	secs := fmt.Sprint(max(1, int(d.Seconds())))
	cli, err := l.Start(l.ClientNS, of, of, "iperf3", append([]string{"-c", host, "-p", port, "-t", secs, "-J"}, args...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return cli
}

// needIperf skips tb where iperf3 is not installed.
func needIperf(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat("/usr/bin/iperf3"); err != nil {
		tb.Skip("lab: needs iperf3 (./cross/setup.sh installs it)")
	}
}

// iperfSummary is the summary iperf3 -J writes at the end of its output
// (its "end" object): sum_received for TCP, sum for UDP (-u).
type iperfSummary struct {
	Sum struct {
		Packets       int64   `json:"packets"`
		BitsPerSecond float64 `json:"bits_per_second"`
	} `json:"sum"`
	SumReceived struct {
		Bytes         int64   `json:"bytes"`
		BitsPerSecond float64 `json:"bits_per_second"`
	} `json:"sum_received"`
}

// readIperf reads the summary of iperf3 -J's output in path.
func readIperf(path string) (iperfSummary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return iperfSummary{}, err
	}
	var r struct {
		End iperfSummary `json:"end"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return iperfSummary{}, fmt.Errorf("%s: %w", path, err)
	}
	return r.End, nil
}
