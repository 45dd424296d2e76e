//go:build linux

package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// BuildFtptap builds the ftptap binary once per process into a directory
// of its own and returns its path. CleanupBuild removes it.
func BuildFtptap() (string, error) {
	buildOnce.Do(func() {
		buildBin, buildErr = goBuild("github.com/ftptap/ftptap/firmware", "ftptap")
	})
	return buildBin, buildErr
}

// goBuild builds the Go package pkg, with CGO_ENABLED=0, into a directory
// of its own under os.TempDir as name and returns the binary's path. The
// path is set also when the build fails; the caller removes the directory
// (filepath.Dir of the path) when done.
func goBuild(pkg, name string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir, err := os.MkdirTemp("", "ftplab-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command(gobin, "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return bin, fmt.Errorf("lab: build %s: %w: %s", name, err, out)
	}
	return bin, nil
}

// CleanupBuild removes what BuildFtptap and the scripted client's build
// built.
func CleanupBuild() {
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	if clientBin != "" {
		os.RemoveAll(filepath.Dir(clientBin))
	}
}

var (
	clientOnce sync.Once
	clientBin  string
	clientErr  error
)

// buildClient builds the scripted FTP client (internal/lab/ftpclient) once
// per process and returns its path.
func buildClient() (string, error) {
	clientOnce.Do(func() {
		clientBin, clientErr = goBuild("github.com/ftptap/ftptap/internal/lab/ftpclient", "ftpclient")
	})
	return clientBin, clientErr
}

// Ftptap is ftptap run capturing on the lab's tap ports.
type Ftptap struct {
	*Proc
	Stderr string // the file its log goes to
}

// StartFtptap runs "bin run --port-a porta --port-b portb args..." in the
// tap namespace and returns once it has bridged the ports and captures.
func (l *Lab) StartFtptap(bin string, args ...string) (*Ftptap, error) {
	errPath := filepath.Join(l.Dir, "log", fmt.Sprintf("ftptap-%d.err", time.Now().UnixNano()))
	errf, err := os.Create(errPath)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer errf.Close()
	// An empty config of its own, so that a config the host has in
	// /etc/ftptap does not leak in; no NATS (an embedded server's store
	// is per machine) and no LEDs unless the caller asks.
	conf := filepath.Join(l.Dir, "ftptap.yaml")
	if err := os.WriteFile(conf, []byte("# ftptap in the lab: flags say it all\n"), 0o644); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	full := []string{"run", "--port-a", PortA, "--port-b", PortB, "--config", conf}
	if !hasFlag(args, "nats") {
		full = append(full, "--nats", "off")
	}
	if !hasFlag(args, "leds") {
		full = append(full, "--leds", "off")
	}
	full = append(full, args...)
	// At the priority ftptap.service gives it (Nice=-10): the kernel
	// filter for carving and saving follows the command channels, and a
	// tap that waits behind other work for a core lets a short data
	// connection pass before it (docs/carve.md). nice(1) execs ftptap, so
	// the process keeps its PID and all its threads the priority; so does
	// chrt(1), for Options.Realtime.
	sched := []string{"nice", "-n", "-10"}
	if l.opts.Realtime {
		sched = []string{"chrt", "-r", "10"}
	}
	p, err := l.Start(l.TapNS, nil, errf, sched[0], append(append(sched[1:], bin), full...)...)
	if err != nil {
		return nil, err
	}
	f := &Ftptap{Proc: p, Stderr: errPath}
	if err := f.waitReady(l, 10*time.Second); err != nil {
		p.Stop(time.Second)
		return nil, err
	}
	return f, nil
}

// waitReady waits until ftptap says it captures (its log line
// "capturing") and the tap ports are bridged.
func (f *Ftptap) waitReady(l *Lab, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		b, _ := os.ReadFile(f.Stderr)
		if strings.Contains(strings.ToLower(string(b)), "capturing") && l.Bridged() != "" {
			return nil
		}
		select {
		case <-f.Done():
			return fmt.Errorf("lab: ftptap exited: %v: %s", f.err, strings.TrimSpace(string(b)))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: ftptap not capturing after %v: %s", d, strings.TrimSpace(string(b)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Term stops ftptap as a service manager would (SIGTERM) and returns its
// exit error: nil for a clean exit.
func (f *Ftptap) Term() error {
	if err := f.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := f.Wait(15 * time.Second); err != nil {
		b, _ := os.ReadFile(f.Stderr)
		return fmt.Errorf("ftptap: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return nil
}

// Log is what ftptap wrote to its standard error so far.
func (f *Ftptap) Log() string {
	b, _ := os.ReadFile(f.Stderr)
	return string(b)
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}
