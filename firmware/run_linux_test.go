package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftptap/ftptap/internal/netnstest"
)

// buildFtptap builds the ftptap binary into a directory that any user can
// read (the capability tests run it as nobody).
func buildFtptap(t *testing.T) string {
	t.Helper()
	// Under qemu-user (cross/test-arm.sh) the binary would be built for
	// the emulated CPU and could not be started from the emulated test.
	if e := os.Getenv("FTPTAP_EMULATED"); e != "" {
		t.Skipf("skipped: ftptap is built and started natively, not under %s", e)
	}
	dir, err := os.MkdirTemp("", "ftptap-run-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ftptap")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tapProc is ftptap run started in the lab's tap namespace.
type tapProc struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan error
}

// startRun starts bin with args in the tap namespace: the child is forked
// from a thread inside it, so it runs there, as a service in that namespace
// would. attr, if not nil, sets credentials and capabilities.
func startRun(t *testing.T, l *netnstest.Lab, bin string, attr *syscall.SysProcAttr, args ...string) *tapProc {
	t.Helper()
	p := &tapProc{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = attr
	var err error
	l.In(t, l.Tap, func() { err = p.cmd.Start() })
	if err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *tapProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("ftptap still running after %v; stderr:\n%s", d, p.stderr.String())
	}
	return -1
}

// waitLog waits until stderr contains s.
func (p *tapProc) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.stderr.String(), s) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("ftptap exited (%v) before logging %q:\n%s", err, s, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ftptap did not log %q:\n%s", s, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quiet are the flags that keep the optional sinks out of a test.
var quiet = []string{"--nats", "off", "--leds", "off", "--metrics", "off"}

// ftpServer accepts on ln and plays the start of an FTP session: greeting,
// then 331 to USER, then it waits until the peer closes.
func ftpServer(t *testing.T, ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "220 ftptap test server\r\n")
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(line, "USER") {
						io.WriteString(c, "331 Please specify the password.\r\n")
					}
				}
			}()
		}
	}()
}

// ftpLogin connects and sends USER; the connection stays open.
func ftpLogin(t *testing.T, dial func() (net.Conn, error)) net.Conn {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatalf("connect across the tap: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "USER anonymous\r\n")
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "331") {
		t.Fatalf("USER: %q, %v", line, err)
	}
	return c
}

// TestRun runs ftptap run inline between two namespaces: it bridges, sees
// a session from each side with the right client_side, and on SIGTERM ends
// both (reason shutdown) and exits 0.
func TestRun(t *testing.T) {
	l := netnstest.New(t)
	bin := buildFtptap(t)
	p := startRun(t, l, bin, nil, append([]string{"run", "--port-a", "pa", "--port-b", "pb", "--tap", "t1", "--events", "-"}, quiet...)...)
	p.waitLog(t, "capturing")

	// A client on side A (client ns) and one on side B (server ns).
	ftpServer(t, l.Listen(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "21")))
	ftpLogin(t, func() (net.Conn, error) { return l.Dial(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "21")) })
	var lnB net.Listener
	var err error
	l.In(t, l.Client, func() { lnB, err = net.Listen("tcp", net.JoinHostPort(netnstest.ClientIP6, "21")) })
	if err != nil {
		t.Fatal(err)
	}
	defer lnB.Close()
	ftpServer(t, lnB)
	var cB net.Conn
	ftpLogin(t, func() (net.Conn, error) {
		l.In(t, l.Server, func() { cB, err = net.DialTimeout("tcp", net.JoinHostPort(netnstest.ClientIP6, "21"), 3*time.Second) })
		return cB, err
	})

	time.Sleep(300 * time.Millisecond) // the merge holds frames a few ms
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr.String())
	}

	type event struct {
		Type       string `json:"type"`
		Tap        string `json:"tap"`
		Session    any    `json:"session"`
		Client     string `json:"client"`
		ClientSide string `json:"client_side"`
		Reason     string `json:"reason"`
		Command    string `json:"command"`
	}
	starts := map[string]string{} // client → client_side
	ends := map[string]string{}   // client → reason
	users := 0
	for _, line := range strings.Split(strings.TrimSpace(p.stdout.String()), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		if ev.Tap != "t1" {
			t.Errorf("tap %q in %s", ev.Tap, line)
		}
		switch ev.Type {
		case "session.start":
			starts[ev.Client] = ev.ClientSide
		case "session.end":
			ends[ev.Client] = ev.Reason
		case "request":
			if ev.Command == "USER" {
				users++
			}
		}
	}
	wantA := netnstest.ClientIP4 + ":"
	wantB := "[" + netnstest.ServerIP6 + "]:"
	var sawA, sawB bool
	for client, side := range starts {
		switch {
		case strings.HasPrefix(client, wantA):
			sawA = true
			if side != "a" {
				t.Errorf("session from %s: client_side %q, want a", client, side)
			}
		case strings.HasPrefix(client, wantB):
			sawB = true
			if side != "b" {
				t.Errorf("session from %s: client_side %q, want b", client, side)
			}
		}
		if r := ends[client]; r != "shutdown" {
			t.Errorf("session from %s: end reason %q, want shutdown", client, r)
		}
	}
	if !sawA || !sawB || users != 2 {
		t.Errorf("sessions seen: side a %v, side b %v, USER requests %d (want both sides, 2)\nevents:\n%s", sawA, sawB, users, p.stdout.String())
	}
	log := p.stderr.String()
	for _, want := range []string{"created bridge ftptap0", "msg=capturing", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// Fail-open: ftptap is gone, the bridge it made still forwards.
	ln := l.Listen(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2100"))
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := l.Dial(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2100"))
	if err != nil {
		t.Fatalf("the bridge no longer forwards after ftptap exited: %v", err)
	}
	c.Close()
}

// TestRunEventsFile checks --events FILE, the config file and --no-bridge
// with ports that something else bridges.
func TestRunEventsFile(t *testing.T) {
	l := netnstest.New(t)
	bin := buildFtptap(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	evPath := filepath.Join(dir, "events.jsonl")
	cfg := "tap: from-config\nport_a: pa\nport_b: pb\nbridge_name: ftbr\ncontrol_ports: [2121]\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startRun(t, l, bin, nil, append([]string{"run", "--config", cfgPath, "--events", evPath}, quiet...)...)
	p.waitLog(t, "capturing")
	if !strings.Contains(p.stderr.String(), "bridge=ftbr") {
		t.Errorf("bridge_name from the config not used:\n%s", p.stderr.String())
	}
	ftpServer(t, l.Listen(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2121")))
	ftpLogin(t, func() (net.Conn, error) { return l.Dial(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2121")) })
	time.Sleep(300 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT; stderr:\n%s", code, p.stderr.String())
	}
	b, err := os.ReadFile(evPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"tap":"from-config"`)) || !bytes.Contains(b, []byte(`"type":"session.end"`)) || !bytes.Contains(b, []byte(`"reason":"shutdown"`)) {
		t.Errorf("events file lacks the session on port 2121 ending with shutdown:\n%s", b)
	}
	if p.stdout.String() != "" {
		t.Errorf("stdout not empty with --events FILE: %q", p.stdout.String())
	}

	// --no-bridge: the bridge ftbr (left in place) forwards; ftptap only
	// watches, and adds nothing.
	p2 := startRun(t, l, bin, nil, append([]string{"run", "--config", cfgPath, "--no-bridge", "--events", "-"}, quiet...)...)
	p2.waitLog(t, "capturing")
	if !strings.Contains(p2.stderr.String(), "bridge=none") {
		t.Errorf("--no-bridge still bridges:\n%s", p2.stderr.String())
	}
	ftpLogin(t, func() (net.Conn, error) { return l.Dial(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "2121")) })
	time.Sleep(300 * time.Millisecond)
	p2.cmd.Process.Signal(syscall.SIGTERM)
	if code := p2.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, p2.stderr.String())
	}
	if !strings.Contains(p2.stdout.String(), `"client_side":"a"`) {
		t.Errorf("--no-bridge: no session.start with client_side a:\n%s", p2.stdout.String())
	}
}

// TestRunErrors checks that each set-up error is one line and a non-zero
// exit.
func TestRunErrors(t *testing.T) {
	l := netnstest.New(t)
	bin := buildFtptap(t)
	badCfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badCfg, []byte("port_a: pa\nport_b: pb\ncapture:\n  filtre: ftp\n"), 0o644)
	nobody := func(caps ...uintptr) *syscall.SysProcAttr {
		return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, AmbientCaps: caps}
	}
	tests := []struct {
		name string
		attr *syscall.SysProcAttr
		up   bool // bring pa and pb up first
		args []string
		want string
	}{
		{"missing interface", nil, false, []string{"--port-a", "pa", "--port-b", "eth7"}, "tap: open eth7: no such interface"},
		{"same interface", nil, false, []string{"--port-a", "pa", "--port-b", "pa"}, `port_a and port_b are both "pa"`},
		{"interface down", nil, false, []string{"--port-a", "pa", "--port-b", "pb", "--no-bridge"}, "tap: open pa: interface is down"},
		{"bad config key", nil, false, []string{"--config", badCfg}, `line 4: unknown key "filtre" in capture`},
		{"no CAP_NET_ADMIN", nobody(unix.CAP_NET_RAW), false, []string{"--port-a", "pa", "--port-b", "pb"}, "needs CAP_NET_ADMIN"},
		{"no CAP_NET_RAW", nobody(unix.CAP_NET_ADMIN), true, []string{"--port-a", "pa", "--port-b", "pb"}, "needs CAP_NET_RAW"},
		{"no ports", nil, false, []string{"--config", os.DevNull}, "two ports are needed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.up {
				l.SetUp(t, l.Tap, "pa", "pb")
			}
			p := startRun(t, l, bin, tt.attr, append(append([]string{"run"}, tt.args...), quiet...)...)
			code := p.wait(t, 15*time.Second)
			msg := strings.TrimSpace(p.stderr.String())
			if code == 0 {
				t.Fatalf("exit 0, want an error; stderr:\n%s", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q\nwant it to contain %q", msg, tt.want)
			}
			// Log lines may come first; the error is one line of its own.
			var errLines []string
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "time=") {
					errLines = append(errLines, line)
				}
			}
			if len(errLines) != 1 || !strings.HasPrefix(errLines[0], "ftptap run: ") {
				t.Errorf("want one error line \"ftptap run: ...\", got:\n%s", msg)
			}
		})
	}
}
