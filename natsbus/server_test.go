package natsbus

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func startServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	s, err := StartServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The embedded default: the tap publishes in-process into its own stream,
// and a laptop subscribes over TCP on the management address.
func TestEmbeddedServer(t *testing.T) {
	store := t.TempDir()
	s := startServer(t, ServerOptions{Listen: "127.0.0.1:0", StoreDir: store, Domain: "lab1"})
	u, err := url.Parse(s.ClientURL())
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "0" {
		t.Fatalf("ClientURL %q: want the management address with its port", s.ClientURL())
	}
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := EnsureStream(ctx, nc, StreamOptions{Tap: "lab1", Own: true, MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}

	laptop, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer laptop.Close()
	users, _ := laptop.SubscribeSync("ftptap.*.request.USER")
	laptop.Flush()

	p, err := NewPublisher(nc, Options{Tap: "lab1"})
	if err != nil {
		t.Fatal(err)
	}
	n := &numberer{tap: "lab1", sink: p}
	n.emitAll(sessionEvents(1, 3, time.Now()))
	closePublisher(t, p, 10*time.Second)
	m, err := users.NextMsg(5 * time.Second)
	if err != nil || m.Subject != "ftptap.lab1.request.USER" {
		t.Fatalf("laptop subscription: %v, %v", m, err)
	}

	// The laptop reads the stored history too, through the server's
	// JetStream domain.
	ljs, err := jetstream.NewWithDomain(laptop, "lab1")
	if err != nil {
		t.Fatal(err)
	}
	msgs := readStream(t, ljs, stream, int(n.seq), 10*time.Second)
	checkExactlyOnce(t, msgs, map[string]uint64{"lab1": n.seq})

	info, err := mustStream(t, ljs, stream).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.MaxBytes != 8<<20 || c.Compression != jetstream.S2Compression || c.Storage != jetstream.FileStorage || c.Discard != jetstream.DiscardOld {
		t.Errorf("stream config %+v: want 8 MiB, S2, file storage, discard old", c)
	}

	// A restart keeps the events, and EnsureStream accepts the stream it
	// finds (with a new size).
	nc.Close()
	s.Close()
	s = startServer(t, ServerOptions{Listen: "127.0.0.1:0", StoreDir: store, Domain: "lab1"})
	nc2, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	if _, err := EnsureStream(ctx, nc2, StreamOptions{Tap: "lab1", Own: true, MaxBytes: 16 << 20}); err != nil {
		t.Fatal(err)
	}
	js2, _ := jetstream.New(nc2)
	if got := streamCount(t, js2, stream); got != n.seq {
		t.Errorf("after restart the stream holds %d events, want %d", got, n.seq)
	}
}

func mustStream(t testing.TB, js jetstream.JetStream, name string) jetstream.Stream {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Without a listen address the server takes no TCP connections at all.
func TestEmbeddedServerInProcessOnly(t *testing.T) {
	s := startServer(t, ServerOptions{StoreDir: t.TempDir(), Domain: "lab1"})
	if u := s.ClientURL(); u != "" {
		t.Errorf("ClientURL = %q, want none", u)
	}
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A token, when set, is required from TCP clients; the in-process
// connection presents it.
func TestEmbeddedServerToken(t *testing.T) {
	s := startServer(t, ServerOptions{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Token: "s3cret"})
	if nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("connected without the token")
	}
	nc, err := nats.Connect(s.ClientURL(), nats.Token("s3cret"))
	if err != nil {
		t.Fatalf("with the token: %v", err)
	}
	nc.Close()
	ip, err := s.Connect()
	if err != nil {
		t.Fatalf("in-process: %v", err)
	}
	ip.Close()
}

func TestStartServerErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inUse := t.TempDir()
	startServer(t, ServerOptions{StoreDir: inUse})
	tests := []struct {
		name string
		o    ServerOptions
		want string
	}{
		{"no store", ServerOptions{}, "no store directory"},
		{"bad domain", ServerOptions{StoreDir: t.TempDir(), Domain: "lab.1"}, `domain "lab.1"`},
		{"leaf without domain", ServerOptions{StoreDir: t.TempDir(), LeafRemotes: []string{"nats-leaf://127.0.0.1:7422"}}, "own JetStream domain"},
		{"bad listen", ServerOptions{StoreDir: t.TempDir(), Listen: "nowhere"}, `listen "nowhere"`},
		{"bad leaf url", ServerOptions{StoreDir: t.TempDir(), Domain: "x", LeafRemotes: []string{"::"}}, "leaf remote"},
		{"store in use", ServerOptions{StoreDir: inUse}, "in use by another server"},
		{"port in use", ServerOptions{StoreDir: t.TempDir(), Listen: busy.Addr().String()}, "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkStartError(t, tt.o, tt.want)
		})
	}
}

// checkStartError checks that StartServer refuses o with an error that
// contains want (and closes the server if it started after all).
func checkStartError(t *testing.T, o ServerOptions, want string) {
	t.Helper()
	s, err := StartServer(o)
	if err == nil {
		s.Close()
		t.Fatalf("no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
}
