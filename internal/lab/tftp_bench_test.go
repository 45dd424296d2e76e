//go:build linux

package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkTFTPUnderUDPLoad runs ftptap inline while iperf3 pushes UDP
// through the bridge (-u, 1400-byte datagrams, as fast as it goes), and
// runs the concurrent TFTP scenario (three transfers at once, 400 KB in
// all) b.N times meanwhile. The kernel filter passes TFTP by its
// shape and leaves iperf3's datagrams in the kernel, so it reports the
// datagrams iperf3 sent, the frames the filter passed up (kernel-packets)
// and ftptap tracked, kernel drops, and the TFTP transfers lost: those that
// ended in no complete tftp.end. The targets: frames passed a small
// fraction of the load, zero lost.
//
//	make bench-tftp    (go test -bench=BenchmarkTFTPUnderUDPLoad -benchtime=5x ./internal/lab -load=10s)
func BenchmarkTFTPUnderUDPLoad(b *testing.B) {
	if why := CanRunTFTP(); why != "" {
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
	if err := l.StartTFTP(); err != nil {
		b.Fatal(err)
	}
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
	cli, err := l.Start(l.ClientNS, of, of, "iperf3", "-c", Vsftpd.IP4.String(), "-u", "-b", "0", "-l", "1400", "-t", secs, "-J")
	of.Close()
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let the load ramp up
	var sc TFTPScenario
	for _, s := range TFTPScenarios {
		if s.Name == "concurrent" {
			sc = s
		}
	}
	want := 0
	b.ResetTimer()
	for range b.N {
		exp, _, err := sc.Run(l, context.Background())
		if err != nil {
			b.Fatal(err)
		}
		want += len(exp)
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
	complete := 0
	for _, line := range bytes.Split(ev, []byte("\n")) {
		var e struct {
			Type     string `json:"type"`
			Complete bool   `json:"complete"`
		}
		if json.Unmarshal(line, &e) == nil && e.Type == "tftp.end" && e.Complete {
			complete++
		}
	}
	b.ReportMetric(float64(want-complete), "tftp-transfers-lost")
	b.ReportMetric(float64(want), "tftp-transfers")
	stopped := logFields(ft.Log(), "stopped")
	b.ReportMetric(float64(stopped["frames"]), "frames-seen")
	b.ReportMetric(float64(stopped["kernel_packets"]), "kernel-packets")
	b.ReportMetric(float64(stopped["kernel_drops"]), "kernel-drops")
	if n, mbps, err := iperfUDP(iperfOut); err == nil && loadErr == nil {
		b.ReportMetric(float64(n), "udp-load-datagrams")
		b.ReportMetric(mbps, "load-Mbit/s")
	} else {
		b.Logf("iperf3: %v %v", loadErr, err)
	}
	b.Logf("ftptap: %v", stopped)
	if complete != want {
		b.Errorf("%d of %d TFTP transfers lost under UDP load", want-complete, want)
	}
}

// iperfUDP reads iperf3 -u -J's datagrams sent and throughput.
func iperfUDP(path string) (int64, float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var r struct {
		End struct {
			Sum struct {
				Packets       int64   `json:"packets"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum"`
		} `json:"end"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, 0, err
	}
	return r.End.Sum.Packets, r.End.Sum.BitsPerSecond / 1e6, nil
}
