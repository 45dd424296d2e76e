package web

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// pageCSP allows the page its own scripts and styles and nothing else: no
// inline script, nothing from another origin. The ladder diagrams carry
// their own style element, hence 'unsafe-inline' for styles only.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// svgCSP is that of a diagram opened on its own: no script at all.
const svgCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"

const tokenCookie = "ftptap_token"

// Handler returns the page's handler: the routes listed in the package
// documentation, read-only, behind the configured authentication.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "static/page.html")
	})
	mux.Handle("GET /static/", http.FileServerFS(static))
	mux.HandleFunc("GET /session/{id}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "static/session.html")
	})
	mux.HandleFunc("GET /session/{id}/ladder.svg", s.serveDiagram)
	mux.HandleFunc("GET /api/state", s.serveState)
	mux.HandleFunc("GET /events", s.serveEvents)
	return s.guard(mux)
}

// guard refuses anything but GET and HEAD, checks the credentials and sets
// the headers every answer carries.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", pageCSP)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "read-only: GET and HEAD only", http.StatusMethodNotAllowed)
			return
		}
		if !s.authorized(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized checks basic auth and the token; it answers 401 itself.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.User != "" {
		u, p, ok := r.BasicAuth()
		if !ok || !equal(u, s.opts.User) || !equal(p, s.opts.Password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="ftptap", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return false
		}
	}
	if s.opts.Token == "" {
		return true
	}
	if q := r.URL.Query().Get("token"); q != "" && equal(q, s.opts.Token) {
		// Once from the URL, then from the cookie: EventSource and the
		// page's fetches cannot set headers.
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.opts.Token, Path: "/",
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		return true
	}
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(b, s.opts.Token) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && equal(c.Value, s.opts.Token) {
		return true
	}
	http.Error(w, "unauthorized: this page needs its token (?token=...)", http.StatusUnauthorized)
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Server) serveDiagram(w http.ResponseWriter, r *http.Request) {
	svg, ok := s.Diagram(r.PathValue("id"))
	if !ok {
		http.Error(w, "no such session (the page keeps the open sessions and the last ended ones)", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml; charset=utf-8")
	h.Set("Content-Security-Policy", svgCSP)
	h.Set("Cache-Control", "no-store")
	if r.URL.Query().Has("download") {
		h.Set("Content-Disposition", `attachment; filename="ftptap-`+r.PathValue("id")+`.svg"`)
	}
	w.Write(svg)
}

func (s *Server) serveState(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := s.stateLocked()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(st)
}

// client is one browser on the live stream.
type client struct {
	ch   chan []byte // messages, at most Options.Queue
	lost uint64      // messages dropped since the last resync; guarded by Server.mu
}

// broadcastLocked queues a message for every browser, never waiting: a full
// queue drops it and counts.
func (s *Server) broadcastLocked(name string, v any) {
	var m []byte
	for c := range s.clients {
		// Only broadcastLocked sends, under s.mu: a queue with room now
		// has room for this send. A message nobody has room for is never
		// encoded.
		if len(c.ch) == cap(c.ch) {
			c.lost++
			s.dropped++
			continue
		}
		if m == nil {
			m = message(name, v)
		}
		c.ch <- m
	}
}

// Dropped is the message that tells a browser what it missed.
type Dropped struct {
	Count uint64 `json:"count"`
	Total uint64 `json:"total"` // all browsers, since the start
}

const (
	pingPeriod   = 15 * time.Second
	writeTimeout = 30 * time.Second
)

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream")
		return
	}
	rc := http.NewResponseController(w)
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	case len(s.clients) >= s.opts.MaxClients:
		s.mu.Unlock()
		http.Error(w, "too many browsers on the live stream", http.StatusServiceUnavailable)
		return
	}
	c := &client{ch: make(chan []byte, s.opts.Queue)}
	s.clients[c] = true
	first := message("snapshot", s.stateLocked())
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		_, err := w.Write(b)
		return err == nil
	}
	if !write([]byte("retry: 2000\n\n")) || !write(first) || rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case <-ping.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
		case m := <-c.ch:
			if !write(m) {
				return
			}
			// Write what else is queued before flushing.
			for more := true; more; {
				select {
				case m := <-c.ch:
					if !write(m) {
						return
					}
				default:
					more = false
				}
			}
		}
		if m := s.resync(c); m != nil && !write(m) {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// resync returns, for a browser whose messages were dropped, a message that
// says how many and a new snapshot; nil for one that missed nothing. What
// is still queued is older than the snapshot and is thrown away.
func (s *Server) resync(c *client) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.lost == 0 {
		return nil
	}
	for len(c.ch) > 0 {
		<-c.ch
	}
	m := message("dropped", Dropped{Count: c.lost, Total: s.dropped})
	c.lost = 0
	return append(m, message("snapshot", s.stateLocked())...)
}
