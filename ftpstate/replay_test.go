package ftpstate_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/internal/replaytest"
	"github.com/ftptap/ftptap/pipeline"
)

// corpusDir is the shared corpus of real captures, beside the checkout.
const corpusDir = "../../shared/corpus"

func needCorpus(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not found at %s (it sits beside the checkout on the project's CI; a user's clone has none)", corpusDir)
	}
	return corpusDir
}

// readCapture reads capture files into memory, their frames merged by
// time (each file one tap port).
func readCapture(t testing.TB, names ...string) *replaytest.Source {
	t.Helper()
	m := &replaytest.Source{}
	for i, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		var src gopacket.PacketDataSource
		var link layers.LinkType
		if bytes.HasPrefix(b, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
			r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			src, link = r, r.LinkType()
		} else {
			r, err := pcapgo.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			src, link = r, r.LinkType()
		}
		side := event.SideUnknown
		if len(names) > 1 {
			side = event.Side(i + 1)
		}
		for {
			data, ci, err := src.ReadPacketData()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: %v", name, err)
				}
				break
			}
			m.Frames = append(m.Frames, pipeline.Frame{Data: data, Info: ci, Side: side, LinkType: link})
		}
	}
	sort.SliceStable(m.Frames, func(i, j int) bool { return m.Frames[i].Info.Timestamp.Before(m.Frames[j].Info.Timestamp) })
	return m
}

// replay runs the pipeline over capture files and returns the JSON lines.
func replay(t testing.TB, cfg *ftpstate.Config, names ...string) []byte {
	t.Helper()
	return replaySource(t, cfg, readCapture(t, names...))
}

// replaySource runs the pipeline over frames read already.
func replaySource(t testing.TB, cfg *ftpstate.Config, src *replaytest.Source) []byte {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	p, err := pipeline.New(pipeline.Options{Tap: "test", Tracker: cfg, Sinks: []pipeline.Sink{pipeline.SinkFunc(func(ev *event.Event, js []byte) {
		w.Write(js)
		w.WriteByte('\n')
	})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return out.Bytes()
}

func globCorpus(t *testing.T, pattern string) []string {
	m, err := filepath.Glob(filepath.Join(needCorpus(t), pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	return m
}
