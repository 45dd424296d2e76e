//go:build linux && vmguest

package vm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftptap/ftptap/internal/lab"
	"github.com/ftptap/ftptap/internal/netnstest"
)

// clockStep is how far the guest's clock is set, forward then back: a Pi
// with no real-time clock boots months off, and NTP steps it.
const clockStep = 90 * 24 * time.Hour

// clockIdle is the idle timeout of the clock-step run: short, so that a
// session left open across a step must time out within the scenario.
const clockIdle = 5 * time.Second

// setClock steps the guest's CLOCK_REALTIME by d (the guest's only: this
// runs as its PID 1). The kernel stamps packets from it, so the step
// shows in ftptap's packet time.
func setClock(t *testing.T, d time.Duration) {
	t.Helper()
	tv := unix.NsecToTimeval(time.Now().Add(d).UnixNano())
	if err := unix.Settimeofday(&tv); err != nil {
		t.Fatalf("settimeofday %v: %v", d, err)
	}
	fmt.Printf("ftptap-vm: clock set %+v: %s\n", d, time.Now().UTC().Format(time.RFC3339))
}

// waitSize waits until file has at least n bytes, and fails if it has
// all of them (size) by then: the moment was missed.
func waitSize(t *testing.T, file string, n, size int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := os.Stat(file)
		if err == nil && st.Size() >= int64(n) {
			if st.Size() >= int64(size) {
				t.Fatalf("%s: all %d bytes already there", file, size)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %d bytes after %v", file, n, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// idleSession is a control connection through the tap, logged in and then
// left silent, so that ftptap must end it by its idle timeout.
type idleSession struct {
	c    net.Conn
	last time.Time // its last packet (the 230 reply), on the clock of then
	port int       // its client port
}

func openIdle(t *testing.T, g *guest) *idleSession {
	t.Helper()
	var s *idleSession
	var err error
	g.lab.In(t, g.lab.Client, func() {
		var c net.Conn
		c, err = net.DialTimeout("tcp", net.JoinHostPort(netnstest.ServerIP4, "21"), 10*time.Second)
		if err != nil {
			return
		}
		s = &idleSession{c: c, port: c.LocalAddr().(*net.TCPAddr).Port}
	})
	if err != nil {
		t.Fatalf("idle session: %v", err)
	}
	t.Cleanup(func() { s.c.Close() })
	r := bufio.NewReader(s.c)
	s.c.SetDeadline(time.Now().Add(20 * time.Second))
	// reply reads one reply (a multi-line one ends with "NNN ") and
	// returns its code.
	reply := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("idle session: %v", err)
			}
			if len(line) >= 4 && line[3] == ' ' {
				return line[:3]
			}
		}
	}
	send := func(cmd string) {
		if _, err := s.c.Write([]byte(cmd + "\r\n")); err != nil {
			t.Fatalf("idle session: %v", err)
		}
	}
	if c := reply(); c != "220" {
		t.Fatalf("idle session: greeting %s, want 220", c)
	}
	// vsftpd's no_anon_password logs anonymous in at USER.
	send("USER anonymous")
	c := reply()
	if c == "331" {
		send("PASS vm@")
		c = reply()
	}
	if c != "230" {
		t.Fatalf("idle session: login %s, want 230", c)
	}
	s.c.SetDeadline(time.Time{})
	s.last = time.Now()
	return s
}

// clockEvent is what the clock-step checks read of an event.
type clockEvent struct {
	Time       time.Time `json:"ts"`
	Type       string    `json:"type"`
	Session    string    `json:"session"`
	Client     string    `json:"client"`
	Reason     string    `json:"reason"`
	Command    string    `json:"command"`
	File       string    `json:"file"`
	Bytes      int64     `json:"bytes"`
	Complete   bool      `json:"complete"`
	DurationMS *int64    `json:"duration_ms"`
	Kind       string    `json:"kind"`
	Detail     string    `json:"detail"`
}

// testClockStep runs ftptap once more, with a short idle timeout, and
// steps the guest's clock by +clockStep during a passive download and by
// −clockStep during another, each with a silent session open across the
// step. The downloads must complete with their bytes and no negative
// duration, each step give one clock_step alert and one log line, and
// the silent sessions time out clockIdle after their last packet on the
// new clock: not at once (forward) and not never (back).
func testClockStep(t *testing.T, parent *guest, vsftpd *exec.Cmd) {
	g := &guest{t: t, lab: parent.lab}
	l := g.lab
	// vsftpd once more, sending at 50 KB/s: curl's --limit-rate slows
	// its reads only, and the socket buffers take the whole file at
	// once, so the step would fall after the transfer on the wire.
	syscall.Kill(-vsftpd.Process.Pid, syscall.SIGKILL)
	vsftpd.Wait()
	startVsftpd(t, g, "anon_max_rate=50000\n")
	cfg := filepath.Join(work, "clock.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("timeouts:\n  idle: %s\n", clockIdle)), 0o644); err != nil {
		t.Fatal(err)
	}
	logf := filepath.Join(work, "clock.log")
	out, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	events := filepath.Join(work, "clock.jsonl")
	ft := g.start(l.TapNS, out, ftptapBin, "run", "--config", cfg, "--port-a", "pa", "--port-b", "pb",
		"--tap", "vm", "--events", events, "--leds", "off")
	waitLog(t, logf, "msg=capturing", 180*time.Second)

	file := lab.File{Name: "f200000.bin", Size: 200000}
	srv := "ftp://" + netnstest.ServerIP4
	var idles []*idleSession
	for i, d := range []time.Duration{clockStep, -clockStep} {
		step(fmt.Sprintf("clock step %+v", d))
		idle := openIdle(t, g)
		idles = append(idles, idle)
		name := fmt.Sprintf("clock%d.bin", i+1)
		done := make(chan *lab.Run, 1)
		go func() {
			done <- g.curl("--disable-epsv", "--limit-rate", "50k", "-o", name, srv+"/pub/"+file.Name)
		}()
		// Mid-transfer: once a tenth of the file has arrived (200,000
		// bytes at 50 KB/s take 4 s), however long the guest took to
		// log in and open the data connection.
		waitSize(t, filepath.Join(work, "client", name), file.Size/10, file.Size, 60*time.Second)
		setClock(t, d)
		r := <-done
		if r.Err != nil {
			t.Fatalf("download across a clock step of %+v: %v: %s", d, r.Err, r.Log)
		}
		checkFile(t, filepath.Join(work, "client", name), file)
		// The silent session's timeout, before the next step.
		waitLog(t, events, fmt.Sprintf(`"client":"%s:%d","server":"%s:21","reason":"timeout"`,
			netnstest.ClientIP4, idle.port, netnstest.ServerIP4), 60*time.Second)
	}
	time.Sleep(500 * time.Millisecond)
	ft.Process.Signal(syscall.SIGTERM)
	if err := ft.Wait(); err != nil {
		b, _ := os.ReadFile(logf)
		t.Fatalf("ftptap run: %v:\n%s", err, b)
	}
	logb, _ := os.ReadFile(logf)
	evb, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ftptap run (clock steps):\n%s\nevents:\n%s", logb, evb)

	var evs []clockEvent
	for _, line := range bytes.Split(bytes.TrimSpace(evb), []byte("\n")) {
		var e clockEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("event %q: %v", line, err)
		}
		evs = append(evs, e)
	}

	// One alert and one log line per step, forward then back.
	var dirs []string
	for _, e := range evs {
		if e.Type == "alert" && e.Kind == "clock_step" {
			switch {
			case strings.Contains(e.Detail, "forward"):
				dirs = append(dirs, "forward")
			case strings.Contains(e.Detail, "back"):
				dirs = append(dirs, "back")
			default:
				dirs = append(dirs, e.Detail)
			}
		}
	}
	if strings.Join(dirs, ",") != "forward,back" {
		t.Errorf("clock_step alerts %q, want one forward then one back", dirs)
	}
	if n := bytes.Count(logb, []byte("msg=\"clock: ")); n != 2 {
		t.Errorf("ftptap run logged %d clock steps, want 2:\n%s", n, logb)
	}

	// Each step fell inside a transfer on the wire: after the k-th
	// data.open, before the k-th transfer.end.
	var opens, alerts, ends []int
	for i, e := range evs {
		switch {
		case e.Type == "data.open":
			opens = append(opens, i)
		case e.Type == "alert" && e.Kind == "clock_step":
			alerts = append(alerts, i)
		case e.Type == "transfer.end":
			ends = append(ends, i)
		}
	}
	for k := range alerts {
		if k >= len(opens) || k >= len(ends) || opens[k] > alerts[k] || alerts[k] > ends[k] {
			t.Errorf("clock step %d: not within download %d on the wire (events %v, %v, %v)", k+1, k+1, opens, alerts, ends)
		}
	}

	// The downloads: complete, every byte, no negative duration.
	var transfers []string
	for _, e := range evs {
		if e.DurationMS != nil && *e.DurationMS < 0 {
			t.Errorf("negative duration: %+v", e)
		}
		if e.Type != "transfer.end" {
			continue
		}
		transfers = append(transfers, fmt.Sprintf("%s %d", e.Command, e.Bytes))
		if e.Command != "RETR" || !e.Complete || e.Bytes != int64(file.Size) || e.DurationMS == nil ||
			*e.DurationMS > 60000 {
			t.Errorf("transfer across a clock step: %+v, want a complete RETR of %d bytes", e, file.Size)
		}
	}
	if len(transfers) != 2 {
		t.Errorf("transfers %q, want the 2 downloads", transfers)
	}

	// The silent sessions: each ended by timeout, clockIdle after its
	// last event on the clock of its end (the step taken out), within
	// the ticks' slack.
	var idleWaits []string
	for i, s := range idles {
		client := net.JoinHostPort(netnstest.ClientIP4, fmt.Sprint(s.port))
		var id string
		var last, end clockEvent
		for _, e := range evs {
			if e.Type == "session.start" && e.Client == client {
				id = e.Session
			}
			if id == "" || e.Session != id {
				continue
			}
			if e.Type == "session.end" {
				end = e
			} else {
				last = e
			}
		}
		if id == "" {
			t.Errorf("silent session %d (%s): no session.start", i+1, client)
			continue
		}
		if end.Reason != "timeout" {
			t.Errorf("silent session %d: ended %q, want timeout: %+v", i+1, end.Reason, end)
			continue
		}
		step := clockStep
		if i == 1 {
			step = -clockStep
		}
		wait := end.Time.Sub(last.Time) - step
		idleWaits = append(idleWaits, fmt.Sprintf("%.1fs", wait.Seconds()))
		// Not at once (forward), not never (back); the tracker takes out
		// the time between the last frame or tick before the step and
		// the first after it (half a second, more on a stalled guest).
		if wait < clockIdle-time.Second || wait > clockIdle+10*time.Second {
			t.Errorf("silent session %d timed out %v after its last event (the step taken out), want about %v", i+1, wait, clockIdle)
		}
	}
	fmt.Printf("ftptap-vm: clock step ±%dd inside a download on the wire: transfers %s complete, alerts %s, %d log lines, silent sessions timed out after %s (idle %v)\n",
		int(clockStep.Hours()/24), strings.Join(transfers, ", "), strings.Join(dirs, ","),
		bytes.Count(logb, []byte("msg=\"clock: ")), strings.Join(idleWaits, ", "), clockIdle)
}
