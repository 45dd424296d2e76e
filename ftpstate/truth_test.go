package ftpstate_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ftptap/ftptap/internal/truth"
	"github.com/ftptap/ftptap/pipeline"
)

// TestGenTruth replays each lab capture of the corpus, both as the two tap
// ports and as the merged file, and scores the events against truth.json
// with the rules of the outside checks.
func TestGenTruth(t *testing.T) {
	for _, dir := range globCorpus(t, "gen/*") {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			tr, err := truth.Load(filepath.Join(dir, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, files := range [][]string{
				{filepath.Join(dir, "merged.pcap")},
				{filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap")},
			} {
				out := replay(t, nil, files...)
				if os.Getenv("FTPTAP_DUMP") != "" {
					os.WriteFile(filepath.Join(os.TempDir(), name+".jsonl"), out, 0o644)
				}
				misses, spurious := truth.Check(tr, out)
				for _, m := range misses {
					t.Errorf("%v: %s", files, m)
				}
				if spurious != 0 {
					t.Errorf("%v: %d spurious facts", files, spurious)
				}
			}
		})
	}
}

// eachLab runs f as a subtest for each of the project's lab captures
// (testdata/lab/*), with the truth of what the lab did.
func eachLab(t *testing.T, f func(t *testing.T, dir string, tr *truth.Truth)) {
	t.Helper()
	dirs, err := filepath.Glob("testdata/lab/*")
	if err != nil || len(dirs) == 0 {
		t.Fatal("no lab captures in testdata/lab")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			tr, err := truth.Load(filepath.Join(dir, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			f(t, dir, tr)
		})
	}
}

// TestLabTruth replays the project's own lab captures (testdata/lab: real
// servers and clients in network namespaces, recorded on both tap ports)
// and scores the events against what the lab did. It runs on any machine.
func TestLabTruth(t *testing.T) {
	eachLab(t, func(t *testing.T, dir string, tr *truth.Truth) {
		out := replay(t, nil, filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
		misses, spurious := truth.Check(tr, out)
		for _, m := range misses {
			t.Error(m)
		}
		if spurious != 0 {
			t.Errorf("%d spurious facts", spurious)
		}
		if len(tr.Sessions) == 0 {
			t.Error("truth.json names no session")
		}
	})
}

// TestControlOnlyLabTruth replays the lab captures with every segment but
// the command channels' removed, as a tap on a SPAN of port 21 alone sees
// them: real servers' 150 and 226 with no data connection in sight. The
// facts of the command channels must all be there; the transfers say
// data_seen false instead of a byte count, no announcement a transfer used
// is reported unused, and each session with such transfers has one
// data_not_seen alert.
func TestControlOnlyLabTruth(t *testing.T) {
	dirs, err := filepath.Glob("testdata/lab/*")
	if err != nil || len(dirs) == 0 {
		t.Fatal("no lab captures in testdata/lab")
	}
	if _, err := os.Stat(corpusDir); err == nil {
		gen, _ := filepath.Glob(filepath.Join(corpusDir, "gen", "*"))
		dirs = append(dirs, gen...)
	} else {
		t.Logf("corpus not found at %s: its lab captures are skipped", corpusDir)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(filepath.Dir(dir))+"-"+filepath.Base(dir), func(t *testing.T) {
			tr, err := truth.Load(filepath.Join(dir, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			src := readCapture(t, filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
			all := len(src.Frames)
			src.Frames = slices.DeleteFunc(src.Frames, func(f pipeline.Frame) bool {
				tcp := tcpOf(f)
				return tcp == nil || tcp.SrcPort != 21 && tcp.DstPort != 21
			})
			if len(src.Frames) == all {
				t.Fatalf("no data-channel frames to remove from %d", all)
			}
			out := replaySource(t, nil, src)
			// What a control-only capture cannot show: byte counts,
			// data connections and their failures.
			used := map[string]bool{}
			for i := range tr.Sessions {
				s := &tr.Sessions[i]
				for j := range s.Transfers {
					x := &s.Transfers[j]
					x.Bytes, x.DataFrom, x.DataTo = nil, "", ""
					used[x.Endpoint] = true
				}
				s.DataFail = nil
			}
			misses, spurious := truth.Check(tr, out)
			for _, m := range misses {
				t.Error(m)
			}
			if spurious != 0 {
				t.Errorf("%d spurious facts", spurious)
			}
			alerts := map[string]int{}
			xfers := map[string]int{}
			for _, e := range parseEvents(t, out) {
				switch e.s("type") {
				case "transfer.end":
					_, hasBytes := e["bytes"]
					if e.n("code") >= 200 && e.n("code") < 300 && (e["data_seen"] != false || hasBytes) {
						t.Errorf("transfer.end %s %s: data_seen %v, bytes %v", e.s("command"), e.s("file"), e["data_seen"], e["bytes"])
					}
					if e["data_seen"] == false {
						xfers[e.s("session")]++
					}
				case "data.fail":
					if used[e.s("endpoint")] {
						t.Errorf("data.fail %s %s: a transfer used it", e.s("endpoint"), e.s("reason"))
					}
				case "alert":
					if e.s("kind") == "data_not_seen" {
						alerts[e.s("session")]++
					}
				}
			}
			t.Logf("%d of %d frames kept; transfers without data per session: %v", len(src.Frames), all, xfers)
			for s, n := range xfers {
				if alerts[s] != 1 {
					t.Errorf("session %s: %d transfers without data, %d data_not_seen alerts, want 1", s, n, alerts[s])
				}
			}
		})
	}
}
