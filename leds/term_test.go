package leds

import (
	"bytes"
	"strings"
	"testing"
)

func TestTermInPlace(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerm(&buf, true)
	v := &View{Time: t0, Lights: []Light{{RoleActive, StateBlinkFast, true}, {RoleHeartbeat, StateBlinkSlow, false}}}
	term.Show(v)
	term.Show(v) // same view: not drawn again
	v.Lights[0].On = false
	term.Show(v)
	term.Close()
	out := buf.String()
	if n := strings.Count(out, "\r\x1b[K"); n != 2 {
		t.Errorf("%d redraws in %q, want 2", n, out)
	}
	if !strings.Contains(out, "\x1b[33m●\x1b[0m active (blink-fast)") {
		t.Errorf("lit active LED not drawn in amber: %q", out)
	}
	if !strings.HasSuffix(out, "○ active (blink-fast)  ○ heartbeat (blink-slow)\n") {
		t.Errorf("last line %q", out)
	}
}
