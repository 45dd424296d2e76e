package ladder

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ftptap/ftptap/event"
)

// Layout, in SVG user units (pixels at scale 1).
const (
	width      = 900
	timeX      = 84  // right edge of the time column
	clientX    = 200 // the client's lifeline
	serverX    = 780 // the server's lifeline
	headerTop  = 36  // the lifelines' boxes
	rowsTop    = 100 // the first step
	lineHeight = 16
	labelRunes = 72 // a label line between the lifelines
	noteRunes  = 68
	labelLines = 2
	noteLines  = 4
)

// style is the diagram's own CSS. Every selector is under .ladder, so that a
// diagram put inline into a page styles nothing else. Colour only repeats
// what shapes and labels say: dash patterns tell data connections from
// commands, active from passive, and a cross marks a failure.
const style = `
.ladder .bg{fill:#fff}
.ladder text{font-family:"DejaVu Sans Mono",ui-monospace,Menlo,Consolas,monospace;font-size:13px;fill:#1a1a1a}
.ladder .title{font-size:15px;font-weight:bold}
.ladder .who{font-weight:bold}
.ladder .time,.ladder .muted{fill:#555}
.ladder .box{fill:#f2f2f2;stroke:#777}
.ladder .lifeline{stroke:#888;stroke-width:1.5;stroke-dasharray:1 3}
.ladder .request line,.ladder .reply line,.ladder .legend .cmd{stroke:#1a1a1a;stroke-width:1.5}
.ladder .reply line{stroke:#444}
.ladder .active line,.ladder .legend .active{stroke:#b35900;stroke-width:3.5;stroke-dasharray:14 6}
.ladder .passive line,.ladder .legend .passive{stroke:#2f55d4;stroke-width:3.5;stroke-dasharray:3 4}
.ladder .fail text.label,.ladder .fail text.detail{fill:#b00020}
.ladder .cross,.ladder .legend .cross{stroke:#b00020;stroke-width:3;fill:none}
.ladder .note rect{fill:#f4f4f4;stroke:#999;stroke-dasharray:4 2}
.ladder .note.alert rect{fill:#fff3f3;stroke:#b00020;stroke-dasharray:none}
.ladder .head-cmd{fill:#1a1a1a}
.ladder .head-active{fill:#fff;stroke:#b35900;stroke-width:1.5}
.ladder .head-passive{fill:#fff;stroke:#2f55d4;stroke-width:1.5}
.ladder .fail.unknown line{stroke:#b00020;stroke-width:1.5;stroke-dasharray:6 4}
.ladder .switch line,.ladder .legend .switch{stroke:#1b7a3a;stroke-width:3;stroke-dasharray:10 3 2 3}
.ladder .head-switch{fill:#1b7a3a}
.ladder .port{font-weight:bold}
.ladder .switch .port{fill:#1b7a3a}
.ladder .switch.unacknowledged text.label{fill:#b00020}
@media (prefers-color-scheme:dark){
.ladder .bg{fill:#121417}
.ladder text{fill:#e6e6e6}
.ladder .time,.ladder .muted{fill:#aaa}
.ladder .box{fill:#1f2328;stroke:#888}
.ladder .lifeline{stroke:#888}
.ladder .request line,.ladder .legend .cmd{stroke:#e6e6e6}
.ladder .reply line{stroke:#bbb}
.ladder .active line,.ladder .legend .active{stroke:#ffa040}
.ladder .passive line,.ladder .legend .passive{stroke:#8ea8ff}
.ladder .fail text.label,.ladder .fail text.detail{fill:#ff8a80}
.ladder .cross,.ladder .legend .cross{stroke:#ff8a80}
.ladder .note rect{fill:#1c1f24;stroke:#777}
.ladder .note.alert rect{fill:#2a1416;stroke:#ff8a80}
.ladder .head-cmd{fill:#e6e6e6}
.ladder .head-active{fill:#121417;stroke:#ffa040}
.ladder .head-passive{fill:#121417;stroke:#8ea8ff}
.ladder .fail.unknown line{stroke:#ff8a80}
.ladder .switch line,.ladder .legend .switch{stroke:#5fd08a}
.ladder .head-switch{fill:#5fd08a}
.ladder .switch .port{fill:#5fd08a}
.ladder .switch.unacknowledged text.label{fill:#ff8a80}
}
`

// svgWriter builds the document. Its methods never fail.
type svgWriter struct {
	strings.Builder
}

// text writes s as XML character data: <, >, &, quotes escaped, invalid
// UTF-8 and characters XML cannot carry replaced by U+FFFD.
func (w *svgWriter) text(s string) {
	xml.EscapeText(w, []byte(s))
}

func (w *svgWriter) f(format string, args ...any) { fmt.Fprintf(w, format, args...) }

// SVG returns the diagram as a standalone SVG document.
func (d *Diagram) SVG() []byte {
	var body svgWriter
	y := rowsTop
	for i := range d.Steps {
		y = d.step(&body, &d.Steps[i], y)
	}
	y += 8
	bottom := y
	what := "session"
	if d.TFTP() {
		what = "transfer"
	}
	switch {
	case d.Ended:
		body.f(`<text class="end muted" x="%d" y="%d" text-anchor="middle">`, (clientX+serverX)/2, y+12)
		body.text(what + " ended: " + d.EndReason)
		body.WriteString("</text>\n")
	default:
		body.f(`<text class="end muted" x="%d" y="%d" text-anchor="middle">%s still open</text>`+"\n", (clientX+serverX)/2, y+12, what)
	}
	y += 20
	if d.Omitted > 0 {
		body.f(`<text class="omitted muted" x="%d" y="%d" text-anchor="middle">%d more steps not drawn (the diagram keeps %d)</text>`+"\n",
			(clientX+serverX)/2, y+12, d.Omitted, len(d.Steps))
		y += 20
	}
	y = legend(&body, y+10, d.TFTP())
	height := y + 10

	var w svgWriter
	w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	id, kind := d.ID(), "FTP session"
	if d.TFTP() {
		kind = "TFTP transfer"
	}
	w.f(`<svg xmlns="http://www.w3.org/2000/svg" class="ladder" data-session="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="ladder-%s-title">`+"\n",
		id, width, height, width, height, id)
	w.f(`<title id="ladder-%s-title">`, id)
	w.text(fmt.Sprintf("%s %s: client %s, server %s", kind, id, d.Client, d.Server))
	w.WriteString("</title>\n<style>")
	w.WriteString(style)
	w.WriteString("</style>\n")
	w.f(`<defs>
<marker id="ladder-%[1]s-cmd" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto"><path class="head-cmd" d="M0,0L10,5L0,10z"/></marker>
<marker id="ladder-%[1]s-active" viewBox="0 0 14 14" refX="13" refY="7" markerWidth="14" markerHeight="14" markerUnits="userSpaceOnUse" orient="auto"><path class="head-active" d="M1,1L13,7L1,13z"/></marker>
<marker id="ladder-%[1]s-passive" viewBox="0 0 14 14" refX="13" refY="7" markerWidth="14" markerHeight="14" markerUnits="userSpaceOnUse" orient="auto"><path class="head-passive" d="M1,7L7,1L13,7L7,13z"/></marker>
<marker id="ladder-%[1]s-switch" viewBox="0 0 12 12" refX="12" refY="6" markerWidth="12" markerHeight="12" markerUnits="userSpaceOnUse" orient="auto"><path class="head-switch" d="M0,0L12,6L0,12z"/></marker>
</defs>
`, id)
	w.f(`<rect class="bg" x="0" y="0" width="%d" height="%d"/>`+"\n", width, height)
	w.f(`<text class="title" x="12" y="22">`)
	title := kind + " " + id
	if d.Tap != "" {
		title += " on tap " + d.Tap
	}
	if !d.Start.IsZero() {
		title += ", from " + d.Start.UTC().Format("2006-01-02 15:04:05.000 UTC")
	}
	w.text(title)
	w.WriteString("</text>\n")
	for _, l := range []struct {
		x    int
		who  string
		addr string
	}{{clientX, "client", d.Client.String()}, {serverX, "server", d.Server.String()}} {
		w.f(`<g class="lifeline-head" data-end="%s"><rect class="box" x="%d" y="%d" width="200" height="44" rx="6"/>`, l.who, l.x-100, headerTop)
		w.f(`<text class="who" x="%d" y="%d" text-anchor="middle">%s</text>`, l.x, headerTop+18, l.who)
		w.f(`<text class="addr" x="%d" y="%d" text-anchor="middle">`, l.x, headerTop+36)
		w.text(l.addr)
		w.WriteString("</text></g>\n")
		w.f(`<line class="lifeline" x1="%d" y1="%d" x2="%d" y2="%d"/>`+"\n", l.x, headerTop+44, l.x, bottom)
	}
	w.WriteString(body.String())
	w.WriteString("</svg>\n")
	return []byte(w.String())
}

func endX(e End) int {
	if e == EndServer {
		return serverX
	}
	return clientX
}

// step draws one step whose row starts at y and returns where the next
// row starts.
func (d *Diagram) step(w *svgWriter, s *Step, y int) int {
	label := wrap(s.Label, labelRunes, labelLines)
	title := s.Label
	if s.Detail != "" {
		title += "\n" + s.Detail
	}
	class := s.Kind.String()
	if s.Kind == KindData || s.Kind == KindFail {
		class += " " + s.Mode.String()
	}
	if s.Kind == KindSwitch && s.Reason != "" {
		class += " " + s.Reason
	}
	if s.Kind == KindNote && strings.HasPrefix(s.Label, "alert ") {
		class += " alert"
	}
	w.f(`<g class="step %s" data-kind="%s"`, class, s.Kind)
	if s.From != EndNone {
		w.f(` data-from="%s" data-to="%s"`, s.From, s.To)
	}
	if s.Kind == KindData || s.Kind == KindFail {
		w.f(` data-mode="%s"`, s.Mode)
	}
	if s.Port != "" {
		w.WriteString(` data-port="`)
		w.text(s.Port)
		w.WriteString(`"`)
	}
	if s.Reason != "" {
		w.WriteString(` data-reason="`)
		w.text(s.Reason)
		w.WriteString(`"`)
	}
	w.WriteString("><title>")
	w.text(title)
	w.WriteString("</title>")

	mid := (clientX + serverX) / 2
	if s.Kind == KindNote {
		lines := wrap(s.Label, noteRunes, labelLines)
		lines = append(lines, wrap(s.Detail, noteRunes, noteLines)...)
		h := 8 + lineHeight*len(lines)
		w.f(`<rect x="%d" y="%d" width="%d" height="%d" rx="4"/>`, clientX+14, y+4, serverX-clientX-28, h)
		d.timeText(w, s, y+4+lineHeight)
		for i, l := range lines {
			cls := "label"
			if i >= len(wrap(s.Label, noteRunes, labelLines)) {
				cls = "detail"
			}
			w.f(`<text class="%s" x="%d" y="%d" text-anchor="middle">`, cls, mid, y+4+lineHeight*(i+1)-2)
			w.text(l)
			w.WriteString("</text>")
		}
		w.WriteString("</g>\n")
		return y + h + 10
	}

	for i, l := range label {
		w.f(`<text class="label" x="%d" y="%d" text-anchor="middle">`, mid, y+lineHeight*(i+1)-2)
		w.text(l)
		w.WriteString("</text>")
	}
	ay := y + lineHeight*len(label) + 6
	x1, x2 := endX(s.From), endX(s.To)
	marker := "cmd"
	if s.Kind == KindData || s.Kind == KindFail {
		marker = s.Mode.String()
		if s.Mode != event.ModeActive && s.Mode != event.ModePassive {
			marker = "cmd"
		}
	}
	if s.Kind == KindSwitch {
		marker = "switch"
	}
	if s.Port != "" {
		// Which port of the server the arrow meets, beside its lifeline:
		// 69 for the request, the new one for the answer.
		w.f(`<text class="port" x="%d" y="%d" text-anchor="start">port `, serverX+8, ay+5)
		w.text(s.Port)
		w.WriteString("</text>")
	}
	if s.Kind == KindFail || s.Kind == KindSwitch && s.Reason != "" {
		// The attempt ends where it ended: at the far side for a RST, half
		// way for a SYN nobody answered.
		end := x1 + (x2-x1)*92/100
		if s.Reason != "refused" && s.Kind != KindSwitch {
			end = x1 + (x2-x1)/2
		}
		w.f(`<line x1="%d" y1="%d" x2="%d" y2="%d"/>`, x1, ay, end, ay)
		w.f(`<path class="cross" d="M%d,%dl12,12m0,-12l-12,12"/>`, end-6, ay-6)
		if s.Reason == "refused" {
			// Beside the far lifeline, outside the arrows' space.
			x, anchor := x2+8, "start"
			if x2 < x1 {
				x, anchor = x2-8, "end"
			}
			w.f(`<text class="rst label" x="%d" y="%d" text-anchor="%s">RST</text>`, x, ay+5, anchor)
		}
	} else {
		w.f(`<line x1="%d" y1="%d" x2="%d" y2="%d" marker-end="url(#ladder-%s-%s)"/>`, x1, ay, x2, ay, d.ID(), marker)
	}
	d.timeText(w, s, ay+4)
	next := ay + 12
	if s.Detail != "" {
		for i, l := range wrap(s.Detail, noteRunes, noteLines) {
			w.f(`<text class="detail" x="%d" y="%d" text-anchor="middle">`, mid, ay+lineHeight*(i+1)+8)
			w.text(l)
			w.WriteString("</text>")
			next = ay + lineHeight*(i+1) + 14
		}
	}
	w.WriteString("</g>\n")
	return next + 8
}

// timeText writes the time since the session began in the time column,
// or "…" for a step whose time the events do not give.
func (d *Diagram) timeText(w *svgWriter, s *Step, y int) {
	t := "…"
	if !s.Untimed {
		t = since(s.Time.Sub(d.Start))
	}
	w.f(`<text class="time" x="%d" y="%d" text-anchor="end">%s</text>`, timeX, y, t)
}

// since formats an offset from the session's start: +0.012 s, +75.3 s.
func since(dt time.Duration) string {
	s := dt.Seconds()
	switch {
	case s < 0:
		return fmt.Sprintf("%.3f s", s)
	case s < 100:
		return fmt.Sprintf("+%.3f s", s)
	case s < 10000:
		return fmt.Sprintf("+%.1f s", s)
	}
	return fmt.Sprintf("+%.0f s", s)
}

// legend draws what the line styles mean, so that the picture reads
// without colour, and returns the y below it.
func legend(w *svgWriter, y int, tftp bool) int {
	w.f(`<g class="legend" transform="translate(12,%d)">`, y)
	items := []struct{ class, text string }{
		{"cmd", "command / reply"},
		{"active", "active data (server connects)"},
		{"passive", "passive data (client connects)"},
	}
	if tftp {
		items = items[:1]
		items[0].text = "request to port 69"
		items = append(items, struct{ class, text string }{"switch", "answer from the server's new port (transfer ID)"})
	}
	x := 0
	for _, it := range items {
		w.f(`<line class="%s" x1="%d" y1="8" x2="%d" y2="8"/><text x="%d" y="12">%s</text>`, it.class, x, x+40, x+46, it.text)
		x += 60 + 8*utf8.RuneCountInString(it.text)
	}
	w.f(`<path class="cross" d="M%d,2l12,12m0,-12l-12,12"/><text x="%d" y="12">failed</text>`, x, x+18)
	w.WriteString("</g>\n")
	return y + 20
}

// wrap breaks s into at most max lines of at most n runes, at spaces where
// it can; what does not fit ends in "…". Empty s gives no lines.
func wrap(s string, n, max int) []string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return nil
	}
	var lines []string
	for s != "" {
		if len(lines) == max-1 || utf8.RuneCountInString(s) <= n {
			if utf8.RuneCountInString(s) > n {
				s = string([]rune(s)[:n-1]) + "…"
			}
			lines = append(lines, s)
			break
		}
		r := []rune(s)
		cut := n
		for i := n; i > n/2; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		lines = append(lines, strings.TrimRight(string(r[:cut]), " "))
		s = strings.TrimLeft(string(r[cut:]), " ")
	}
	return lines
}
