package ftpstate_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftptap/ftptap/ftpstate"
)

var update = flag.Bool("update", false, "rewrite the golden event files in testdata/golden")

// goldenCase is one capture (one file, or the two tap ports) and its golden
// events.
type goldenCase struct {
	name  string
	files []string
	cfg   *ftpstate.Config
}

func goldenCases(t *testing.T) []goldenCase {
	var cs []goldenCase
	labs, _ := filepath.Glob("testdata/lab/*")
	for _, d := range labs {
		cs = append(cs, goldenCase{name: "lab-" + filepath.Base(d), files: []string{filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap")}})
	}
	if _, err := os.Stat(corpusDir); err != nil {
		t.Logf("corpus not found at %s: golden tests of the corpus captures skipped", corpusDir)
		return cs
	}
	zeek, _ := filepath.Glob(filepath.Join(corpusDir, "zeek", "*.pcap*"))
	for _, f := range zeek {
		name := "zeek-" + strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".gz"), ".pcap")
		var cfg *ftpstate.Config
		if strings.HasPrefix(filepath.Base(f), "globus") {
			cfg = &ftpstate.Config{ControlPorts: []uint16{2811}} // GridFTP
		}
		cs = append(cs, goldenCase{name: name, files: []string{f}, cfg: cfg})
	}
	gen, _ := filepath.Glob(filepath.Join(corpusDir, "gen", "*"))
	for _, d := range gen {
		cs = append(cs, goldenCase{name: "gen-" + filepath.Base(d), files: []string{filepath.Join(d, "porta.pcap"), filepath.Join(d, "portb.pcap")}})
	}
	return cs
}

// TestGolden replays every capture and compares the events with the golden
// file recorded from an earlier run (go test -run TestGolden -update
// rewrites them). A difference is either a bug or a deliberate change, to
// be reviewed in the diff of the golden file.
func TestGolden(t *testing.T) {
	for _, gc := range goldenCases(t) {
		t.Run(gc.name, func(t *testing.T) {
			got := replay(t, gc.cfg, gc.files...)
			path := filepath.Join("testdata", "golden", gc.name+".jsonl")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to record)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) || i < len(wl); i++ {
					var g, w string
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if g != w {
						t.Fatalf("events differ from %s at line %d:\n got %.300s\nwant %.300s", path, i+1, g, w)
					}
				}
			}
			// Every event has the contract's common fields.
			for i, e := range parseEvents(t, got) {
				for _, k := range []string{"v", "tap", "seq", "ts", "type"} {
					if _, ok := e[k]; !ok {
						t.Fatalf("event %d has no %q: %v", i+1, k, e)
					}
				}
				if int(e["seq"].(float64)) != i+1 {
					t.Fatalf("event %d has seq %v", i+1, e["seq"])
				}
			}
		})
	}
}

// TestCorpusFacts checks what the corpus captures without a Zeek log of
// their own are known to hold.
func TestCorpusFacts(t *testing.T) {
	dir := filepath.Join(needCorpus(t), "zeek")
	count := func(evs []jsonEvent, f func(jsonEvent) bool) int {
		n := 0
		for _, e := range evs {
			if f(e) {
				n++
			}
		}
		return n
	}
	typ := func(ty string) func(jsonEvent) bool { return func(e jsonEvent) bool { return e.s("type") == ty } }
	alert := func(kind string) func(jsonEvent) bool {
		return func(e jsonEvent) bool { return e.s("type") == "alert" && e.s("kind") == kind }
	}
	tests := []struct {
		trace string
		cfg   *ftpstate.Config
		check func(t *testing.T, evs []jsonEvent)
	}{
		{"retr.pcap", nil, func(t *testing.T, evs []jsonEvent) {
			// Zeek's extracted file (thefile) is 16 557 bytes, as SIZE says.
			if n := count(evs, func(e jsonEvent) bool {
				return e.s("type") == "transfer.end" && e.n("bytes") == 16557 && e.n("code") == 226 && e["complete"] == true
			}); n != 1 {
				t.Errorf("RETR /README of 16557 bytes: %d transfer.end", n)
			}
		}},
		{"pe.pcap", nil, func(t *testing.T, evs []jsonEvent) {
			if n := count(evs, func(e jsonEvent) bool {
				return e.s("type") == "transfer.end" && e["complete"] == true && e.n("bytes") > 0
			}); n != 5 {
				t.Errorf("complete transfers with bytes: %d, want 5 (4 RETR, 1 LIST)", n)
			}
		}},
		{"cwd-navigation.pcap", nil, func(t *testing.T, evs []jsonEvent) {
			// Only the command channel is in the capture: 687 RETRs
			// answered 150 and 226, whose data connections did not
			// cross the tap. Their bytes are unknown, not 0, and their
			// announcements were used.
			if n := count(evs, func(e jsonEvent) bool {
				_, hasBytes := e["bytes"]
				return e.s("type") == "transfer.end" && e.s("command") == "RETR" && e["data_seen"] == false && !hasBytes && e.n("code") == 226 && e["complete"] == true
			}); n != 687 {
				t.Errorf("RETRs with data_seen false and no bytes: %d, want 687", n)
			}
			if n := count(evs, typ("transfer.end")); n != 687 {
				t.Errorf("transfer.end: %d, want 687", n)
			}
			if n := count(evs, typ("data.fail")); n != 0 {
				t.Errorf("data.fail: %d, want 0", n)
			}
			if n := count(evs, alert("data_not_seen")); n != 1 {
				t.Errorf("data_not_seen alerts: %d, want 1 (one per session)", n)
			}
		}},
		{"pe-single.pcap", nil, func(t *testing.T, evs []jsonEvent) {
			if n := count(evs, typ("data.open")); n != 1 {
				t.Errorf("data.open: %d, want 1 (one data connection kept)", n)
			}
		}},
		{"ftp-many-port-expected.pcap.gz", &ftpstate.Config{MaxPending: 20}, func(t *testing.T, evs []jsonEvent) {
			if n := count(evs, func(e jsonEvent) bool { return e.s("type") == "request" && e.s("command") == "PORT" }); n != 500 {
				t.Errorf("PORT requests: %d, want 500", n)
			}
			if n := count(evs, alert("too_many_pending")); n != 1 {
				t.Errorf("too_many_pending alerts: %d, want 1 (reported once, counted every time)", n)
			}
			if n := count(evs, alert("bounce")); n != 1 {
				t.Errorf("bounce alerts: %d, want 1 (PORT names 10.0.0.200, not the client)", n)
			}
		}},
		{"nvt-line-limit-crlf-heap-buffer-overflow.pcap.gz", nil, func(t *testing.T, evs []jsonEvent) {
			if n := count(evs, alert("line_too_long")); n != 1 {
				t.Errorf("line_too_long alerts: %d, want 1", n)
			}
			for _, e := range evs {
				if e.s("type") == "request" && len(e.s("command"))+len(e.s("arg")) > 4096 {
					t.Errorf("a request longer than the line cap: %d bytes", len(e.s("command"))+len(e.s("arg")))
				}
			}
		}},
		{"ipv6-violation.pcap", nil, func(t *testing.T, evs []jsonEvent) {
			if n := count(evs, alert("invalid_reply")); n == 0 {
				t.Error("the SSH banner from the FTP server is not reported")
			}
			if n := count(evs, func(e jsonEvent) bool { return e.s("type") == "response" && e.n("code") == 530 }); n != 1 {
				t.Error("the 530 after the SSH banner is lost: tracking must go on after a malformed line")
			}
			if n := count(evs, func(e jsonEvent) bool { return e.s("type") == "login" && e["ok"] == false && e.n("code") == 530 }); n != 1 {
				t.Error("the 530 answers PASS: a failed login")
			}
		}},
		{"ftp-auth-tls.pcap", nil, func(t *testing.T, evs []jsonEvent) {
			if n := count(evs, typ("tls")); n != 1 {
				t.Errorf("tls events: %d, want 1", n)
			}
		}},
		{"globus-url-copy.pcap", &ftpstate.Config{ControlPorts: []uint16{2811}}, func(t *testing.T, evs []jsonEvent) {
			if n := count(evs, func(e jsonEvent) bool { return e.s("type") == "request" && e.s("command") == "ADAT" }); n != 4 {
				t.Errorf("ADAT requests: %d, want 4", n)
			}
			if n := count(evs, func(e jsonEvent) bool { return e.s("type") == "response" && e.n("code") == 632 }); n < 9 {
				t.Errorf("632 replies: %d, want 9 or more", n)
			}
		}},
		{"globus-url-copy.pcap", nil, func(t *testing.T, evs []jsonEvent) {
			// Port 2811 is not a control port by default: GridFTP is found
			// by its content (a 220 greeting answered by AUTH).
			if n := count(evs, alert("ftp_other_port")); n != 1 {
				t.Errorf("ftp_other_port alerts: %d, want 1", n)
			}
			if n := count(evs, func(e jsonEvent) bool { return e.s("type") == "request" && e.s("command") == "ADAT" }); n != 4 {
				t.Errorf("ADAT requests: %d, want 4", n)
			}
		}},
		{"globus-url-copy.pcap", &ftpstate.Config{NoDetect: true}, func(t *testing.T, evs []jsonEvent) {
			if len(evs) != 0 {
				t.Errorf("with detection off, port 2811 gives %d events", len(evs))
			}
		}},
		{"var-services-std-ports.pcap", nil, func(t *testing.T, evs []jsonEvent) {
			if n := count(evs, func(e jsonEvent) bool { return e.s("type") == "login" && e.s("user") == "jsiwek" && e["ok"] == true }); n != 1 {
				t.Errorf("login of jsiwek: %d", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.trace, func(t *testing.T) {
			tt.check(t, parseEvents(t, replay(t, tt.cfg, filepath.Join(dir, tt.trace))))
		})
	}
}
