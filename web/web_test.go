package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
	"github.com/ftptap/ftptap/web"
)

const labDir = "../ftpstate/testdata/lab"

// replay runs a lab capture through a pipeline into srv, adding offset to
// session ids so that several captures (each numbering its sessions from
// s1) can share one page. With stop set, it feeds frames only until stop
// returns true for an event and leaves the sessions open, as a capture
// still running would. It returns the events srv was given.
func replay(t testing.TB, srv *web.Server, scenario string, offset uint64, stop func(*event.Event) bool) []event.Event {
	t.Helper()
	return replayDir(t, srv, filepath.Join(labDir, scenario), offset, stop)
}

// replayDir is replay of the capture in dir.
func replayDir(t testing.TB, srv *web.Server, dir string, offset uint64, stop func(*event.Event) bool) []event.Event {
	t.Helper()
	scenario := filepath.Base(dir)
	src, err := tap.OpenFiles(filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var events []event.Event
	stopped := false
	sink := pipeline.SinkFunc(func(ev *event.Event, js []byte) {
		e := *ev
		if e.Session != 0 {
			e.Session += offset
		}
		events = append(events, e)
		srv.Event(&e, js)
		if stop != nil && stop(&e) {
			stopped = true
		}
	})
	p, err := pipeline.New(pipeline.Options{Tap: "lab", Sinks: []pipeline.Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	if stop == nil {
		if err := p.Run(context.Background(), src); err != nil {
			t.Fatal(err)
		}
		return events
	}
	for !stopped {
		f, err := src.ReadFrame()
		if err != nil {
			t.Fatalf("%s ended before the stop condition: %v", scenario, err)
		}
		p.Feed(f)
	}
	return events
}

// serve starts a Server with opts and serves its pages on a loopback
// port of httptest's. Both stop when the test ends: the Server first, so
// that the event streams it holds open end, then the HTTP server.
func serve(t *testing.T, opts web.Options) (*web.Server, *httptest.Server) {
	t.Helper()
	srv, err := web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() { srv.Close() })
	return srv, ts
}

func getState(t *testing.T, url string) web.State {
	t.Helper()
	res, err := http.Get(url + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st web.State
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func lights(st web.State) map[string]string {
	m := map[string]string{}
	for _, l := range st.Lights {
		m[l.Role] = l.State
	}
	return m
}

// TestReplayState replays lab captures into a Server and reads the
// picture back as JSON.
func TestReplayState(t *testing.T) {
	srv, ts := serve(t, web.Options{Tap: "lab", PacketTime: true})

	replay(t, srv, "pasv-retr", 0, nil)
	replay(t, srv, "port-stor", 100, nil)
	refused := replay(t, srv, "pasv-refused", 200, nil)
	st := getState(t, ts.URL)

	if len(st.Open) != 0 || len(st.Ended) != 3 {
		t.Errorf("%d open and %d ended sessions, want 0 and 3", len(st.Open), len(st.Ended))
	}
	if len(st.Transfers) != 2 {
		t.Fatalf("%d transfers, want 2: %+v", len(st.Transfers), st.Transfers)
	}
	up := st.Transfers[0] // newest first
	if up.File != "port-stor.bin" || up.Direction != "upload" || up.Bytes != 30000 || !up.Complete || up.Result != "complete (226)" || up.Session != "s101" {
		t.Errorf("newest transfer %+v", up)
	}
	if up.DurationMS > 0 && up.Throughput != float64(up.Bytes)*1000/float64(up.DurationMS) {
		t.Errorf("throughput %v for %d bytes in %d ms", up.Throughput, up.Bytes, up.DurationMS)
	}
	var detail string
	for _, ev := range refused {
		if ev.Type == event.TypeDataFail {
			detail = ev.Detail
		}
	}
	if len(st.Alerts) != 1 || st.Alerts[0].Kind != "data.refused" || st.Alerts[0].Detail != detail || !strings.Contains(detail, "RST") ||
		st.Alerts[0].Session != "s201" || st.Alerts[0].Mode != "passive" || st.Alerts[0].Client != "10.77.0.2:41124" {
		t.Errorf("alerts %+v, want one data.refused with %q", st.Alerts, detail)
	}
	want := map[string]string{"active": "off", "passive": "off", "alert": "on", "heartbeat": "blink-slow"}
	if got := lights(st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LEDs %v, want %v", got, want)
	}
	for _, s := range st.Ended {
		if s.User != "anonymous" || !s.LoginOK || s.Reason == "" {
			t.Errorf("session %+v", s)
		}
	}
	res, err := http.Get(ts.URL + "/session/s101/ladder.svg")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/svg+xml; charset=utf-8" {
		t.Errorf("ladder.svg: %s, %q", res.Status, res.Header.Get("Content-Type"))
	}
	for _, path := range []string{"/session/s999/ladder.svg", "/session/x/ladder.svg", "/session/s/ladder.svg"} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("%s: %s, want 404", path, res.Status)
		}
	}
}

var (
	cli     = netip.MustParseAddrPort("10.0.0.2:40000")
	srvAddr = netip.MustParseAddrPort("10.0.0.1:21")
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// session feeds one made-up session with a transfer of file.
func session(s *web.Server, id uint64, file string) {
	for i, ev := range []event.Event{
		{Type: event.TypeSessionStart},
		{Type: event.TypeRequest, Command: "RETR", Arg: file},
		{Type: event.TypeTransferEnd, Command: "RETR", File: file, Direction: event.DirDownload, Bytes: 10, Complete: true, Code: 226},
		{Type: event.TypeSessionEnd, Reason: "quit"},
	} {
		ev.Session, ev.Client, ev.Server = id, cli, srvAddr
		ev.Time = t0.Add(time.Duration(id)*time.Second + time.Duration(i)*time.Millisecond)
		s.Event(&ev, nil)
	}
}

// TestBounds: the page keeps MaxSessions ended sessions (and their
// diagrams), MaxTransfers transfers and MaxOpen open sessions.
func TestBounds(t *testing.T) {
	srv, ts := serve(t, web.Options{MaxSessions: 3, MaxTransfers: 2, MaxOpen: 2, PacketTime: true})
	for i := uint64(1); i <= 10; i++ {
		session(srv, i, fmt.Sprintf("f%d", i))
	}
	for i := uint64(20); i < 25; i++ {
		srv.Event(&event.Event{Type: event.TypeSessionStart, Session: i, Client: cli, Server: srvAddr, Time: t0}, nil)
	}
	st := getState(t, ts.URL)
	var ended, files []string
	for _, s := range st.Ended {
		ended = append(ended, s.ID)
	}
	for _, x := range st.Transfers {
		files = append(files, x.File)
	}
	if got := strings.Join(ended, " "); got != "s10 s9 s8" {
		t.Errorf("ended sessions %s, want s10 s9 s8", got)
	}
	if got := strings.Join(files, " "); got != "f10 f9" {
		t.Errorf("transfers %s, want f10 f9", got)
	}
	if len(st.Open) != 2 || st.NotShown != 3 {
		t.Errorf("%d open sessions shown, %d not shown; want 2, 3", len(st.Open), st.NotShown)
	}
	if _, ok := srv.Diagram("s8"); !ok {
		t.Errorf("no diagram of s8, a kept session")
	}
	if _, ok := srv.Diagram("s7"); ok {
		t.Errorf("a diagram of s7, which is no longer kept")
	}
}

// TestAuth: basic auth and the token, and nothing but GET and HEAD.
func TestAuth(t *testing.T) {
	_, ts := serve(t, web.Options{User: "teacher", Password: "pw", Token: "s3cret"})
	do := func(method, path string, f func(*http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		if f != nil {
			f(req)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	basic := func(r *http.Request) { r.SetBasicAuth("teacher", "pw") }
	tests := []struct {
		name, method, path string
		f                  func(*http.Request)
		want               int
	}{
		{"nothing", "GET", "/", nil, 401},
		{"basic only", "GET", "/", basic, 401},
		{"wrong password", "GET", "/?token=s3cret", func(r *http.Request) { r.SetBasicAuth("teacher", "no") }, 401},
		{"basic and token", "GET", "/?token=s3cret", basic, 200},
		{"wrong token", "GET", "/?token=nope", basic, 401},
		{"bearer", "GET", "/api/state", func(r *http.Request) { basic(r); r.Header.Set("Authorization", "Bearer s3cret") }, 401}, // one Authorization header: basic wins
		{"cookie", "GET", "/api/state", func(r *http.Request) { basic(r); r.AddCookie(&http.Cookie{Name: "ftptap_token", Value: "s3cret"}) }, 200},
		{"post", "POST", "/api/state", basic, 405},
		{"delete", "DELETE", "/", basic, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := do(tt.method, tt.path, tt.f); res.StatusCode != tt.want {
				t.Errorf("%s %s: %s, want %d", tt.method, tt.path, res.Status, tt.want)
			}
		})
	}
	res := do("GET", "/?token=s3cret", basic)
	var set bool
	for _, c := range res.Cookies() {
		set = set || c.Name == "ftptap_token" && c.HttpOnly && c.SameSite == http.SameSiteStrictMode
	}
	if !set {
		t.Errorf("?token= set no HttpOnly, SameSite=Strict cookie: %v", res.Header["Set-Cookie"])
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	_, ts2 := serve(t, web.Options{Token: "s3cret"})
	req, _ := http.NewRequest("GET", ts2.URL+"/api/state", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != 200 {
		t.Errorf("bearer token: %s", res2.Status)
	}
	if _, err := web.New(web.Options{Password: "x"}); err == nil {
		t.Errorf("a password with no user is no error")
	}
}

// TestSlowBrowser: a browser that stops reading never slows Event; its
// messages are dropped and counted, and when it reads again it is told how
// many it missed and gets a new snapshot.
func TestSlowBrowser(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := web.New(web.Options{Queue: 8, PacketTime: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()

	// A small receive buffer, so that the server's writes block soon.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { setRcvbuf(fd, 4096) })
	}}
	conn, err := d.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("GET /events: %q, %v", line, err)
	}
	waitLine(t, r, "event: snapshot")

	// Stop reading; feed sessions until the server has dropped some.
	long := strings.Repeat("x", 2000)
	var n uint64
	for n = 1; srv.Dropped() == 0 && n < 100000; n++ {
		session(srv, n, long)
	}
	if srv.Dropped() == 0 {
		t.Fatalf("no message dropped after %d sessions to a browser that does not read", n)
	}
	// Read again: the browser hears what it missed, then a snapshot.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	waitLine(t, r, "event: dropped")
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var dr web.Dropped
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(line), "data: ")), &dr); err != nil || dr.Count == 0 {
		t.Errorf("dropped message %q: %v", line, err)
	}
	waitLine(t, r, "event: snapshot")
	conn.Close()
	srv.Close()
	ts.Close()
}

func waitLine(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if strings.TrimSpace(line) == want {
			return
		}
	}
}
