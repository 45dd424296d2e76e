package natsbus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// permErrors collects the asynchronous errors of a connection: a refused
// publish or subscribe comes back as "Permissions Violation for ...".
type permErrors chan error

func (p permErrors) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	select {
	case p <- err:
	default:
	}
}

// expect waits for the permissions violation that names subject.
func (p permErrors) expect(t *testing.T, what, subject string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-p:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), `"`+subject+`"`) {
				return
			}
		case <-deadline:
			t.Errorf("%s: no permissions violation for %q", what, subject)
			return
		}
	}
}

// tapServer starts an embedded server on loopback with o, a stream for
// lab1, and a publisher on the in-process connection that has stored n
// events. It returns the server, the numberer that feeds the publisher,
// and the stream's name.
func tapServer(t *testing.T, o ServerOptions, sessions int) (*Server, *numberer, string) {
	t.Helper()
	o.Domain = "lab1"
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	s := startServer(t, o)
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	stream := ensureStream(t, nc, StreamOptions{Tap: "lab1", Own: true, MaxBytes: 8 << 20})
	p, err := NewPublisher(nc, Options{Tap: "lab1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closePublisher(t, p, 10*time.Second) })
	n := &numberer{tap: "lab1", sink: p}
	for i := range sessions {
		n.emitAll(sessionEvents(uint64(i+1), 1, time.Now()))
	}
	js, _ := jetstream.New(nc)
	waitCount(t, js, stream, n.seq)
	return s, n, stream
}

func waitCount(t *testing.T, js jetstream.JetStream, stream string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for streamCount(t, js, stream) != want {
		if time.Now().After(deadline) {
			t.Fatalf("stream %s holds %d events, want %d", stream, streamCount(t, js, stream), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 11: by default a client on the management address reads and does
// nothing else. Each forbidden action is refused by the server with a
// permissions violation, the stream is left as it was, and the tap's own
// events keep flowing.
func TestAnonymousReadOnly(t *testing.T) {
	s, n, stream := tapServer(t, ServerOptions{}, 2)
	stored := n.seq

	errs := make(permErrors, 64)
	anon, err := nats.Connect(s.ClientURL(), nats.ErrorHandler(errs.handler), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("a client without credentials: %v", err)
	}
	defer anon.Close()
	live, err := anon.SubscribeSync("ftptap.>")
	if err != nil {
		t.Fatal(err)
	}
	anon.Flush()
	js, err := jetstream.NewWithDomain(anon, "lab1")
	if err != nil {
		t.Fatal(err)
	}
	jsLocal, _ := jetstream.New(anon)

	// Reading works: stream info, the whole history with an ordered
	// consumer (what nats stream view does), a pull consumer with acks.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream info without credentials: %v", err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != stored {
		t.Fatalf("stream info: %v, %v; want %d events", info, err, stored)
	}
	checkExactlyOnce(t, readStream(t, js, stream, int(stored), 10*time.Second), map[string]uint64{"lab1": stored})
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "ftptap.lab1.request.>"})
	if err != nil {
		t.Fatalf("create a consumer without credentials: %v", err)
	}
	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		if !strings.HasPrefix(m.Subject(), "ftptap.lab1.request.") {
			t.Errorf("fetched %s", m.Subject())
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Errorf("ack: %v", err)
		}
		got++
	}
	if got != 3 || batch.Error() != nil {
		t.Errorf("fetched %d of 3 requests: %v", got, batch.Error())
	}
	if _, err := jsLocal.Stream(ctx, stream); err != nil {
		t.Errorf("stream info through $JS.API: %v", err)
	}

	// Everything else is refused.
	short := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	forged := `{"v":1,"type":"request","command":"USER","arg":"forged"}`
	tests := []struct {
		name    string
		do      func()
		subject string
	}{
		{"publish a forged event", func() { anon.Publish("ftptap.lab1.request.USER", []byte(forged)) }, "ftptap.lab1.request.USER"},
		{"publish through JetStream", func() { jsLocal.Publish(short(), "ftptap.lab1.alert.x", []byte(forged)) }, "ftptap.lab1.alert.x"},
		{"purge the stream", func() { st.Purge(short()) }, "$JS.API.STREAM.PURGE." + stream},
		{"delete the stream", func() { js.DeleteStream(short(), stream) }, "$JS.API.STREAM.DELETE." + stream},
		{"delete the stream (no domain)", func() { jsLocal.DeleteStream(short(), stream) }, "$JS.API.STREAM.DELETE." + stream},
		{"edit the stream", func() {
			js.UpdateStream(short(), jetstream.StreamConfig{Name: stream, Subjects: []string{"ftptap.lab1.>"}, MaxBytes: 1 << 20})
		}, "$JS.API.STREAM.UPDATE." + stream},
		{"create a stream", func() { js.CreateStream(short(), jetstream.StreamConfig{Name: "EVIL", Subjects: []string{"evil.>"}}) }, "$JS.API.STREAM.CREATE.EVIL"},
		{"delete a message", func() { st.DeleteMsg(short(), 1) }, "$JS.API.STREAM.MSG.DELETE." + stream},
		{"delete a consumer", func() { st.DeleteConsumer(short(), "someone") }, "$JS.API.CONSUMER.DELETE." + stream + ".someone"},
		{"forge a reply", func() { anon.Publish("_INBOX.someone.else", []byte("+OK")) }, "_INBOX.someone.else"},
		{"publish elsewhere", func() { anon.Publish("orders.new", nil) }, "orders.new"},
		{"watch the API traffic", func() { anon.SubscribeSync("$JS.API.>") }, "$JS.API.>"},
		{"watch everything", func() { anon.SubscribeSync(">") }, ">"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.do()
			anon.Flush()
			errs.expect(t, tt.name, tt.subject)
		})
	}
	if anon.IsClosed() {
		t.Fatal("the server closed the anonymous connection")
	}

	// Nothing changed in the stream, and the tap's own events still
	// arrive: on the live subjects and in the stream.
	admin, _ := jetstream.New(mustConnect(t, s))
	if got := streamCount(t, admin, stream); got != stored {
		t.Errorf("after the refused actions the stream holds %d events, want %d", got, stored)
	}
	if _, err := admin.Stream(ctx, "EVIL"); err == nil {
		t.Error("stream EVIL exists")
	}
	for m, err := live.NextMsg(0); err == nil; m, err = live.NextMsg(0) {
		if strings.Contains(string(m.Data), "forged") {
			t.Errorf("a subscriber saw the forged event on %s", m.Subject)
		}
	}
	n.emitAll(sessionEvents(9, 1, time.Now()))
	waitCount(t, admin, stream, n.seq)
	m, err := live.NextMsg(5 * time.Second)
	if err != nil || decodeEvent(t, m.Data).Seq != stored+1 {
		t.Fatalf("live subscription after the refusals: %v %v, want seq %d", m, err, stored+1)
	}
}

func mustConnect(t *testing.T, s *Server) *nats.Conn {
	t.Helper()
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// The admin credentials (user and password, token, NKey) give full rights:
// a purge goes through. Wrong credentials are refused outright, not
// downgraded to read-only.
func TestAdminCredentials(t *testing.T) {
	ukp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	upub, _ := ukp.PublicKey()
	other, _ := nkeys.CreateUser()
	opub, _ := other.PublicKey()
	s, n, stream := tapServer(t, ServerOptions{Admin: AdminAuth{User: "ops", Password: "pw", Token: "tok", NKey: upub}}, 1)
	sign := func(kp nkeys.KeyPair) func([]byte) ([]byte, error) { return kp.Sign }
	tests := []struct {
		name string
		opt  nats.Option
		ok   bool
	}{
		{"user", nats.UserInfo("ops", "pw"), true},
		{"token", nats.Token("tok"), true},
		{"nkey", nats.Nkey(upub, sign(ukp)), true},
		{"wrong password", nats.UserInfo("ops", "nope"), false},
		{"wrong token", nats.Token("nope"), false},
		{"unknown nkey", nats.Nkey(opub, sign(other)), false},
		{"the anonymous user by name", nats.UserInfo(anonymousUser, ""), false},
		{"the internal user by name", nats.UserInfo(internalUser, ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(s.ClientURL(), tt.opt, nats.MaxReconnects(0))
			if !tt.ok {
				if err == nil {
					nc.Close()
					t.Fatal("connected")
				}
				if !errors.Is(err, nats.ErrAuthorization) {
					t.Errorf("error %v, want an authorization violation", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.NewWithDomain(nc, "lab1")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := js.Stream(ctx, stream)
			if err != nil {
				t.Fatal(err)
			}
			before := streamCount(t, js, stream)
			evs := sessionEvents(2, 0, time.Now())
			n.emitAll(evs)
			waitCount(t, js, stream, before+uint64(len(evs))) // stored before the purge, not after
			pre, err := st.Info(ctx)
			if err != nil || pre.State.Msgs == 0 {
				t.Fatalf("before the purge: %v %v", pre, err)
			}
			if err := st.Purge(ctx); err != nil {
				t.Fatalf("purge as admin: %v", err)
			}
			// Events the tap publishes meanwhile (status, a late one) may
			// be stored after the purge; none stored before it is left.
			info, err := st.Info(ctx)
			if err != nil {
				t.Fatalf("after the purge: %v", err)
			}
			if info.State.Msgs != 0 && info.State.FirstSeq <= pre.State.LastSeq {
				t.Errorf("after the purge: first seq %d, want past %d, the last before it", info.State.FirstSeq, pre.State.LastSeq)
			}
		})
	}
}

// NoAnonymous and a token for everyone shut readers without credentials
// out; the in-process connection still works.
func TestNoAnonymous(t *testing.T) {
	for _, o := range []ServerOptions{{NoAnonymous: true}, {Token: "s3cret"}} {
		s, _, _ := tapServer(t, o, 1)
		nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0))
		if err == nil {
			nc.Close()
			t.Errorf("%+v: a client without credentials connected", o)
		}
	}
}

func TestServerAuthErrors(t *testing.T) {
	tests := []struct {
		name string
		o    ServerOptions
		want string
	}{
		{"password alone", ServerOptions{Admin: AdminAuth{Password: "x"}}, "without an admin user"},
		{"user alone", ServerOptions{Admin: AdminAuth{User: "ops"}}, "has no password"},
		{"taken name", ServerOptions{Admin: AdminAuth{User: "anonymous", Password: "x"}}, "taken"},
		{"seed for nkey", ServerOptions{Admin: AdminAuth{NKey: "SUAM"}}, "public NKey"},
		{"two tokens", ServerOptions{Token: "a", Admin: AdminAuth{Token: "b"}}, "set one"},
		{"tls key missing", ServerOptions{TLS: TLSFiles{Cert: "c.pem"}}, "both cert and key"},
		{"tls files missing", ServerOptions{TLS: TLSFiles{Cert: "/nonexistent/c.pem", Key: "/nonexistent/k.pem"}}, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.StoreDir = t.TempDir()
			checkStartError(t, tt.o, tt.want)
		})
	}
}

// TLS on the listener: a client that trusts the certificate reads over
// tls://, a plain client is refused, the in-process connection is
// unaffected; with a CA the server wants a client certificate.
func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := writeCert(t, dir, "ca", nil, nil)
	writeCert(t, dir, "server", caCert, caKey)
	writeCert(t, dir, "client", caCert, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)

	s, _, stream := tapServer(t, ServerOptions{TLS: TLSFiles{Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server.key")}}, 1)
	u := strings.Replace(s.ClientURL(), "nats://", "tls://", 1)
	nc, err := nats.Connect(u, nats.Secure(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("tls client: %v", err)
	}
	js, _ := jetstream.NewWithDomain(nc, "lab1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, stream); err != nil {
		t.Errorf("stream info over TLS: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a plain client connected to the TLS listener")
	}

	// Mutual TLS.
	files := TLSFiles{Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server.key"), CA: filepath.Join(dir, "ca.pem")}
	s2, _, _ := tapServer(t, ServerOptions{TLS: files}, 1)
	u2 := strings.Replace(s2.ClientURL(), "nats://", "tls://", 1)
	if nc, err := nats.Connect(u2, nats.Secure(&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("connected without a client certificate")
	}
	nc, err = nats.Connect(u2, nats.RootCAs(filepath.Join(dir, "ca.pem")), nats.ClientCert(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	nc.Close()
}

// writeCert writes name.pem and name.key: a CA when parent is nil, else a
// certificate for localhost and 127.0.0.1 signed by parent.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// The server's warning about plaintext passwords is not logged for the
// random passwords of ftptap's own users; it is for an admin password
// given in clear.
func TestPlaintextWarning(t *testing.T) {
	for _, tt := range []struct {
		admin AdminAuth
		want  int
	}{{AdminAuth{}, 0}, {AdminAuth{Token: "t"}, 0}, {AdminAuth{User: "ops", Password: "pw"}, 1}} {
		var logs logLines
		s := startServer(t, ServerOptions{StoreDir: t.TempDir(), Admin: tt.admin, Logf: logs.logf})
		s.Close()
		if got := logs.count("Plaintext passwords"); got != tt.want {
			t.Errorf("admin %+v: %d warnings, want %d: %q", tt.admin, got, tt.want, logs.lines)
		}
	}
}
