package carve_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/carve"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/internal/replaytest"
	"github.com/ftptap/ftptap/internal/truth"
	"github.com/ftptap/ftptap/pipeline"
)

const labDir = "../ftpstate/testdata/lab"

// labCaptures returns the directories of the lab's scenarios under root,
// each with a capture of both tap ports (see tapPorts) and its truth.json.
// It fails t if there are none.
func labCaptures(t testing.TB, root string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(root, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no lab captures under %s: %v", root, err)
	}
	return dirs
}

// tapPorts returns the captures of the two tap ports in a lab scenario's
// directory: porta.pcap and portb.pcap.
func tapPorts(dir string) []string {
	return []string{filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap")}
}

// replayCarve replays capture files through a pipeline with a carver under
// dir and returns the events.
func replayCarve(t testing.TB, dir string, cfg carve.Config, files ...string) []event.Event {
	t.Helper()
	var c *carve.Carver
	evs := replaytest.Events(t, func(p *pipeline.Pipeline) {
		cfg.Dir = dir
		c = addCarver(t, p, cfg)
	}, files...)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// addCarver makes a carver of cfg that emits its events through p, and
// adds it to p's sinks.
func addCarver(tb testing.TB, p *pipeline.Pipeline, cfg carve.Config) *carve.Carver {
	tb.Helper()
	cfg.Emit = p.Emit
	c, err := carve.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	p.AddSink(c)
	return c
}

func fileSum(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestLabCaptures carves the lab's recorded captures (real vsftpd and
// pure-ftpd with curl and lftp: PASV, EPSV, PORT, EPRT, IPv6, eight
// concurrent sessions, listings) and checks every file against the SHA-256
// of what the lab moved.
func TestLabCaptures(t *testing.T) {
	checked := 0
	for _, d := range labCaptures(t, labDir) {
		t.Run(filepath.Base(d), func(t *testing.T) {
			tr, err := truth.Load(filepath.Join(d, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			evs := replayCarve(t, out, carve.Config{}, tapPorts(d)...)
			for _, s := range tr.Sessions {
				for _, x := range s.Transfers {
					ev := findTransfer(evs, s.Client, x.Command, x.File, x.DataTo)
					if ev == nil {
						t.Errorf("%s %s %s: no transfer.end", s.Client, x.Command, x.File)
						continue
					}
					if !x.Complete || x.Bytes == nil || *x.Bytes == 0 && x.SHA256 == "" {
						continue
					}
					if ev.Carved == "" || ev.Gaps != 0 || strings.HasSuffix(ev.Carved, ".partial") {
						t.Errorf("%s %s: carved %q, gaps %d", x.Command, x.File, ev.Carved, ev.Gaps)
						continue
					}
					got := fileSum(t, filepath.Join(out, ev.Carved))
					if got != ev.SHA256 {
						t.Errorf("%s: file hashes to %s, the event says %s", ev.Carved, got, ev.SHA256)
					}
					if x.SHA256 != "" {
						if got != x.SHA256 {
							t.Errorf("%s %s: carved %s hashes to %s, the lab moved %s", x.Command, x.File, ev.Carved, got, x.SHA256)
						}
						checked++
					} else if st, err := os.Stat(filepath.Join(out, ev.Carved)); err != nil || st.Size() != *x.Bytes {
						t.Errorf("%s: listing of %d bytes carved as %v (%v)", ev.Carved, x.Bytes, st, err)
					}
				}
			}
			if left, _ := os.ReadDir(filepath.Join(out, ".incoming")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
	if checked < 10 {
		t.Errorf("only %d files checked against the lab's SHA-256", checked)
	}
}

func findTransfer(evs []event.Event, client, cmd, file, dataTo string) *event.Event {
	for i := range evs {
		ev := &evs[i]
		if ev.Type == event.TypeTransferEnd && ev.Client.String() == client && ev.Command == cmd && ev.File == file {
			return ev
		}
	}
	return nil
}

// fake session and transfer for direct tests of the carver.
var (
	cli = netip.MustParseAddrPort("10.0.0.2:40000")
	srv = netip.MustParseAddrPort("10.0.0.1:21")
	t0  = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
)

type harness struct {
	t      *testing.T
	dir    string
	c      *carve.Carver
	alerts []event.Event
}

func newHarness(t *testing.T, cfg carve.Config) *harness {
	h := &harness{t: t, dir: cfg.Dir}
	if h.dir == "" {
		h.dir = t.TempDir()
	}
	cfg.Dir = h.dir
	cfg.Emit = func(ev event.Event) { h.alerts = append(h.alerts, ev) }
	c, err := carve.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	h.event(event.Event{Type: event.TypeSessionStart})
	return h
}

func (h *harness) event(ev event.Event) *event.Event {
	ev.Proto = event.ProtoFTP
	if ev.Session == 0 {
		ev.Session = 1
	}
	ev.Client, ev.Server = cli, srv
	if ev.Time.IsZero() {
		ev.Time = t0
	}
	h.c.Annotate(&ev)
	return &ev
}

func (h *harness) seg(xfer uint64, off int64, s string) {
	h.c.Data(&ftpstate.DataSegment{Session: 1, Transfer: xfer, Command: "RETR", Offset: off, Sender: true, Payload: []byte(s)})
}

func (h *harness) end(xfer uint64, cmd, file string, bytes int64, complete bool) *event.Event {
	dir := event.DirDownload
	switch cmd {
	case "STOR", "STOU", "APPE":
		dir = event.DirUpload
	case "LIST", "NLST", "MLSD":
		dir = event.DirListing
	}
	return h.event(event.Event{Type: event.TypeTransferEnd, Transfer: xfer, Command: cmd, File: file, Direction: dir, Bytes: bytes, Code: 226, Complete: complete})
}

func (h *harness) read(ev *event.Event) string {
	h.t.Helper()
	if ev.Carved == "" {
		h.t.Fatalf("not carved: %+v", ev)
	}
	b, err := os.ReadFile(filepath.Join(h.dir, ev.Carved))
	if err != nil {
		h.t.Fatal(err)
	}
	if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != ev.SHA256 {
		h.t.Errorf("%s: sha256 %x, event says %s", ev.Carved, s, ev.SHA256)
	}
	return string(b)
}

func (h *harness) sidecar(ev *event.Event) map[string]any {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.dir, ev.Carved) + ".ftptap.json")
	if err != nil {
		h.t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		h.t.Fatal(err)
	}
	return m
}

type piece struct {
	off int64
	s   string
}

// TestStreamOrder puts segments back in order through retransmissions,
// overlaps that disagree, segments out of order and a gap.
func TestStreamOrder(t *testing.T) {
	tests := []struct {
		name  string
		segs  []piece
		bytes int64
		want  string
		gaps  int64
	}{
		{name: "in order", segs: []piece{{0, "hello "}, {6, "world"}}, bytes: 11, want: "hello world"},
		{name: "retransmission", segs: []piece{{0, "hello "}, {0, "hello "}, {6, "world"}, {6, "world"}}, bytes: 11, want: "hello world"},
		{name: "out of order", segs: []piece{{6, "world"}, {3, "lo "}, {0, "hel"}}, bytes: 11, want: "hello world"},
		// The first copy of a byte wins: the later segment's "XXXX" over
		// bytes 4..8 loses where it overlaps, and only its new tail counts.
		{name: "overlap disagrees, first wins", segs: []piece{{0, "hello "}, {4, "XXXXrld"}}, bytes: 11, want: "hello XXrld"},
		{name: "late copy over a hole", segs: []piece{{0, "ab"}, {4, "ef"}, {1, "ZcdZ"}}, bytes: 6, want: "abcdef"},
		{name: "gap in the middle", segs: []piece{{0, "ab"}, {4, "ef"}}, bytes: 6, want: "ab\x00\x00ef", gaps: 2},
		{name: "missing tail", segs: []piece{{0, "ab"}}, bytes: 5, want: "ab\x00\x00\x00", gaps: 3},
		{name: "before the first byte seen", segs: []piece{{-2, "xxab"}, {2, "cd"}}, bytes: 4, want: "abcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, carve.Config{})
			h.event(event.Event{Type: event.TypeRequest, Command: "RETR", Arg: "f.bin"})
			for _, s := range tt.segs {
				h.seg(7, s.off, s.s)
			}
			ev := h.end(7, "RETR", "f.bin", tt.bytes, true)
			if got := h.read(ev); got != tt.want {
				t.Errorf("file %q, want %q", got, tt.want)
			}
			if ev.Gaps != tt.gaps {
				t.Errorf("gaps %d, want %d", ev.Gaps, tt.gaps)
			}
			if partial := strings.HasSuffix(ev.Carved, ".partial"); partial != (tt.gaps > 0) {
				t.Errorf("carved as %s with %d gaps", ev.Carved, tt.gaps)
			}
		})
	}
}
