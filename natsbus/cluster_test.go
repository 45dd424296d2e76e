package natsbus

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// buildNATSServer builds the nats-server binary of the module's required
// version (the go build cache makes this quick after the first time).
func buildNATSServer(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "nats-server")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	return bin
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// hubNode is one nats-server process of the hub cluster.
type hubNode struct {
	name                string
	client, route, leaf int
	bin, conf, log      string
	cmd                 *exec.Cmd // nil while stopped
}

// start runs the node's process; its output is appended to its log.
func (n *hubNode) start(t *testing.T) {
	t.Helper()
	lf, err := os.OpenFile(n.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	n.cmd = exec.Command(n.bin, "-c", n.conf)
	n.cmd.Stdout, n.cmd.Stderr = lf, lf
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// stop kills the node's process by its PID and waits for it.
func (n *hubNode) stop() {
	if n.cmd != nil {
		n.cmd.Process.Kill()
		n.cmd.Wait()
		n.cmd = nil
	}
}

// startHub runs a 3-node JetStream cluster (domain "hub") on loopback as
// separate processes, each killed by its PID when the test ends.
func startHub(t *testing.T, bin string) []*hubNode {
	t.Helper()
	ports := freePorts(t, 9)
	nodes := make([]*hubNode, 3)
	dir := t.TempDir()
	for i := range nodes {
		name := fmt.Sprintf("hub%d", i+1)
		nodes[i] = &hubNode{name: name, client: ports[3*i], route: ports[3*i+1], leaf: ports[3*i+2], bin: bin,
			conf: filepath.Join(dir, name+".conf"), log: filepath.Join(dir, name+".log")}
	}
	for i, n := range nodes {
		var routes []string
		for j, m := range nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", m.route))
			}
		}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream {
  store_dir: %q
  domain: hub
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: hub
  listen: 127.0.0.1:%d
  routes: [%s]
}
leafnodes {
  listen: 127.0.0.1:%d
}
`, n.name, n.client, filepath.Join(dir, "js-"+n.name), n.route, strings.Join(routes, ", "), n.leaf)
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.start(t)
		t.Cleanup(func() {
			n.stop()
			if t.Failed() {
				b, _ := os.ReadFile(n.log)
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("%s log tail:\n%s", n.name, b)
			}
		})
	}
	return nodes
}

func hubURLs(nodes []*hubNode, leaf bool) []string {
	var out []string
	for _, n := range nodes {
		if leaf {
			out = append(out, fmt.Sprintf("nats-leaf://127.0.0.1:%d", n.leaf))
		} else {
			out = append(out, fmt.Sprintf("nats://127.0.0.1:%d", n.client))
		}
	}
	return out
}

// waitFor polls cond every 200 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The real-deployment test: a 3-node hub cluster and two taps whose
// embedded servers are leaf nodes in their own JetStream domains. The hub
// keeps one stream that sources from both taps' streams and ends up with
// every event of both, exactly once, also across an outage of the whole
// hub during which the taps go on publishing. A laptop on the hub sees the
// taps' events live.
func TestHubCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and waits for sourcing to resume after a hub restart")
	}
	t.Parallel()
	t0 := time.Now()
	bin := buildNATSServer(t)
	t.Logf("nats-server built in %v", time.Since(t0).Round(time.Millisecond))
	nodes := startHub(t, bin)

	hub, err := nats.Connect(strings.Join(hubURLs(nodes, false), ","), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	hjs, err := jetstream.New(hub)
	if err != nil {
		t.Fatal(err)
	}
	waitJetStream := func() {
		waitFor(t, 60*time.Second, "hub cluster has no JetStream meta leader", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := hjs.AccountInfo(ctx)
			return err == nil
		})
	}
	waitJetStream()

	taps := []string{"lab1", "lab2"}
	type tapRun struct {
		srv *Server
		pub *Publisher
		n   *numberer
		evs []event.Event
	}
	runs := map[string]*tapRun{}
	for i, tap := range taps {
		s := startServer(t, ServerOptions{StoreDir: t.TempDir(), Domain: tap, LeafRemotes: hubURLs(nodes, true)})
		waitFor(t, 30*time.Second, tap+" did not connect to the hub as a leaf node", func() bool { return s.NumLeafNodes() > 0 })
		nc, err := s.Connect()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ensureStream(t, nc, StreamOptions{Tap: tap, Own: true, MaxBytes: 16 << 20})
		p, err := NewPublisher(nc, Options{Tap: tap})
		if err != nil {
			t.Fatal(err)
		}
		var sess [][]event.Event
		for k := range 6 {
			sess = append(sess, sessionEvents(uint64(k+1), 5, time.Now().Add(time.Duration(i)*time.Hour)))
		}
		runs[tap] = &tapRun{srv: s, pub: p, n: &numberer{tap: tap, sink: p}, evs: interleave(sess, 2)}
	}
	// emit sends the events of each tap from a fraction of its run to
	// another, and returns how many events the taps have sent in all.
	emit := func(from, to float64) int {
		total := 0
		for _, r := range runs {
			a, b := int(from*float64(len(r.evs))), int(to*float64(len(r.evs)))
			for _, ev := range r.evs[a:b] {
				r.n.emit(ev)
			}
			total += int(r.n.seq)
		}
		return total
	}
	waitHub := func(total int, d time.Duration, since time.Time, what string) {
		waitFor(t, d, fmt.Sprintf("the hub stream did not collect all %d events", total), func() bool {
			return streamCount(t, hjs, "FTPTAP") >= uint64(total)
		})
		t.Logf("hub stream has all %d events %v after %s", total, time.Since(since).Round(100*time.Millisecond), what)
	}

	// A third of the events before the hub stream exists: sourcing starts
	// from the beginning of each tap's stream.
	emit(0, 1.0/3)
	laptop, err := nats.Connect(hubURLs(nodes, false)[2])
	if err != nil {
		t.Fatal(err)
	}
	defer laptop.Close()
	users, _ := laptop.SubscribeSync("ftptap.*.request.USER")
	laptop.Flush()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sources []*jetstream.StreamSource
	for _, tap := range taps {
		sources = append(sources, &jetstream.StreamSource{Name: StreamName(tap), Domain: tap})
	}
	created := time.Now()
	if _, err := hjs.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "FTPTAP",
		Storage:  jetstream.FileStorage,
		Replicas: 3,
		Sources:  sources,
	}); err != nil {
		t.Fatalf("hub stream: %v", err)
	}

	// The next third while the hub is sourcing; the laptop on the hub sees
	// new logins live.
	total := emit(1.0/3, 2.0/3)
	liveTaps := map[string]bool{}
	for len(liveTaps) < len(taps) {
		m, err := users.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatalf("laptop on the hub: USER events from %v only: %v", liveTaps, err)
		}
		liveTaps[decodeEvent(t, m.Data).Tap] = true
	}
	waitHub(total, 60*time.Second, created, "the hub stream was created")

	// The whole hub goes down; the taps go on capturing and keep their
	// events in their own streams. Then the hub comes back.
	for _, n := range nodes {
		n.stop()
	}
	total = emit(2.0/3, 1)
	for tap, r := range runs {
		waitFor(t, 10*time.Second, tap+": events not stored on the tap during the hub outage", func() bool {
			return r.pub.Stats().Published == r.n.seq
		})
	}
	time.Sleep(2 * time.Second)
	restarted := time.Now()
	for _, n := range nodes {
		n.start(t)
	}
	waitJetStream()
	waitHub(total, 150*time.Second, restarted, "the hub restarted")

	want := map[string]uint64{}
	for tap, r := range runs {
		closePublisher(t, r.pub, 10*time.Second)
		want[tap] = r.n.seq
	}
	msgs := readStream(t, hjs, "FTPTAP", total, 30*time.Second)
	// Sources interleave taps; order holds within each tap.
	checkExactlyOnce(t, msgs, want)
	if got := streamCount(t, hjs, "FTPTAP"); got != uint64(total) {
		t.Errorf("hub stream holds %d events, want %d", got, total)
	}
	for _, m := range msgs {
		if want := "ftptap." + m.ev.Tap + "."; !strings.HasPrefix(m.subject, want) {
			t.Errorf("hub stream message %s on subject %q, want the tap's own subject %s...", m.id, m.subject, want)
			break
		}
	}
}
