//go:build linux

package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
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
	needIperf(b)
	l := New(b, Options{})
	if err := l.StartTFTP(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	ft := startBenchFtptap(b, l, filepath.Join(dir, "events.jsonl"))
	iperfOut := filepath.Join(dir, "iperf.json")
	cli := startIperf(b, l, netip.AddrPortFrom(Vsftpd.IP4, 5201), iperfOut, *loadTime, "-u", "-b", "0", "-l", "1400")
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
	ft.stop(b, l)
	complete := 0
	for _, line := range bytes.Split(ft.events(b), []byte("\n")) {
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
	stopped := ft.reportCapture(b)
	if sum, err := readIperf(iperfOut); err == nil && loadErr == nil {
		b.ReportMetric(float64(sum.Sum.Packets), "udp-load-datagrams")
		b.ReportMetric(sum.Sum.BitsPerSecond/1e6, "load-Mbit/s")
	} else {
		b.Logf("iperf3: %v %v", loadErr, err)
	}
	b.Logf("ftptap: %v", stopped)
	if complete != want {
		b.Errorf("%d of %d TFTP transfers lost under UDP load", want-complete, want)
	}
}
