package capgen

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

// replay writes a capture with gen and returns ftptap's events by type.
func replay(t *testing.T, gen func(*os.File) (*Writer, error)) (map[string]int, []map[string]any) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "c.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src, err := tap.OpenFiles(name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	types := map[string]int{}
	var all []map[string]any
	p, err := pipeline.New(pipeline.Options{Tap: "t", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(ev *event.Event, js []byte) {
		types[ev.Type.String()]++
		var m map[string]any
		json.Unmarshal(js, &m)
		all = append(all, m)
	})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return types, all
}

// TestSessionKinds: each dialogue of the mixed capture is what it says
// to the tracker: a session that starts and ends, with the transfers and
// data channels it holds, and no anomaly but the ones it is made of.
func TestSessionKinds(t *testing.T) {
	want := []struct {
		name               string
		transfers, opens   int
		fails, tls, logins int
	}{
		{"pasvRetr", 1, 1, 0, 0, 1}, {"epsvRetr", 1, 1, 0, 0, 1}, {"portStor", 1, 1, 0, 0, 1}, {"eprtIPv6", 1, 1, 0, 0, 1},
		{"listing", 1, 1, 0, 0, 1}, {"badLogin", 0, 0, 0, 0, 3}, {"pasvRefused", 1, 0, 1, 0, 1}, {"pasvTimeout", 1, 0, 1, 0, 1},
		{"authTLS", 0, 0, 0, 1, 0}, {"resetEnd", 0, 0, 0, 0, 1}, {"midstream", 1, 1, 0, 0, 0}, {"multiRetr", 4, 4, 0, 0, 1},
	}
	if len(want) != len(sessionKinds) {
		t.Fatalf("%d kinds, %d expected", len(sessionKinds), len(want))
	}
	for i, w := range want {
		t.Run(w.name, func(t *testing.T) {
			types, all := replay(t, func(f *os.File) (*Writer, error) {
				wr, err := NewWriter(f, 50*time.Microsecond)
				if err != nil {
					return nil, err
				}
				b := &builder{rnd: rand.New(rand.NewPCG(1, 2))}
				k := sessionKinds[i](b, 7)
				for j := range k.segs {
					wr.write(&k.segs[j])
				}
				return wr, wr.Flush()
			})
			got := []int{types["transfer.end"], types["data.open"], types["data.fail"], types["tls"], types["login"]}
			exp := []int{w.transfers, w.opens, w.fails, w.tls, w.logins}
			for j := range got {
				if got[j] != exp[j] {
					t.Errorf("transfer.end, data.open, data.fail, tls, login = %v, want %v", got, exp)
					break
				}
			}
			if types["session.start"] != 1 || types["session.end"] != 1 {
				t.Errorf("%d session.start, %d session.end, want 1 of each", types["session.start"], types["session.end"])
			}
			for _, e := range all {
				if e["type"] == "alert" {
					t.Errorf("alert: %v", e)
				}
			}
		})
	}
}

// TestIdleAndControl: the idle capture leaves every session open (the
// flush at the end closes them), the control one gives a request and a
// response per command.
func TestIdleAndControl(t *testing.T) {
	types, all := replay(t, func(f *os.File) (*Writer, error) { return Idle(f, 50, true) })
	if types["session.start"] != 50 || types["data.open"] != 50 || types["login"] != 50 {
		t.Errorf("idle: %v", types)
	}
	for _, e := range all {
		if e["type"] == "session.end" && e["reason"] != "shutdown" {
			t.Fatalf("idle session ended before the flush: %v", e)
		}
	}
	types, _ = replay(t, func(f *os.File) (*Writer, error) { return Control(f, 3, 40) })
	// Per session: USER, PASS, the commands, QUIT; replies: the greeting too.
	if types["request"] != 3*(40+3) || types["response"] != 3*(40+4) {
		t.Errorf("control: %d requests, %d responses", types["request"], types["response"])
	}
	var buf bytes.Buffer
	w1, _ := Control(&buf, 2, 5)
	var buf2 bytes.Buffer
	w2, _ := Control(&buf2, 2, 5)
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) || w1.Frames != w2.Frames {
		t.Error("the same arguments gave different captures")
	}
}
