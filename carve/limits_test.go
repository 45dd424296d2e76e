package carve_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ftptap/ftptap/carve"
	"github.com/ftptap/ftptap/event"
)

func TestSafeName(t *testing.T) {
	long := strings.Repeat("é", 2048) + ".tar.gz" // 4 KiB and more
	tests := []struct{ in, want string }{
		{"pub/f1000.bin", "f1000.bin"},
		{"../../etc/passwd", "passwd"},
		{"/etc/shadow", "shadow"},
		{`..\..\windows\system32\evil.dll`, "evil.dll"},
		{"..", "__"},
		{".", "_"},
		{"", "unnamed"},
		{"dir/", "unnamed"},
		{".bashrc", "_bashrc"},
		{"CON", "_CON"},
		{"con.txt", "_con.txt"},
		{"LPT1", "_LPT1"},
		{"COM9.log", "_COM9.log"},
		{"CONSOLE", "CONSOLE"},
		{"a\x00b", "a_b"},
		{"a\nb\rc\x1b[31m", "a_b_c_[31m"},
		{"bad\xff\xfeutf8", "bad__utf8"},
		{"what?*<>|:\".txt", "what_______.txt"},
		{"trailing. ", "trailing__"},
		{"naïve résumé.pdf", "naïve résumé.pdf"},
	}
	for _, tt := range tests {
		if got := carve.SafeName(tt.in); got != tt.want {
			t.Errorf("SafeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := carve.SafeName(long)
	if len(got) > 160 || !utf8.ValidString(got) || !strings.HasSuffix(got, ".gz") {
		t.Errorf("SafeName(4 KiB name) = %q (%d bytes)", got, len(got))
	}
}

// TestHostileNames carves transfers under hostile names and checks that
// every file lands inside the session's directory, visible, and that
// collisions are numbered.
func TestHostileNames(t *testing.T) {
	names := []string{"../../etc/passwd", "/etc/passwd", ".bashrc", "CON", strings.Repeat("A", 4096), "nul\x00byte", "passwd", "..", "\xff\xfe"}
	h := newHarness(t, carve.Config{})
	seen := map[string]bool{}
	for i, n := range names {
		id := uint64(i + 1)
		h.seg(id, 0, "x")
		ev := h.end(id, "RETR", n, 1, true)
		if ev.Carved == "" {
			t.Fatalf("%q not carved", n)
		}
		if seen[ev.Carved] {
			t.Errorf("%q carved over another file: %s", n, ev.Carved)
		}
		seen[ev.Carved] = true
		rel, err := filepath.Rel(filepath.Join(h.dir, "2026-03-04", "s1"), filepath.Join(h.dir, ev.Carved))
		base := filepath.Base(ev.Carved)
		if err != nil || strings.Contains(rel, "/") || strings.HasPrefix(rel, ".") || strings.HasPrefix(base, ".") || len(base) > 200 || strings.ContainsRune(base, 0) {
			t.Errorf("%q carved as %q", n, ev.Carved)
		}
		if got := h.read(ev); got != "x" {
			t.Errorf("%s holds %q", ev.Carved, got)
		}
		if m := h.sidecar(ev); utf8.ValidString(n) && m["file"] != n {
			t.Errorf("sidecar names %q, want %q", m["file"], n)
		}
	}
	if !seen["2026-03-04/s1/passwd-2"] && !seen["2026-03-04/s1/passwd-3"] {
		t.Errorf("collisions not numbered: %v", seen)
	}
	if _, err := os.Stat("/etc/passwd.ftptap.json"); err == nil {
		t.Error("a sidecar landed in /etc")
	}
}

// TestListingsAndNames: listings are text files, STOU takes the name the
// server gave, REST says its offset, an incomplete transfer says so.
func TestListingsAndNames(t *testing.T) {
	h := newHarness(t, carve.Config{})
	h.seg(1, 0, "-rw-r--r-- 1 ftp ftp 1000 f1000.bin\r\n")
	if ev := h.end(1, "LIST", "", 36, true); ev.Carved != "2026-03-04/s1/LIST.txt" {
		t.Errorf("listing carved as %q", ev.Carved)
	}
	h.seg(2, 0, "a\r\nb\r\n")
	if ev := h.end(2, "NLST", "", 6, true); ev.Carved != "2026-03-04/s1/NLST.txt" {
		t.Errorf("name list carved as %q", ev.Carved)
	}
	h.seg(3, 0, "unique")
	if ev := h.end(3, "STOU", "ftp-unique.1", 6, true); ev.Carved != "2026-03-04/s1/ftp-unique.1" || h.read(ev) != "unique" {
		t.Errorf("STOU carved as %q", ev.Carved)
	}
	h.event(event.Event{Type: event.TypeRequest, Command: "REST", Arg: "1000"})
	h.event(event.Event{Type: event.TypeResponse, Command: "REST", Code: 350})
	h.event(event.Event{Type: event.TypeRequest, Command: "RETR", Arg: "big.bin"})
	h.seg(4, 0, "tail")
	ev := h.end(4, "RETR", "big.bin", 4, true)
	if m := h.sidecar(ev); m["rest"] != 1000.0 {
		t.Errorf("REST 1000: sidecar says rest %v", m["rest"])
	}
	h.event(event.Event{Type: event.TypeRequest, Command: "RETR", Arg: "next.bin"})
	h.seg(5, 0, "all")
	if m := h.sidecar(h.end(5, "RETR", "next.bin", 3, true)); m["rest"] != 0.0 {
		t.Errorf("REST held past its transfer: rest %v", m["rest"])
	}
	h.seg(6, 0, "half")
	ev = h.end(6, "RETR", "aborted.bin", 4, false)
	if ev.Carved != "2026-03-04/s1/aborted.bin.partial" || h.sidecar(ev)["complete"] != false {
		t.Errorf("incomplete transfer carved as %q", ev.Carved)
	}
	if ev := h.end(7, "RETR", "empty.bin", 0, true); ev.Carved != "2026-03-04/s1/empty.bin" || h.read(ev) != "" {
		t.Errorf("empty file carved as %q", ev.Carved)
	}
	if ev := h.end(8, "RETR", "refused.bin", 0, false); ev.Carved != "" || ev.SHA256 != "" {
		t.Errorf("a transfer without data carved as %q", ev.Carved)
	}
	if len(h.alerts) != 0 {
		t.Errorf("alerts: %v", h.alerts)
	}
}

// TestTLS: a session gone TLS is not carved, and says so once.
func TestTLS(t *testing.T) {
	h := newHarness(t, carve.Config{})
	h.event(event.Event{Type: event.TypeTLS, Command: "AUTH", Arg: "TLS"})
	for id := uint64(1); id <= 3; id++ {
		h.seg(id, 0, "\x17\x03\x03ciphertext")
		if ev := h.end(id, "RETR", "", 13, true); ev.Carved != "" || ev.SHA256 != "" {
			t.Errorf("TLS transfer carved as %q", ev.Carved)
		}
	}
	if len(h.alerts) != 1 || h.alerts[0].Kind != "carve_tls" || h.alerts[0].Session != 1 {
		t.Errorf("alerts %+v, want one carve_tls", h.alerts)
	}
}

// TestFileCap cuts a file at the per-file cap and goes on with the next.
func TestFileCap(t *testing.T) {
	h := newHarness(t, carve.Config{MaxFileBytes: 10})
	h.seg(1, 0, "0123456")
	h.seg(1, 7, "789abcdef")
	h.seg(1, 16, "ghij")
	ev := h.end(1, "RETR", "big.bin", 20, true)
	if got := h.read(ev); got != "0123456789" || !strings.HasSuffix(ev.Carved, ".partial") {
		t.Errorf("capped file %s holds %q", ev.Carved, got)
	}
	if !strings.Contains(h.sidecar(ev)["cut"].(string), "file cap") {
		t.Errorf("sidecar does not say the file was cut")
	}
	h.seg(2, 0, "small")
	if ev := h.end(2, "RETR", "small.bin", 5, true); h.read(ev) != "small" {
		t.Errorf("the next file is not carved")
	}
	if len(h.alerts) != 1 || h.alerts[0].Kind != "carve_file_cap" || h.c.Stats().FileCaps.Load() != 1 {
		t.Errorf("alerts %+v", h.alerts)
	}
}

// TestTotalCap stops carving once the total is reached: one alert, the
// metric, files already carved kept.
func TestTotalCap(t *testing.T) {
	h := newHarness(t, carve.Config{MaxTotalBytes: 12})
	h.seg(1, 0, "12345678")
	if ev := h.end(1, "RETR", "a.bin", 8, true); h.read(ev) != "12345678" {
		t.Fatal("first file not carved")
	}
	h.seg(2, 0, "1234")
	h.seg(2, 4, "5678") // over the cap
	ev := h.end(2, "RETR", "b.bin", 8, true)
	if got := h.read(ev); got != "1234" || !strings.HasSuffix(ev.Carved, ".partial") {
		t.Errorf("file at the cap: %s holds %q", ev.Carved, got)
	}
	h.seg(3, 0, "more")
	if ev := h.end(3, "RETR", "c.bin", 4, true); ev.Carved != "" {
		t.Errorf("carved after the stop: %s", ev.Carved)
	}
	if len(h.alerts) != 1 || h.alerts[0].Kind != "carve_stopped" || h.c.Stats().Stopped.Load() != 1 {
		t.Errorf("alerts %+v", h.alerts)
	}
}

// TestOpenCap: transfers beyond MaxOpen at once are not carved.
func TestOpenCap(t *testing.T) {
	h := newHarness(t, carve.Config{MaxOpen: 2})
	for id := uint64(1); id <= 3; id++ {
		h.seg(id, 0, "x")
		h.seg(id, 1, "y")
	}
	for id := uint64(1); id <= 3; id++ {
		ev := h.end(id, "RETR", "f", 2, true)
		if (ev.Carved != "") != (id <= 2) {
			t.Errorf("transfer %d carved as %q", id, ev.Carved)
		}
	}
	if len(h.alerts) != 1 || h.alerts[0].Kind != "carve_skipped" {
		t.Errorf("alerts %+v", h.alerts)
	}
	if err := h.c.Close(); err != nil {
		t.Error(err)
	}
	if left, err := os.ReadDir(filepath.Join(h.dir, ".incoming")); err != nil || len(left) != 0 {
		t.Errorf("left in .incoming: %v %v", left, errors.Unwrap(err))
	}
}
