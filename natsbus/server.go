package natsbus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerOptions configure the embedded NATS server.
type ServerOptions struct {
	// Name is the server's name; default "ftptap-<Domain>".
	Name string
	// Listen is the host:port clients connect to: the tap's management
	// address. Empty: no listener, in-process connections only.
	Listen string
	// Token, when set, is required from every client, and gives full
	// rights: no client reads without it.
	Token string
	// Admin are credentials that give a TCP client full rights (publish,
	// stream edits, purge). Clients without credentials only read.
	Admin AdminAuth
	// NoAnonymous refuses clients that present no credentials; by default
	// they may subscribe to ftptap.> and read the stream, nothing else.
	NoAnonymous bool
	// TLS, with Cert and Key, makes the listener speak TLS; with CA too,
	// clients must present a certificate that CA signed.
	TLS TLSFiles
	// StoreDir holds JetStream's files. Required.
	StoreDir string
	// Domain is the server's JetStream domain: one token, unique among the
	// taps of a hub. Required with LeafRemotes.
	Domain string
	// MaxStore caps JetStream's disk use. Default 320 MiB.
	MaxStore int64
	// SyncInterval is how often JetStream fsyncs its files; negative: after
	// every write. Default 30s (see the README's NATS section).
	SyncInterval time.Duration
	// LeafRemotes, when set, make the server a leaf node of a hub cluster
	// (nats-leaf:// or tls:// URLs of the hub's leaf node ports).
	LeafRemotes []string
	// LeafCreds is a .creds file for the leaf node connection.
	LeafCreds string
	// LeafTLS secures the leaf node connection.
	LeafTLS TLSFiles
	// Logf receives the server's warnings and errors; nil: none.
	Logf func(format string, args ...any)
}

// AdminAuth are the credentials of a NATS client with full rights on the
// embedded server. Any combination may be set; all empty: no admin.
type AdminAuth struct {
	User, Password string
	Token          string
	// NKey is a user's public NKey (it starts with U); the client signs
	// the server's nonce with the seed.
	NKey string
}

// Server is an embedded nats-server with JetStream.
type Server struct {
	secret string // the password of the in-process user, known to no one else
	unlock func() // releases the store's lock
	opts   server.Options
	logger serverLogger
	store  string

	mu sync.Mutex // guards ns, which a repair replaces
	ns *server.Server

	writeErr atomic.Bool // the store had a write error (a full disk)
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

// repairEvery is how often a server whose store had a write error checks
// for room on the disk.
const repairEvery = 2 * time.Second

// minRepairFree is the free space on the store's disk a repair waits for.
const minRepairFree = 1 << 20

// StartServer starts the embedded server and waits until it accepts
// connections. The caller closes it with Close.
func StartServer(o ServerOptions) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("natsbus: server: no store directory")
	}
	if o.Domain != "" && !ValidToken(o.Domain) {
		return nil, fmt.Errorf("natsbus: server: domain %q: must be one token (letters, digits, '-', '_')", o.Domain)
	}
	if len(o.LeafRemotes) > 0 && o.Domain == "" {
		return nil, errors.New("natsbus: server: a leaf node needs its own JetStream domain")
	}
	if o.MaxStore <= 0 {
		o.MaxStore = 320 << 20
	}
	if o.Name == "" {
		o.Name = "ftptap"
		if o.Domain != "" {
			o.Name += "-" + o.Domain
		}
	}
	opts := &server.Options{
		ServerName:         o.Name,
		JetStream:          true,
		JetStreamDomain:    o.Domain,
		JetStreamMaxStore:  o.MaxStore,
		JetStreamMaxMemory: 16 << 20,
		StoreDir:           o.StoreDir,
		NoSigs:             true,
		MaxPayload:         1 << 20,
	}
	secret, err := configureAuth(opts, o)
	if err != nil {
		return nil, err
	}
	if o.TLS.Cert != "" || o.TLS.Key != "" || o.TLS.CA != "" {
		if o.TLS.Cert == "" || o.TLS.Key == "" {
			return nil, errors.New("natsbus: server: tls: a listener needs both cert and key")
		}
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: o.TLS.Cert, KeyFile: o.TLS.Key, CaFile: o.TLS.CA, Verify: o.TLS.CA != "",
		})
		if err != nil {
			return nil, fmt.Errorf("natsbus: server: tls: %w", err)
		}
		opts.TLSConfig, opts.TLSVerify, opts.TLSTimeout = tc, o.TLS.CA != "", 5
	}
	switch {
	case o.SyncInterval < 0:
		opts.SyncAlways = true
		opts.SyncInterval = 2 * time.Minute
	case o.SyncInterval == 0:
		opts.SyncInterval = 30 * time.Second
	default:
		opts.SyncInterval = o.SyncInterval
	}
	if o.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("natsbus: server: listen %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < -1 || p > 65535 {
			return nil, fmt.Errorf("natsbus: server: listen %q: bad port", o.Listen)
		}
		if p == 0 {
			p = -1 // a random port, as the server spells it
		}
		opts.Host, opts.Port = host, p
		if host == "" {
			opts.Host = "0.0.0.0"
		}
		// The server only logs a failed listen and never becomes ready:
		// try the address first to give one clear error.
		if p > 0 {
			l, err := net.Listen("tcp", net.JoinHostPort(opts.Host, port))
			if err != nil {
				return nil, fmt.Errorf("natsbus: server: listen %s: %w", o.Listen, err)
			}
			l.Close()
		}
	}
	if len(o.LeafRemotes) > 0 {
		r := &server.RemoteLeafOpts{Credentials: o.LeafCreds}
		for _, s := range o.LeafRemotes {
			u, err := url.Parse(s)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("natsbus: server: leaf remote %q: not a URL", s)
			}
			r.URLs = append(r.URLs, u)
		}
		if o.LeafTLS.enabled() {
			tc, err := o.LeafTLS.config()
			if err != nil {
				return nil, err
			}
			r.TLS, r.TLSConfig = true, tc
		}
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{r}
		opts.LeafNode.ReconnectInterval = 2 * time.Second
	}
	unlock, err := lockDir(o.StoreDir)
	if err != nil {
		return nil, err
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// The in-process and anonymous users' passwords are random and never
	// written anywhere: the server's warning about plaintext passwords
	// concerns only an admin password given in clear.
	plain := o.Admin.Password != "" && !strings.HasPrefix(o.Admin.Password, "$2")
	s := &Server{secret: secret, unlock: unlock, store: o.StoreDir, stop: make(chan struct{})}
	s.logger = serverLogger{logf: logf, quietPlaintext: !plain, onWriteErr: func() { s.writeErr.Store(true) }}
	ns, err := s.start(opts, o.Listen)
	if err != nil {
		unlock()
		return nil, err
	}
	if a, ok := ns.Addr().(*net.TCPAddr); ok {
		opts.Port = a.Port // a repair restarts on the same port
	}
	s.opts, s.ns = *opts, ns
	s.wg.Add(1)
	go s.repairLoop()
	return s, nil
}

// start starts a nats-server with opts and waits until it is ready.
func (s *Server) start(opts *server.Options, listen string) (*server.Server, error) {
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsbus: server: %w", err)
	}
	ns.SetLoggerV2(s.logger, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsbus: server: not ready (listen %q, store %s): see the log", listen, opts.StoreDir)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsbus: server: JetStream did not start (store %s)", opts.StoreDir)
	}
	return ns, nil
}

// repairLoop restarts the server once its store had a write error and the
// disk has room again. nats-server stops storing to a stream after a write
// error (a full disk) for as long as it runs; a restart on the same store
// recovers what was stored, and the in-process connection reconnects to
// the new server by itself (see Connect), so the publisher sends again
// what was not acknowledged.
func (s *Server) repairLoop() {
	defer s.wg.Done()
	tk := time.NewTicker(repairEvery)
	defer tk.Stop()
	waiting := false
	for {
		select {
		case <-s.stop:
			return
		case <-tk.C:
		}
		if !s.writeErr.Load() {
			continue
		}
		free, ok := freeBytes(s.store)
		if !ok {
			return // no way to tell: left as it is
		}
		if free < minRepairFree {
			if !waiting {
				s.logger.logf("natsbus: server: the JetStream store had a write error (a full disk?): events are kept and retried until %s has room", s.store)
				waiting = true
			}
			continue
		}
		if err := s.restart(); err != nil {
			s.logger.logf("%v", err)
			continue
		}
		s.logger.logf("natsbus: server: restarted on the same store now that %s has room: storing again", s.store)
		waiting = false
	}
}

func (s *Server) restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.writeErr.Store(false)
	opts := s.opts
	ns, err := s.start(&opts, "")
	if err != nil {
		s.writeErr.Store(true) // tried again at the next tick
		return err
	}
	s.ns = ns
	return nil
}

// current returns the running nats-server.
func (s *Server) current() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns
}

// InProcessConn makes Server a nats.InProcessConnProvider: a connection
// reaches whichever nats-server runs now, also after a repair.
func (s *Server) InProcessConn() (net.Conn, error) { return s.current().InProcessConn() }

// Connect returns an in-process connection to the server: no socket, so it
// is up as long as the server is.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{nats.InProcessServer(s), nats.MaxReconnects(-1), nats.ReconnectBufSize(-1),
		nats.UserInfo(internalUser, s.secret)}
	nc, err := nats.Connect("", append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect in-process: %w", err)
	}
	return nc, nil
}

// ClientURL returns the URL clients use, or "" without a listener.
func (s *Server) ClientURL() string {
	ns := s.current()
	if ns.Addr() == nil {
		return ""
	}
	return ns.ClientURL()
}

// NumLeafNodes returns the number of leaf node connections (to the hub).
func (s *Server) NumLeafNodes() int { return s.current().NumLeafNodes() }

// Close shuts the server down and waits for it; JetStream syncs its files
// on the way.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		ns := s.current()
		ns.Shutdown()
		ns.WaitForShutdown()
		s.unlock()
	})
	return nil
}

// serverLogger passes the server's warnings and errors to a Logf. Notices
// (the start-up banner, every leaf node connect) are left out: a tap logs
// to journald on an SD card.
type serverLogger struct {
	logf           func(format string, args ...any)
	quietPlaintext bool
	onWriteErr     func() // a stream's store had a write error
}

func (l serverLogger) Noticef(format string, v ...any) {}
func (l serverLogger) Warnf(format string, v ...any) {
	if l.quietPlaintext && strings.HasPrefix(format, "Plaintext passwords detected") {
		return
	}
	l.logf("nats-server: warning: "+format, v...)
}
func (l serverLogger) Fatalf(format string, v ...any) { l.logf("nats-server: fatal: "+format, v...) }
func (l serverLogger) Errorf(format string, v ...any) {
	if strings.Contains(format, "critical write error") && l.onWriteErr != nil {
		l.onWriteErr()
	}
	l.logf("nats-server: error: "+format, v...)
}
func (l serverLogger) Debugf(format string, v ...any) {}
func (l serverLogger) Tracef(format string, v ...any) {}
