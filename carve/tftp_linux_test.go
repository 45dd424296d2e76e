package carve_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/carve"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/frametest"
	"github.com/ftptap/ftptap/internal/lab"
	"github.com/ftptap/ftptap/internal/replaytest"
	"github.com/ftptap/ftptap/internal/truth"
	"github.com/ftptap/ftptap/pipeline"
)

const tftpLabDir = "../tftpstate/testdata/lab"

// tftpMoved returns the bytes a lab TFTP transfer of file moved on the
// wire: the lab's file (uploads are stored under the names the scenarios
// give them), with netascii's line ends as CR LF.
func tftpMoved(t *testing.T, file, mode string) []byte {
	t.Helper()
	src := map[string]string{"up-curl.bin": "blk200000.bin", "up-atftp.bin": "f1000.bin"}[file]
	if src == "" {
		src = file
	}
	for _, f := range lab.TFTPFiles {
		if f.Name == src {
			b := f.Bytes()
			if mode == "netascii" {
				b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
			}
			return b
		}
	}
	t.Fatalf("no lab file for %q", file)
	return nil
}

// TestTFTPLabCaptures carves the TFTP lab's recorded captures (tftpd-hpa
// and atftpd with tftp-hpa, atftp and curl: blksize, windowsize, IPv6,
// uploads, concurrent transfers, netascii, a file of exactly two 512-byte
// blocks, errors, a stalled transfer) and checks every file against what
// the lab moved.
func TestTFTPLabCaptures(t *testing.T) {
	whole := 0
	for _, d := range labCaptures(t, tftpLabDir) {
		t.Run(filepath.Base(d), func(t *testing.T) {
			tr, err := truth.LoadTFTP(filepath.Join(d, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			complete := 0
			for _, x := range tr.Transfers {
				if x.Complete {
					complete++
				}
			}
			out := t.TempDir()
			evs := replayCarve(t, out, carve.Config{MinFreeBytes: -1}, tapPorts(d)...)
			carved := 0
			for _, ev := range evs {
				if ev.Type != event.TypeTFTPEnd {
					continue
				}
				if ev.TFTP.BytesSent == 0 && !ev.Complete {
					if ev.Carved != "" {
						t.Errorf("t%d %s: nothing moved, but carved %s", ev.Session, ev.File, ev.Carved)
					}
					continue
				}
				if ev.Carved == "" {
					t.Errorf("t%d %s: not carved", ev.Session, ev.File)
					continue
				}
				if !strings.HasPrefix(ev.Carved, ev.Time.UTC().Format("2006-01-02")+"/t") {
					t.Errorf("t%d: carved as %s", ev.Session, ev.Carved)
				}
				path := filepath.Join(out, filepath.FromSlash(ev.Carved))
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if s := sha256.Sum256(got); hex.EncodeToString(s[:]) != ev.SHA256 {
					t.Errorf("t%d: event sha256 %s, file's %x", ev.Session, ev.SHA256, s)
				}
				want := tftpMoved(t, ev.File, ev.TFTP.Mode)
				var sc map[string]any
				if b, err := os.ReadFile(path + ".ftptap.json"); err != nil || json.Unmarshal(b, &sc) != nil {
					t.Fatalf("sidecar of %s: %v", ev.Carved, err)
				}
				if sc["proto"] != "tftp" || sc["session"] != "t"+itoa(ev.Session) || sc["sha256"] != ev.SHA256 || sc["mode"] != ev.TFTP.Mode {
					t.Errorf("sidecar %v", sc)
				}
				if ev.Complete {
					carved++
					ws := sha256.Sum256(want)
					if ev.SHA256 != hex.EncodeToString(ws[:]) || ev.Gaps != 0 || strings.HasSuffix(ev.Carved, ".partial") {
						t.Errorf("t%d %s (%s, blksize %d): carved %s, %d bytes, sha256 %s gaps %d; the lab moved %d bytes, sha256 %x",
							ev.Session, ev.File, ev.TFTP.Mode, ev.TFTP.BlkSize, ev.Carved, len(got), ev.SHA256, ev.Gaps, len(want), ws)
					}
					continue
				}
				// A transfer that stalled: what was sent, marked partial.
				if !strings.HasSuffix(ev.Carved, ".partial") || sc["complete"] != false || len(got) == 0 || !bytes.HasPrefix(want, got) {
					t.Errorf("t%d %s: incomplete, carved %s (%d bytes, a prefix of the file: %v)", ev.Session, ev.File, ev.Carved, len(got), bytes.HasPrefix(want, got))
				}
			}
			if carved != complete {
				t.Errorf("%d complete transfers carved whole, the lab moved %d", carved, complete)
			}
			whole += carved
		})
	}
	t.Logf("%d TFTP transfers carved whole", whole)
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestTFTPWrap carves a generated TFTP read past block 65535 (33 MB at
// blksize 512: the block numbers wrap to 0), each block's bytes naming its
// number, with a retransmission of a block after the wrap that disagrees
// with the first copy (the first wins) and one block the capture missed
// (zeros, counted in gaps, the file marked partial).
func TestTFTPWrap(t *testing.T) {
	for _, missing := range []int{0, 70000} {
		const blocks = 65600 + 4500
		rrq := []byte("\x00\x01wrap.bin\x00octet\x00")
		block := func(i int) []byte {
			b := make([]byte, 4+512)
			b[1] = 3
			binary.BigEndian.PutUint16(b[2:], uint16(i))
			for k := 4; k+8 <= len(b); k += 8 {
				binary.BigEndian.PutUint64(b[k:], uint64(i))
			}
			if i == blocks {
				b = b[:4+100]
			}
			return b
		}
		var want bytes.Buffer
		for i := 1; i <= blocks; i++ {
			b := block(i)[4:]
			if i == missing {
				b = make([]byte, len(b))
			}
			want.Write(b)
		}
		out := t.TempDir()
		var evs []event.Event
		p, err := pipeline.New(pipeline.Options{Sinks: []pipeline.Sink{pipeline.SinkFunc(func(ev *event.Event, _ []byte) { evs = append(evs, *ev) })}})
		if err != nil {
			t.Fatal(err)
		}
		c := addCarver(t, p, carve.Config{Dir: out, MinFreeBytes: -1})
		now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		feed := func(b []byte) {
			now = now.Add(100 * time.Microsecond)
			p.Feed(pipeline.Frame{Data: b, Info: gopacket.CaptureInfo{Timestamp: now}, LinkType: layers.LinkTypeEthernet})
		}
		feed(frametest.UDP4(t, "10.77.0.2", "10.77.0.1", 40000, 69, rrq))
		ack := []byte{0, 4, 0, 0}
		for i := 1; i <= blocks; i++ {
			if i != missing {
				feed(frametest.UDP4(t, "10.77.0.1", "10.77.0.2", 50001, 40000, block(i)))
			}
			if i == 65537+3 {
				// A retransmission of block 65537 (number 1 again) whose
				// bytes disagree: the first copy stays.
				bad := block(65537)
				bad[100] ^= 0xff
				feed(frametest.UDP4(t, "10.77.0.1", "10.77.0.2", 50001, 40000, bad))
			}
			binary.BigEndian.PutUint16(ack[2:], uint16(i))
			feed(frametest.UDP4(t, "10.77.0.2", "10.77.0.1", 40000, 50001, ack))
		}
		if err := p.Run(context.Background(), &replaytest.Source{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		var end *event.Event
		for i := range evs {
			if evs[i].Type == event.TypeTFTPEnd {
				end = &evs[i]
			}
		}
		if end == nil || !end.Complete || end.TFTP.Blocks != blocks {
			t.Fatalf("missing %d: tftp.end %+v", missing, end)
		}
		ws := sha256.Sum256(want.Bytes())
		wantName, wantGaps := "2026-11-27/t1/wrap.bin", int64(0)
		if missing > 0 {
			wantName, wantGaps = "2026-11-27/t1/wrap.bin.partial", 512
		}
		if end.Carved != wantName || end.Gaps != wantGaps || end.SHA256 != hex.EncodeToString(ws[:]) {
			t.Errorf("missing %d: carved %s gaps %d sha256 %s; want %s gaps %d sha256 %x", missing, end.Carved, end.Gaps, end.SHA256, wantName, wantGaps, ws)
		}
		if got := fileSum(t, filepath.Join(out, end.Carved)); got != end.SHA256 {
			t.Errorf("file's sha256 %s, event's %s", got, end.SHA256)
		}
		js := end.AppendJSON(nil)
		if !bytes.Contains(js, []byte(`"sha256":"`+end.SHA256+`","carved":"`+end.Carved+`"`)) {
			t.Errorf("tftp.end JSON lacks the carving fields: %s", js)
		}
	}
}
