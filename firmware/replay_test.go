package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const labDir = "../ftpstate/testdata/lab"

// closingLine matches the line on stderr that ends every replay.
var closingLine = regexp.MustCompile(`^ftptap replay: \d+ frames? read \(\d+ not TCP/IP\), \d+ sessions?(, \d+ TFTP transfers?)?, \d+ events?( \(\d+ selected\))? in \S+$`)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestReplayTwoPorts(t *testing.T) {
	out, errs, code := runCmd(t, "replay", "--tap", "lab1", filepath.Join(labDir, "pasv-retr", "porta.pcap"), filepath.Join(labDir, "pasv-retr", "portb.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var types []string
	for i, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d not JSON: %v", i+1, err)
		}
		if e["tap"] != "lab1" || e["seq"] != float64(i+1) || e["v"] != float64(1) {
			t.Fatalf("line %d: tap/seq/v wrong: %s", i+1, l)
		}
		types = append(types, e["type"].(string))
	}
	all := strings.Join(types, " ")
	for _, want := range []string{"session.start", "login", "data.expect", "data.open", "transfer.end", "session.end"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %s event in %s", want, all)
		}
	}
	if !strings.Contains(out, `"client_side":"a"`) {
		t.Error("session.start does not say the client is on port A")
	}
}

func TestReplaySummary(t *testing.T) {
	out, errs, code := runCmd(t, "replay", "--summary", filepath.Join(labDir, "multi", "porta.pcap"), filepath.Join(labDir, "multi", "portb.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"SESSION", "RETR", "STOR", "LIST", "passive", "active", "1 session, 5 transfers"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary has no %q:\n%s", want, out)
		}
	}
}

// TestReplayBadInput: a missing, truncated or non-capture file gives one
// clear error line and a non-zero exit, never a panic; events already read
// from a truncated file are still printed.
func TestReplayBadInput(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(labDir, "pasv-retr", "porta.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.pcap")
	os.WriteFile(truncated, good[:len(good)/2+7], 0o644) // mid-frame
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("this is not a capture file at all\n"), 0o644)
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	header := filepath.Join(dir, "header.pcap")
	os.WriteFile(header, good[:10], 0o644)
	tests := []struct {
		name, file, want string
		events           bool
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), "no such file", false},
		{"truncated", truncated, "truncated", true},
		{"not a capture", text, "not a pcap or pcapng file", false},
		{"empty", empty, "too short", false},
		{"cut header", header, "header.pcap", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := runCmd(t, "replay", "--tap", "x", tt.file)
			if code == 0 {
				t.Fatalf("exit 0 for %s", tt.name)
			}
			// Besides the closing line (frames read...), one error line.
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
				if !closingLine.MatchString(l) {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(errs, tt.want) {
				t.Errorf("stderr = %q, want one line with %q", errs, tt.want)
			}
			if strings.Contains(errs, "panic") || strings.Contains(errs, "goroutine") {
				t.Errorf("panic: %s", errs)
			}
			if tt.events != (out != "") {
				t.Errorf("events printed = %v, want %v", out != "", tt.events)
			}
			if tt.events && !strings.Contains(out, `"session.end"`) {
				t.Error("the sessions of a truncated capture are not ended")
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	if _, _, code := runCmd(t, "replay"); code != 2 {
		t.Errorf("replay without files: exit %d, want 2", code)
	}
	if _, errs, code := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errs)
	}
	if _, errs, code := runCmd(t, "replay", "--tap", "bad.tap", filepath.Join(labDir, "pasv-retr", "porta.pcap")); code == 0 || !strings.Contains(errs, "tap") {
		t.Errorf("bad tap id: exit %d, %q", code, errs)
	}
}

// TestReplayCarveNone: a config's carve.dir carves a replay; --carve none
// turns it off (none is not a directory), and --pcap none does the same
// for capture.save.dir.
func TestReplayCarveNone(t *testing.T) {
	dir := t.TempDir()
	carveDir, pcapDir := filepath.Join(dir, "carve"), filepath.Join(dir, "pcap")
	cfg := filepath.Join(dir, "ftptap.yaml")
	if err := os.WriteFile(cfg, []byte("carve:\n  dir: "+carveDir+"\ncapture:\n  save:\n    dir: "+pcapDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	capture, err := filepath.Abs(filepath.Join(labDir, "pasv-retr", "porta.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // where a directory named none would be made
	if _, errs, code := runCmd(t, "replay", "--config", cfg, "--carve", "none", "--pcap", "none", capture); code != 0 {
		t.Fatalf("--carve none --pcap none: exit %d: %s", code, errs)
	}
	for _, d := range []string{carveDir, pcapDir, filepath.Join(dir, "none")} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--carve none --pcap none: %s exists (%v)", d, err)
		}
	}
	if _, errs, code := runCmd(t, "replay", "--config", cfg, capture); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, d := range []string{carveDir, pcapDir} {
		if ents, err := os.ReadDir(d); err != nil || len(ents) == 0 {
			t.Errorf("with the config alone: %s: %v, %d entries", d, err, len(ents))
		}
	}
}
