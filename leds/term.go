package leds

import (
	"io"
	"strings"
	"sync"
)

// Term draws the LEDs in a terminal (--leds term). Give its Show to
// Options.OnShow.
//
// Live on a terminal (InPlace), it redraws one line in place, in colour, as
// the LEDs blink. Otherwise (a replay, or output to a file) it writes one
// line each time a state changes, with the time of the change, so the lines
// read as a timeline.
type Term struct {
	mu      sync.Mutex // guards everything below
	w       io.Writer
	inPlace bool
	last    string
	drawn   bool
	buf     []byte
}

// NewTerm returns a Term that writes to w.
func NewTerm(w io.Writer, inPlace bool) *Term { return &Term{w: w, inPlace: inPlace} }

// ANSI colours of the lit LEDs, as on the panel: amber, green, red, blue.
var termColour = [numRoles]string{
	RoleActive:    "\x1b[33m",
	RolePassive:   "\x1b[32m",
	RoleAlert:     "\x1b[31m",
	RoleHeartbeat: "\x1b[34m",
}

// Show draws v if it differs from what was drawn last. Write errors are
// ignored: the terminal is a view, not a record.
func (t *Term) Show(v *View) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var key strings.Builder
	for _, l := range v.Lights {
		key.WriteString(l.State.String())
		if t.inPlace && l.On {
			key.WriteByte('*')
		}
		key.WriteByte(' ')
	}
	if t.drawn && key.String() == t.last {
		return
	}
	t.last, t.drawn = key.String(), true
	b := t.buf[:0]
	if t.inPlace {
		b = append(b, "\r\x1b[K"...)
	} else {
		b = v.Time.UTC().AppendFormat(b, "15:04:05.000")
		b = append(b, "  "...)
	}
	for i, l := range v.Lights {
		if i > 0 {
			b = append(b, "  "...)
		}
		switch {
		case t.inPlace && l.On:
			b = append(b, termColour[l.Role%numRoles]...)
			b = append(b, "●\x1b[0m"...)
		case l.On || !t.inPlace && l.State != StateOff:
			b = append(b, "●"...)
		default:
			b = append(b, "○"...)
		}
		b = append(b, ' ')
		b = append(b, l.Role.String()...)
		if l.State == StateBlinkFast || l.State == StateBlinkSlow || !t.inPlace {
			b = append(b, " ("...)
			b = append(b, l.State.String()...)
			b = append(b, ')')
		}
	}
	if !t.inPlace {
		b = append(b, '\n')
	}
	t.buf = b
	t.w.Write(b)
}

// Close ends the line a live Term redraws.
func (t *Term) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inPlace && t.drawn {
		io.WriteString(t.w, "\n")
	}
}
