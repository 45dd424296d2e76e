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
	"os/exec"
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
			for _, f := range []string{"porta.pcap", "portb.pcap"} {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() > 1<<20 {
					t.Errorf("%s/%s is %d bytes: keep testdata small", sc.Name, f, st.Size())
				}
			}
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
			events := filepath.Join(dir, "events.jsonl")
			var ft *Ftptap
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			tr, _, err := l.PlayTFTP(ctx, sc, dir,
				func() (err error) {
					ft, err = l.StartFtptap(bin, "--tap", "lab", "--events", events, "--carve", filepath.Join(dir, "carve-live"))
					return err
				},
				func() error {
					// The servers go on resending after a client gave
					// up: stop once they are done, so that ftptap and
					// the recording see the same traffic.
					if err := l.WaitQuiet(ctx); err != nil {
						return err
					}
					return ft.Term()
				})
			if err != nil {
				if ft != nil {
					t.Logf("ftptap log:\n%s", ft.Log())
				}
				t.Fatal(err)
			}
			live, err := os.ReadFile(events)
			if err != nil {
				t.Fatal(err)
			}
			checkDrained(t, ft)
			checkTFTP(t, "live", tr, live)
			checkTFTPCarve(t, "live", l.TFTPRoot(), filepath.Join(dir, "carve-live"), live)
			// --carve with no capture.ring_mib: the ring is raised, said once.
			if n := strings.Count(ft.Log(), "capture ring raised"); n != 1 || !strings.Contains(ft.Log(), "ring_mib=32") {
				t.Errorf("ftptap said %d times that it raised the capture ring", n)
			}
			cmd := exec.Command(bin, "replay", "--tap", "lab", "--carve", filepath.Join(dir, "carve-replay"), filepath.Join(dir, PortA+".pcap"), filepath.Join(dir, PortB+".pcap"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			replayed, err := cmd.Output()
			if err != nil {
				t.Fatalf("ftptap replay: %v: %s", err, stderr.Bytes())
			}
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
