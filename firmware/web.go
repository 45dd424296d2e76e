package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ladder"
	"github.com/ftptap/ftptap/web"
)

func init() {
	registerSink(sinkOption{name: "web", flags: webFlags, attach: attachWeb})
}

// WebConfig is the web: section of the config file: the page on the
// management address.
type WebConfig struct {
	// Listen is the page's management address, e.g. "0.0.0.0:8080"; empty:
	// no page.
	Listen string `yaml:"listen"`
	// User and Password require HTTP basic auth; Token requires a token
	// (?token=... once, then a cookie, or "Authorization: Bearer").
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	Token    string `yaml:"token"`
	// TLS serves HTTPS from PEM files.
	TLS WebTLS `yaml:"tls"`
	// Sessions and Transfers are how many ended sessions (with their
	// diagrams) and transfers the page keeps. Zero: 50 and 100.
	Sessions  int `yaml:"sessions"`
	Transfers int `yaml:"transfers"`
}

// WebTLS names the certificate and key files of the page.
type WebTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

func (c *Config) validateWeb() error {
	w := &c.Web
	switch {
	case (w.TLS.Cert == "") != (w.TLS.Key == ""):
		return c.badKey("web.tls", "cert %q, key %q: set both, or neither", w.TLS.Cert, w.TLS.Key)
	case w.Password != "" && w.User == "":
		return c.badKey("web.password", "is set but web.user is not")
	case w.Sessions < 0:
		return c.badKey("web.sessions", "%d: must not be negative", w.Sessions)
	case w.Transfers < 0:
		return c.badKey("web.transfers", "%d: must not be negative", w.Transfers)
	}
	return nil
}

var (
	// webFlag is --web of ftptap run; diagramFlag is --diagram of replay.
	webFlag, diagramFlag string
	// webServer is the attached page, for reportPort and reportDegraded.
	webServer atomic.Pointer[web.Server]
)

func webFlags(fs *flag.FlagSet, cmd string) {
	webFlag, diagramFlag = "", ""
	if cmd == "replay" {
		fs.StringVar(&diagramFlag, "diagram", "", "write each session's ladder diagram as `DIR`/s<N>.svg")
		return
	}
	fs.StringVar(&webFlag, "web", "", "serve the page on this management `ADDR` (default: the config's web.listen; off: none)")
}

// attachWeb adds the page to ftptap run, or the diagram files to replay.
func attachWeb(ctx context.Context, env *sinkEnv) (func() error, error) {
	if env.cmd == "replay" {
		if diagramFlag == "" {
			return nil, nil
		}
		return attachDiagrams(env, diagramFlag)
	}
	cfg := &env.cfg.Web
	addr, key := webFlag, "--web"
	if addr == "" {
		addr, key = cfg.Listen, "web.listen"
	}
	if addr == "" || addr == "off" {
		return nil, nil
	}
	if err := checkManagementAddr(env.cfg, addr, key); err != nil {
		return nil, err
	}
	srv, err := web.New(web.Options{
		Tap: env.cfg.TapID(), MaxSessions: cfg.Sessions, MaxTransfers: cfg.Transfers,
		AlertHold: env.cfg.LEDs.AlertHold, PacketTime: !env.live,
		User: cfg.User, Password: cfg.Password, Token: cfg.Token,
	})
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if cfg.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("web: tls: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	env.pipeline.AddSink(srv)
	srv.Start()
	webServer.Store(srv)

	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if hs.TLSConfig != nil {
			err = hs.ServeTLS(ln, "", "")
		} else {
			err = hs.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("web: " + err.Error())
		}
	})
	// Capture health without NATS, whose status events carry the same
	// figures.
	stop := make(chan struct{})
	wg.Go(func() {
		tk := time.NewTicker(5 * time.Second)
		defer tk.Stop()
		for {
			srv.Status(time.Now().UTC(), statusCounters(env))
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	})
	scheme := "http"
	if hs.TLSConfig != nil {
		scheme = "https"
	}
	slog.Info("web: serving the page", "url", scheme+"://"+ln.Addr().String()+"/")
	var once sync.Once
	return func() error {
		once.Do(func() {
			webServer.CompareAndSwap(srv, nil)
			close(stop)
			srv.Close() // ends the live streams, so Shutdown need not wait for them
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			hs.Shutdown(sctx)
			wg.Wait()
		})
		return nil
	}, nil
}

// diagramWriter writes each session's ladder diagram to DIR/s<N>.svg when
// the session ends, and each TFTP transfer's to DIR/t<N>.svg when it
// ends. Replay ends every session, so none is left out.
type diagramWriter struct {
	dir     string
	open    map[diagramKey]*ladder.Diagram
	pending []diagramKey // TFTP transfers that ended: their alerts come next
	written int
	err     error // the first write error
}

// diagramKey names a session: the FTP and TFTP trackers number their own.
type diagramKey struct {
	tftp bool
	id   uint64
}

func attachDiagrams(env *sinkEnv, dir string) (func() error, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("diagram: %w", err)
	}
	d := &diagramWriter{dir: dir, open: make(map[diagramKey]*ladder.Diagram)}
	env.pipeline.AddSink(d)
	return d.close, nil
}

func (d *diagramWriter) Event(ev *event.Event, _ []byte) {
	k := diagramKey{ev.Proto == event.ProtoTFTP, ev.Session}
	if len(d.pending) > 0 && (ev.Type != event.TypeAlert || !slices.Contains(d.pending, k)) {
		// The tracker emits a TFTP transfer's alerts right after its
		// tftp.end: anything else means they are all in.
		for _, p := range d.pending {
			d.write(d.open[p])
			delete(d.open, p)
		}
		d.pending = d.pending[:0]
	}
	if ev.Session == 0 {
		return
	}
	end := ev.Type == event.TypeSessionEnd || ev.Type == event.TypeTFTPEnd
	dg := d.open[k]
	if dg == nil {
		if end {
			return
		}
		dg = &ladder.Diagram{}
		d.open[k] = dg
	}
	dg.Add(ev)
	switch ev.Type {
	case event.TypeSessionEnd:
		d.write(dg)
		delete(d.open, k)
	case event.TypeTFTPEnd:
		d.pending = append(d.pending, k)
	}
}

func (d *diagramWriter) write(dg *ladder.Diagram) {
	name := filepath.Join(d.dir, dg.ID()+".svg")
	if err := os.WriteFile(name, dg.SVG(), 0o644); err != nil {
		if d.err == nil {
			d.err = fmt.Errorf("diagram: %w", err)
		}
		return
	}
	d.written++
}

func (d *diagramWriter) close() error {
	for _, dg := range d.open {
		d.write(dg)
	}
	clear(d.open)
	d.pending = nil
	return d.err
}
