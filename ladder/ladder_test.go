package ladder_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/truth"
	"github.com/ftptap/ftptap/ladder"
	"github.com/ftptap/ftptap/pipeline"
	"github.com/ftptap/ftptap/tap"
)

const labDir = "../ftpstate/testdata/lab"

// replay runs a lab capture through the pipeline and returns the diagram of
// every session, by id.
func replay(t *testing.T, scenario string) map[uint64]*ladder.Diagram {
	t.Helper()
	return replayDiagrams(t, filepath.Join(labDir, scenario), nil)
}

// replayDiagrams runs the capture of both tap ports in dir (porta.pcap,
// portb.pcap) through the pipeline and returns the diagram of every
// session, by id, drawn from the session's events that keep accepts (nil:
// all of them).
func replayDiagrams(t *testing.T, dir string, keep func(*event.Event) bool) map[uint64]*ladder.Diagram {
	t.Helper()
	src, err := tap.OpenFiles(filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	diagrams := map[uint64]*ladder.Diagram{}
	sink := pipeline.SinkFunc(func(ev *event.Event, _ []byte) {
		if ev.Session == 0 || keep != nil && !keep(ev) {
			return
		}
		d := diagrams[ev.Session]
		if d == nil {
			d = &ladder.Diagram{}
			diagrams[ev.Session] = d
		}
		d.Add(ev)
	})
	p, err := pipeline.New(pipeline.Options{Tap: "lab", Sinks: []pipeline.Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	return diagrams
}

// node is a parsed XML element.
type node struct {
	Name     string
	Attr     map[string]string
	Text     string // character data directly inside
	Children []*node
}

func parseSVG(t *testing.T, b []byte) *node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{Name: tok.Name.Local, Attr: map[string]string{}}
			for _, a := range tok.Attr {
				n.Attr[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(tok)
			}
		}
	}
	if root == nil || root.Name != "svg" {
		t.Fatalf("no svg root element:\n%s", b)
	}
	return root
}

func (n *node) walk(f func(*node)) {
	f(n)
	for _, c := range n.Children {
		c.walk(f)
	}
}

// steps returns the step groups of a diagram of the given kind ("" for all).
func (n *node) steps(kind string) []*node {
	var out []*node
	n.walk(func(c *node) {
		if c.Name == "g" && strings.Contains(" "+c.Attr["class"]+" ", " step ") && (kind == "" || c.Attr["data-kind"] == kind) {
			out = append(out, c)
		}
	})
	return out
}

// child returns the first child element named name.
func (n *node) child(name string) *node {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// texts returns the text elements' contents below n.
func (n *node) texts() []string {
	var out []string
	n.walk(func(c *node) {
		if c.Name == "text" {
			out = append(out, c.Text)
		}
	})
	return out
}

// side says which lifeline addr is on.
func side(s truth.Session, addr string) string {
	a := netip.MustParseAddrPort(addr).Addr()
	if a == netip.MustParseAddrPort(s.Client).Addr() {
		return "client"
	}
	return "server"
}

// TestLabDiagrams draws every session of every lab capture and checks the
// arrows against the capture's truth (what the lab's clients and servers
// really did): one request arrow per command, client to server, labelled
// with the command; one data arrow per transfer, from the side that opened
// the connection, in its mode; one failure per failed data channel.
func TestLabDiagrams(t *testing.T) {
	dirs, err := os.ReadDir(labDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		t.Run(dir.Name(), func(t *testing.T) {
			tr, err := truth.Load(filepath.Join(labDir, dir.Name(), "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			diagrams := replay(t, dir.Name())
			byClient := map[string]*node{}
			for _, d := range diagrams {
				byClient[d.Client.String()] = parseSVG(t, d.SVG())
			}
			for _, s := range tr.Sessions {
				svg := byClient[s.Client]
				if svg == nil {
					t.Errorf("no diagram of the session of client %s", s.Client)
					continue
				}
				checkSession(t, s, svg)
			}
		})
	}
}

func checkSession(t *testing.T, s truth.Session, svg *node) {
	t.Helper()
	// The truth's requests are those the client sent, in order; the
	// diagram may show more (QUIT after the lab stopped counting). PASS
	// arguments are redacted.
	reqs := svg.steps("request")
	i := 0
	for _, r := range s.Requests {
		want := strings.TrimSpace(r[0] + " " + r[1])
		if r[0] == "PASS" {
			want = "PASS ****"
		}
		for i < len(reqs) && !strings.EqualFold(reqs[i].child("title").Text, want) {
			i++
		}
		if i == len(reqs) {
			t.Errorf("%s: no request arrow %q (in order) among %d", s.Client, want, len(reqs))
			break
		}
		g := reqs[i]
		if g.Attr["data-from"] != "client" || g.Attr["data-to"] != "server" {
			t.Errorf("%s: request %q drawn %s → %s", s.Client, want, g.Attr["data-from"], g.Attr["data-to"])
		}
		if !containsText(g, r[0]) {
			t.Errorf("%s: request %q has no text element with the command: %q", s.Client, want, g.texts())
		}
		i++
	}
	for _, g := range svg.steps("reply") {
		if g.Attr["data-from"] != "server" || g.Attr["data-to"] != "client" {
			t.Errorf("%s: reply %q drawn %s → %s", s.Client, g.child("title").Text, g.Attr["data-from"], g.Attr["data-to"])
		}
	}
	data := svg.steps("data")
	var want int
	for _, x := range s.Transfers {
		if x.DataFrom == "" {
			continue
		}
		want++
		label := fmt.Sprintf("%s data connection %s → %s", x.Mode, x.DataFrom, x.DataTo)
		var found *node
		for _, g := range data {
			if strings.Contains(g.child("title").Text, label) {
				found = g
			}
		}
		if found == nil {
			t.Errorf("%s: no data arrow %q among %d", s.Client, label, len(data))
			continue
		}
		if got, want := found.Attr["data-from"], side(s, x.DataFrom); got != want {
			t.Errorf("%s: data connection from %s drawn from the %s, want the %s", s.Client, x.DataFrom, got, want)
		}
		if got := found.Attr["data-mode"]; got != x.Mode {
			t.Errorf("%s: data connection in %s mode drawn as %s", s.Client, x.Mode, got)
		}
		// Active mode: the server connects to the client; passive: the
		// other way round. That is the picture the diagram is for.
		wantFrom := map[string]string{"active": "server", "passive": "client"}[x.Mode]
		if found.Attr["data-from"] != wantFrom {
			t.Errorf("%s: %s data connection drawn from the %s", s.Client, x.Mode, found.Attr["data-from"])
		}
	}
	if len(data) != want {
		t.Errorf("%s: %d data arrows, want %d", s.Client, len(data), want)
	}
	fails := svg.steps("fail")
	var wantFails int
	for _, f := range s.DataFail {
		if f.Reason == "unused" {
			continue
		}
		wantFails++
		var ok bool
		for _, g := range fails {
			ok = ok || g.Attr["data-reason"] == f.Reason && g.Attr["data-mode"] == f.Mode && strings.Contains(g.child("title").Text, f.Endpoint)
		}
		if !ok {
			t.Errorf("%s: no failure %s of %s", s.Client, f.Reason, f.Endpoint)
		}
	}
	if len(fails) != wantFails {
		t.Errorf("%s: %d failures drawn, want %d", s.Client, len(fails), wantFails)
	}
	if !containsText(svg, "session ended: ") {
		t.Errorf("%s: the diagram does not say how the session ended", s.Client)
	}
}

func containsText(n *node, s string) bool {
	for _, x := range n.texts() {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// hostile are strings a peer can put on the wire that must stay text.
var hostile = []string{
	`<script>alert(1)</script>`,
	`a & b "quoted" 'single' ]]> <!-- x --> <![CDATA[y]]>`,
	"ctl \x01\x02 bad utf8 \xff\xfe end",
	`</text></g><script xmlns="http://www.w3.org/2000/svg">alert(2)</script>`,
}

// TestEscaping: whatever a file name, argument or reply text holds, the
// diagram parses, holds no element the wire put there, and shows the text.
func TestEscaping(t *testing.T) {
	c := netip.MustParseAddrPort("10.0.0.2:40000")
	s := netip.MustParseAddrPort("10.0.0.1:21")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, h := range hostile {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var d ladder.Diagram
			for j, ev := range []event.Event{
				{Type: event.TypeSessionStart},
				{Type: event.TypeRequest, Command: "RETR", Arg: h},
				{Type: event.TypeResponse, Code: 550, Text: h},
				{Type: event.TypeTransferEnd, Command: "RETR", File: h, Direction: event.DirDownload},
				{Type: event.TypeAlert, Kind: "x", Detail: h},
				{Type: event.TypeSessionEnd, Reason: h},
			} {
				ev.Session, ev.Client, ev.Server, ev.Time = 1, c, s, t0.Add(time.Duration(j)*time.Millisecond)
				d.Add(&ev)
			}
			svg := parseSVG(t, d.SVG())
			svg.walk(func(n *node) {
				if n.Name == "script" {
					t.Errorf("a script element came from the wire")
				}
			})
			// What the diagram shows is the wire's text, with what XML
			// cannot carry replaced by U+FFFD.
			shown := xmlText(h)
			if got := svg.steps("request")[0].child("title").Text; got != "RETR "+shown {
				t.Errorf("request title %q, want %q", got, "RETR "+shown)
			}
			var note *node
			for _, g := range svg.steps("note") {
				if strings.HasPrefix(g.child("title").Text, "transfer") {
					note = g
				}
			}
			if note == nil {
				t.Fatal("no transfer note")
			}
			var lines []string
			for _, c := range note.Children {
				if c.Name == "text" && c.Attr["class"] == "label" {
					lines = append(lines, c.Text)
				}
			}
			want := strings.Join(strings.Fields("transfer incomplete: RETR "+shown+", download, 0 bytes in 0 ms"), " ")
			got := strings.Join(lines, " ")
			if cut, ok := strings.CutSuffix(got, "…"); ok && strings.HasPrefix(want, cut) {
				got = want // cut to fit: the whole text is in the title
			}
			if got != want || !strings.Contains(got, strings.Join(strings.Fields(shown), " ")) {
				t.Errorf("transfer note shows %q, want %q", got, want)
			}
		})
	}
}

// xmlText is s as an XML parser reads it back from the diagram: invalid
// UTF-8 bytes and control characters other than tab and newline become
// U+FFFD.
func xmlText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r < 0x20 && r != '\t' && r != '\n' {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// TestMaxSteps: a session of many commands is cut at MaxSteps, and says so.
func TestMaxSteps(t *testing.T) {
	d := ladder.Diagram{MaxSteps: 10}
	for i := range 100 {
		d.Add(&event.Event{Session: 7, Type: event.TypeRequest, Command: "NOOP", Time: time.Unix(int64(i), 0)})
	}
	if len(d.Steps) != 10 || d.Omitted != 90 {
		t.Fatalf("%d steps, %d omitted; want 10, 90", len(d.Steps), d.Omitted)
	}
	svg := parseSVG(t, d.SVG())
	if n := len(svg.steps("")); n != 10 {
		t.Errorf("%d steps drawn, want 10", n)
	}
	if !containsText(svg, "90 more steps not drawn") {
		t.Errorf("the diagram does not say what it left out: %q", svg.texts())
	}
	// Another session's events are not this one's.
	d.Add(&event.Event{Session: 8, Type: event.TypeRequest, Command: "QUIT"})
	if d.Omitted != 90 {
		t.Errorf("an event of session 8 was counted in session 7's diagram")
	}
}
