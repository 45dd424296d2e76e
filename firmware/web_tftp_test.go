package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayDiagramTFTP: replay --diagram writes t<N>.svg for each TFTP
// transfer, alerts included, beside nothing else.
func TestReplayDiagramTFTP(t *testing.T) {
	const tftpLab = "../tftpstate/testdata/lab"
	for _, tt := range []struct {
		scenario string
		files    []string
		want     []string // in t1.svg
	}{
		{"reply-blocked", []string{"t1.svg"}, []string{`data-kind="switch"`, `data-reason="unacknowledged"`, "alert tftp_reply_blocked", "transfer ended: timeout"}},
		{"hpa-read", []string{"t1.svg"}, []string{`data-kind="switch"`, "transfer complete: RRQ f1000.bin", "transfer ended: done"}},
		{"errors", []string{"t1.svg", "t2.svg", "t3.svg", "t4.svg", "t5.svg", "t6.svg"}, []string{"ERROR 1 (file not found)", "alert tftp_error"}},
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "diagrams")
			_, errs, code := runCmd(t, "replay", "--tap", "lab", "--diagram", dir,
				filepath.Join(tftpLab, tt.scenario, "porta.pcap"), filepath.Join(tftpLab, tt.scenario, "portb.pcap"))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
			var names []string
			for _, f := range files {
				names = append(names, filepath.Base(f))
			}
			if strings.Join(names, " ") != strings.Join(tt.files, " ") {
				t.Fatalf("diagrams %q, want %q", names, tt.files)
			}
			b, err := os.ReadFile(filepath.Join(dir, "t1.svg"))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("t1.svg has no %q", w)
				}
			}
		})
	}
}
