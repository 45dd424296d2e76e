package tap

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// FuzzCaptureFile reads any bytes as a capture file: pcap (either byte
// order, micro- or nanosecond), pcapng, either gzipped. Seeds: the lab
// captures as they are, the same frames written as pcapng and gzipped,
// and the corpus captures when ../shared/corpus is there.
// Invariants: no panic and no unbounded allocation (a frame is at most
// maxFrame bytes); the read ends in io.EOF or in one error that names the
// file; reading the same bytes twice gives the same frames.
func FuzzCaptureFile(f *testing.F) {
	corpus, _ := filepath.Glob("../../shared/corpus/zeek/*.pcap")
	for _, name := range append(labPorts(), corpus...) {
		b := seedHead(f, name)
		f.Add(b)
		if strings.Contains(name, "badlogin") {
			f.Add(toPcapng(f, b))
			f.Add(gzipped(f, b))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, errA := readAll(data)
		b, errB := readAll(data)
		if (errA == nil) != (errB == nil) || len(a) != len(b) {
			t.Fatalf("two reads differ: %d frames (%v), %d frames (%v)", len(a), errA, len(b), errB)
		}
		for i := range a {
			if len(a[i]) > maxFrame {
				t.Fatalf("frame %d: %d bytes, more than %d", i+1, len(a[i]), maxFrame)
			}
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("frame %d differs between reads", i+1)
			}
		}
		if errA != nil && !strings.HasPrefix(errA.Error(), "tap: fuzz.pcap: ") {
			t.Fatalf("error %q does not name the file", errA)
		}
	})
}

// labPorts returns the lab's captures, a file a tap port.
func labPorts() []string {
	names, _ := filepath.Glob(filepath.Join(labPcaps, "*", "port*.pcap"))
	return names
}

// seedHead returns the first 8 KiB of a capture file, a fuzz seed: big
// seeds slow every mutation and minimization down; the first 8 KiB hold
// the header and a few dozen frames, and end in a torn frame.
func seedHead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b[:min(len(b), 8<<10)]
}

// readAll reads every frame of data as newCapture and next do for a file.
func readAll(data []byte) ([][]byte, error) {
	cf, err := newCapture("fuzz.pcap", bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for range 2000 {
		err := cf.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(cf.data))
	}
	return out, nil
}

// toPcapng rewrites a pcap as pcapng.
func toPcapng(t testing.TB, pcap []byte) []byte {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(pcap))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := pcapgo.NewNgWriter(&out, r.LinkType())
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ci.InterfaceIndex = 0
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// A pcap header whose snap length and frame length claim 4 GiB: one error,
// no 4 GiB buffer.
func TestCaptureHugeLength(t *testing.T) {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: 4, Length: 4}, []byte{1, 2, 3, 4})
	data := b.Bytes()
	data = append(data, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	frames, err := readAll(data)
	if len(frames) != 1 || err == nil {
		t.Fatalf("%d frames, error %v; want 1 frame and an error", len(frames), err)
	}
}

// pcapng lengths pcapgo would allocate from: an interface's snap length of
// 4 GiB is lowered to maxFrame and the file reads; a packet that claims
// 4 GiB is one error. FuzzCaptureFile found both (the fuzz worker ran out
// of memory).
func TestPcapngHugeLengths(t *testing.T) {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 0xffffffff}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	frame := bytes.Repeat([]byte{0xab}, 60)
	for i := range 3 {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: 60, Length: 60}, frame); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	frames, err := readAll(b.Bytes())
	if err != nil || len(frames) != 3 {
		t.Fatalf("snap length 4 GiB: %d frames, %v; want 3 frames", len(frames), err)
	}
	// The last enhanced packet block: type, length, interface, timestamp
	// (8), captured length, original length, 60 bytes, length again.
	data := bytes.Clone(b.Bytes())
	last := len(data) - (8*4 + 60)
	if typ := binary.LittleEndian.Uint32(data[last:]); typ != 6 {
		t.Fatalf("block type %d at %d, want an enhanced packet block", typ, last)
	}
	binary.LittleEndian.PutUint32(data[last+20:], 0xfffffff0)
	frames, err = readAll(data)
	if len(frames) != 2 || err == nil || !strings.Contains(err.Error(), "packet of 4294967280 bytes") {
		t.Fatalf("captured length 4 GiB: %d frames, %v; want 2 frames and an error", len(frames), err)
	}
}
