//go:build linux

package lab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tap namespace's two ports: A faces the client, B the server.
const (
	PortA = "porta"
	PortB = "portb"
)

// Addresses of the client. The servers' are in Vsftpd and PureFTPd.
var (
	ClientIP4 = netip.MustParseAddr("10.77.0.2")
	ClientIP6 = netip.MustParseAddr("fd77::2")
)

// User and Password are the local account both servers accept.
const (
	User     = "labuser"
	Password = "labpass"
)

// Options configures a Lab. The zero value is a lab without a bridge: the
// two sides only talk once ftptap (or Lab.Bridge) bridges the tap ports.
type Options struct {
	// Bridge makes the lab bridge the two tap ports itself.
	Bridge bool
	// Name is the suffix of the namespaces' names; default: random.
	Name string
	// Detach starts the lab's processes in their own sessions, so they
	// outlive the program that made the lab (lab.sh up). Close still
	// stops them.
	Detach bool
	// Logf, if not nil, receives a line for each step.
	Logf func(format string, args ...any)
	// Realtime runs ftptap under SCHED_RR (chrt -r 10) instead of at
	// Nice=-10: in the lab the clients and servers share ftptap's cores,
	// and a hundred of them outweigh a nice -10 process (docs/carve.md).
	Realtime bool
}

// Lab is one set of client, tap and server namespaces with their servers.
// Close (or the t.Cleanup that New registers) removes all of it.
type Lab struct {
	Name     string // the random suffix of the namespaces' names
	ClientNS string
	TapNS    string
	ServerNS string
	Dir      string // the servers' roots, configs, logs and client files

	opts Options

	saved bool // in StateDir: Close forgets it

	mu     sync.Mutex // guards procs and closed
	procs  []*Proc
	closed bool
}

// Need lists the programs a Lab runs. Missing reports those not on PATH.
var Need = []string{"ip", "ethtool", "sysctl", "vsftpd", "curl", "lftp", "tcpdump", "nft"}

// Missing returns the programs in Need that cannot be found.
func Missing() []string {
	var miss []string
	for _, p := range Need {
		if _, err := exec.LookPath(p); err != nil {
			miss = append(miss, p)
		}
	}
	return miss
}

// CanRun reports why a lab cannot be built on this machine, or "" if it
// can: it needs root (network namespaces, veths, raw sockets) and the
// programs in Need.
func CanRun() string {
	if e := os.Getenv("FTPTAP_EMULATED"); e != "" {
		// cross/test-arm.sh: qemu-user emulates no network namespaces,
		// and the lab's programs are the host's.
		return "not under qemu-user emulation (FTPTAP_EMULATED=" + e + ")"
	}
	if os.Geteuid() != 0 {
		return "the lab needs root (network namespaces, veths, capture)"
	}
	if m := Missing(); len(m) > 0 {
		return "the lab needs " + strings.Join(m, ", ") + " (./cross/setup.sh installs them)"
	}
	return ""
}

// New builds a lab for a test, skips the test with the reason when the
// machine cannot, and removes the lab when the test ends.
func New(t testing.TB, opts Options) *Lab {
	t.Helper()
	if why := CanRun(); why != "" {
		t.Skip("lab: " + why)
	}
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	l, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// Start builds a lab: namespaces, veths, addresses, the servers' files
// and the servers. On error, whatever was made is removed again.
func Start(opts Options) (l *Lab, err error) {
	name := opts.Name
	if name == "" {
		var b [3]byte
		rand.Read(b[:])
		name = hex.EncodeToString(b[:])
	}
	l = &Lab{
		Name:     name,
		ClientNS: "ftplab-" + name + "-c",
		TapNS:    "ftplab-" + name + "-t",
		ServerNS: "ftplab-" + name + "-s",
		opts:     opts,
	}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	if l.Dir, err = os.MkdirTemp("", "ftplab-"+name+"-"); err != nil {
		return l, fmt.Errorf("lab: %w", err)
	}
	// The servers drop privileges to the lab's users, which must be able
	// to reach their roots below this directory.
	if err := os.Chmod(l.Dir, 0o755); err != nil {
		return l, fmt.Errorf("lab: %w", err)
	}
	if err := l.network(); err != nil {
		return l, err
	}
	if err := l.writeFiles(); err != nil {
		return l, err
	}
	if err := l.startServers(); err != nil {
		return l, err
	}
	return l, nil
}

func (l *Lab) logf(format string, args ...any) {
	if l.opts.Logf != nil {
		l.opts.Logf(format, args...)
	}
}

// network makes the namespaces and veths, sets addresses and turns off
// offloads and duplicate address detection.
func (l *Lab) network() error {
	for _, ns := range []string{l.ClientNS, l.TapNS, l.ServerNS} {
		if err := run("ip", "netns", "add", ns); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"ip", "link", "add", "eth0", "netns", l.ClientNS, "type", "veth", "peer", "name", PortA, "netns", l.TapNS},
		{"ip", "link", "add", "eth0", "netns", l.ServerNS, "type", "veth", "peer", "name", PortB, "netns", l.TapNS},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	// DAD off before addresses are added, so they are usable at once;
	// nodad below covers kernels that copy the setting late.
	for _, ns := range []string{l.ClientNS, l.ServerNS} {
		if err := l.InNS(ns, "sysctl", "-qw",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
			"net.ipv6.conf.eth0.accept_dad=0", "net.ipv6.conf.eth0.dad_transmits=0"); err != nil {
			return err
		}
	}
	// The tap namespace has no addresses: it must not answer on the
	// segments it watches, nor send router solicitations into them.
	if err := l.InNS(l.TapNS, "sysctl", "-qw",
		"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		return err
	}
	addrs := map[string][]string{
		l.ClientNS: {ClientIP4.String() + "/24", ClientIP6.String() + "/64"},
		l.ServerNS: {Vsftpd.IP4.String() + "/24", Vsftpd.IP6.String() + "/64",
			PureFTPd.IP4.String() + "/24", PureFTPd.IP6.String() + "/64"},
	}
	for _, ns := range []string{l.ClientNS, l.ServerNS} {
		for _, a := range addrs[ns] {
			args := []string{"ip", "-n", ns, "addr", "add", a, "dev", "eth0"}
			if strings.Contains(a, ":") {
				args = append(args, "nodad")
			}
			if err := run(args...); err != nil {
				return err
			}
		}
		if err := run("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
		if err := l.offloadsOff(ns, "eth0"); err != nil {
			return err
		}
		if err := run("ip", "-n", ns, "link", "set", "eth0", "up"); err != nil {
			return err
		}
	}
	for _, p := range []string{PortA, PortB} {
		if err := l.offloadsOff(l.TapNS, p); err != nil {
			return err
		}
		if err := run("ip", "-n", l.TapNS, "link", "set", p, "up"); err != nil {
			return err
		}
	}
	if l.opts.Bridge {
		if err := l.Bridge(); err != nil {
			return err
		}
	}
	l.logf("lab %s: namespaces %s, %s, %s", l.Name, l.ClientNS, l.TapNS, l.ServerNS)
	return nil
}

// offloadsOff turns off the offloads that make veth captures differ from
// a wire: segmentation (TSO, GSO) hands the capture 64 KB "frames",
// receive coalescing (GRO) merges segments, and checksum offload leaves
// checksums blank.
func (l *Lab) offloadsOff(ns, dev string) error {
	return l.InNS(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off")
}

// BridgeName is the bridge the lab makes when asked to.
const BridgeName = "labbr0"

// Bridge bridges the two tap ports with a bridge of the lab's own, for
// when no ftptap does it (recordings, the bench without ftptap).
func (l *Lab) Bridge() error {
	steps := [][]string{
		{"ip", "-n", l.TapNS, "link", "add", BridgeName, "type", "bridge", "stp_state", "0", "mcast_snooping", "0"},
		{"ip", "-n", l.TapNS, "link", "set", PortA, "master", BridgeName},
		{"ip", "-n", l.TapNS, "link", "set", PortB, "master", BridgeName},
		{"ip", "-n", l.TapNS, "link", "set", BridgeName, "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	return nil
}

// Bridged reports the bridge that port A is enslaved to in the tap
// namespace, or "" if none.
func (l *Lab) Bridged() string {
	out, err := exec.Command("ip", "-n", l.TapNS, "-o", "link", "show", PortA).Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "master" {
			return f[i+1]
		}
	}
	return ""
}

// InNS runs a command to completion in a namespace and returns its error
// with its output.
func (l *Lab) InNS(ns string, name string, args ...string) error {
	return run(append([]string{"ip", "netns", "exec", ns, name}, args...)...)
}

// OutputNS runs a command in a namespace and returns its standard output.
func (l *Lab) OutputNS(ns string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("lab: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Proc is a process the lab started in one of its namespaces, in a
// process group of its own.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

// Start starts a process in a namespace. Its output goes to the files
// given (nil: discarded). The lab stops it on Close if it still runs.
func (l *Lab) Start(ns string, stdout, stderr *os.File, name string, args ...string) (*Proc, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	// ip netns exec execs the program, so the PID is the program's; its
	// own group lets Close stop the children it forks (one per FTP
	// session) by group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !l.opts.Detach, Setsid: l.opts.Detach}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab: start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// PID is the process's id, which is also its process group's.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process alone.
func (p *Proc) Signal(sig syscall.Signal) error { return p.Cmd.Process.Signal(sig) }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit, at most d, and returns its exit
// error; on time-out it kills its process group.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("lab: %s did not exit within %v", p.Name, d)
	}
}

// Stop sends SIGTERM to the process group, and SIGKILL if it has not
// exited after d.
func (p *Proc) Stop(d time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
	}
}

// Close stops every process the lab started and removes its namespaces,
// files and /etc/netns entries. It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	l.procs = nil
	l.mu.Unlock()

	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(3 * time.Second)
	}
	for _, ns := range []string{l.ClientNS, l.TapNS, l.ServerNS} {
		if !nsExists(ns) {
			continue
		}
		killNS(ns)
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if l.ServerNS != "" {
		os.RemoveAll(filepath.Join("/etc/netns", l.ServerNS))
	}
	if l.saved {
		os.Remove(filepath.Join(StateDir, l.Name+".json"))
	}
	if l.Dir != "" {
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, fmt.Errorf("lab: %w", err))
		}
	}
	return errors.Join(errs...)
}

func nsExists(ns string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", ns))
	return err == nil
}

// killNS kills what still runs in one of the lab's namespaces (a child a
// server forked into a group of its own), found by the namespace's name.
func killNS(ns string) {
	for range 20 {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return
		}
		for _, s := range pids {
			var pid int
			if _, err := fmt.Sscan(s, &pid); err == nil && pid > 1 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}
