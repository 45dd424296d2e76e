package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/truth"
	"github.com/ftptap/ftptap/web"
)

// browser starts one headless Chromium for a test and its subtests. With
// no Chromium it skips, except in CI (CI set), where that is a failure:
// cross/setup.sh installs Debian's chromium. Under qemu-user and -short
// (cross/test-arm.sh) it skips: it runs natively in make unit.
func browser(t *testing.T) context.Context {
	t.Helper()
	if os.Getenv("FTPTAP_EMULATED") != "" || testing.Short() {
		// cross/test-arm.sh: the browser test runs natively, in make unit.
		t.Skip("the browser test runs natively, without -short (make unit, make test-web)")
	}
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		msg := "no chromium on PATH: apt-get install chromium (./cross/setup.sh test installs it)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox on.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// artifacts is where screenshots go: $FTPTAP_ARTIFACTS, else a temporary
// directory of the test. Never the source tree.
func artifacts(t *testing.T) string {
	dir := os.Getenv("FTPTAP_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("screenshot: %s", p)
}

// eval runs js in the page and decodes its JSON result into v.
func eval(t *testing.T, ctx context.Context, js string, v any) {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify("+js+")"))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
}

// pageDOM is what the main page shows, read from its DOM.
type pageDOM struct {
	Conn      string              `json:"conn"`
	LEDs      map[string][]string `json:"leds"` // role: data-state, the words shown
	Open      [][]string          `json:"open"`
	Transfers [][]string          `json:"transfers"`
	Alerts    []struct {
		Kind, Detail string
	} `json:"alerts"`
	Ended   [][]string        `json:"ended"`
	Scripts int               `json:"scripts"`
	Images  int               `json:"images"`
	Pwned   any               `json:"pwned"`
	Health  map[string]string `json:"health"`
}

const readPage = `(() => {
  const rows = sel => Array.from(document.querySelectorAll(sel + ' tbody tr'), tr => Array.from(tr.cells, c => c.textContent));
  return {
    conn: document.getElementById('conn').dataset.conn,
    leds: Object.fromEntries(Array.from(document.querySelectorAll('.led'), l => [l.dataset.role, [l.dataset.state, l.querySelector('.state').textContent]])),
    open: rows('#open'), transfers: rows('#transfers'), ended: rows('#ended'),
    alerts: Array.from(document.querySelectorAll('#alerts li'), li => ({kind: li.dataset.kind, detail: li.querySelector('.detail').textContent})),
    scripts: document.scripts.length, images: document.images.length,
    pwned: window.__pwned === undefined ? null : window.__pwned,
    health: Object.fromEntries(['ports', 'frames', 'drops', 'nats'].map(k => [k, document.getElementById('h-' + k).textContent])),
  };
})()`

// stepDOM is one step of a ladder diagram as the browser lays it out.
type stepDOM struct {
	Kind, From, To, Mode, Reason, Port, Title string
	Texts                                     []string
	X1, X2                                    float64
}

const readDiagram = `Array.from(document.querySelectorAll('svg.ladder g.step'), g => {
  const line = g.querySelector('line');
  return {kind: g.dataset.kind, from: g.dataset.from || '', to: g.dataset.to || '', mode: g.dataset.mode || '',
    reason: g.dataset.reason || '', port: g.dataset.port || '', title: g.querySelector('title').textContent,
    texts: Array.from(g.querySelectorAll('text'), t => t.textContent),
    x1: line ? line.x1.baseVal.value : 0, x2: line ? line.x2.baseVal.value : 0};
})`

// diagramSteps opens the session page at url, waits until it shows its
// ladder diagram and returns the diagram's steps (readDiagram).
func diagramSteps(t *testing.T, ctx context.Context, url string) []stepDOM {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`#diagram svg.ladder`))); err != nil {
		t.Fatal(err)
	}
	var steps []stepDOM
	eval(t, ctx, readDiagram, &steps)
	return steps
}

// stepsOf returns the steps of the given kind, in order.
func stepsOf(steps []stepDOM, kind string) []stepDOM {
	var out []stepDOM
	for _, s := range steps {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

// hostileName is a file name that would run script if the page put wire
// strings into markup.
const hostileName = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;"'`

// TestBrowser replays lab captures into a running page and reads what a
// real browser shows: the LEDs, the open session, the transfers, the alert
// with its diagnosis, a hostile file name as text, and the ladder diagrams
// of a passive and an active session, arrow by arrow.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	dir := artifacts(t)
	srv, ts := serve(t, web.Options{Tap: "lab", PacketTime: true})

	// The page is open before the events come: what it shows arrives
	// live, over the event stream.
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#conn[data-conn="live"]`))); err != nil {
		t.Fatal(err)
	}
	replay(t, srv, "pasv-retr", 0, nil)   // s1
	replay(t, srv, "port-stor", 100, nil) // s101
	// s201: a session still open, in the middle of a passive transfer.
	var multiCmd string
	replay(t, srv, "multi", 200, func(ev *event.Event) bool {
		if ev.Type == event.TypeRequest {
			multiCmd = strings.TrimSpace(ev.Command + " " + ev.Arg)
		}
		return ev.Type == event.TypeDataOpen
	})
	refused := replay(t, srv, "pasv-refused", 300, nil) // s301
	var diagnosis string
	for _, ev := range refused {
		if ev.Type == event.TypeDataFail {
			diagnosis = ev.Detail
		}
	}
	hostileAt := refused[len(refused)-1].Time
	for i, ev := range []event.Event{
		{Type: event.TypeSessionStart},
		{Type: event.TypeRequest, Command: "RETR", Arg: hostileName},
		{Type: event.TypeTransferEnd, Command: "RETR", File: hostileName, Direction: event.DirDownload, Bytes: 5, Complete: true, Code: 226},
		{Type: event.TypeSessionEnd, Reason: "quit"},
	} {
		ev.Session, ev.Client, ev.Server, ev.Time = 401, cli, srvAddr, hostileAt.Add(time.Duration(i)*time.Millisecond)
		srv.Event(&ev, nil)
	}

	// Capture health, as ftptap run reports it: ports up, then a status
	// event with the tap's counters.
	srv.SetPort(event.SideA, true)
	srv.SetPort(event.SideB, true)
	srv.Event(&event.Event{Type: event.TypeStatus, Time: hostileAt, Counters: []event.Counter{
		{Name: "packets_a", Value: 1200}, {Name: "packets_b", Value: 34}, {Name: "events", Value: 99},
		{Name: "open_sessions", Value: 1}, {Name: "kernel_drops", Value: 7}, {Name: "nats_connected", Value: 0},
	}}, nil)

	t.Run("page", func(t *testing.T) {
		var p pageDOM
		deadline := time.Now().Add(10 * time.Second)
		for {
			eval(t, ctx, readPage, &p)
			if len(p.Transfers) == 3 && len(p.Alerts) >= 1 && len(p.Ended) == 4 && p.Health["drops"] == "7" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		screenshot(t, ctx, dir, "page.png")
		wantHealth := map[string]string{"ports": "A up, B up", "frames": "1,234", "drops": "7", "nats": "disconnected"}
		if fmt.Sprint(p.Health) != fmt.Sprint(wantHealth) {
			t.Errorf("capture health %v, want %v", p.Health, wantHealth)
		}
		if p.Conn != "live" {
			t.Errorf("connection %q, want live", p.Conn)
		}
		// passive: s201's data channel is open and data moves; alert:
		// a data channel was just refused; heartbeat: ports up.
		want := map[string][]string{
			"active":    {"off", "off"},
			"passive":   {"blink-fast", "blinking fast"},
			"alert":     {"on", "on"},
			"heartbeat": {"blink-slow", "blinking slowly"},
		}
		if fmt.Sprint(p.LEDs) != fmt.Sprint(want) {
			t.Errorf("LEDs %v, want %v", p.LEDs, want)
		}
		wantOpen := []string{"s201", "10.77.0.2:41186", "10.77.0.1:21", "anonymous", "passive", multiCmd}
		if len(p.Open) != 1 || fmt.Sprint(p.Open[0]) != fmt.Sprint(wantOpen) {
			t.Errorf("open sessions %q, want one: %q", p.Open, wantOpen)
		}
		if len(p.Transfers) != 3 {
			t.Fatalf("transfers %q, want 3", p.Transfers)
		}
		// Newest first: the hostile one, port-stor's upload, pasv-retr's download.
		wantDown := []string{"f65536.bin", "download", "64.0 KiB (65,536 B)", "2 ms", "32.8 MB/s", "✓ complete (226)", "s1"}
		if got := p.Transfers[2][1:]; fmt.Sprint(got) != fmt.Sprint(wantDown) {
			t.Errorf("download row %q, want %q", got, wantDown)
		}
		if got := p.Transfers[1]; got[1] != "port-stor.bin" || got[2] != "upload" || got[3] != "29.3 KiB (30,000 B)" || got[7] != "s101" {
			t.Errorf("upload row %q", got)
		}
		if got := p.Transfers[0][1]; got != hostileName {
			t.Errorf("hostile file name shown as %q, want the text %q", got, hostileName)
		}
		if p.Pwned != nil || p.Images != 0 || p.Scripts != 1 {
			t.Errorf("the file name became markup: window.__pwned=%v, %d images, %d scripts", p.Pwned, p.Images, p.Scripts)
		}
		var found bool
		for _, a := range p.Alerts {
			found = found || a.Kind == "data.refused" && a.Detail == diagnosis
		}
		if !found || !strings.Contains(diagnosis, "answered by a RST") {
			t.Errorf("alerts %+v, want data.refused with the diagnosis %q", p.Alerts, diagnosis)
		}
		if len(p.Ended) != 4 {
			t.Errorf("ended sessions %q, want 4", p.Ended)
		}
	})

	for _, tt := range []struct {
		name, scenario, id, mode, from string
		x1LessX2                       bool
	}{
		{"ladder passive", "pasv-retr", "s1", "passive", "client", true},
		{"ladder active", "port-stor", "s101", "active", "server", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := truth.Load(filepath.Join(labDir, tt.scenario, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			ts0 := tr.Sessions[0]
			steps := diagramSteps(t, ctx, ts.URL+"/session/"+tt.id)
			screenshot(t, ctx, dir, "ladder-"+tt.mode+".png")
			data, reqs := stepsOf(steps, "data"), stepsOf(steps, "request")
			if len(data) != 1 {
				t.Fatalf("%d data arrows, want 1: %+v", len(data), data)
			}
			d := data[0]
			x := ts0.Transfers[0]
			label := fmt.Sprintf("%s data connection %s → %s", x.Mode, x.DataFrom, x.DataTo)
			if d.Mode != tt.mode || d.From != tt.from || !strings.Contains(strings.Join(d.Texts, " "), label) {
				t.Errorf("data arrow %+v, want %s mode from the %s labelled %q", d, tt.mode, tt.from, label)
			}
			// Drawn from the opener's lifeline: left to right from the
			// client, right to left from the server.
			if (d.X1 < d.X2) != tt.x1LessX2 {
				t.Errorf("data arrow runs from x=%v to x=%v: wrong way for the %s", d.X1, d.X2, tt.from)
			}
			i := 0
			for _, r := range ts0.Requests {
				want := strings.TrimSpace(r[0] + " " + r[1])
				for i < len(reqs) && reqs[i].Title != want {
					i++
				}
				if i == len(reqs) {
					t.Errorf("no request arrow %q (in order)", want)
					break
				}
				if s := reqs[i]; s.From != "client" || s.X1 >= s.X2 || !strings.Contains(strings.Join(s.Texts, " "), r[0]) {
					t.Errorf("request arrow %+v", s)
				}
			}
			sessionText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#s-state`)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(sessionText, "ended") {
				t.Errorf("session state %q", sessionText)
			}
		})
	}

	t.Run("ladder refused", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/session/s1/ladder.svg")); err != nil {
			t.Fatal(err)
		}
		// The standalone file, then the failure on its session's page.
		root, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.localName`))
		if err != nil || root != "svg" {
			t.Errorf("ladder.svg opened as %q (%v)", root, err)
		}
		fails := stepsOf(diagramSteps(t, ctx, ts.URL+"/session/s301"), "fail")
		if len(fails) != 1 || fails[0].Reason != "refused" || fails[0].From != "client" || !strings.Contains(strings.Join(fails[0].Texts, " "), "RST") {
			t.Errorf("failures %+v, want one refused from the client, marked RST", fails)
		}
		screenshot(t, ctx, dir, "ladder-refused.png")
	})

	t.Run("tftp", func(t *testing.T) { browserTFTP(t, ctx, srv, ts.URL, dir) })

	t.Run("phone", func(t *testing.T) {
		if err := chromedp.Do(ctx,
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(ts.URL+"/"),
			chromedp.WaitVisible(chromedp.CSS(`#conn[data-conn="live"]`)),
			chromedp.Sleep(200*time.Millisecond),
		); err != nil {
			t.Fatal(err)
		}
		var dims []int
		eval(t, ctx, `[window.innerWidth, document.documentElement.scrollWidth]`, &dims)
		width, scroll := dims[0], dims[1]
		screenshot(t, ctx, dir, "page-phone.png")
		if scroll > width {
			t.Errorf("on a %d px wide screen the page is %d px wide: it scrolls sideways", width, scroll)
		}
	})

	t.Run("dark", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/session/s101")); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#diagram svg.ladder`))); err != nil {
			t.Fatal(err)
		}
		bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor + ' ' + getComputedStyle(document.querySelector('svg.ladder .bg')).fill`))
		if err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, dir, "ladder-dark.png")
		if bg != "rgb(18, 20, 23) rgb(18, 20, 23)" {
			t.Errorf("dark page and diagram backgrounds %q", bg)
		}
	})
}
