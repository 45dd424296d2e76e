//go:build linux

package lab

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "re-record the lab's captures into ftpstate/testdata/lab")

// TestRecord records every scenario through a bridge of the lab's own
// (no ftptap involved) into ../../ftpstate/testdata/lab/<scenario>/:
// porta.pcap, portb.pcap and truth.json. It runs only with -update:
//
//	go test ./internal/lab -run TestRecord -update
func TestRecord(t *testing.T) {
	if !*update {
		t.Skip("re-records ftpstate/testdata/lab; run with -update")
	}
	root := filepath.Join("..", "..", "ftpstate", "testdata", "lab")
	for _, sc := range Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			l := New(t, Options{Bridge: true})
			dir := filepath.Join(root, sc.Name)
			os.RemoveAll(dir)
			p, err := l.Play(context.Background(), sc, dir, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkRecorded(t, dir, 512<<10)
			t.Logf("%s: %d sessions", sc.Name, len(p.Truth.Sessions))
		})
	}
}

// checkRecorded checks that dir, a scenario's directory under testdata,
// holds the captures of both tap ports (porta.pcap, portb.pcap), each at
// most limit bytes: testdata stays small.
func checkRecorded(t *testing.T, dir string, limit int64) {
	t.Helper()
	for _, f := range []string{"porta.pcap", "portb.pcap"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > limit {
			t.Errorf("%s/%s is %d bytes: keep testdata small", filepath.Base(dir), f, st.Size())
		}
	}
}
