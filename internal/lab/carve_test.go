//go:build linux

package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftptap/ftptap/internal/truth"
)

// TestLiveCarve runs every scenario through ftptap run with --carve and
// --pcap: every file the lab moved is carved whole, live, with the SHA-256
// the lab computed, and again from tcpdump's capture by ftptap replay; the
// FTP traffic saved live replays to the same events as the live run.
func TestLiveCarve(t *testing.T) {
	bin := ftptapBin(t)
	for _, sc := range Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{})
			dir := t.TempDir()
			carved, saved := filepath.Join(dir, "carve"), filepath.Join(dir, "pcap")
			p, ft, live := playLive(t, l, bin, sc, dir, "--carve", carved, "--pcap", saved)
			checkCarved(t, "live", p.Truth, live, carved)

			again := filepath.Join(dir, "carve-replay")
			out := ftptapReplay(t, bin, "--carve", again, filepath.Join(dir, PortA+".pcap"), filepath.Join(dir, PortB+".pcap"))
			checkCarved(t, "replay", p.Truth, out, again)

			files, _ := filepath.Glob(filepath.Join(saved, "*.pcapng"))
			if len(files) != 1 {
				t.Fatalf("saved %v, want one pcapng", files)
			}
			fromSaved := ftptapReplay(t, bin, "--carve", filepath.Join(dir, "carve-saved"), files[0])
			checkTruth(t, "saved pcapng", p.Truth, fromSaved)
			if diff := SameEvents(live, fromSaved); diff != "" {
				t.Errorf("live and the saved pcapng replayed differ:\n%s", diff)
			}
			if t.Failed() {
				t.Logf("ftptap log:\n%s", ft.Log())
				keep(t, dir)
			}
		})
	}
}

// checkCarved checks every transfer of the truth with a SHA-256 against
// the transfer.end events and the carved files.
func checkCarved(t *testing.T, what string, tr *truth.Truth, events []byte, dir string) {
	t.Helper()
	type end struct {
		Client, Command, File, SHA256, Carved string
		Gaps                                  int64
	}
	var ends []end
	sc := bufio.NewScanner(bytes.NewReader(events))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) != nil || e["type"] != "transfer.end" {
			continue
		}
		s := func(k string) string { v, _ := e[k].(string); return v }
		g, _ := e["gaps"].(float64)
		ends = append(ends, end{s("client"), s("command"), s("file"), s("sha256"), s("carved"), int64(g)})
	}
	n := 0
	for _, s := range tr.Sessions {
		for _, x := range s.Transfers {
			if x.SHA256 == "" {
				continue
			}
			n++
			var got *end
			for i := range ends {
				if e := &ends[i]; e.Client == s.Client && e.Command == x.Command && e.File == x.File {
					got = e
				}
			}
			if got == nil {
				t.Errorf("%s: %s %s %s: no transfer.end", what, s.Client, x.Command, x.File)
				continue
			}
			if got.SHA256 != x.SHA256 || got.Gaps != 0 {
				t.Errorf("%s: %s %s: sha256 %s, %d bytes missing; the lab moved %s", what, x.Command, x.File, got.SHA256, got.Gaps, x.SHA256)
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, got.Carved))
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != x.SHA256 {
				t.Errorf("%s: %s hashes to %x, the lab moved %s", what, got.Carved, sum, x.SHA256)
			}
		}
	}
	t.Logf("%s: %d files checked", what, n)
}

// TestLiveCarveBulk carves an lftp session's transfers while iperf3 pushes
// bulk TCP through the bridge meanwhile, to a host with no FTP session and
// to a service port (80) of the FTP server itself: the kernel filter lets
// the data channels through whole and keeps the bulk out of user space
// (only its SYN, FIN and the one segment in a thousand that the byte
// counts sample pass).
func TestLiveCarveBulk(t *testing.T) {
	bin := ftptapBin(t)
	needIperf(t)
	l := New(t, Options{})
	dir := t.TempDir()
	events, carved := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "carve")
	ft, err := l.StartFtptap(bin, "--tap", "lab", "--events", events, "--carve", carved)
	if err != nil {
		t.Fatal(err)
	}
	var iperfs []string
	var clis []*Proc
	for i, to := range []netip.AddrPort{netip.AddrPortFrom(PureFTPd.IP4, 5201), netip.AddrPortFrom(Vsftpd.IP4, 80)} {
		out := filepath.Join(dir, fmt.Sprintf("iperf%d.json", i))
		clis = append(clis, startIperf(t, l, to, out, 3*time.Second))
		iperfs = append(iperfs, out)
	}
	time.Sleep(300 * time.Millisecond)
	sc, _ := ScenarioByName("multi")
	runs, sums, err := sc.Run(l, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The bulk ends, then its last segments.
	for _, cli := range clis {
		cli.Wait(10 * time.Second)
	}
	quiet, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.WaitQuiet(quiet); err != nil {
		t.Fatal(err)
	}
	if err := ft.Term(); err != nil {
		t.Fatal(err)
	}
	ev, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	// Every file of the session carved whole.
	n := 0
	for name, want := range sums {
		found := false
		for _, line := range bytes.Split(ev, []byte("\n")) {
			if bytes.Contains(line, []byte(`"type":"transfer.end"`)) && bytes.Contains(line, []byte(`"sha256":"`+want+`"`)) && bytes.Contains(line, []byte(`"gaps":0`)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s (sha256 %s) not carved whole", name, want)
		}
		n++
	}
	var bulk int64
	for _, f := range iperfs {
		sum, err := readIperf(f)
		if err != nil {
			t.Fatalf("iperf3: %v", err)
		}
		bulk += sum.SumReceived.Bytes
	}
	st := logFields(ft.Log(), "stopped")
	segs := bulk / 1448
	// FTP frames are a few hundred; the bulk's sample is about one segment
	// per 1024 (the first MiB of each GiB of sequence space).
	limit := int64(2000) + segs/1024*2
	t.Logf("%d files; bulk %d MB (%d segments); kernel passed %d frames (limit %d), drops %d; %d client runs",
		n, bulk>>20, segs, st["kernel_packets"], limit, st["kernel_drops"], len(runs))
	if bulk < 10<<20 {
		t.Fatalf("iperf3 moved only %d bytes", bulk)
	}
	if st["kernel_packets"] > limit {
		t.Errorf("the kernel passed %d frames for %d bulk segments: bulk reaches user space", st["kernel_packets"], segs)
	}
}
