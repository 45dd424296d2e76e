package tap

import (
	"bufio"
	"bytes"
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

// FuzzPcapFrames reads the same bytes with pcapFrames and with pcapgo's
// Reader (with the snap length newCapture gives it): the same frames,
// capture infos and errors, frame by frame. One difference is intended:
// a file that ends right after a frame's header, with none of its bytes,
// is cut short (io.ErrUnexpectedEOF) where pcapgo reports the end of the
// file (io.ReadFull of the frame reads nothing).
// Seeds: the lab captures' first 8 KiB, in both byte orders, micro- and
// nanosecond, and with a lying length.
func FuzzPcapFrames(f *testing.F) {
	names := labPorts()
	for _, name := range names[:min(len(names), 6)] {
		f.Add(seedHead(f, name))
	}
	for _, c := range []struct {
		nano bool
		big  bool
	}{{false, true}, {true, false}, {true, true}} {
		f.Add(synthPcap(f, c.nano, c.big, 5))
	}
	lying := synthPcap(f, false, false, 2)
	lying[24+8] = 0xff // the first frame's capture length
	f.Add(lying)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := readPcapgo(data)
		got, gotErr := readFrames(data)
		if len(got) != len(want) {
			t.Fatalf("%d frames (%v), pcapgo %d (%v)", len(got), gotErr, len(want), wantErr)
		}
		for i := range got {
			if !bytes.Equal(got[i].data, want[i].data) || !got[i].ci.Timestamp.Equal(want[i].ci.Timestamp) ||
				got[i].ci.CaptureLength != want[i].ci.CaptureLength || got[i].ci.Length != want[i].ci.Length {
				t.Fatalf("frame %d: %+v, pcapgo %+v", i+1, got[i].ci, want[i].ci)
			}
		}
		switch {
		case errors.Is(gotErr, io.ErrUnexpectedEOF) && errors.Is(wantErr, io.EOF) && headerOnlyTail(data, got):
		case (gotErr == nil) != (wantErr == nil):
			t.Fatalf("error %v, pcapgo %v", gotErr, wantErr)
		case gotErr != nil && gotErr.Error() != wantErr.Error():
			t.Fatalf("error %q, pcapgo %q", gotErr, wantErr)
		}
	})
}

type pcapFrame struct {
	data []byte
	ci   gopacket.CaptureInfo
}

// readPcapgo reads data with pcapgo, as newCapture did before pcapFrames;
// io.EOF at the end is nil.
func readPcapgo(data []byte) ([]pcapFrame, error) {
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil
	}
	boundSnaplen(r)
	return readSource(r)
}

// readFrames reads data with pcapFrames, the header checked by pcapgo as
// newCapture does.
func readFrames(data []byte) ([]pcapFrame, error) {
	snap, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil
	}
	boundSnaplen(snap)
	br := bufio.NewReaderSize(bytes.NewReader(data), pcapBuffer)
	hdr, _ := br.Peek(24)
	hdr = bytes.Clone(hdr)
	br.Discard(24)
	return readSource(newPcapFrames(br, hdr, snap.Snaplen()))
}

func readSource(src gopacket.ZeroCopyPacketDataSource) ([]pcapFrame, error) {
	var out []pcapFrame
	for range 2000 {
		data, ci, err := src.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, io.EOF
		}
		if err != nil {
			return out, err
		}
		out = append(out, pcapFrame{bytes.Clone(data), ci})
	}
	return out, nil
}

// headerOnlyTail reports whether data ends in a whole frame header and
// nothing after it, once frames are read.
func headerOnlyTail(data []byte, frames []pcapFrame) bool {
	n := 24
	for _, f := range frames {
		n += 16 + len(f.data)
	}
	return len(data)-n == 16
}

// synthPcap writes frames of growing sizes in the given byte order and
// time resolution.
func synthPcap(t testing.TB, nano, big bool, frames int) []byte {
	t.Helper()
	var b bytes.Buffer
	var w *pcapgo.Writer
	if nano {
		w = pcapgo.NewWriterNanos(&b)
	} else {
		w = pcapgo.NewWriter(&b)
	}
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		data := bytes.Repeat([]byte{byte(i)}, 60+i*100)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000+int64(i), int64(i)*123457), CaptureLength: len(data), Length: len(data) + i}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	out := b.Bytes()
	if big {
		// The same file written big endian: every 32-bit field swapped,
		// the two 16-bit version fields swapped in place.
		swap32 := func(p []byte) { p[0], p[1], p[2], p[3] = p[3], p[2], p[1], p[0] }
		swap32(out[0:4])
		out[4], out[5] = out[5], out[4]
		out[6], out[7] = out[7], out[6]
		for o := 8; o < 24; o += 4 {
			swap32(out[o : o+4])
		}
		for o := 24; o+16 <= len(out); {
			n := int(out[o+8]) | int(out[o+9])<<8 | int(out[o+10])<<16 | int(out[o+11])<<24
			for k := 0; k < 16; k += 4 {
				swap32(out[o+k : o+k+4])
			}
			o += 16 + n
		}
	}
	return out
}

// TestPcapFramesLikePcapgo: every lab capture, whole, and the synthetic
// ones read the same through pcapFrames and pcapgo (FuzzPcapFrames runs
// its seeds only; this takes whole files).
func TestPcapFramesLikePcapgo(t *testing.T) {
	names := labPorts()
	if len(names) == 0 {
		t.Fatalf("no lab captures in %s", labPcaps)
	}
	inputs := map[string][]byte{}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		inputs[name] = b
	}
	inputs["big endian, µs"] = synthPcap(t, false, true, 40)
	inputs["little endian, ns"] = synthPcap(t, true, false, 40)
	inputs["big endian, ns"] = synthPcap(t, true, true, 40)
	total := 0
	for name, b := range inputs {
		want, wantErr := readPcapgo(b)
		got, gotErr := readFrames(b)
		if len(got) != len(want) || len(got) == 0 || !errors.Is(gotErr, io.EOF) || !errors.Is(wantErr, io.EOF) {
			t.Fatalf("%s: %d frames (%v), pcapgo %d (%v)", name, len(got), gotErr, len(want), wantErr)
		}
		for i := range got {
			if !bytes.Equal(got[i].data, want[i].data) || got[i].ci.Timestamp != want[i].ci.Timestamp || got[i].ci.Length != want[i].ci.Length {
				t.Fatalf("%s: frame %d: %+v, pcapgo %+v", name, i+1, got[i].ci, want[i].ci)
			}
		}
		total += len(got)
	}
	t.Logf("%d files, %d frames alike", len(inputs), total)
}

// TestPcapCut: a classic pcap cut inside a record header, right after
// one, or inside a frame ends with "truncated after N frames" once the N
// whole frames before the cut are read; cut between records, it simply
// ends.
func TestPcapCut(t *testing.T) {
	whole := synthPcap(t, false, false, 3) // frames of 60, 160 and 260 bytes
	second := 24 + 16 + 60                 // where the second record starts
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		size int
		want string // "" for a clean end
	}{
		{"between records", second, ""},
		{"inside a header", second + 7, "truncated after 1 frames"},
		{"right after a header", second + 16, "truncated after 1 frames"},
		{"inside a frame", second + 16 + 100, "truncated after 1 frames"},
		{"whole", len(whole), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := filepath.Join(dir, "cut.pcap")
			if err := os.WriteFile(name, whole[:c.size], 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := OpenFiles(name)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			n := 0
			for {
				_, err = src.ReadFrame()
				if err != nil {
					break
				}
				n++
			}
			switch {
			case c.want == "" && !errors.Is(err, io.EOF):
				t.Errorf("after %d frames: %v, want the end of the file", n, err)
			case c.want != "" && (errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "cut.pcap: "+c.want)):
				t.Errorf("after %d frames: %v, want %q", n, err, c.want)
			}
		})
	}
}
