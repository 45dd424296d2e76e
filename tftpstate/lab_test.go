package tftpstate_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/truth"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

var update = flag.Bool("update", false, "rewrite the golden events of testdata/lab")

// replay runs capture files through the pipeline, as ftptap replay does,
// and returns the TFTP events as JSON lines.
func replay(t testing.TB, files ...string) []byte {
	t.Helper()
	src, err := tap.OpenFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	p, err := pipeline.New(pipeline.Options{Tap: "lab", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(ev *event.Event, js []byte) {
		if ev.Proto == event.ProtoTFTP {
			out.Write(js)
			out.WriteByte('\n')
		}
	})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestLab replays the captures the lab recorded (real TFTP servers and
// clients through the bridge: see internal/lab's TFTPScenarios), scores
// the events against each capture's truth by the outside checks' rules
// (check_tftp.py's, in truth.CheckTFTP), and compares them with the golden
// events.jsonl beside it (-update rewrites it).
func TestLab(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "lab", "*"))
	if len(dirs) == 0 {
		t.Fatal("no captures in testdata/lab")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			tr, err := truth.LoadTFTP(filepath.Join(dir, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			got := replay(t, filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
			misses, facts, found, spurious := truth.CheckTFTP(tr, got)
			for _, m := range misses {
				t.Error(m)
			}
			if facts == 0 || found != facts || spurious != 0 {
				t.Errorf("%s: facts %d/%d spurious %d", tr.Scenario, found, facts, spurious)
			}
			golden := filepath.Join(dir, "events.jsonl")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./tftpstate -run TestLab -update writes it)", err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("events differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			// The same capture replayed twice gives the same events.
			if again := replay(t, filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap")); !bytes.Equal(again, got) {
				t.Error("a second replay differs")
			}
		})
	}
}
