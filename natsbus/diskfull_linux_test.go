package natsbus

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftptap/ftptap/internal/disktest"
	"github.com/nats-io/nats.go/jetstream"
)

// fillDisk mounts a tmpfs of size bytes (see disktest.Tmpfs) and writes a
// file of fill bytes on it, so that little is left; removing the file gives
// the space back. It returns the tmpfs's path and the file's.
func fillDisk(t *testing.T, size, fill int) (disk, filler string) {
	t.Helper()
	disk = disktest.Tmpfs(t, int64(size))
	filler = filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, fill), 0o600); err != nil {
		t.Fatal(err)
	}
	return disk, filler
}

// Issue 11: the disk under the spool fills up while the server is out of
// reach. The publisher keeps taking events without blocking, says so once,
// counts what it could not store and reports it; when space returns it
// stores again by itself; and once the server is back every event it
// stored arrives exactly once, in order: nothing it accepted into the
// spool is lost, not even the records cut short by the full disk.
func TestSpoolDiskFull(t *testing.T) {
	disk, filler := fillDisk(t, 160<<10, 64<<10)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	nc := dial(t, fmt.Sprintf("nats://127.0.0.1:%d", port)) // no server yet
	var logs logLines
	var reportedDrops uint64
	var mu sync.Mutex
	p, err := NewPublisher(nc, Options{
		Tap: "lab1", SpoolDir: filepath.Join(disk, "spool"), Stream: &StreamOptions{Tap: "lab1"},
		Logf: logs.logf, DropInterval: 50 * time.Millisecond,
		OnDrop: func(n uint64) { mu.Lock(); reportedDrops += n; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	emit := func(sessions int) { n.emitSessions(t, sessions, 2*time.Millisecond) }
	// The writer has dealt with every event Event took: spooled it or
	// dropped it (the queue never fills here).
	written := func() bool { st := p.Stats(); return st.Spooled+st.Dropped == n.seq }
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats().Dropped == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the disk never filled: %+v", p.Stats())
		}
		checkNoWait(t, n, "the server down", func() { emit(5) })
	}
	full := n.seq
	// More events while the disk is full: dropped too.
	checkNoWait(t, n, "the disk full", func() { emit(20) })
	waitFor(t, 20*time.Second, "the writer did not take the events sent while the disk was full", written)
	if got := logs.count("no space left on device"); got != 1 {
		t.Errorf("%d log lines about the full disk, want 1: %q", got, logs.lines)
	}
	st := p.Stats()
	t.Logf("disk full after %d events; %d dropped, %d pending", full, st.Dropped, st.Pending)

	// Space returns: the spool stores again by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	dropsBefore := p.Stats().Dropped
	afterFull := n.seq
	emit(3) // about 25 KiB: room for them
	waitFor(t, 20*time.Second, "the writer did not take the events sent after space returned", written)
	if d := p.Stats().Dropped; d != dropsBefore {
		t.Errorf("after space returned, %d more events dropped", d-dropsBefore)
	}
	if logs.count("writing again") != 1 {
		t.Errorf("no log line saying the spool writes again: %q", logs.lines)
	}

	// The server comes back: what was stored is delivered.
	runServer(t, t.TempDir(), port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cerr := p.Close(ctx)
	st = p.Stats()
	if cerr == nil || !strings.Contains(cerr.Error(), "dropped") {
		t.Errorf("Close: %v, want the drops reported", cerr)
	}
	mu.Lock()
	if reportedDrops != st.Dropped {
		t.Errorf("OnDrop reported %d drops, the publisher counted %d", reportedDrops, st.Dropped)
	}
	mu.Unlock()
	js, _ := jetstream.New(nc)
	stored := n.seq - st.Dropped
	msgs := readStream(t, js, StreamName("lab1"), int(stored), 20*time.Second)
	if got := streamCount(t, js, StreamName("lab1")); got != stored {
		t.Errorf("stream holds %d events, want %d (%d accepted, %d dropped)", got, stored, n.seq, st.Dropped)
	}
	seen, _ := checkInOrder(t, msgs)
	for s := afterFull + 1; s <= n.seq; s++ {
		if !seen[s] {
			t.Errorf("event %d, accepted after space returned, is missing", s)
			break
		}
	}
	missingEarly := 0
	for s := uint64(1); s <= full; s++ {
		if !seen[s] {
			missingEarly++
		}
	}
	t.Logf("%d events accepted, %d stored and delivered, %d dropped (%d of them before the first drop was seen)", n.seq, len(msgs), st.Dropped, missingEarly)
}
