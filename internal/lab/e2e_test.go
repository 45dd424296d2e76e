//go:build linux

package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftptap/ftptap/internal/truth"
)

func TestMain(m *testing.M) {
	code := m.Run()
	CleanupBuild()
	os.Exit(code)
}

// ftptapBin builds ftptap once for the test binary.
func ftptapBin(t *testing.T) string {
	t.Helper()
	if why := CanRun(); why != "" {
		t.Skip("lab: " + why)
	}
	bin, err := BuildFtptap()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestLive runs every scenario through ftptap run, live and inline in
// the tap namespace, and checks its events against the scenario's truth
// (what the clients did, and the connections tcpdump saw on the two
// ports). Then it replays tcpdump's capture of the same traffic with
// ftptap replay and checks that replay gives the same events as the live
// run (see SameEvents for what may differ: nothing but seq numbering
// and status events).
func TestLive(t *testing.T) {
	bin := ftptapBin(t)
	for _, sc := range Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{})
			dir := t.TempDir()
			p, ft, live := playLive(t, l, bin, sc, dir)
			checkTruth(t, "live", p.Truth, live)

			replayed := ftptapReplay(t, bin, filepath.Join(dir, PortA+".pcap"), filepath.Join(dir, PortB+".pcap"))
			checkTruth(t, "replay", p.Truth, replayed)
			if diff := SameEvents(live, replayed); diff != "" {
				t.Errorf("live and replay differ:\n%s", diff)
			}
			if t.Failed() {
				t.Logf("ftptap log:\n%s", ft.Log())
				keep(t, dir)
			}
		})
	}
}

// runLive runs a scenario with ftptap run live and inline in l: play is
// Lab.Play or Lab.PlayTFTP called with ctx (a minute long) and the
// started and stopping it is given. started runs "ftptap run --tap lab
// --events dir/events.jsonl args..."; stopping waits until the lab's
// traffic is over (Lab.WaitQuiet: the last FIN and ACK sent, no server
// still resending to a client that gave up), so that ftptap and the
// recording see the same traffic, then stops ftptap with SIGTERM (it
// reads what its rings hold before it exits). If play fails, runLive
// logs ftptap's log and fails t. It checks that ftptap read every frame
// the kernel passed up (checkDrained) and returns ftptap and its events.
func runLive(t *testing.T, l *Lab, bin, dir string, play func(ctx context.Context, started, stopping func() error) error, args ...string) (*Ftptap, []byte) {
	t.Helper()
	events := filepath.Join(dir, "events.jsonl")
	var ft *Ftptap
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := play(ctx,
		func() (err error) {
			ft, err = l.StartFtptap(bin, append([]string{"--tap", "lab", "--events", events}, args...)...)
			return err
		},
		func() error {
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
	return ft, live
}

// playLive plays the FTP scenario sc (Lab.Play) into dir with ftptap run
// live and inline, with args (see runLive), and returns what was played,
// ftptap and its events.
func playLive(t *testing.T, l *Lab, bin string, sc Scenario, dir string, args ...string) (*Played, *Ftptap, []byte) {
	t.Helper()
	var p *Played
	ft, live := runLive(t, l, bin, dir, func(ctx context.Context, started, stopping func() error) (err error) {
		p, err = l.Play(ctx, sc, dir, started, stopping)
		return err
	}, args...)
	return p, ft, live
}

// ftptapReplay runs "bin replay --tap lab args..." (flags, then capture
// files) and returns the events it writes to its standard output. It
// fails t, with what ftptap said, if the replay fails.
func ftptapReplay(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"replay", "--tap", "lab"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ftptap replay %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// checkDrained checks that ftptap, stopped once the traffic was over, read
// every frame the kernel passed up to it: none left in its rings at exit
// (its "stopped" log line: frames against kernel_packets less
// kernel_drops).
func checkDrained(t *testing.T, ft *Ftptap) {
	t.Helper()
	f := logFields(ft.Log(), "stopped")
	if _, ok := f["frames"]; !ok {
		t.Errorf("ftptap logged no stopped line")
		return
	}
	if passed := f["kernel_packets"] - f["kernel_drops"]; f["frames"] != passed {
		t.Errorf("ftptap read %d frames, but the kernel passed %d up to its rings (%d dropped): %d left unread at exit",
			f["frames"], passed, f["kernel_drops"], passed-f["frames"])
	}
}

// checkTruth scores events against the truth with internal/truth, the
// rules of the outside checks.
func checkTruth(t *testing.T, what string, tr *truth.Truth, events []byte) {
	t.Helper()
	if len(bytes.TrimSpace(events)) == 0 {
		t.Errorf("%s: no events", what)
		return
	}
	misses, spurious := truth.Check(tr, events)
	for _, m := range misses {
		t.Errorf("%s: %s", what, m)
	}
	if spurious > 0 {
		t.Errorf("%s: %d invented facts", what, spurious)
	}
}

// keep copies a failed scenario's captures, truth and events where a
// person can look at them after the test's directories are gone.
func keep(t *testing.T, dir string) {
	dst := filepath.Join(os.TempDir(), "ftplab-failed", strings.ReplaceAll(t.Name(), "/", "_"))
	os.MkdirAll(dst, 0o755)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
		}
	}
	t.Logf("captures, truth and events kept in %s", dst)
}

// TestFailOpen kills ftptap with SIGKILL in the middle of a download:
// the bridge it made stays, the download goes on and arrives whole. A new
// ftptap adopts the bridge and picks the session up midway.
func TestFailOpen(t *testing.T) {
	t.Parallel()
	bin := ftptapBin(t)
	l := New(t, Options{})
	dir := t.TempDir()
	ft, err := l.StartFtptap(bin, "--tap", "lab", "--events", filepath.Join(dir, "before.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	bridge := l.Bridged()
	big := Files[len(Files)-1]
	out := filepath.Join(l.ClientDir(), "failopen.bin")
	done := make(chan *Run, 1)
	go func() {
		// 16 MiB at 8 MB/s: about two seconds on the wire.
		done <- l.Curl(context.Background(), "--limit-rate", "8M", "-o", out, Vsftpd.URL(false, "pub/"+big.Name))
	}()
	waitGrow(t, out, 1<<20, 10*time.Second)
	if err := ft.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ft.Wait(5 * time.Second)
	killed := time.Now()
	if got := l.Bridged(); got != bridge || got == "" {
		t.Fatalf("after SIGKILL the tap ports are bridged by %q, want %q", got, bridge)
	}
	after := filepath.Join(dir, "after.jsonl")
	ft2, err := l.StartFtptap(bin, "--tap", "lab", "--events", after)
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	t.Logf("download of %d bytes took %v; ftptap was killed after %v", big.Size, r.End.Sub(r.Start), killed.Sub(r.Start))
	if r.Err != nil {
		t.Fatalf("the download broke when ftptap was killed: %v", r.Err)
	}
	if err := checkSum(out, big.SHA256()); err != nil {
		t.Fatal(err)
	}
	quiet, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.WaitQuiet(quiet); err != nil {
		t.Fatal(err)
	}
	if err := ft2.Term(); err != nil {
		t.Fatal(err)
	}
	checkDrained(t, ft2)
	if len(r.Sessions) != 1 || r.Sessions[0].LocalPort == 0 {
		t.Fatalf("curl's transcript: %d sessions", len(r.Sessions))
	}
	client := hostPort(ClientIP4, r.Sessions[0].LocalPort)
	ev, err := os.ReadFile(after)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, line := range bytes.Split(ev, []byte("\n")) {
		var e struct {
			Type      string `json:"type"`
			Client    string `json:"client"`
			Midstream bool   `json:"midstream"`
		}
		if json.Unmarshal(line, &e) == nil && e.Type == "session.start" && e.Client == client && e.Midstream {
			found = true
		}
	}
	if !found {
		t.Errorf("the restarted ftptap reported no midstream session.start for %s:\n%s", client, ev)
	}
}

// waitGrow waits until a file has at least n bytes.
func waitGrow(t *testing.T, path string, n int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if st, err := os.Stat(path); err == nil && st.Size() >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %d bytes in %v", path, n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
