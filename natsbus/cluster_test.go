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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ftptap/ftptap/ftpstate"
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
	client, route, leaf int
	cmd                 *exec.Cmd
	log                 string
}

// startHub runs a 3-node JetStream cluster (domain "hub") on loopback as
// separate processes, each killed by its PID when the test ends.
func startHub(t *testing.T, bin string) []*hubNode {
	t.Helper()
	ports := freePorts(t, 9)
	nodes := make([]*hubNode, 3)
	for i := range nodes {
		nodes[i] = &hubNode{client: ports[3*i], route: ports[3*i+1], leaf: ports[3*i+2]}
	}
	dir := t.TempDir()
	for i, n := range nodes {
		var routes []string
		for j, m := range nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", m.route))
			}
		}
		conf := fmt.Sprintf(`server_name: hub%d
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
`, i+1, n.client, filepath.Join(dir, fmt.Sprintf("js%d", i+1)), n.route, strings.Join(routes, ", "), n.leaf)
		cf := filepath.Join(dir, fmt.Sprintf("hub%d.conf", i+1))
		if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.log = filepath.Join(dir, fmt.Sprintf("hub%d.log", i+1))
		lf, err := os.Create(n.log)
		if err != nil {
			t.Fatal(err)
		}
		n.cmd = exec.Command(bin, "-c", cf)
		n.cmd.Stdout, n.cmd.Stderr = lf, lf
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lf.Close()
		t.Cleanup(func() {
			n.cmd.Process.Kill()
			n.cmd.Wait()
			if t.Failed() {
				b, _ := os.ReadFile(n.log)
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("hub%d log tail:\n%s", i+1, b)
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
// every event of both, exactly once. A laptop on the hub also sees the
// taps' events live.
func TestHubCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and waits for sourcing to start")
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
	waitFor(t, 60*time.Second, "hub cluster has no JetStream meta leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := hjs.AccountInfo(ctx)
		return err == nil
	})

	taps := []string{"lab1", "lab2"}
	type tapRun struct {
		srv *Server
		nc  *nats.Conn
		pub *Publisher
		n   *numberer
		evs []ftpstate.Event
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = EnsureStream(ctx, nc, StreamOptions{Tap: tap, Own: true, MaxBytes: 16 << 20})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPublisher(nc, Options{Tap: tap})
		if err != nil {
			t.Fatal(err)
		}
		var sess [][]ftpstate.Event
		for k := range 4 {
			sess = append(sess, sessionEvents(uint64(k+1), 5, time.Now().Add(time.Duration(i)*time.Hour)))
		}
		runs[tap] = &tapRun{srv: s, nc: nc, pub: p, n: &numberer{tap: tap, sink: p}, evs: interleave(sess, 2)}
	}

	// Half the events before the hub stream exists: sourcing starts from
	// the beginning of each tap's stream.
	for _, r := range runs {
		for _, ev := range r.evs[:len(r.evs)/2] {
			r.n.emit(ev)
		}
	}
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
	if _, err := hjs.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "FTPTAP",
		Storage:  jetstream.FileStorage,
		Replicas: 3,
		Sources:  sources,
	}); err != nil {
		t.Fatalf("hub stream: %v", err)
	}
	created := time.Now()

	// The other half (each session's end, and new sessions) while the hub
	// is sourcing; the laptop on the hub sees new logins live.
	for _, r := range runs {
		for _, ev := range r.evs[len(r.evs)/2:] {
			r.n.emit(ev)
		}
		closePublisher(t, r.pub, 20*time.Second)
	}
	liveTaps := map[string]bool{}
	for len(liveTaps) < len(taps) {
		m, err := users.NextMsg(20 * time.Second)
		if err != nil {
			t.Fatalf("laptop on the hub: USER events from %v only: %v", liveTaps, err)
		}
		liveTaps[decodeEvent(t, m.Data).Tap] = true
	}

	want := map[string]uint64{}
	total := 0
	for tap, r := range runs {
		want[tap] = r.n.seq
		total += int(r.n.seq)
	}
	waitFor(t, 150*time.Second, "the hub stream did not collect every event", func() bool {
		return streamCount(t, hjs, "FTPTAP") >= uint64(total)
	})
	t.Logf("hub stream complete %v after it was created", time.Since(created).Round(100*time.Millisecond))
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
