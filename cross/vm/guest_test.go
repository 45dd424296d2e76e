//go:build linux && vmguest

// The guest's side of make test-vm. run.sh builds this test binary for the
// guest's CPU and boots it as the initramfs's /init; out of a guest it
// skips.

package vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftptap/ftptap/internal/lab"
	"github.com/ftptap/ftptap/internal/netnstest"
	"github.com/ftptap/ftptap/internal/truth"
)

// Paths in the guest's initramfs (run.sh puts ftptap there).
const (
	ftptapBin = "/ftptap"
	ftpRoot   = "/srv/ftp"
	work      = "/tmp/vm"
)

// replaySlack is how far the live and replayed timestamps of one frame may
// lie apart: ftptap's ring and tcpdump's socket each stamp it, and under
// TCG on a busy machine the virtual CPU can stall between the two (up to
// 55 ms seen).
const replaySlack = 2 * time.Second

// ledPins are the default wiring's lines, by role, as the Pi's device
// tree names them (gpio-line-names).
var ledPins = []struct{ role, pin string }{
	{"active", "GPIO17"}, {"passive", "GPIO27"}, {"alert", "GPIO22"}, {"heartbeat", "GPIO23"},
}

func TestMain(m *testing.M) {
	if os.Getpid() != 1 {
		fmt.Println("vm: skipped: this test is the init of a make test-vm guest")
		os.Exit(0)
	}
	code := 1
	step("init")
	if err := initGuest(); err != nil {
		fmt.Println("vm: init:", err)
	} else {
		code = m.Run()
	}
	// run.sh ends QEMU when it reads this line.
	fmt.Printf("ftptap-vm: exit %d\n", code)
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// initGuest does what an init does before anything runs: file systems,
// busybox's applets, the kernel modules the scenario needs.
func initGuest() error {
	mounts := []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/run", "tmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"debugfs", "/sys/kernel/debug", "debugfs"},
	}
	for _, mt := range mounts {
		os.MkdirAll(mt.dst, 0o755)
		if err := unix.Mount(mt.src, mt.dst, mt.fs, 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s: %w", mt.dst, err)
		}
	}
	os.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	os.Setenv("HOME", "/root")
	steps := [][]string{
		{"/bin/busybox", "--install", "-s"},
		{"depmod"},
		{"modprobe", "-a", "veth", "bridge", "nf_tables", "nft_reject_inet"},
		{"ip", "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	os.MkdirAll("/run/vsftpd/empty", 0o755)
	return nil
}

// guest is the scenario's set-up: the namespaces, and what runs in them.
type guest struct {
	t   *testing.T
	lab *netnstest.Lab

	mu    sync.Mutex // guards procs
	procs []*exec.Cmd
}

// start runs a program in namespace ns; the test's end kills it.
func (g *guest) start(ns string, out io.Writer, name string, args ...string) *exec.Cmd {
	g.t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("%s: %v", name, err)
	}
	g.mu.Lock()
	g.procs = append(g.procs, cmd)
	g.mu.Unlock()
	g.t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// run runs a program in ns to its end.
func (g *guest) run(ns string, name string, args ...string) []byte {
	g.t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, name}, args...)...).CombinedOutput()
	if err != nil {
		g.t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// curl runs curl in the client namespace as lab.Curl does, with the same
// trace, so that lab.Truth can read what it did.
func (g *guest) curl(args ...string) *lab.Run {
	full := append(append([]string(nil), lab.CurlArgs...), args...)
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + g.lab.ClientNS, "curl"}, full...)...)
	cmd.Dir = filepath.Join(work, "client")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	r := &lab.Run{Tool: "curl", Args: full, Start: time.Now()}
	r.Err = cmd.Run()
	r.End = time.Now()
	r.Output, r.Log = out.Bytes(), errb.Bytes()
	r.Sessions = lab.ParseCurl(r.Log, r.Output)
	return r
}

// waitLog waits until file holds text.
func waitLog(t *testing.T, file, text string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		b, _ := os.ReadFile(file)
		if bytes.Contains(b, []byte(text)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q after %v:\n%s", file, text, d, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGuest is the whole scenario: ftptap inline between two namespaces
// on its real packet rings, a PASV download, a PORT upload and a refused
// passive data connection through it, the Pi's GPIO lines read back
// during each, and the events scored against the truth of the transfers
// and against ftptap's replay of tcpdump's capture.
func TestGuest(t *testing.T) {
	var uts unix.Utsname
	unix.Uname(&uts)
	fmt.Printf("ftptap-vm: kernel %s %s, page size %d\n", unix.ByteSliceToString(uts.Release[:]),
		unix.ByteSliceToString(uts.Machine[:]), os.Getpagesize())
	model, _ := os.ReadFile("/proc/device-tree/model")
	fmt.Printf("ftptap-vm: board %q\n", strings.TrimRight(string(model), "\x00"))

	os.MkdirAll(filepath.Join(work, "client"), 0o755)
	cfg := filepath.Join(work, "config.yaml")
	if err := os.WriteFile(cfg, []byte("leds:\n  mode: gpio\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gpio := haveGPIO()
	if gpio {
		step("leds test")
		t.Run("leds test", func(t *testing.T) { ledsTest(t, cfg) })
	} else {
		fmt.Println("ftptap-vm: no Raspberry Pi GPIO block (pinctrl-bcm2835): LEDs off, not checked")
	}

	step("namespaces and veths")
	g := &guest{t: t, lab: netnstest.New(t)}
	l := g.lab
	for _, p := range []struct{ ns, dev string }{{l.ClientNS, "c0"}, {l.TapNS, "pa"}, {l.TapNS, "pb"}, {l.ServerNS, "s0"}} {
		// Frames as on a wire, as the lab has them.
		g.run(p.ns, "ethtool", "-K", p.dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off")
	}
	pasv := lab.File{Name: "f200000.bin", Size: 200000}
	small := lab.File{Name: "f1000.bin", Size: 1000}
	up := lab.File{Name: "up100000.bin", Size: 100000}
	serveFTP(t, ftpRoot, 100, 101, pasv, small)
	if err := os.WriteFile(filepath.Join(work, "client", up.Name), up.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	step("vsftpd")
	// Sending at 50 KB/s, so that the download lasts on the wire and the
	// LEDs can be read during it: curl's --limit-rate slows its reads
	// only, and the socket buffers take the whole file at once (lit for
	// 18 ms on the Pi Zero guest, between two samples).
	vsftpd := startVsftpd(t, g, "anon_max_rate=50000\n")
	step("ftptap run")

	ftLog := filepath.Join(work, "ftptap.log")
	ftOut, err := os.Create(ftLog)
	if err != nil {
		t.Fatal(err)
	}
	defer ftOut.Close()
	live := filepath.Join(work, "live.jsonl")
	leds := flagOr(gpio, "gpio", "off")
	ft := g.start(l.TapNS, ftOut, ftptapBin, "run", "--config", cfg, "--port-a", "pa", "--port-b", "pb",
		"--tap", "vm", "--events", live, "--leds", leds)
	waitLog(t, ftLog, "msg=capturing", 180*time.Second)

	step("tcpdump")
	var caps []string
	for _, port := range []string{"pa", "pb"} {
		errf := filepath.Join(work, "tcpdump-"+port+".err")
		f, err := os.Create(errf)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		pcap := filepath.Join(work, port+".pcap")
		caps = append(caps, pcap)
		// As lab.Record: what enters each port, once.
		g.start(l.TapNS, f, "tcpdump", "-Q", "in", "-i", port, "-n", "-s", "0", "--immediate-mode", "-U", "-Z", "root", "-w", pcap)
		waitLog(t, errf, "listening on", 120*time.Second)
	}

	var s *sampler
	if gpio {
		s = startSampler(t)
	}
	srv := "ftp://" + netnstest.ServerIP4
	var runs []*lab.Run

	step("PASV download")
	// A passive download, slowed by the server (above) so that the LEDs
	// can be read during it.
	r := g.curl("--disable-epsv", "--limit-rate", "50k", "-o", pasv.Name, srv+"/pub/"+pasv.Name)
	if r.Err != nil {
		t.Fatalf("PASV download: %v: %s", r.Err, r.Log)
	}
	runs = append(runs, r)
	checkFile(t, filepath.Join(work, "client", pasv.Name), pasv)
	if s != nil {
		s.expect(t, "PASV download", r.Start, r.End, map[string]bool{"passive": true}, "active", "alert")
		s.waitOff(t, "passive", 10*time.Second)
	}

	step("PORT upload")
	// An active upload.
	r = g.curl("--ftp-port", netnstest.ClientIP4, "--disable-eprt", "--limit-rate", "25k",
		"-T", up.Name, srv+"/upload/port-stor.bin")
	if r.Err != nil {
		t.Fatalf("PORT upload: %v: %s", r.Err, r.Log)
	}
	runs = append(runs, r)
	checkFile(t, filepath.Join(ftpRoot, "upload", "port-stor.bin"), up)
	if s != nil {
		s.expect(t, "PORT upload", r.Start, r.End, map[string]bool{"active": true}, "passive", "alert")
		s.waitOff(t, "active", 10*time.Second)
	}

	step("refused data connection")
	// A passive data connection refused: the server's firewall answers
	// the SYN with a reset, as lab.Reject has it.
	rules := fmt.Sprintf(`table inet vmtest {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %d-%d tcp flags & (syn|ack) == syn reject with tcp reset
	}
}
`, lab.Vsftpd.PassiveMin, lab.Vsftpd.PassiveMax)
	if err := os.WriteFile(filepath.Join(work, "reject.nft"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	g.run(l.ServerNS, "nft", "-f", filepath.Join(work, "reject.nft"))
	r = g.curl("--disable-epsv", "-o", small.Name, srv+"/pub/"+small.Name)
	if r.Err == nil {
		t.Fatalf("download through a refused data connection succeeded:\n%s", r.Log)
	}
	r.Err = nil
	runs = append(runs, r)
	g.run(l.ServerNS, "nft", "delete", "table", "inet", "vmtest")
	if s != nil {
		// The alert LED lights once ftptap sees the reset, and holds for
		// alert_hold (10 s).
		s.waitLit(t, "alert", r.End, 8*time.Second)
		// Enough samples to judge by, well within the hold: on a busy
		// machine the emulated Pi Zero reads the lines only a few
		// times a second.
		s.waitSamples(r.End, 5, 5*time.Second)
		s.expect(t, "after the refused connection", r.End, time.Now(), map[string]bool{"alert": true}, "active")
	}
	time.Sleep(500 * time.Millisecond) // past the rings' block timeout

	step("stop")
	// Stop: capture first, then ftptap, which ends its sessions, turns
	// its LEDs off and reports its kernel counters.
	g.mu.Lock()
	tcpdumps := g.procs[len(g.procs)-2:]
	g.mu.Unlock()
	for _, p := range tcpdumps {
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
	}
	if s != nil {
		s.stop()
		s.expectBlink(t, "heartbeat")
	}
	if err := stop(ft, time.Minute); err != nil {
		b, _ := os.ReadFile(ftLog)
		t.Fatalf("ftptap run: %v:\n%s", err, b)
	}
	logb, _ := os.ReadFile(ftLog)
	t.Logf("ftptap run:\n%s", logb)
	if m := regexp.MustCompile(`msg=stopped .*kernel_packets=(\d+) kernel_drops=(\d+)`).FindSubmatch(logb); m == nil {
		t.Errorf("ftptap run logged no kernel counters at exit")
	} else {
		fmt.Printf("ftptap-vm: kernel packets %s, drops %s\n", m[1], m[2])
		if string(m[2]) != "0" {
			t.Errorf("kernel drops %s, want 0", m[2])
		}
		if n, _ := strconv.Atoi(string(m[1])); n == 0 {
			t.Errorf("the rings took no packets")
		}
	}
	if gpio {
		t.Run("leds off at exit", ledsOffAtExit)
	}

	step("truth and replay")
	// The truth of what the clients did, joined with the capture.
	conns, err := lab.Conns(caps...)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := lab.Truth("vm", runs, conns, map[string]string{pasv.Name: pasv.SHA256(), "port-stor.bin": up.SHA256()})
	if err != nil {
		t.Fatal(err)
	}
	checkTruthShape(t, tr)
	liveEv, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("live events:\n%s", liveEv)
	score(t, "live", tr, liveEv)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	replayed, err := exec.CommandContext(ctx, ftptapBin, "replay", "--tap", "vm", caps[0], caps[1]).Output()
	if err != nil {
		t.Fatalf("ftptap replay: %v", err)
	}
	score(t, "replay", tr, replayed)
	// The same events in the same order, every field equal; timestamps
	// within replaySlack, not lab's 1 ms: see SameEventsWithin.
	if diff := lab.SameEventsWithin(liveEv, replayed, replaySlack); diff != "" {
		t.Errorf("live and replayed events differ:\n%s", diff)
	}

	// run.sh sets ftptap_clock=1 on the kernel's command line of the
	// guests that step their clock; the kernel hands it to init.
	if os.Getenv("ftptap_clock") == "1" {
		t.Run("clock step", func(t *testing.T) { testClockStep(t, g, vsftpd) })
	}
}

// stop sends cmd SIGTERM and waits for it to exit. If it has not within
// d, it gets SIGQUIT, so that Go's runtime writes where each goroutine
// stood to its output, and then SIGKILL.
func stop(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(d):
	}
	cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	return fmt.Errorf("still running %v after SIGTERM", d)
}

// step marks the scenario's progress on the console, so that a guest
// that stalls shows where.
func step(what string) {
	fmt.Printf("ftptap-vm: step %s (%s)\n", what, time.Now().Format("15:04:05"))
}

func flagOr(ok bool, a, b string) string {
	if ok {
		return a
	}
	return b
}

// score checks events against the truth: nothing missed, nothing invented.
func score(t *testing.T, what string, tr *truth.Truth, events []byte) {
	t.Helper()
	misses, spurious := truth.Check(tr, events)
	for _, m := range misses {
		t.Errorf("%s: %s", what, m)
	}
	if spurious > 0 {
		t.Errorf("%s: %d invented facts", what, spurious)
	}
	n := bytes.Count(events, []byte("\n"))
	fmt.Printf("ftptap-vm: %s: %d events, %d misses, %d invented\n", what, n, len(misses), spurious)
}

// checkTruthShape makes sure the truth holds what the scenario did, so a
// truth that lost a session cannot pass by asking less.
func checkTruthShape(t *testing.T, tr *truth.Truth) {
	t.Helper()
	b, _ := json.MarshalIndent(tr, "", "  ")
	if len(tr.Sessions) != 3 {
		t.Fatalf("truth has %d sessions, want 3:\n%s", len(tr.Sessions), b)
	}
	want := []struct{ cmd, mode string }{{"RETR", "passive"}, {"STOR", "active"}}
	for i, w := range want {
		s := tr.Sessions[i]
		if len(s.Transfers) != 1 || s.Transfers[0].Command != w.cmd || s.Transfers[0].Mode != w.mode || !s.Transfers[0].Complete {
			t.Fatalf("truth session %d: want one complete %s %s transfer:\n%s", i+1, w.mode, w.cmd, b)
		}
	}
	if f := tr.Sessions[2].DataFail; len(f) != 1 || f[0].Reason != "refused" || f[0].Mode != "passive" {
		t.Fatalf("truth session 3: want one refused passive data channel:\n%s", b)
	}
}

// startVsftpd starts Debian's vsftpd in the server namespace, configured
// as the lab's: anonymous download and upload, passive ports from the
// lab's range, active connections from port 20.
func startVsftpd(t *testing.T, g *guest, extra string) *exec.Cmd {
	t.Helper()
	conf := vsftpdConf(netnstest.ServerIP4, ftpRoot, filepath.Join(work, "vsftpd.log")) + extra
	path := filepath.Join(work, "vsftpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(work, "vsftpd.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := g.start(g.lab.ServerNS, out, "vsftpd", path)
	// Ready when it greets, from inside its own namespace: nothing goes
	// through the tap.
	deadline := time.Now().Add(120 * time.Second)
	for {
		var greet string
		g.lab.In(t, g.lab.Server, func() {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(netnstest.ServerIP4, "21"), time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			greet, _ = bufio.NewReader(c).ReadString('\n')
		})
		if strings.HasPrefix(greet, "220") {
			return cmd
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("vsftpd does not answer: %q %s", greet, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// haveGPIO reports whether the guest has the Pi's GPIO block
// (pinctrl-bcm2835): the board models have it, -M virt does not.
func haveGPIO() bool {
	_, err := gpioBase()
	return err == nil
}

// gpioBase is the number of the Pi GPIO block's first line in the
// kernel's global numbering (sysfs).
func gpioBase() (int, error) {
	chips, _ := filepath.Glob("/sys/class/gpio/gpiochip*")
	for _, c := range chips {
		label, _ := os.ReadFile(filepath.Join(c, "label"))
		if strings.TrimSpace(string(label)) == "pinctrl-bcm2835" {
			b, err := os.ReadFile(filepath.Join(c, "base"))
			if err != nil {
				return 0, err
			}
			return strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	return 0, fmt.Errorf("no pinctrl-bcm2835 GPIO chip")
}

// ledsTest runs ftptap leds test: it must find the default wiring's pins
// on the Pi's own GPIO block, by the names the board's device tree gives
// its lines. Debian's kernel has no /dev/gpiomem, so periph's bcm283x
// driver, and with it the header map, stays out: the character-device
// driver carries the pins, and no header position is printed. Where one
// is (Raspberry Pi OS's kernel), it must be the right one.
func ledsTest(t *testing.T, cfg string) {
	// Bounded, so that a wait (for the kernel's random numbers, say)
	// fails here and not at the test's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, ftptapBin, "leds", "test", "--config", cfg, "--hold", "100ms").CombinedOutput()
	t.Logf("ftptap leds test:\n%s", out)
	if err != nil {
		t.Fatalf("ftptap leds test: %v", err)
	}
	header := map[string]int{"GPIO17": 11, "GPIO27": 13, "GPIO22": 15, "GPIO23": 16}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(ledPins) {
		t.Errorf("ftptap leds test printed %d lines, want %d", len(lines), len(ledPins))
	}
	for i, p := range ledPins {
		if i >= len(lines) {
			break
		}
		f := strings.Fields(lines[i])
		got := strings.Join(f[1:], " ")
		if len(f) < 2 || f[0] != p.role || (got != p.pin && got != fmt.Sprintf("%s (header P1 pin %d)", p.pin, header[p.pin])) {
			t.Errorf("ftptap leds test line %d: %q, want %s on %s", i+1, lines[i], p.role, p.pin)
		}
	}
	fmt.Printf("ftptap-vm: leds test: %s\n", strings.Join(lines, "; "))
}

// ledsOffAtExit reads the LED lines once ftptap has let them go, through
// the kernel's sysfs GPIO interface: each must be low.
func ledsOffAtExit(t *testing.T) {
	base, err := gpioBase()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ledPins {
		n, _ := strconv.Atoi(strings.TrimPrefix(p.pin, "GPIO"))
		num := strconv.Itoa(base + n)
		if err := os.WriteFile("/sys/class/gpio/export", []byte(num), 0o200); err != nil {
			t.Fatalf("export %s (%s): %v", p.pin, num, err)
		}
		v, err := os.ReadFile("/sys/class/gpio/gpio" + num + "/value")
		os.WriteFile("/sys/class/gpio/unexport", []byte(num), 0o200)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(v)) != "0" {
			t.Errorf("%s LED (%s) is %s after ftptap exited, want 0", p.role, p.pin, bytes.TrimSpace(v))
		}
	}
}

// A sampler reads the LED lines from debugfs (/sys/kernel/debug/gpio,
// where the kernel lists each requested line, its direction and level)
// every 20 ms.
type sampler struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex // guards samples
	samples []sample
}

type sample struct {
	at time.Time
	hi map[string]bool // by role
}

// debugfsLine matches a requested line: " gpio-529 (GPIO17 |ftptap) out hi".
var debugfsLine = regexp.MustCompile(`\((GPIO\d+)\s*\|[^)]*\)\s+(in|out)\s+(hi|lo)`)

func startSampler(t *testing.T) *sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sampler{cancel: cancel, done: make(chan struct{})}
	byPin := map[string]string{}
	for _, p := range ledPins {
		byPin[p.pin] = p.role
	}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			b, err := os.ReadFile("/sys/kernel/debug/gpio")
			if err == nil {
				smp := sample{at: time.Now(), hi: map[string]bool{}}
				for _, m := range debugfsLine.FindAllSubmatch(b, -1) {
					if role, ok := byPin[string(m[1])]; ok && string(m[2]) == "out" {
						smp.hi[role] = string(m[3]) == "hi"
					}
				}
				s.mu.Lock()
				s.samples = append(s.samples, smp)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *sampler) stop() {
	s.cancel()
	<-s.done
}

func (s *sampler) window(from, to time.Time) []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sample
	for _, x := range s.samples {
		if !x.at.Before(from) && !x.at.After(to) {
			out = append(out, x)
		}
	}
	return out
}

// expect checks the samples between from and to: each role in lit was
// lit in at least one, each role in dark in none.
func (s *sampler) expect(t *testing.T, what string, from, to time.Time, lit map[string]bool, dark ...string) {
	t.Helper()
	w := s.window(from, to)
	if len(w) < 5 {
		t.Errorf("%s: %d samples of the GPIO lines in %v", what, len(w), to.Sub(from))
		return
	}
	var parts []string
	for _, p := range ledPins {
		n := 0
		for _, x := range w {
			if x.hi[p.role] {
				n++
			}
		}
		parts = append(parts, fmt.Sprintf("%s %d/%d", p.role, n, len(w)))
		if lit[p.role] && n == 0 {
			t.Errorf("%s: %s LED (%s) never lit in %d samples", what, p.role, p.pin, len(w))
		}
		for _, d := range dark {
			if d == p.role && n > 0 {
				t.Errorf("%s: %s LED (%s) lit in %d of %d samples", what, p.role, p.pin, n, len(w))
			}
		}
	}
	fmt.Printf("ftptap-vm: LEDs lit during %s: %s\n", what, strings.Join(parts, ", "))
}

// expectBlink checks that role's line was both lit and dark over the run.
func (s *sampler) expectBlink(t *testing.T, role string) {
	t.Helper()
	w := s.window(time.Time{}, time.Now())
	hi, lo := 0, 0
	for _, x := range w {
		if v, ok := x.hi[role]; ok && v {
			hi++
		} else if ok {
			lo++
		}
	}
	if hi == 0 || lo == 0 {
		t.Errorf("%s LED: lit in %d samples, dark in %d: want it blinking", role, hi, lo)
	}
}

// waitLit waits until role's LED has been lit since from.
func (s *sampler) waitLit(t *testing.T, role string, from time.Time, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, x := range s.window(from, time.Now()) {
			if x.hi[role] {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s LED not lit within %v", role, d)
}

// waitSamples waits until n samples have been taken since from, or d
// has passed.
func (s *sampler) waitSamples(from time.Time, n int, d time.Duration) {
	deadline := time.Now().Add(d)
	for len(s.window(from, time.Now())) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// waitOff waits until role's LED is dark, so the next step starts from it.
func (s *sampler) waitOff(t *testing.T, role string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		last := s.samples[len(s.samples)-1]
		s.mu.Unlock()
		if !last.hi[role] {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s LED still lit %v after its transfer", role, d)
}
