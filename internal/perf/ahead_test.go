//go:build linux

package perf

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/capgen"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
	"github.com/google/gopacket/pcapgo"
)

// BenchmarkReadAheadMixed replays the mixed capture in-process three ways
// (events encoded and dropped): read ahead with frames decoded on the
// reading goroutine (what ftptap replay does), read ahead with decoding
// left to the tracking goroutine, and read on the tracking goroutine
// alone. The events are the same (TestReadAheadSameEvents); the wall time
// shows what the second core takes over.
//
//	go test -run='^$' -bench=ReadAheadMixed -benchtime=5x ./internal/perf -perf
func BenchmarkReadAheadMixed(b *testing.B) {
	need(b)
	file := capture(b, "mixed-1.pcap", func(f *os.File) (*capgen.Writer, error) { return capgen.Mixed(f, 1) })
	for _, c := range []struct {
		name  string
		ahead *pipeline.AheadOptions
	}{
		{"decode-ahead", &pipeline.AheadOptions{}},
		{"decode-in-tracker", &pipeline.AheadOptions{NoDecode: true}},
		{"no-read-ahead", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			var wall, cpu time.Duration
			for range b.N {
				src, err := tap.OpenFiles(file)
				if err != nil {
					b.Fatal(err)
				}
				p, err := pipeline.New(pipeline.Options{Tap: "bench", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(*event.Event, []byte) {})}})
				if err != nil {
					b.Fatal(err)
				}
				c0, t0 := cpuTime(), time.Now()
				var in pipeline.Source = src
				var a *pipeline.AheadSource
				if c.ahead != nil {
					a = pipeline.ReadAhead(src, *c.ahead)
					in = a
				}
				err = p.Run(context.Background(), in)
				if a != nil {
					a.Close()
				}
				wall, cpu = wall+time.Since(t0), cpu+cpuTime()-c0
				src.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(wall.Seconds()/float64(b.N), "wall-s")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
		})
	}
}

// BenchmarkReadMixed times the reading alone: every frame of the mixed
// capture through tap.FileSource.AppendFrame (ftptap's reading goroutine
// without the decoding: the file read into one buffer, each frame copied
// once into its batch), through gopacket's pcapgo.Reader alone (each
// frame left in its buffer: less work than FileSource does, which read
// through it before tap's pcapFrames, at 1.3x pcapFrames' time), and
// tcpdump -r F -w /dev/null, the read floor, in the same run (fastest of
// -perf.runs).
//
//	go test -run='^$' -bench=ReadMixed -benchtime=1x ./internal/perf -perf
func BenchmarkReadMixed(b *testing.B) {
	need(b)
	file := capture(b, "mixed-1.pcap", func(f *os.File) (*capgen.Writer, error) { return capgen.Mixed(f, 1) })
	best := func(read func() int) (time.Duration, time.Duration, int) {
		var wall, cpu time.Duration
		n := 0
		for i := range max(*runs, 1) {
			c0, t0 := cpuTime(), time.Now()
			n = read()
			w, c := time.Since(t0), cpuTime()-c0
			if i == 0 || w < wall {
				wall, cpu = w, c
			}
		}
		return wall, cpu, n
	}
	for range b.N {
		tapWall, tapCPU, frames := best(func() int {
			src, err := tap.OpenFiles(file)
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			buf := make([]byte, 0, 1<<20)
			var fr pipeline.Frame
			n := 0
			for {
				if _, err := src.AppendFrame(buf[:0], &fr); err != nil {
					if !errors.Is(err, io.EOF) {
						b.Fatal(err)
					}
					return n
				}
				n++
			}
		})
		goWall, goCPU, goFrames := best(func() int {
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<16))
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				if _, _, err := r.ZeroCopyReadPacketData(); err != nil {
					return n
				}
				n++
			}
		})
		if frames != goFrames || frames == 0 {
			b.Fatalf("tap read %d frames, pcapgo %d", frames, goFrames)
		}
		b.ReportMetric(float64(frames), "frames")
		b.ReportMetric(tapWall.Seconds(), "tap-s")
		b.ReportMetric(goWall.Seconds(), "pcapgo-s")
		line := fmt.Sprintf("read the mixed capture (%d frames): tap %.3fs (cpu %.3fs, %.0f ns a frame), pcapgo.Reader %.3fs (cpu %.3fs)",
			frames, tapWall.Seconds(), tapCPU.Seconds(), float64(tapWall.Nanoseconds())/float64(frames), goWall.Seconds(), goCPU.Seconds())
		if tcpdump, err := exec.LookPath("tcpdump"); err == nil {
			td := run(b, "", tcpdump, "-r", file, "-w", os.DevNull)
			b.ReportMetric(td.wall.Seconds(), "tcpdump-s")
			b.ReportMetric(tapWall.Seconds()/td.wall.Seconds(), "tap/tcpdump")
			line += fmt.Sprintf("; tcpdump -r F -w /dev/null %.3fs (cpu %.3fs): reading at %.2fx the read floor", td.wall.Seconds(), td.cpu.Seconds(), tapWall.Seconds()/td.wall.Seconds())
		}
		fmt.Fprintln(os.Stderr, line)
	}
}
