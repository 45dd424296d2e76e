package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/natsbus"
	"github.com/ftptap/ftptap/pipeline"
)

// runNATS starts a real nats-server with JetStream on a free loopback port.
func runNATS(t *testing.T, jetStream bool) *server.Server {
	t.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = jetStream
	opts.StoreDir = t.TempDir()
	s := natstest.RunServer(&opts)
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

func setFlag(t *testing.T, p *string, v string) {
	t.Helper()
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// ftptap replay --nats URL publishes exactly what it prints: the same JSON,
// on ftptap.<tap>.<subject>, stored in the tap's stream.
func TestReplayNATS(t *testing.T) {
	srv := runNATS(t, true)
	out, errs, code := runCmd(t, "replay", "--tap", "lab1", "--nats", srv.ClientURL(),
		filepath.Join(labDir, "pasv-retr", "porta.pcap"), filepath.Join(labDir, "pasv-retr", "portb.pcap"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "FTPTAP_lab1")
	if err != nil {
		t.Fatalf("stream FTPTAP_lab1: %v", err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(len(lines)+10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	var subjects []string
	for m := range batch.Messages() {
		if i >= len(lines) {
			t.Errorf("extra message %s: %s", m.Subject(), m.Data())
			continue
		}
		if string(m.Data()) != lines[i] {
			t.Errorf("message %d\n got %s\nwant %s", i+1, m.Data(), lines[i])
		}
		var e struct {
			Type    string `json:"type"`
			Command string `json:"command"`
			Code    int    `json:"code"`
		}
		json.Unmarshal(m.Data(), &e)
		if !strings.HasPrefix(m.Subject(), "ftptap.lab1."+e.Type) {
			t.Errorf("message %d (%s) on subject %q", i+1, e.Type, m.Subject())
		}
		if m.Headers().Get("Nats-Msg-Id") == "" {
			t.Errorf("message %d has no Nats-Msg-Id", i+1)
		}
		subjects = append(subjects, m.Subject())
		i++
	}
	if i != len(lines) {
		t.Errorf("%d messages stored, %d events printed", i, len(lines))
	}
	all := strings.Join(subjects, " ")
	for _, want := range []string{"ftptap.lab1.request.USER", "ftptap.lab1.response.227", "ftptap.lab1.session.start", "ftptap.lab1.data.open.passive", "ftptap.lab1.transfer.end"} {
		if !strings.Contains(all, want) {
			t.Errorf("no message on %s in %s", want, all)
		}
	}
}

func TestReplayNATSUsage(t *testing.T) {
	for _, arg := range []string{"http://example.invalid:4222", "nats://"} {
		_, errs, code := runCmd(t, "replay", "--tap", "lab1", "--nats", arg, filepath.Join(labDir, "pasv-retr", "porta.pcap"))
		if code != 2 || !strings.Contains(errs, "--nats") {
			t.Errorf("--nats %q: exit %d, %q; want a usage error naming --nats", arg, code, errs)
		}
	}
	_, errs, code := runCmd(t, "replay", "--tap", "lab.1", "--nats", "nats://127.0.0.1:1", filepath.Join(labDir, "pasv-retr", "porta.pcap"))
	if code != 1 || !strings.Contains(errs, `tap "lab.1"`) {
		t.Errorf("tap lab.1: exit %d, %q; want a config error naming the tap", code, errs)
	}
}

func TestNATSConfig(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"defaults", "nats: {}\n", ""},
		{"full", `tap: lab1
nats:
  urls: [nats://hub1:4222, tls://hub2:4222]
  creds: /etc/ftptap/ftptap.creds
  tls: {ca: /etc/ftptap/ca.pem}
  stream: {name: FTPTAP_lab1, max_bytes: 512MiB, max_age: 720h, duplicates: 5m, replicas: 3}
  spool: {dir: /var/lib/ftptap/spool, max_bytes: 32MiB, queue: 1000}
  sync: always
  status_interval: 10s
  drain: 20s
`, ""},
		{"leaf", `nats:
  server:
    listen: 192.168.1.50:4222
    domain: lab1
    leaf: {remotes: [nats-leaf://hub:7422], creds: /etc/ftptap/leaf.creds}
`, ""},
		{"admin", `nats:
  server:
    admin: {user: ops, password: pw, token: tok, nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4}
    anonymous: none
    tls: {cert: /etc/ftptap/nats.pem, key: /etc/ftptap/nats.key, ca: /etc/ftptap/clients.pem}
`, ""},
		{"admin user alone", "nats: {server: {admin: {user: ops}}}\n", "nats.server.admin: user and password"},
		{"admin seed", "nats: {server: {admin: {nkey: SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY}}}\n", "not a seed"},
		{"two tokens", "nats: {server: {token: a, admin: {token: b}}}\n", "set one"},
		{"bad anonymous", "nats: {server: {anonymous: write}}\n", `nats.server.anonymous "write"`},
		{"server tls without cert", "nats: {server: {tls: {ca: /ca.pem}}}\n", "needs cert and key"},
		{"bad tap", "tap: lab.1\n", `tap "lab.1"`},
		{"bad url", "nats: {urls: [http://hub:80]}\n", `nats.urls[0] "http://hub:80"`},
		{"two auths", "nats: {token: a, creds: /x}\n", "token, user, nkey and creds"},
		{"password alone", "nats: {password: x}\n", "nats.password"},
		{"tls cert alone", "nats: {tls: {cert: /c.pem}}\n", "nats.tls: cert and key"},
		{"bad stream name", "nats: {stream: {name: a.b}}\n", `nats.stream.name "a.b"`},
		{"tiny stream", "nats: {stream: {max_bytes: 1000}}\n", "nats.stream.max_bytes 1000"},
		{"replicas", "nats: {stream: {replicas: 7}}\n", "nats.stream.replicas 7"},
		{"tiny spool", "nats: {spool: {max_bytes: 1KiB}}\n", "nats.spool.max_bytes 1024"},
		{"bad sync", "nats: {sync: sometimes}\n", `nats.sync "sometimes"`},
		{"fast status", "nats: {status_interval: 10ms}\n", "nats.status_interval 10ms"},
		{"bad listen", "nats: {server: {listen: mgmt:4222}}\n", `nats.server.listen "mgmt:4222"`},
		{"bad domain", "nats: {server: {domain: a.b}}\n", `nats.server.domain "a.b"`},
		{"bad leaf", "nats: {server: {leaf: {remotes: [hub]}}}\n", `nats.server.leaf.remotes[0] "hub"`},
		{"client and leaf", "nats: {urls: [nats://a:4222], server: {leaf: {remotes: [nats-leaf://b:7422]}}}\n", "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{}
			err := decodeConfig([]byte(tt.yaml), cfg)
			if err == nil {
				err = cfg.Validate()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	cfg := &Config{}
	if err := decodeConfig([]byte("nats: {stream: {max_bytes: lots}}\n"), cfg); err == nil {
		t.Error("max_bytes: lots: no error")
	} else if !strings.Contains(err.Error(), "line 1") {
		t.Errorf("size error %q does not name its line", err)
	}
	if err := decodeConfig([]byte("nats: {spool: {max_bytes: 2GiB}, stream: {max_bytes: 1500MB}}\n"), cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.Spool.MaxBytes != 2<<30 || cfg.NATS.Stream.MaxBytes != 1500e6 {
		t.Errorf("sizes %d, %d", cfg.NATS.Spool.MaxBytes, cfg.NATS.Stream.MaxBytes)
	}
}

// tickSource is a live source with no traffic: a tick every 20 ms until
// its context ends.
type tickSource struct{ ctx context.Context }

func (s tickSource) ReadFrame() (pipeline.Frame, error) {
	select {
	case <-s.ctx.Done():
		return pipeline.Frame{}, io.EOF
	case <-time.After(20 * time.Millisecond):
		return pipeline.Frame{Info: gopacket.CaptureInfo{Timestamp: time.Now()}}, nil
	}
}

// collectSink keeps every event's JSON.
type collectSink struct {
	mu   sync.Mutex
	evs  []event.Event
	jsns []string
}

func (c *collectSink) Event(ev *event.Event, js []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, *ev)
	c.jsns = append(c.jsns, string(js))
}

func (c *collectSink) find(typ event.Type, kind string) (event.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.evs {
		if e.Type == typ && (kind == "" || e.Kind == kind) {
			return e, true
		}
	}
	return event.Event{}, false
}

// liveEnv is a live sinkEnv around a pipeline with no traffic.
func liveEnv(t *testing.T, cfg *Config) (*sinkEnv, *collectSink) {
	t.Helper()
	col := &collectSink{}
	p, err := pipeline.New(pipeline.Options{Tap: cfg.TapID(), Sinks: []pipeline.Sink{col}})
	if err != nil {
		t.Fatal(err)
	}
	return &sinkEnv{cmd: "run", cfg: cfg, pipeline: p, live: true,
		counters: func() []event.Counter { return []event.Counter{{Name: "kernel_drops", Value: 7}} }}, col
}

// runLive runs env's pipeline on ticks until stop is called.
func runLive(t *testing.T, env *sinkEnv) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.pipeline.Run(ctx, tickSource{ctx}) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("pipeline: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// leakCheck fails the test if goroutines started during it are still
// running when it ends (after its other cleanups).
func leakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// Live with no server configured: the embedded server runs on the
// management address; status events arrive on ftptap.<tap>.status every
// status_interval with the counters, and /metrics shows the same ones.
func TestRunEmbeddedStatusAndMetrics(t *testing.T) {
	leakCheck(t)
	setFlag(t, &natsFlag, "")
	cfg := &Config{Tap: "lab1"}
	cfg.NATS.Server.Listen = "127.0.0.1:0"
	cfg.NATS.Server.StoreDir = t.TempDir()
	cfg.NATS.StatusInterval = time.Second
	env, col := liveEnv(t, cfg)
	closeNATS, err := attachNATS(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if closeNATS == nil {
		t.Fatal("no NATS attached by default in run")
	}
	stopLive := runLive(t, env)
	defer func() {
		stopLive()
		if err := closeNATS(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if natsPub.Load() == nil {
		t.Fatal("no publisher")
	}

	// The laptop: the embedded server's stream, read over TCP, has status
	// events.
	var st event.Event
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		if st, ok = col.find(event.TypeStatus, ""); ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Type != event.TypeStatus {
		t.Fatal("no status event within 10 s")
	}
	got := map[string]int64{}
	for _, c := range st.Counters {
		got[c.Name] = c.Value
	}
	for _, k := range []string{"packets_a", "packets_b", "open_sessions", "events", "kernel_drops", "nats_published", "nats_pending", "nats_connected"} {
		if _, ok := got[k]; !ok {
			t.Errorf("status has no %s: %v", k, got)
		}
	}
	if got["kernel_drops"] != 7 || got["nats_connected"] != 1 {
		t.Errorf("status counters %v: want kernel_drops 7 (from the source), nats_connected 1", got)
	}

	// The status event went over NATS too; the laptop, with no
	// credentials, reads it and cannot purge the stream.
	refused := make(chan error, 8)
	nc, err := nats.Connect(embeddedURL.Load().(string), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		refused <- err
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Publish("$JS.API.STREAM.PURGE."+natsbus.StreamName("lab1"), nil)
	nc.Flush()
	select {
	case err := <-refused:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("purge without credentials: %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("purge without credentials: not refused")
	}
	js, _ := jetstream.NewWithDomain(nc, "lab1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natsbus.StreamName("lab1"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, "ftptap.lab1.status")
	if err != nil {
		t.Fatalf("no status event in the stream: %v", err)
	}
	if !bytes.Contains(m.Data, []byte(`"counters":{"packets_a":`)) {
		t.Errorf("status payload %s", m.Data)
	}

	rec := httptest.NewRecorder()
	newMetricsHandler(env).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`ftptap_packets_total{port="a"} 0`,
		"ftptap_kernel_drops_total 7",
		"ftptap_nats_connected 1",
		"ftptap_open_sessions 0",
		"# TYPE ftptap_events_total counter",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
}

// A full spool while the server is out of reach becomes an alert event:
// never silent.
func TestNATSOverflowAlert(t *testing.T) {
	leakCheck(t)
	setFlag(t, &natsFlag, "nats://127.0.0.1:1")
	cfg := &Config{Tap: "lab1"}
	cfg.NATS.Spool.Dir = t.TempDir()
	cfg.NATS.Spool.MaxBytes = 64 << 10
	cfg.NATS.Drain = 200 * time.Millisecond
	env, col := liveEnv(t, cfg)
	closeNATS, err := attachNATS(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		env.pipeline.Inject(event.Event{Type: event.TypeAlert, Kind: "test", Detail: strings.Repeat("x", 100) + string(rune('a'+i%26))})
	}
	stopLive := runLive(t, env)
	deadline := time.Now().Add(15 * time.Second)
	var alert event.Event
	for time.Now().Before(deadline) {
		var ok bool
		if alert, ok = col.find(event.TypeAlert, "nats_overflow"); ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if alert.Kind != "nats_overflow" || !strings.Contains(alert.Detail, "events were not published") {
		t.Fatalf("no nats_overflow alert: %+v", alert)
	}
	// A live close logs what was lost rather than failing the run.
	stopLive()
	if err := closeNATS(); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestAttachMetricsServes(t *testing.T) {
	leakCheck(t)
	setFlag(t, &metricsFlag, "127.0.0.1:0")
	env, _ := liveEnv(t, &Config{Tap: "lab1"})
	closeMetrics, err := attachMetrics(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	defer closeMetrics()
	addr := metricsAddr.Load().(string)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("ftptap_kernel_drops_total 7")) {
		t.Errorf("GET /metrics: %s\n%s", resp.Status, b)
	}
}
