package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/natsbus"
)

func init() {
	registerSink(sinkOption{name: "nats", flags: natsFlags, attach: attachNATS})
}

var (
	// natsFlag is --nats of the command being run.
	natsFlag string
	// natsPub is the attached publisher, for status counters and /metrics.
	natsPub atomic.Pointer[natsbus.Publisher]
	// embeddedURL is the client URL of the running embedded server.
	embeddedURL atomic.Value // string
)

func natsFlags(fs *flag.FlagSet, cmd string) {
	def := "off"
	if cmd != "replay" {
		def = "the config's nats.urls, else the embedded server"
	}
	natsFlag = ""
	fs.StringVar(&natsFlag, "nats", "", "publish events to the NATS server at `URL` (several: comma-separated), or off (default: "+def+")")
}

// natsLogf logs connection changes and trouble through slog (journald
// under systemd).
func natsLogf(format string, args ...any) {
	slog.Info(fmt.Sprintf(format, args...))
}

// attachNATS publishes the pipeline's events over NATS: to the servers of
// --nats or nats.urls as a client, or (run, no urls) through the embedded
// server. Live, it also injects a status event every status_interval.
func attachNATS(ctx context.Context, env *sinkEnv) (func() error, error) {
	cfg := &env.cfg.NATS
	tap := env.cfg.TapID()
	var urls []string
	switch {
	case natsFlag == "off":
		return nil, nil
	case natsFlag != "":
		for _, u := range strings.Split(natsFlag, ",") {
			u = strings.TrimSpace(u)
			if !strings.Contains(u, "://") {
				u = "nats://" + u
			}
			if err := checkNATSURL(u, "nats", "tls", "ws", "wss"); err != nil {
				return nil, fmt.Errorf("%w: --nats %q: %v", errUsage, u, err)
			}
			urls = append(urls, u)
		}
	case env.cmd == "replay":
		return nil, nil
	case cfg.Enabled != nil && !*cfg.Enabled:
		return nil, nil
	default:
		urls = cfg.URLs
	}
	if !natsbus.ValidToken(tap) {
		return nil, fmt.Errorf("config: tap %q: must be letters, digits, '-' or '_' (it is a NATS subject token)", tap)
	}
	syncEvery, err := cfg.syncInterval()
	if err != nil {
		return nil, err
	}
	popts := natsbus.Options{
		Tap:          tap,
		QueueLen:     cfg.Spool.Queue,
		SpoolBytes:   int64(cfg.Spool.MaxBytes),
		SyncInterval: syncEvery,
		Logf:         natsLogf,
		OnDrop: func(n uint64) {
			// On the publisher's goroutine: Inject is safe from any.
			env.pipeline.Inject(event.Event{
				Type:   event.TypeAlert,
				Time:   alertTime(env),
				Kind:   natsOverflowAlert,
				Detail: fmt.Sprintf("%d events were not published: the NATS queue or spool is full, or its disk (is the server out of reach?)", n),
			})
		},
	}
	var (
		nc  *nats.Conn
		srv *natsbus.Server
	)
	if len(urls) > 0 {
		co := cfg.clientOptions(urls, tap)
		co.Logf = natsLogf
		if env.cmd == "replay" {
			// A person waits: fail now, naming the server and why.
			if nc, err = natsbus.DialOnce(co); err != nil {
				return nil, unreachable(urls, err)
			}
		} else if nc, err = natsbus.Dial(co); err != nil {
			return nil, err
		}
		if cfg.JetStream != nil && !*cfg.JetStream {
			popts.Core = true
		} else if cfg.Stream.Create == nil || *cfg.Stream.Create {
			so := cfg.streamOptions(tap, false)
			popts.Stream = &so
		}
		popts.SpoolDir = cfg.Spool.Dir
		if env.cmd != "replay" {
			popts.SpoolDir = cfg.spoolDir()
		}
	} else {
		if srv, nc, err = startEmbedded(ctx, env, tap, syncEvery); err != nil {
			return nil, err
		}
	}
	pub, err := natsbus.NewPublisher(nc, popts)
	if err != nil {
		nc.Close()
		if srv != nil {
			srv.Close()
		}
		return nil, err
	}
	env.pipeline.AddSink(pub)
	natsPub.Store(pub)

	statusCtx, stopStatus := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if env.live {
		wg.Go(func() { natsStatusLoop(statusCtx, env, cfg.statusInterval(), pub) })
	}
	var once sync.Once
	var closeErr error
	return func() error {
		once.Do(func() {
			stopStatus()
			wg.Wait()
			dctx, cancel := context.WithTimeout(context.Background(), cfg.drain())
			defer cancel()
			err := pub.Close(dctx)
			natsPub.CompareAndSwap(pub, nil)
			nc.Close()
			if srv != nil {
				srv.Close()
			}
			if env.live {
				// A stopping service still exits 0: say what was lost.
				if err != nil {
					slog.Error(strings.ReplaceAll(err.Error(), "\n", "; "))
				}
				return
			}
			closeErr = err
		})
		return closeErr
	}, nil
}

// alertTime is the time of an event ftptap makes itself: the wall clock
// live, the pipeline's packet time (zero Time) in replay.
func alertTime(env *sinkEnv) time.Time {
	if env.live {
		return time.Now().UTC()
	}
	return time.Time{}
}

// startEmbedded starts the embedded server and makes sure of the tap's
// stream in it.
func startEmbedded(ctx context.Context, env *sinkEnv, tap string, syncEvery time.Duration) (*natsbus.Server, *nats.Conn, error) {
	cfg := &env.cfg.NATS
	listen := cfg.Server.Listen
	if listen == "" {
		listen = defaultNATSListen
	}
	if env.live {
		if err := checkManagementAddr(env.cfg, listen, "nats.server.listen"); err != nil {
			return nil, nil, err
		}
	}
	store := cfg.storeDir()
	domain := cfg.Server.Domain
	if domain == "" {
		domain = tap
	}
	streamBytes := int64(cfg.Stream.MaxBytes)
	if streamBytes == 0 {
		streamBytes = defaultStreamBytes
	}
	srv, err := natsbus.StartServer(natsbus.ServerOptions{
		Listen:       listen,
		Token:        cfg.Server.Token,
		Admin:        cfg.Server.Admin.auth(),
		NoAnonymous:  cfg.Server.Anonymous == "none",
		TLS:          cfg.Server.TLS.files(),
		StoreDir:     store,
		Domain:       domain,
		MaxStore:     streamBytes + natsStoreHeadroom,
		SyncInterval: syncEvery,
		LeafRemotes:  cfg.Server.Leaf.Remotes,
		LeafCreds:    cfg.Server.Leaf.Creds,
		LeafTLS:      cfg.Server.Leaf.TLS.files(),
		Logf:         natsLogf,
	})
	if err != nil {
		return nil, nil, err
	}
	nc, err := srv.Connect(nats.Name("ftptap " + tap))
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := natsbus.EnsureStream(sctx, nc, cfg.streamOptions(tap, true)); err != nil {
		nc.Close()
		srv.Close()
		return nil, nil, err
	}
	embeddedURL.Store(srv.ClientURL())
	if u := srv.ClientURL(); u != "" {
		slog.Info("nats: embedded server", "url", u, "domain", domain, "store", store)
	}
	return srv, nc, nil
}

// natsStatusLoop injects a status event every period and keeps the alert
// LED's "nats" reason in step with the connection.
func natsStatusLoop(ctx context.Context, env *sinkEnv, every time.Duration, pub *natsbus.Publisher) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	down := false
	defer func() {
		if down {
			reportDegraded("nats", false)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		env.pipeline.Inject(event.Event{Type: event.TypeStatus, Time: time.Now().UTC(), Counters: statusCounters(env)})
		if d := !pub.Stats().Connected; d != down {
			down = d
			reportDegraded("nats", d)
		}
	}
}

// checkManagementAddr refuses a listen address that would be reachable on
// the tapped segments: an address of port_a, port_b or the bridge, or the
// unspecified address while one of those carries an address. A tap is
// managed over another interface.
func checkManagementAddr(cfg *Config, listen, key string) error {
	host, _, err := splitListen(listen)
	if err != nil {
		return fmt.Errorf("config: %s %q: %w", key, listen, err)
	}
	ip := net.ParseIP(host)
	any := host == "" || ip.IsUnspecified()
	tapped := []string{cfg.PortA, cfg.PortB}
	if cfg.BridgeOn() {
		tapped = append(tapped, cfg.BridgeIfName())
	}
	for _, name := range tapped {
		if name == "" {
			continue
		}
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			continue // a missing port is reported by the capture
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			switch {
			case ip != nil && n.IP.Equal(ip):
				return fmt.Errorf("config: %s %q: %s is an address of the tapped interface %s: listen on the management address", key, listen, ip, name)
			case any && !n.IP.IsLinkLocalUnicast():
				return fmt.Errorf("config: %s %q would also listen on the tapped interface %s (%s): set it to the management address", key, listen, name, n.IP)
			}
		}
	}
	return nil
}

// unreachable explains a failed first connection: nats.go reports a refused
// connection only as "no servers available", so each server is dialled
// once more to name the cause (connection refused, no such host).
func unreachable(urls []string, err error) error {
	var causes []string
	for _, u := range urls {
		pu, perr := url.Parse(u)
		if perr != nil || pu.Host == "" {
			continue
		}
		host := pu.Host
		if pu.Port() == "" {
			host = net.JoinHostPort(pu.Hostname(), "4222")
		}
		c, derr := net.DialTimeout("tcp", host, 2*time.Second)
		if derr != nil {
			var oe *net.OpError
			if errors.As(derr, &oe) && oe.Err != nil {
				derr = oe.Err
			}
			causes = append(causes, fmt.Sprintf("%s: %v", u, derr))
			continue
		}
		c.Close()
		causes = append(causes, fmt.Sprintf("%s: %v", u, err))
	}
	if len(causes) == 0 {
		return err
	}
	return fmt.Errorf("nats: cannot reach %s", strings.Join(causes, "; "))
}
