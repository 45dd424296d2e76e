package natsbus

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// killChildEnv makes the test binary a child that publishes events until
// it is killed (see TestKillChild).
const killChildEnv = "FTPTAP_NATSBUS_KILL_CHILD"

// TestKillChild is the child of TestKill: it publishes events for ever,
// printing after each step how many are safe: written to the disk spool
// ("spool" mode, to an external server), or acknowledged by the embedded
// server's JetStream ("jetstream" mode). Without the environment it does
// nothing.
func TestKillChild(t *testing.T) {
	mode := os.Getenv(killChildEnv)
	if mode == "" {
		t.Skip("the child of TestKill")
	}
	dir, url := os.Getenv(killChildEnv+"_DIR"), os.Getenv(killChildEnv+"_URL")
	var p *Publisher
	var err error
	safe := func() uint64 { return p.Stats().Spooled }
	switch mode {
	case "spool":
		nc, derr := Dial(ClientOptions{URLs: []string{url}})
		if derr != nil {
			t.Fatal(derr)
		}
		p, err = NewPublisher(nc, Options{Tap: "lab1", SpoolDir: dir, Stream: &StreamOptions{Tap: "lab1"}, Window: 32})
	case "jetstream":
		s, serr := StartServer(ServerOptions{StoreDir: dir, Domain: "lab1"})
		if serr != nil {
			t.Fatal(serr)
		}
		nc, cerr := s.Connect()
		if cerr != nil {
			t.Fatal(cerr)
		}
		ensureStream(t, nc, StreamOptions{Tap: "lab1", Own: true})
		p, err = NewPublisher(nc, Options{Tap: "lab1", Window: 32})
		safe = func() uint64 { return p.Stats().Published }
	}
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	for s := uint64(1); ; s++ {
		n.emitAll(sessionEvents(s, 2, time.Now()))
		fmt.Printf("safe %d\n", safe())
		time.Sleep(time.Millisecond)
	}
}

// Issue 11: ftptap is killed (SIGKILL: no shutdown, no drain) while it
// writes its disk spool, or while the embedded server writes JetStream's
// store, then started again on the same directory. Every event that was
// safe before the kill (in the spool; acknowledged by JetStream) is in the
// stream afterwards, exactly once and in order.
func TestKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, mode := range []string{"spool", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			var url string
			if mode == "spool" {
				url = runServer(t, t.TempDir(), -1).ClientURL()
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
			cmd.Env = append(os.Environ(), killChildEnv+"="+mode, killChildEnv+"_DIR="+dir, killChildEnv+"_URL="+url)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var safe uint64
			sc := bufio.NewScanner(out)
			deadline := time.Now().Add(20 * time.Second)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "safe "); ok {
					safe, _ = strconv.ParseUint(v, 10, 64)
				}
				if safe >= 3000 || time.Now().After(deadline) {
					break
				}
			}
			// SIGKILL, by PID, in the middle of its writes.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			for sc.Scan() {
				// What it printed before dying was safe too.
				if v, ok := strings.CutPrefix(sc.Text(), "safe "); ok {
					safe, _ = strconv.ParseUint(v, 10, 64)
				}
			}
			cmd.Wait()
			if safe < 100 {
				t.Fatalf("the child made only %d events safe in 20 s", safe)
			}

			// Started again on the same directory.
			var js jetstream.JetStream
			switch mode {
			case "spool":
				nc := dial(t, url)
				p, err := NewPublisher(nc, Options{Tap: "lab1", SpoolDir: dir, Stream: &StreamOptions{Tap: "lab1"}})
				if err != nil {
					t.Fatal(err)
				}
				closePublisher(t, p, 30*time.Second)
				js, _ = jetstream.New(nc)
			case "jetstream":
				if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
					t.Fatalf("no JetStream store left: %v", err)
				}
				s := startServer(t, ServerOptions{StoreDir: dir, Domain: "lab1"})
				nc, err := s.Connect()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(nc.Close)
				js, _ = jetstream.New(nc)
			}
			stored := streamCount(t, js, StreamName("lab1"))
			if stored < safe {
				t.Fatalf("after the kill the stream holds %d events; %d were safe before it", stored, safe)
			}
			msgs := readStream(t, js, StreamName("lab1"), int(stored), 20*time.Second)
			checkExactlyOnce(t, msgs, map[string]uint64{"lab1": stored})
			t.Logf("killed with %d events safe; %d stored, each once, in order", safe, stored)
		})
	}
}
