//go:build linux

package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var carveRing = flag.Int("carve-ring", 0, "BenchmarkLiveCarve: capture.ring_mib for ftptap (0: the default, 16, or 32 when carving)")

// BenchmarkLiveCarve runs ftptap run --carve inline while curl downloads
// big.bin (16 MiB, passive mode) through the bridge b.N times as fast as
// the veth pair goes. It reports what was carved whole (MB/s over the
// downloads' time, files whose SHA-256 is the lab's), ftptap's CPU per GB
// carved (capture, tracking, writing and hashing), kernel drops and
// command-channel events lost (target 0 for both).
//
//	go test -run XXX -bench BenchmarkLiveCarve -benchtime 10x ./internal/lab
func BenchmarkLiveCarve(b *testing.B) {
	if why := CanRun(); why != "" {
		b.Skip("lab: " + why)
	}
	l := New(b, Options{})
	dir := b.TempDir()
	carved := filepath.Join(dir, "carve")
	args := []string{"--carve", carved}
	if *carveRing > 0 {
		conf := filepath.Join(dir, "ring.yaml")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("capture:\n  ring_mib: %d\n", *carveRing)), 0o644); err != nil {
			b.Fatal(err)
		}
		args = append(args, "--config", conf)
	}
	ft := startBenchFtptap(b, l, filepath.Join(dir, "events.jsonl"), args...)
	big, _ := knownFile("big.bin")
	var runs []*Run
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		rs, _, err := l.download(context.Background(), Vsftpd, false, "big.bin")
		if err != nil {
			b.Fatal(err)
		}
		runs = append(runs, rs...)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	ft.stop(b, l)
	ev := ft.events(b)
	whole, carvedBytes := 0, int64(0)
	for _, line := range bytes.Split(ev, []byte("\n")) {
		var e struct {
			Type   string `json:"type"`
			SHA256 string `json:"sha256"`
			Bytes  int64  `json:"bytes"`
			Gaps   *int64 `json:"gaps"`
		}
		if json.Unmarshal(line, &e) != nil || e.Type != "transfer.end" || e.Gaps == nil {
			continue
		}
		carvedBytes += e.Bytes - *e.Gaps
		if e.SHA256 == big.SHA256() && *e.Gaps == 0 {
			whole++
		}
	}
	lost, want := commandEventsLost(runs, ev)
	st := logFields(ft.Log(), "stopped")
	cpu := ft.Cmd.ProcessState.UserTime() + ft.Cmd.ProcessState.SystemTime()
	b.ReportMetric(float64(carvedBytes)/1e6/elapsed.Seconds(), "carved-MB/s")
	b.ReportMetric(cpu.Seconds()/(float64(carvedBytes)/1e9), "cpu-s/GB")
	b.ReportMetric(float64(whole), "files-whole")
	b.ReportMetric(float64(st["kernel_drops"]), "kernel-drops")
	b.ReportMetric(float64(lost), "cmd-events-lost")
	b.Logf("%d downloads, %d carved whole, %d bytes carved in %v; ftptap cpu %v; %d of %d command events lost; %v", b.N, whole, carvedBytes, elapsed, cpu, lost, want, st)
	if lost > 0 {
		b.Errorf("%d command-channel events lost", lost)
	}
}
