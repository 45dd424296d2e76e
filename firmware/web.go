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
// the session ends. Replay ends every session, so none is left out.
type diagramWriter struct {
	dir     string
	open    map[uint64]*ladder.Diagram
	written int
	err     error // the first write error
}

func attachDiagrams(env *sinkEnv, dir string) (func() error, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("diagram: %w", err)
	}
	d := &diagramWriter{dir: dir, open: make(map[uint64]*ladder.Diagram)}
	env.pipeline.AddSink(d)
	return d.close, nil
}

func (d *diagramWriter) Event(ev *event.Event, _ []byte) {
	if ev.Session == 0 {
		return
	}
	dg := d.open[ev.Session]
	if dg == nil {
		if ev.Type == event.TypeSessionEnd {
			return
		}
		dg = &ladder.Diagram{}
		d.open[ev.Session] = dg
	}
	dg.Add(ev)
	if ev.Type == event.TypeSessionEnd {
		d.write(ev.Session, dg)
		delete(d.open, ev.Session)
	}
}

func (d *diagramWriter) write(id uint64, dg *ladder.Diagram) {
	name := filepath.Join(d.dir, fmt.Sprintf("s%d.svg", id))
	if err := os.WriteFile(name, dg.SVG(), 0o644); err != nil {
		if d.err == nil {
			d.err = fmt.Errorf("diagram: %w", err)
		}
		return
	}
	d.written++
}

func (d *diagramWriter) close() error {
	for id, dg := range d.open {
		d.write(id, dg)
	}
	clear(d.open)
	return d.err
}
