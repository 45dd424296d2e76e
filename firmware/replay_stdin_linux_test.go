package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReplayStdinInterruptProcess: Ctrl-C stops ftptap replay - while the
// pipe it reads stays open and silent (nc -l | ftptap replay -), in a real
// process whose standard input is a blocking pipe: exit 130, the events so
// far written, the interrupted notice.
func TestReplayStdinInterruptProcess(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(labDir, "multi", "porta.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	bin := buildFtptap(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, "replay", "--tap", "x", "-")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	w.Write(data) // the whole capture, and the pipe stays open
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("replay - not stopped by SIGINT while its input is silent")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(errb.String(), "ftptap replay: interrupted: the events of the 99 frames read are written") {
		t.Errorf("exit %d, stderr %q; want 130 and the interrupted notice after 99 frames", code, errb.String())
	}
	if !strings.Contains(out.String(), `"type":"session.end"`) {
		t.Errorf("the events read before the interrupt are not all written:\n%s", out.String())
	}
}
