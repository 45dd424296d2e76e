package leds

import (
	"net/netip"
	"testing"

	"github.com/ftptap/ftptap/event"
)

// TestTFTP: a TFTP transfer blinks the passive LED from its request to its
// end, apart from an FTP session of the same number; its alert raises the
// alert LED.
func TestTFTP(t *testing.T) {
	var m Model
	srv := netip.MustParseAddrPort("10.77.0.1:69")
	tftp := func(typ event.Type) event.Event {
		return event.Event{Type: typ, Proto: event.ProtoTFTP, Session: 1, Server: srv}
	}
	check := func(ms int, passive, alert State) {
		t.Helper()
		if got := m.State(RolePassive, at(ms)); got != passive {
			t.Errorf("at %d ms: passive %v, want %v", ms, got, passive)
		}
		if got := m.State(RoleAlert, at(ms)); got != alert {
			t.Errorf("at %d ms: alert %v, want %v", ms, got, alert)
		}
	}
	check(0, StateOff, StateOff)
	ev := tftp(event.TypeTFTPRequest)
	m.Apply(&ev, at(0))
	check(1, StateBlinkFast, StateOff)
	// The FTP session numbered 1 ends: the TFTP transfer goes on.
	end := sessEnd(1)
	m.Apply(&end, at(2))
	check(3, StateBlinkFast, StateOff)
	ev = tftp(event.TypeTFTPEnd)
	m.Apply(&ev, at(4))
	check(5, StateOff, StateOff)
	ev = tftp(event.TypeAlert)
	ev.Kind = "tftp_reply_blocked"
	m.Apply(&ev, at(6))
	check(7, StateOff, StateOn)
	if open, _ := m.Channels(); open != 0 {
		t.Errorf("%d channels left open", open)
	}
}
