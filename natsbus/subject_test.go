package natsbus

import (
	"testing"

	"github.com/ftptap/ftptap/event"
)

func TestSubject(t *testing.T) {
	tests := []struct {
		name string
		ev   event.Event
		want string
	}{
		{"request", event.Event{Type: event.TypeRequest, Command: "USER"}, "ftptap.lab1.request.USER"},
		{"response", event.Event{Type: event.TypeResponse, Code: 227}, "ftptap.lab1.response.227"},
		{"session start", event.Event{Type: event.TypeSessionStart}, "ftptap.lab1.session.start"},
		{"session end", event.Event{Type: event.TypeSessionEnd}, "ftptap.lab1.session.end"},
		{"data open", event.Event{Type: event.TypeDataOpen, Mode: event.ModePassive}, "ftptap.lab1.data.open.passive"},
		{"data expect", event.Event{Type: event.TypeDataExpect, Mode: event.ModeActive}, "ftptap.lab1.data.expect.active"},
		{"transfer", event.Event{Type: event.TypeTransferEnd}, "ftptap.lab1.transfer.end"},
		{"alert", event.Event{Type: event.TypeAlert, Kind: "nats_overflow"}, "ftptap.lab1.alert.nats_overflow"},
		{"status", event.Event{Type: event.TypeStatus}, "ftptap.lab1.status"},
		// A hostile command cannot add tokens or wildcards.
		{"hostile command", event.Event{Type: event.TypeRequest, Command: "A.B*>"}, "ftptap.lab1.request.A_B__"},
		{"empty command", event.Event{Type: event.TypeRequest}, "ftptap.lab1.request._"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subject("lab1", &tt.ev); got != tt.want {
				t.Errorf("Subject = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidToken(t *testing.T) {
	for _, s := range []string{"lab1", "Lab_1", "bench-3", "a"} {
		if !ValidToken(s) {
			t.Errorf("ValidToken(%q) = false", s)
		}
	}
	for _, s := range []string{"", "lab.1", "lab 1", "lab*", "lab>", "läb", "a/b"} {
		if ValidToken(s) {
			t.Errorf("ValidToken(%q) = true", s)
		}
		if _, err := NewPublisher(nil, Options{Tap: s}); err == nil {
			t.Errorf("NewPublisher with tap %q: no error", s)
		}
	}
}

func TestMsgID(t *testing.T) {
	if got, want := MsgID("lab1", "00ff", 42), "lab1.00ff.42"; got != want {
		t.Errorf("MsgID = %q, want %q", got, want)
	}
	a, b := NewBootID(), NewBootID()
	if len(a) != 16 || a == b {
		t.Errorf("NewBootID gave %q and %q: want 16 hex digits, different each time", a, b)
	}
}

// TestNewRecord: a record's subject and Nats-Msg-Id, which share one
// string, are Subject's and MsgID's, and its data is a copy of the JSON.
func TestNewRecord(t *testing.T) {
	ev := event.Event{Seq: 12345, Type: event.TypeRequest, Command: "A.B*>"}
	js := []byte(`{"v":1}`)
	r := newRecord("lab1", "0123456789abcdef", &ev, js)
	if r.subject != Subject("lab1", &ev) || r.id != MsgID("lab1", "0123456789abcdef", 12345) || string(r.data) != `{"v":1}` {
		t.Errorf("record %q %q %q", r.subject, r.id, r.data)
	}
	js[0] = 'x'
	if string(r.data) != `{"v":1}` {
		t.Errorf("the record's data changed with the caller's buffer: %q", r.data)
	}
	if n := testing.AllocsPerRun(100, func() { newRecord("lab1", "0123456789abcdef", &ev, js) }); n != 2 {
		t.Errorf("newRecord: %v allocations, want 2", n)
	}
}
