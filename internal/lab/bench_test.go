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
	if _, err := os.Stat("/usr/bin/iperf3"); err != nil {
		b.Skip("lab: needs iperf3 (./cross/setup.sh installs it)")
	}
	bin, err := BuildFtptap()
	if err != nil {
		b.Fatal(err)
	}
	l := New(b, Options{})
	dir := b.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	ft, err := l.StartFtptap(bin, "--tap", "bench", "--events", events)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := l.Start(l.ServerNS, nil, nil, "iperf3", "-s", "-B", Vsftpd.IP4.String(), "-1")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop(time.Second)
	l.waitListen(netip.AddrPortFrom(Vsftpd.IP4, 5201), 5*time.Second)
	iperfOut := filepath.Join(dir, "iperf.json")
	of, err := os.Create(iperfOut)
	if err != nil {
		b.Fatal(err)
	}
	secs := fmt.Sprint(max(1, int(loadTime.Seconds())))
	cli, err := l.Start(l.ClientNS, of, of, "iperf3", "-c", Vsftpd.IP4.String(), "-t", secs, "-P", "2", "-J")
	of.Close()
	if err != nil {
		b.Fatal(err)
	}
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
	time.Sleep(200 * time.Millisecond)
	if err := ft.Term(); err != nil {
		b.Fatal(err)
	}
	ev, err := os.ReadFile(events)
	if err != nil {
		b.Fatal(err)
	}
	lost, want := commandEventsLost(runs, ev)
	b.ReportMetric(float64(lost), "cmd-events-lost")
	b.ReportMetric(float64(want), "cmd-events-expected")
	stopped := logFields(ft.Log(), "stopped")
	b.ReportMetric(float64(stopped["frames"]), "frames-seen")
	b.ReportMetric(float64(stopped["kernel_packets"]), "kernel-packets")
	b.ReportMetric(float64(stopped["kernel_drops"]), "kernel-drops")
	if mbps, err := iperfMbps(iperfOut); err == nil && loadErr == nil {
		b.ReportMetric(mbps, "load-Mbit/s")
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

func iperfMbps(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, err
	}
	return r.End.SumReceived.BitsPerSecond / 1e6, nil
}
