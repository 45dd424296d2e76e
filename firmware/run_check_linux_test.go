package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ftptap/ftptap/internal/netnstest"
)

// ipLinks is `ip -br link` in the namespace name: what a user would look at
// to see whether ftptap changed the interfaces.
func ipLinks(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-br", "link").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s -br link: %v\n%s", ns, err, out)
	}
	return string(out)
}

// settledLinks is ipLinks once the carrier of links just brought up has
// come (the kernel reports it a little later).
func settledLinks(t *testing.T, ns string) string {
	t.Helper()
	prev := ipLinks(t, ns)
	for range 50 {
		time.Sleep(50 * time.Millisecond)
		cur := ipLinks(t, ns)
		if cur == prev && !strings.Contains(cur, "NO-CARRIER,BROADCAST,MULTICAST,UP") {
			return cur
		}
		prev = cur
	}
	return prev
}

// TestRunChecksFirst feeds ftptap run one bad input at a time and checks
// that each is refused with one line naming it, before the bridge is made or
// a port enslaved: `ip -br link` in the tap namespace stays exactly as it
// was. Issue 10: these were refused only after the bridge ftptap0 was up,
// and a management NIC named as a port was enslaved (the SSH session cut)
// before the refusal.
func TestRunChecksFirst(t *testing.T) {
	bin := buildFtptap(t)
	dir := t.TempDir()
	zeroIdle := filepath.Join(dir, "idle.yaml")
	os.WriteFile(zeroIdle, []byte("port_a: pa\nport_b: pb\ntimeouts:\n  idle: 0s\n"), 0o644)
	ports := []string{"--port-a", "pa", "--port-b", "pb"}
	tests := []struct {
		name  string
		setup func(t *testing.T, l *netnstest.Lab)
		args  []string
		want  string
	}{
		{"leds mode", nil, []string{"--leds", "disco", "--nats", "off", "--metrics", "off"}, `--leds "disco": want gpio, term, log or off`},
		{"metrics address", nil, []string{"--metrics", "127.0.0.1:bad", "--nats", "off", "--leds", "off"}, `--metrics "127.0.0.1:bad"`},
		{"metrics in use", func(t *testing.T, l *netnstest.Lab) {
			l.SetUp(t, l.Tap, "lo")
			ln := listenIn(t, l, "127.0.0.1:9121")
			t.Cleanup(func() { ln.Close() })
		}, []string{"--metrics", "127.0.0.1:9121", "--nats", "off", "--leds", "off"}, "address already in use"},
		{"web address", nil, append([]string{"--web", "127.0.0.1:bad"}, quiet...), `--web "127.0.0.1:bad"`},
		{"web in use", func(t *testing.T, l *netnstest.Lab) {
			l.SetUp(t, l.Tap, "lo")
			ln := listenIn(t, l, "127.0.0.1:8080")
			t.Cleanup(func() { ln.Close() })
		}, append([]string{"--web", "127.0.0.1:8080"}, quiet...), "web: listen tcp 127.0.0.1:8080: bind: address already in use"},
		{"web on a tapped port", func(t *testing.T, l *netnstest.Lab) {
			l.Addr(t, l.Tap, "pa", "198.51.100.7/24")
		}, append([]string{"--no-bridge", "--web", "198.51.100.7:8080"}, quiet...), `--web "198.51.100.7:8080": 198.51.100.7 is an address of the tapped interface pa`},
		{"web on every address while a port has one", func(t *testing.T, l *netnstest.Lab) {
			l.Addr(t, l.Tap, "pb", "198.51.100.8/24")
		}, append([]string{"--no-bridge", "--web", "0.0.0.0:8080"}, quiet...), `--web "0.0.0.0:8080" would also listen on the tapped interface pb (198.51.100.8)`},
		{"nats url", nil, []string{"--nats", "http://127.0.0.1:4222", "--metrics", "off", "--leds", "off"}, `--nats "http://127.0.0.1:4222"`},
		{"events path", nil, append([]string{"--events", filepath.Join(dir, "no-such-dir", "events.jsonl")}, quiet...), "events: open " + filepath.Join(dir, "no-such-dir")},
		{"missing port", nil, append([]string{"--port-b", "eth7"}, quiet...), "tap: open eth7: no such interface"},
		{"port is a bridge", func(t *testing.T, l *netnstest.Lab) {
			la := netlink.NewLinkAttrs()
			la.Name = "br9"
			if err := l.Handle(t, l.Tap).LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil {
				t.Fatal(err)
			}
		}, append([]string{"--port-b", "br9"}, quiet...), "tap: open br9: is a bridge, not a port"},
		{"port with a global address", func(t *testing.T, l *netnstest.Lab) {
			l.Addr(t, l.Tap, "pa", "198.51.100.7/24")
		}, quiet, "tap: open pa: carries this machine's own traffic: address 198.51.100.7/24: bridging it would cut this machine off"},
		{"port with the default route", func(t *testing.T, l *netnstest.Lab) {
			l.SetUp(t, l.Tap, "pb")
			h := l.Handle(t, l.Tap)
			pb, err := h.LinkByName("pb")
			if err != nil {
				t.Fatal(err)
			}
			_, all, _ := net.ParseCIDR("0.0.0.0/0")
			if err := h.RouteAdd(&netlink.Route{LinkIndex: pb.Attrs().Index, Dst: all, Scope: netlink.SCOPE_LINK}); err != nil {
				t.Fatal(err)
			}
		}, quiet, "tap: open pb: carries this machine's own traffic: the default route (directly)"},
		{"zero idle timeout", nil, append([]string{"--config", zeroIdle}, quiet...), "line 4: timeouts.idle 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := netnstest.New(t)
			if tt.setup != nil {
				tt.setup(t, l)
			}
			before := settledLinks(t, l.TapNS)
			args := []string{"run"}
			if !slices.Contains(tt.args, "--config") {
				args = append(args, ports...) // a later --port-b wins
			}
			args = append(args, tt.args...)
			p := startRun(t, l, bin, nil, args...)
			code := p.wait(t, 15*time.Second)
			msg := strings.TrimSpace(p.stderr.String())
			if code == 0 {
				t.Fatalf("exit 0, want an error; stderr:\n%s", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q\nwant it to contain %q", msg, tt.want)
			}
			if after := ipLinks(t, l.TapNS); after != before {
				t.Errorf("ip -br link changed by a refused run:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestRunForce bridges a port that carries a global address when --force
// says so, and warns naming the address.
func TestRunForce(t *testing.T) {
	l := netnstest.New(t)
	bin := buildFtptap(t)
	l.Addr(t, l.Tap, "pa", "198.51.100.7/24")
	p := startRun(t, l, bin, nil, append([]string{"run", "--port-a", "pa", "--port-b", "pb", "--force"}, quiet...)...)
	p.waitLog(t, "msg=capturing")
	if log := p.stderr.String(); !strings.Contains(log, "198.51.100.7/24") || !strings.Contains(log, "level=WARN") {
		t.Errorf("no warning naming the address:\n%s", log)
	}
	if !strings.Contains(ipLinks(t, l.TapNS), "ftptap0") {
		t.Errorf("no bridge with --force:\n%s", ipLinks(t, l.TapNS))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM; stderr:\n%s", code, p.stderr.String())
	}
}

// listenIn listens on addr inside the tap namespace, where ftptap runs.
func listenIn(t *testing.T, l *netnstest.Lab, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	l.In(t, l.Tap, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
