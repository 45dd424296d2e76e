package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/ftptap/ftptap/internal/netnstest"
	"github.com/ftptap/ftptap/web"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ftptap test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestRunWeb runs ftptap run with the page on the tap namespace's
// loopback, over TLS with a token, and reads a session crossing the tap
// from GET /api/state.
func TestRunWeb(t *testing.T) {
	l := netnstest.New(t)
	// The page listens on the tap namespace's loopback, down in a new
	// namespace.
	l.In(t, l.Tap, func() {
		if lo, err := netlink.LinkByName("lo"); err == nil {
			netlink.LinkSetUp(lo)
		}
	})
	bin := buildFtptap(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	config := filepath.Join(dir, "config.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf("web:\n  listen: 127.0.0.1:0\n  token: s3cret\n  tls: {cert: %s, key: %s}\n", certFile, keyFile)), 0o644)
	p := startRun(t, l, bin, nil, append([]string{"run", "--port-a", "pa", "--port-b", "pb", "--tap", "t1", "--config", config}, quiet...)...)
	p.waitLog(t, "web: serving the page")
	// The page is served from before the bridge is made (everything that
	// can be refused is set up first); capture starts after.
	p.waitLog(t, "msg=capturing")
	m := regexp.MustCompile(`url=https://(127\.0\.0\.1:\d+)/`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("no https URL in the log:\n%s", p.stderr.String())
	}
	addr := m[1]

	ftpServer(t, l.Listen(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "21")))
	ftpLogin(t, func() (net.Conn, error) { return l.Dial(t, "tcp", net.JoinHostPort(netnstest.ServerIP4, "21")) })

	// get fetches path from the page, dialled from inside the tap
	// namespace, where ftptap listens.
	get := func(path, token string) (*http.Response, []byte) {
		t.Helper()
		var c net.Conn
		var err error
		l.In(t, l.Tap, func() { c, err = net.DialTimeout("tcp", addr, 3*time.Second) })
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n"
		if token != "" {
			req += "Authorization: Bearer " + token + "\r\n"
		}
		if _, err := tc.Write([]byte(req + "\r\n")); err != nil {
			t.Fatalf("TLS to the page: %v", err)
		}
		res, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		bufio.NewReader(res.Body).WriteTo(&body)
		res.Body.Close()
		return res, []byte(body.String())
	}
	if res, _ := get("/api/state", ""); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %s, want 401", res.Status)
	}
	deadline := time.Now().Add(10 * time.Second)
	var st web.State
	for {
		res, body := get("/api/state", "s3cret")
		if res.StatusCode != 200 {
			t.Fatalf("/api/state: %s", res.Status)
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Open) == 1 && st.Open[0].Command == "USER anonymous" && st.Health.PortA != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(st.Open) != 1 || st.Open[0].Command != "USER anonymous" || !strings.HasPrefix(st.Open[0].Client, netnstest.ClientIP4+":") {
		t.Errorf("open sessions %+v, want the one from %s with USER anonymous", st.Open, netnstest.ClientIP4)
	}
	if st.Tap != "t1" || st.Health.PortA == nil || !*st.Health.PortA || st.Health.PortB == nil || !*st.Health.PortB || st.Health.Time.IsZero() {
		t.Errorf("tap %q, health %+v: want t1, both ports up, a status", st.Tap, st.Health)
	}
	if res, body := get("/", "s3cret"); res.StatusCode != 200 || !strings.Contains(string(body), "/static/app.js") {
		t.Errorf("the page: %s", res.Status)
	}
	if res, _ := get("/"+st.Open[0].ID, "s3cret"); res.StatusCode != 404 {
		t.Errorf("GET /%s: %s, want 404", st.Open[0].ID, res.Status)
	}
	if res, body := get("/session/"+st.Open[0].ID+"/ladder.svg", "s3cret"); res.StatusCode != 200 || !strings.Contains(string(body), "USER anonymous") {
		t.Errorf("ladder.svg: %s\n%s", res.Status, body)
	}
}
