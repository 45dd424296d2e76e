package tap

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/frametest"
	"github.com/ftptap/ftptap/pipeline"
)

const labPcaps = "../ftpstate/testdata/lab"

func TestFileMergeByTime(t *testing.T) {
	a := filepath.Join(labPcaps, "multi", "porta.pcap")
	b := filepath.Join(labPcaps, "multi", "portb.pcap")
	src, err := OpenFiles(a, b)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n, sides := 0, map[event.Side]int{}
	var last int64
	for {
		f, err := src.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ts := f.Info.Timestamp.UnixNano(); ts < last {
			t.Fatalf("frame %d goes back in time", n+1)
		} else {
			last = ts
		}
		if len(f.Data) == 0 {
			t.Fatalf("frame %d is empty", n+1)
		}
		sides[f.Side]++
		n++
	}
	if sides[event.SideA] == 0 || sides[event.SideB] == 0 || sides[event.SideUnknown] != 0 {
		t.Errorf("sides = %v, want frames of A and B only", sides)
	}
}

func TestFileGzip(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(labPcaps, "pasv-retr", "porta.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(raw)
	zw.Close()
	name := filepath.Join(t.TempDir(), "x.pcap.gz")
	os.WriteFile(name, zb.Bytes(), 0o644)
	count := func(names ...string) int {
		src, err := OpenFiles(names...)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		n := 0
		for {
			if _, err := src.ReadFrame(); err != nil {
				return n
			}
			n++
		}
	}
	if a, b := count(name), count(filepath.Join(labPcaps, "pasv-retr", "porta.pcap")); a != b || a == 0 {
		t.Errorf("gzip: %d frames, plain: %d", a, b)
	}
}

// TestFileHostileLength: a frame header claiming gigabytes is an error,
// not an allocation.
func TestFileHostileLength(t *testing.T) {
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}
	rec := []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x70, 0, 0, 0, 0x70}
	name := filepath.Join(t.TempDir(), "big.pcap")
	os.WriteFile(name, append(hdr, rec...), 0o644)
	src, err := OpenFiles(name) // reads the first frame ahead
	if err == nil {
		defer src.Close()
		_, err = src.ReadFrame()
	}
	if err == nil || errors.Is(err, io.EOF) || !bytes.Contains([]byte(err.Error()), []byte("big.pcap")) {
		t.Fatalf("err = %v, want an error naming the file", err)
	}
}

// BenchmarkReplay runs the whole replay pipeline (read, decode, track,
// encode) over a capture and reports frames and bytes per second.
func BenchmarkReplay(b *testing.B) {
	name := filepath.Join("..", "..", "shared", "corpus", "zeek", "ftp-with-numbers-in-filename.pcap")
	if _, err := os.Stat(name); err != nil {
		name = filepath.Join(labPcaps, "multi", "portb.pcap")
	}
	st, _ := os.Stat(name)
	frames := 0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		src, err := OpenFiles(name)
		if err != nil {
			b.Fatal(err)
		}
		p, err := pipeline.New(pipeline.Options{Tap: "bench", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(*event.Event, []byte) {})}})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Run(context.Background(), src); err != nil {
			b.Fatal(err)
		}
		src.Close()
		frames += int(p.Stats.Frames[0].Load() + p.Stats.Frames[1].Load() + p.Stats.Frames[2].Load())
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
	b.SetBytes(st.Size())
}

// TestFileFramesIntact: frames read through the reused buffers are the
// bytes of the file, in merge order, whatever the interleaving of the two
// ports (each frame is checked against an independent read of its file).
func TestFileFramesIntact(t *testing.T) {
	names := []string{filepath.Join(labPcaps, "concurrent", "porta.pcap"), filepath.Join(labPcaps, "concurrent", "portb.pcap")}
	var want [2][][]byte
	for i, n := range names {
		want[i], _ = frametest.ReadPcap(t, n)
	}
	src, err := OpenFiles(names...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var idx [2]int
	var prev []byte
	var prevWant []byte
	for {
		// The previous frame is intact up to the next ReadFrame (the
		// contract), after the source has read ahead.
		if prev != nil && !bytes.Equal(prev, prevWant) {
			t.Fatal("the previous frame changed before the next ReadFrame")
		}
		f, err := src.ReadFrame()
		if err != nil {
			break
		}
		i := int(f.Side) - 1
		if idx[i] >= len(want[i]) || !bytes.Equal(f.Data, want[i][idx[i]]) {
			t.Fatalf("port %v frame %d differs from the file", f.Side, idx[i]+1)
		}
		prevWant = want[i][idx[i]]
		idx[i]++
		prev = f.Data
	}
	if idx[0] != len(want[0]) || idx[1] != len(want[1]) {
		t.Errorf("read %v frames, files hold %d and %d", idx, len(want[0]), len(want[1]))
	}
}

// TestAppendFrame: frames taken with AppendFrame, or with ReadFrame and
// AppendFrame in turns, are the frames ReadFrame gives (bytes, time,
// port), in the same order, from two files merged; frames appended stay
// whole in their buffer while later ones are read.
func TestAppendFrame(t *testing.T) {
	files := []string{filepath.Join(labPcaps, "multi", "porta.pcap"), filepath.Join(labPcaps, "multi", "portb.pcap")}
	var want []pipeline.Frame
	ref, err := OpenFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := ref.ReadFrame()
		if err != nil {
			break
		}
		f.Data = bytes.Clone(f.Data)
		want = append(want, f)
	}
	ref.Close()
	for _, pattern := range []string{"a", "ar", "aar", "rra"} {
		s, err := OpenFiles(files...)
		if err != nil {
			t.Fatal(err)
		}
		var buf []byte
		var appended []int // indexes into want of the frames in buf, in order
		for i := 0; ; i++ {
			var f pipeline.Frame
			if pattern[i%len(pattern)] == 'a' {
				buf, err = s.AppendFrame(buf, &f)
				if err == nil {
					appended = append(appended, i)
				}
			} else {
				f, err = s.ReadFrame()
			}
			if errors.Is(err, io.EOF) {
				if i != len(want) {
					t.Fatalf("%s: %d frames, want %d", pattern, i, len(want))
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			w := want[i]
			if !bytes.Equal(f.Data, w.Data) || !f.Info.Timestamp.Equal(w.Info.Timestamp) || f.Side != w.Side || f.LinkType != w.LinkType {
				t.Fatalf("%s: frame %d differs from ReadFrame's", pattern, i)
			}
		}
		off := 0
		for _, i := range appended {
			n := len(want[i].Data)
			if !bytes.Equal(buf[off:off+n], want[i].Data) {
				t.Fatalf("%s: frame %d overwritten in the buffer", pattern, i)
			}
			off += n
		}
		s.Close()
	}
}
