package tap

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/frametest"
	"github.com/ftptap/ftptap/pipeline"
)

// labFrames reads the frames of one of the lab's Ethernet captures.
func labFrames(t *testing.T, scenario string) ([][]byte, []gopacket.CaptureInfo) {
	t.Helper()
	return frametest.ReadPcap(t, filepath.Join(labPcaps, scenario, "porta.pcap"))
}

// cooked rewrites an Ethernet frame with a Linux cooked header: version 1
// (16 bytes) or 2 (20 bytes), as tcpdump -i any writes them.
func cooked(eth []byte, version int) []byte {
	src, etype := eth[6:12], eth[12:14]
	var h []byte
	if version == 1 {
		// packet type 0 (to us), ARPHRD_ETHER, address length 6, address, 2 bytes of padding, protocol
		h = append([]byte{0, 0, 0, 1, 0, 6}, src...)
		h = append(h, 0, 0)
		h = append(h, etype...)
	} else {
		// protocol, reserved, interface index 2, ARPHRD_ETHER, packet type 0, address length 6, address, padding
		h = append(append([]byte{}, etype...), 0, 0, 0, 0, 0, 2, 0, 1, 0, 6)
		h = append(h, src...)
		h = append(h, 0, 0)
	}
	return append(h, eth[14:]...)
}

// writePcap writes a classic pcap with a link type number of 16 bits,
// which pcapgo's writer (a byte) cannot.
func writePcap(t *testing.T, link uint32, data [][]byte, cis []gopacket.CaptureInfo) string {
	t.Helper()
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], link)
	b.Write(hdr)
	w := pcapgo.NewWriter(&b)
	for i, d := range data {
		ci := cis[i]
		ci.CaptureLength, ci.Length = len(d), len(d)
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Join(t.TempDir(), "x.pcap")
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// replayEvents runs the pipeline over files and returns the events' JSON
// and Run's error.
func replayEvents(t *testing.T, names ...string) ([]string, error) {
	t.Helper()
	src, err := OpenFiles(names...)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var out []string
	p, err := pipeline.New(pipeline.Options{Tap: "t", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(_ *event.Event, js []byte) { out = append(out, string(js)) })}})
	if err != nil {
		t.Fatal(err)
	}
	return out, p.Run(context.Background(), src)
}

// TestFileLinuxSLL2 replays a capture rewritten with Linux cooked v2
// headers (LINKTYPE 276, what tcpdump -i any writes with libpcap 1.10) and
// gets the events of the Ethernet original. Issue 10: such a file gave no
// event and exit 0.
func TestFileLinuxSLL2(t *testing.T) {
	data, cis := labFrames(t, "pasv-retr")
	want, err := replayEvents(t, filepath.Join(labPcaps, "pasv-retr", "porta.pcap"))
	if err != nil || len(want) == 0 {
		t.Fatalf("original: %d events, %v", len(want), err)
	}
	sll2 := make([][]byte, len(data))
	for i, d := range data {
		sll2[i] = cooked(d, 2)
	}
	got, err := replayEvents(t, writePcap(t, 276, sll2, cis))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SLL2: %d events differ from the Ethernet original's %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	// A link type above 255 that is not SLL2 would pass for another
	// (257 for Ethernet): refused by number.
	_, err = replayEvents(t, writePcap(t, 257, data, cis))
	if err == nil || !strings.Contains(err.Error(), "link type 257 is not supported") {
		t.Errorf("link type 257: %v", err)
	}
}

// TestFilePcapngInterfaces replays a pcapng file whose frames alternate
// between an Ethernet and a Linux cooked interface: every frame is decoded
// with its own interface's link type. Issue 10: the frames of the second
// interface were skipped.
func TestFilePcapngInterfaces(t *testing.T) {
	data, cis := labFrames(t, "pasv-retr")
	want, _ := replayEvents(t, filepath.Join(labPcaps, "pasv-retr", "porta.pcap"))
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	sll, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeLinuxSLL, SnapLength: 262144})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range data {
		ci := cis[i]
		if i%2 == 1 {
			d = cooked(d, 1)
			ci.InterfaceIndex = sll
		}
		ci.CaptureLength, ci.Length = len(d), len(d)
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	name := filepath.Join(t.TempDir(), "mixed.pcapng")
	os.WriteFile(name, b.Bytes(), 0o644)
	got, err := replayEvents(t, name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mixed pcapng: %d events, want the %d of the original:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}

	// Cut inside the last block: the frames before the cut, then
	// "truncated after N frames", as a cut pcap gives.
	cut := filepath.Join(t.TempDir(), "cut.pcapng")
	os.WriteFile(cut, b.Bytes()[:b.Len()-10], 0o644)
	n, err := countFrames(t, cut)
	want2 := "cut.pcapng: truncated after " + strconv.Itoa(len(data)-1) + " frames"
	if n != len(data)-1 || err == nil || !strings.Contains(err.Error(), want2) {
		t.Errorf("cut pcapng: %d frames, %v; want %d frames and %q", n, err, len(data)-1, want2)
	}
}

// countFrames reads a capture to its end and returns the frames read and
// the error that ended it (nil at a clean end).
func countFrames(t *testing.T, name string) (int, error) {
	t.Helper()
	src, err := OpenFiles(name)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	n := 0
	for {
		if _, err := src.ReadFrame(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

// TestFileBadInputs: what a user may hand over by mistake gets one error
// that says what the file is.
func TestFileBadInputs(t *testing.T) {
	dir := t.TempDir()
	raw, _ := os.ReadFile(filepath.Join(labPcaps, "pasv-retr", "porta.pcap"))
	var ng bytes.Buffer
	w, _ := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	w.Flush()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"short.pcapng", ng.Bytes()[:20], "short.pcapng: pcapng: truncated in its section header (20 bytes)"},
		{"short.pcap", raw[:20], "short.pcap: pcap: truncated in its file header"},
		{"tiny", []byte{1, 2}, "tiny: not a capture file (2 bytes: too short)"},
		{"x.pcap.xz", append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 30)...), "x.pcap.xz: compressed with xz: decompress it first (xz -dc " + filepath.Join(dir, "x.pcap.xz") + " | ftptap replay -)"},
		{"x.pcap.zst", append([]byte{0x28, 0xb5, 0x2f, 0xfd}, make([]byte, 30)...), "compressed with zstd: decompress it first (zstd -dc"},
		{"notes.txt", []byte("this is not a capture file at all, just text"), "notes.txt: not a pcap or pcapng file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(dir, tt.name)
			os.WriteFile(name, tt.data, 0o644)
			_, err := OpenFiles(name)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenFiles: %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
