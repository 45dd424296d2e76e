package carve_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ftptap/ftptap/carve"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCarve feeds a transfer in 1448-byte segments, in order, to the
// carver: each written at its offset and hashed (SHA-256). It reports
// MB/s through the carver (b.SetBytes) and CPU seconds per GB carved.
func BenchmarkCarve(b *testing.B) {
	dir := b.TempDir()
	c, err := carve.New(carve.Config{Dir: dir, MinFreeBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 1448)
	for i := range payload {
		payload[i] = byte(i)
	}
	const perFile = 64 << 20
	seg := ftpstate.DataSegment{Session: 1, Command: "RETR", Sender: true, Payload: payload}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	var xfer uint64 = 1
	var off int64
	for range b.N {
		seg.Transfer, seg.Offset = xfer, off
		c.Data(&seg)
		off += int64(len(payload))
		if off >= perFile {
			ev := event.Event{Type: event.TypeTransferEnd, Proto: event.ProtoFTP, Session: 1, Transfer: xfer, Command: "RETR", File: "f.bin", Direction: event.DirDownload, Bytes: off, Complete: true, Time: time.Unix(0, 0)}
			c.Annotate(&ev)
			os.RemoveAll(filepath.Join(dir, "1970-01-01"))
			xfer++
			off = 0
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	gb := float64(b.N) * float64(len(payload)) / 1e9
	b.ReportMetric(cpu.Seconds()/gb, "cpu-s/GB")
	c.Close()
}

// BenchmarkCarveReplay replays the lab's captures with carving on, from
// memory: frames decoded, tracked, carved and hashed. It reports the MB/s
// of files carved.
func BenchmarkCarveReplay(b *testing.B) {
	dirs, _ := filepath.Glob(filepath.Join(labDir, "*"))
	var files [][]string
	for _, d := range dirs {
		files = append(files, []string{filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap")})
	}
	var carved int64
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		out := b.TempDir()
		for _, f := range files {
			for _, ev := range replayCarve(b, out, carve.Config{MinFreeBytes: -1}, f...) {
				if ev.Type == event.TypeTransferEnd && ev.Carved != "" {
					carved += ev.Bytes - ev.Gaps
				}
			}
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(carved)/1e6/b.Elapsed().Seconds(), "carved-MB/s")
	b.ReportMetric(cpu.Seconds()/(float64(carved)/1e9), "cpu-s/GB")
}
