package ftpstate_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ftptap/ftptap/internal/truth"
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

// TestLabTruth replays the project's own lab captures (testdata/lab: real
// servers and clients in network namespaces, recorded on both tap ports)
// and scores the events against what the lab did. It runs on any machine.
func TestLabTruth(t *testing.T) {
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
}
