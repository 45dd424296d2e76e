//go:build linux

package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/internal/truth"
)

var tftpBig = flag.Bool("tftp-big", false, "TestTFTPLive runs the big TFTP scenarios too (wrap: 33 MB past block 65535)")

// TestTFTPRecord records every TFTP scenario through a bridge of the lab's
// own into ../../tftpstate/testdata/lab/<scenario>/: porta.pcap,
// portb.pcap and truth.json. It runs only with -update:
//
//	go test ./internal/lab -run TestTFTPRecord -update
func TestTFTPRecord(t *testing.T) {
	if !*update {
		t.Skip("re-records tftpstate/testdata/lab; run with -update")
	}
	if why := CanRunTFTP(); why != "" {
		t.Skip("lab: " + why)
	}
	root := filepath.Join("..", "..", "tftpstate", "testdata", "lab")
	for _, sc := range TFTPScenarios {
		if sc.Big {
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{Bridge: true})
			if err := l.StartTFTP(); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, sc.Name)
			os.RemoveAll(dir)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tr, _, err := l.PlayTFTP(ctx, sc, dir, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkRecorded(t, dir, 1<<20)
			t.Logf("%s: %d transfers", sc.Name, len(tr.Transfers))
		})
	}
}

// TestTFTPLive runs every TFTP scenario (the big ones with -tftp-big)
// through ftptap run, live and inline, scores its events against the scenario's truth by the outside
// checks' rules (truth.CheckTFTP, as check_tftp.py), then replays the
// capture of the same traffic and checks that replay gives the same TFTP
// events.
func TestTFTPLive(t *testing.T) {
	if why := CanRunTFTP(); why != "" {
		t.Skip("lab: " + why)
	}
	bin := ftptapBin(t)
	for _, sc := range TFTPScenarios {
		if sc.Big && !*tftpBig {
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{})
			if err := l.StartTFTP(); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var tr *truth.TFTPTruth
			ft, live := runLive(t, l, bin, dir, func(ctx context.Context, started, stopping func() error) (err error) {
				tr, _, err = l.PlayTFTP(ctx, sc, dir, started, stopping)
				return err
			}, "--carve", filepath.Join(dir, "carve-live"))
			checkTFTP(t, "live", tr, live)
			checkTFTPCarve(t, "live", l.TFTPRoot(), filepath.Join(dir, "carve-live"), live)
			// --carve with no capture.ring_mib: the ring is raised, said once.
			if n := strings.Count(ft.Log(), "capture ring raised"); n != 1 || !strings.Contains(ft.Log(), "ring_mib=32") {
				t.Errorf("ftptap said %d times that it raised the capture ring", n)
			}
			replayed := ftptapReplay(t, bin, "--carve", filepath.Join(dir, "carve-replay"), filepath.Join(dir, PortA+".pcap"), filepath.Join(dir, PortB+".pcap"))
			checkTFTP(t, "replay", tr, replayed)
			checkTFTPCarve(t, "replay", l.TFTPRoot(), filepath.Join(dir, "carve-replay"), replayed)
			if a, b := tftpEvents(live), tftpEvents(replayed); a != b {
				t.Errorf("live and replay differ:\nlive:\n%s\nreplay:\n%s", a, b)
			}
			if t.Failed() {
				t.Logf("ftptap: %v", logFields(ft.Log(), "stopped"))
				keep(t, dir)
			}
		})
	}
}

func checkTFTP(t *testing.T, what string, tr *truth.TFTPTruth, events []byte) {
	t.Helper()
	misses, facts, found, spurious := truth.CheckTFTP(tr, events)
	for _, m := range misses {
		t.Errorf("%s: %s", what, m)
	}
	t.Logf("%s %s: facts %d/%d spurious %d", what, tr.Scenario, found, facts, spurious)
}

// tftpEvents is the TFTP events in a comparable form: what they say,
// without seq, ts, session ids and durations (live capture and tcpdump
// stamp the same frames microseconds apart), sorted.
func tftpEvents(events []byte) string {
	var out []string
	for _, line := range bytes.Split(events, []byte("\n")) {
		var e map[string]any
		if json.Unmarshal(line, &e) != nil || e["proto"] != "tftp" {
			continue
		}
		if e["kind"] == "tftp_capture_gap" {
			// Under load the live capture and tcpdump's may each miss
			// frames, not the same ones; the facts must agree all the same.
			continue
		}
		// The carved path names the session; the hash and gaps depend on
		// the frames each capture missed (checkTFTPCarve checks them).
		for _, k := range []string{"seq", "ts", "session", "duration_ms", "tap", "carved", "sha256", "gaps"} {
			delete(e, k)
		}
		b, _ := json.Marshal(e)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// checkTFTPCarve checks the files carved under dir against the TFTP
// server's root after the run: each complete transfer with no gap in the
// capture has the SHA-256 of the file the server served or received (for
// netascii, with its line ends as CR LF, as on the wire).
func checkTFTPCarve(t *testing.T, what, root, dir string, events []byte) {
	t.Helper()
	whole := 0
	for _, line := range bytes.Split(events, []byte("\n")) {
		var e struct {
			Type, File, Mode, SHA256, Carved string
			Complete                         bool
			Gaps                             int64
		}
		if json.Unmarshal(line, &e) != nil || e.Type != "tftp.end" || !e.Complete {
			continue
		}
		if e.Carved == "" {
			t.Errorf("%s: %s moved whole, not carved", what, e.File)
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Carved)))
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		if s := sha256.Sum256(got); hex.EncodeToString(s[:]) != e.SHA256 {
			t.Errorf("%s: %s: event sha256 %s, file's %x", what, e.Carved, e.SHA256, s)
		}
		if e.Gaps > 0 {
			t.Logf("%s: %s: the capture missed %d bytes", what, e.Carved, e.Gaps)
			continue
		}
		want, err := os.ReadFile(filepath.Join(root, e.File))
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		if e.Mode == "netascii" {
			want = bytes.ReplaceAll(want, []byte("\n"), []byte("\r\n"))
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %s: carved %d bytes, the server's file is %d bytes and differs", what, e.Carved, len(got), len(want))
			continue
		}
		whole++
	}
	t.Logf("%s: %d TFTP files carved whole", what, whole)
}
