package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

// TestTFTPSummaryAndWatch replays a lab capture of TFTP errors and
// transfers and checks what --summary and watch make of its events.
func TestTFTPSummaryAndWatch(t *testing.T) {
	dir := "../tftpstate/testdata/lab/"
	for _, tt := range []struct {
		capture string
		summary []string
		rows    []string
	}{
		{"errors", []string{"t6       10.77.0.2:50737        10.77.0.1:69           TFTP read   octet            0 B  incomplete      1ms  private.bin  error 2 access violation: File must have global read permissions",
			"0 sessions, 0 transfers, 6 TFTP transfers", "TFTP ALERTS\n  6 × tftp_error (t1, t2, t3, t4, t5, ...): the download of \"nosuch.bin\" ended with error 1 (file not found)"},
			[]string{"tftp.request        10.77.0.2:58654 -> 10.77.0.1:69 read nosuch.bin octet",
				"tftp.end            read nosuch.bin octet 0 B in 0 blocks of 512, INCOMPLETE, error, error 1 file not found: File not found via 10.77.0.1:"}},
		{"atftp-blksize", []string{"t1       10.77.0.2:59182        10.77.0.3:69           TFTP read   octet      195.3 KiB  complete        3ms  blk200000.bin  done", ", 1 TFTP transfer\n"},
			[]string{"blksize=1428 tsize=0", "read blk200000.bin octet 200000 B in 141 blocks of 1428, complete, done via 10.77.0.3:"}},
	} {
		t.Run(tt.capture, func(t *testing.T) {
			src, err := tap.OpenFiles(dir+tt.capture+"/porta.pcap", dir+tt.capture+"/portb.pcap")
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var b bytes.Buffer
			sum := newSummary(&b)
			var rows []string
			p, err := pipeline.New(pipeline.Options{Tap: "lab", Sinks: []pipeline.Sink{sum, pipeline.SinkFunc(func(ev *event.Event, js []byte) {
				rows = append(rows, formatRow("ftptap.lab."+ev.Subject(), js))
			})}})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(context.Background(), src); err != nil {
				t.Fatal(err)
			}
			sum.write(&b)
			for _, want := range tt.summary {
				if !strings.Contains(b.String(), want) {
					t.Errorf("summary lacks %q:\n%s", want, b.String())
				}
			}
			all := strings.Join(rows, "\n")
			for _, want := range tt.rows {
				if !strings.Contains(all, want) {
					t.Errorf("watch rows lack %q:\n%s", want, all)
				}
			}
		})
	}
}

// TestTFTPConfig: timeouts.tftp and limits.tftp reach the TFTP tracker,
// and a value out of range names the key.
func TestTFTPConfig(t *testing.T) {
	load := func(text string) (*Config, error) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if err == nil {
			err = cfg.Validate()
		}
		return cfg, err
	}
	cfg, err := load("timeouts:\n  tftp: 5s\nlimits:\n  tftp: 10\n")
	if err != nil {
		t.Fatal(err)
	}
	if tc := cfg.TFTPConfig(); tc.Timeout != 5*time.Second || tc.MaxTransfers != 10 {
		t.Errorf("TFTPConfig %+v", tc)
	}
	for text, want := range map[string]string{
		"timeouts:\n  tftp: 100ms\n": "timeouts.tftp",
		"limits:\n  tftp: -1\n":      "limits.tftp",
	} {
		if _, err := load(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to name %s", text, err, want)
		}
	}
}

// TestTFTPClosingLine: a replay of TFTP alone counts its transfers in the
// closing line, so "0 sessions" does not read as nothing seen.
func TestTFTPClosingLine(t *testing.T) {
	dir := "../tftpstate/testdata/lab/atftp-blksize/"
	_, errs, code := runCmd(t, "replay", "--tap", "x", dir+"porta.pcap", dir+"portb.pcap")
	if code != 0 || !strings.Contains(errs, " 0 sessions, 1 TFTP transfer, ") {
		t.Errorf("exit %d, stderr %q: want the closing line to count 1 TFTP transfer", code, errs)
	}
}
