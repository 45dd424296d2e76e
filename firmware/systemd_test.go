package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// notifySocket stands in for systemd's end of sd_notify: a unixgram socket
// named in NOTIFY_SOCKET. It returns the datagrams as they arrive.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("sd_notify uses unixgram sockets, which windows lacks")
	}
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	ch := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return ch
}

func recvNotify(t *testing.T, ch <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(within):
		t.Fatalf("no sd_notify datagram within %v", within)
		return ""
	}
}

func TestNotifyStates(t *testing.T) {
	ch := notifySocket(t)
	tests := []struct {
		name string
		send func() error
		want string
	}{
		{"ready", func() error { return notifyReady("") }, "READY=1"},
		{"ready with status", func() error { return notifyReady("capturing on eth0 and eth1") }, "READY=1\nSTATUS=capturing on eth0 and eth1"},
		// A status text must not smuggle in assignments of its own.
		{"status one line", func() error { return notifyStatus("a\nWATCHDOG=trigger") }, "STATUS=a WATCHDOG=trigger"},
		{"stopping", notifyStopping, "STOPPING=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.send(); err != nil {
				t.Fatalf("send: %v", err)
			}
			if got := recvNotify(t, ch, 5*time.Second); got != tt.want {
				t.Errorf("datagram = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNotifyOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	for name, f := range map[string]func() error{
		"ready":    func() error { return notifyReady("x") },
		"status":   func() error { return notifyStatus("x") },
		"stopping": notifyStopping,
	} {
		if err := f(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: %v, want nil", name, err)
		}
	}
	stop, err := startWatchdog(context.Background(), nil, nil)
	if err != nil {
		t.Fatalf("startWatchdog without WATCHDOG_USEC: %v", err)
	}
	stop()
}

func TestNotifyDeadSocket(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unixgram sockets")
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	if err := notifyReady(""); err == nil || !strings.HasPrefix(err.Error(), "sd_notify: ") {
		t.Errorf("notifyReady to a missing socket: %v, want an sd_notify: error", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name, usec, pid string
		want            time.Duration
		wantErr         bool
	}{
		{"off", "", "", 0, false},
		{"on", "30000000", pid, 30 * time.Second, false},
		{"on without pid", "2000000", "", 2 * time.Second, false},
		{"another process", "30000000", "1", 0, false},
		{"garbage", "soon", pid, 0, true},
		{"negative", "-5", pid, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			got, err := watchdogInterval()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("interval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWatchdogPings(t *testing.T) {
	ch := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "100000") // 100ms: a ping every 50ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	stop, err := startWatchdog(context.Background(), func() error { return nil }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if got := recvNotify(t, ch, 5*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("ping %d = %q, want WATCHDOG=1", i, got)
		}
	}
	stop()
	stop() // idempotent
	// Nothing after stop returned: drain what was in flight, then wait.
	for len(ch) > 0 {
		<-ch
	}
	select {
	case s := <-ch:
		t.Errorf("datagram %q after stop", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// A failing health check withholds the ping, so systemd restarts ftptap; the
// pings resume once it passes again, and the failure is logged once.
func TestWatchdogWithholdsWhileUnhealthy(t *testing.T) {
	ch := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	var sick atomic.Bool
	sick.Store(true)
	var checks atomic.Int32
	healthy := func() error {
		checks.Add(1)
		if sick.Load() {
			return errors.New("pipeline stalled for 40s")
		}
		return nil
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := startWatchdog(ctx, healthy, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	deadline := time.Now().Add(5 * time.Second)
	for checks.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := checks.Load(); n < 4 {
		t.Fatalf("health checked %d times in 5s, want at least 4", n)
	}
	select {
	case s := <-ch:
		t.Fatalf("datagram %q while unhealthy, want none", s)
	default:
	}
	sick.Store(false)
	if got := recvNotify(t, ch, 5*time.Second); got != "WATCHDOG=1" {
		t.Fatalf("after recovery: %q, want WATCHDOG=1", got)
	}
	// Cancelling the context ends the loop too.
	cancel()
	stop()
	out := logs.String()
	if n := strings.Count(out, "pipeline stalled"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "healthy again") {
		t.Errorf("recovery not logged:\n%s", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the watchdog goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
