package leds

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/google/go-cmp/cmp"
	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// countingPin is a gpiotest.Pin that counts writes and can refuse them.
type countingPin struct {
	*gpiotest.Pin
	mu     sync.Mutex
	writes int
	refuse error
}

func (p *countingPin) Out(l gpio.Level) error {
	p.mu.Lock()
	p.writes++
	err := p.refuse
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.Pin.Out(l)
}

func (p *countingPin) Writes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writes
}

// registerPins registers fake pins under the names a Raspberry Pi gives its
// GPIO lines and looks them up by name through gpioreg, as ftptap does on a
// Pi. They are unregistered when the test ends.
func registerPins(t *testing.T, names ...string) map[string]*countingPin {
	t.Helper()
	pins := make(map[string]*countingPin)
	for i, n := range names {
		p := &countingPin{Pin: &gpiotest.Pin{N: n, Num: 17 + i, Fn: "Out/Low"}}
		if err := gpioreg.Register(p); err != nil {
			t.Fatalf("register %s: %v", n, err)
		}
		t.Cleanup(func() { gpioreg.Unregister(n) })
		got := gpioreg.ByName(n)
		if got == nil {
			t.Fatalf("gpioreg.ByName(%q) = nil after Register", n)
		}
		pins[n] = got.(*countingPin)
	}
	return pins
}

func level(p *countingPin) gpio.Level { return p.Read() }

// pinsByRole maps every role to a pin: active GPIO17, passive GPIO27,
// alert GPIO22, heartbeat GPIO23.
func pinsByRole(t *testing.T) (map[Role]*countingPin, []Output) {
	t.Helper()
	names := map[Role]string{RoleActive: "GPIO17", RolePassive: "GPIO27", RoleAlert: "GPIO22", RoleHeartbeat: "GPIO23"}
	pins := registerPins(t, "GPIO17", "GPIO27", "GPIO22", "GPIO23")
	byRole := make(map[Role]*countingPin)
	var outs []Output
	for _, r := range Roles {
		p := pins[names[r]]
		byRole[r] = p
		outs = append(outs, Output{Role: r, Pin: gpioreg.ByName(names[r])})
	}
	return byRole, outs
}

func feed(p *Panel, ms int, ev event.Event) {
	ev.Time = at(ms)
	p.Event(&ev, nil)
}

func TestPanelPacketTime(t *testing.T) {
	pins, outs := pinsByRole(t)
	for _, p := range pins {
		p.Out(gpio.High) // New must turn them off
	}
	var changes []string
	p, err := New(Options{Outputs: outs, PacketTime: true, OnChange: func(c Change) {
		changes = append(changes, fmt.Sprintf("%d %s %s", c.Time.Sub(t0).Milliseconds(), c.Role, c.State))
	}})
	if err != nil {
		t.Fatal(err)
	}
	for r, pin := range pins {
		if level(pin) != gpio.Low {
			t.Errorf("%s after New: %s, want Low", r, level(pin))
		}
	}

	feed(p, 0, event.Event{Type: event.TypeSessionStart, Session: 1})
	feed(p, 100, expect(1, event.ModePassive, pasvEP))
	if level(pins[RolePassive]) != gpio.High || level(pins[RoleActive]) != gpio.Low {
		t.Errorf("passive announced: passive %s active %s, want High Low", level(pins[RolePassive]), level(pins[RoleActive]))
	}
	// The heartbeat blinks at 1 Hz from the epoch: lit in the first half
	// second, dark in the second.
	if level(pins[RoleHeartbeat]) != gpio.High {
		t.Errorf("heartbeat at +100ms: %s, want High", level(pins[RoleHeartbeat]))
	}
	feed(p, 150, event.Event{Type: event.TypeRequest, Session: 1, Command: "NOOP"})
	w := pins[RolePassive].Writes()
	feed(p, 160, event.Event{Type: event.TypeResponse, Session: 1, Code: 200})
	if got := pins[RolePassive].Writes(); got != w {
		t.Errorf("passive pin written %d times with no change of level", got-w)
	}
	feed(p, 600, fail(1, event.ModePassive, pasvEP, "refused"))
	if level(pins[RoleAlert]) != gpio.High || level(pins[RolePassive]) != gpio.Low || level(pins[RoleHeartbeat]) != gpio.Low {
		t.Errorf("after refused: alert %s passive %s heartbeat %s, want High Low Low", level(pins[RoleAlert]), level(pins[RolePassive]), level(pins[RoleHeartbeat]))
	}
	// The next event comes long after the hold: the alert went off when
	// the hold ended, not when the event came.
	feed(p, 20000, sessEnd(1))
	if level(pins[RoleAlert]) != gpio.Low {
		t.Errorf("alert after the hold: %s, want Low", level(pins[RoleAlert]))
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for r, pin := range pins {
		if level(pin) != gpio.Low {
			t.Errorf("%s after Close: %s, want Low", r, level(pin))
		}
	}
	want := []string{
		"0 heartbeat blink-slow",
		"100 passive on",
		"600 passive off",
		"600 alert on",
		"10600 alert off",
		"20000 heartbeat off", // Close
	}
	if diff := cmp.Diff(want, changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

func TestPanelActiveLow(t *testing.T) {
	pins := registerPins(t, "GPIO5")
	p, err := New(Options{Outputs: []Output{{Role: RoleActive, Pin: gpioreg.ByName("GPIO5"), ActiveLow: true}}, PacketTime: true})
	if err != nil {
		t.Fatal(err)
	}
	pin := pins["GPIO5"]
	if level(pin) != gpio.High {
		t.Errorf("active-low LED off after New: pin %s, want High", level(pin))
	}
	feed(p, 0, expect(1, event.ModeActive, portEP))
	if level(pin) != gpio.Low {
		t.Errorf("active-low LED on: pin %s, want Low", level(pin))
	}
	if err := p.Halt(); err != nil {
		t.Fatal(err)
	}
	if level(pin) != gpio.High {
		t.Errorf("active-low LED after Halt: pin %s, want High", level(pin))
	}
	feed(p, 10, expect(2, event.ModeActive, portEP))
	if level(pin) != gpio.High {
		t.Error("an event after Halt lit the LED")
	}
}

func TestPanelErrors(t *testing.T) {
	pins := registerPins(t, "GPIO6", "GPIO13")
	pins["GPIO6"].refuse = errors.New("permission denied")
	_, err := New(Options{Outputs: []Output{{Role: RoleAlert, Pin: gpioreg.ByName("GPIO6")}}})
	if err == nil || !strings.Contains(err.Error(), "leds: alert: GPIO6") || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("New with a pin that refuses writes: %v", err)
	}
	_, err = New(Options{Outputs: []Output{{Role: RoleAlert, Pin: gpioreg.ByName("GPIO13")}, {Role: RoleAlert, Pin: gpioreg.ByName("GPIO13")}}})
	if err == nil || !strings.Contains(err.Error(), "two outputs") {
		t.Errorf("New with two outputs for alert: %v", err)
	}
	_, err = New(Options{Outputs: []Output{{Role: RoleActive}}})
	if err == nil || !strings.Contains(err.Error(), "no pin") {
		t.Errorf("New with a nil pin: %v", err)
	}
	_, err = New(Options{Outputs: []Output{{Role: Role(9), Pin: gpioreg.ByName("GPIO13")}}})
	if err == nil {
		t.Error("New with an invalid role: no error")
	}

	// A pin that fails later is reported once, and the others go on.
	var logs []string
	p, err := New(Options{Outputs: []Output{{Role: RoleAlert, Pin: gpioreg.ByName("GPIO13")}}, PacketTime: true,
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	pins["GPIO13"].refuse = errors.New("i/o error")
	feed(p, 0, event.Event{Type: event.TypeAlert, Kind: "x"})
	feed(p, 20000, event.Event{Type: event.TypeAlert, Kind: "x"})
	if len(logs) != 1 || !strings.Contains(logs[0], "i/o error") {
		t.Errorf("logs = %q, want one i/o error", logs)
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "GPIO13") {
		t.Errorf("Err() = %v", err)
	}
	if err := p.Halt(); err == nil {
		t.Error("Halt with a failing pin: no error")
	}
}

func TestPanelLive(t *testing.T) {
	defer goleak.VerifyNone(t)
	pins, outs := pinsByRole(t)
	// The fake clock starts at a whole second: the heartbeat is lit.
	fc := clockwork.NewFakeClockAt(t0)
	var mu sync.Mutex
	var views []string
	p, err := New(Options{Outputs: outs, Clock: fc, Tick: 25 * time.Millisecond, OnShow: func(v *View) {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for _, l := range v.Lights {
			fmt.Fprintf(&b, "%s=%v ", l.Role, l.On)
		}
		views = append(views, b.String())
	}})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	p.Start() // idempotent
	waitLevel(t, pins[RoleHeartbeat], gpio.High, "heartbeat at start")

	// Events take the clock's time, not their own.
	ev := open(1, event.ModeActive, portEP)
	ev.Time = time.Unix(0, 0)
	p.Event(&ev, nil)
	if got := p.States()[0]; got.State != StateBlinkFast {
		t.Errorf("active while data moves: %v, want blink-fast", got.State)
	}
	waitLevel(t, pins[RoleActive], gpio.High, "active, first half of a fast blink")
	advance(t, fc, 100*time.Millisecond)
	waitLevel(t, pins[RoleActive], gpio.Low, "active, second half of a fast blink")
	advance(t, fc, 100*time.Millisecond)
	waitLevel(t, pins[RoleActive], gpio.High, "active, next fast blink")
	advance(t, fc, 400*time.Millisecond)
	waitLevel(t, pins[RoleHeartbeat], gpio.Low, "heartbeat, second half of a slow blink")

	p.SetDegraded("nats", true)
	if got := p.States()[2].State; got != StateBlinkFast {
		t.Errorf("alert while NATS is degraded: %v, want blink-fast", got)
	}
	p.SetDegraded("nats", false)
	p.SetPort(event.SideA, false)
	if got := p.States()[3].State; got != StateOff {
		t.Errorf("heartbeat with port A down: %v, want off", got)
	}
	waitLevel(t, pins[RoleHeartbeat], gpio.Low, "heartbeat, port down")
	p.SetPort(event.SideA, true)

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for r, pin := range pins {
		if level(pin) != gpio.Low {
			t.Errorf("%s after Close: %s, want Low", r, level(pin))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(views) < 4 {
		t.Errorf("OnShow called %d times, want a view per blink", len(views))
	}
	if last := views[len(views)-1]; strings.Contains(last, "true") {
		t.Errorf("last view after Close %q: a light is on", last)
	}
}

func advance(t *testing.T, fc *clockwork.FakeClock, d time.Duration) {
	t.Helper()
	for d > 0 {
		step := min(d, 25*time.Millisecond)
		fc.Advance(step)
		d -= step
	}
}

// waitLevel waits for the panel's ticker goroutine to bring pin to l.
func waitLevel(t *testing.T, pin *countingPin, l gpio.Level, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for level(pin) != l {
		if time.Now().After(deadline) {
			t.Fatalf("%s: pin %s stays %s, want %s", what, pin.N, level(pin), l)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPanelRolesWithoutPins(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerm(&buf, false)
	var changes []Change
	p, err := New(Options{PacketTime: true, OnShow: term.Show, OnChange: func(c Change) { changes = append(changes, c) }})
	if err != nil {
		t.Fatal(err)
	}
	feed(p, 0, expect(1, event.ModePassive, pasvEP))
	feed(p, 50, open(1, event.ModePassive, pasvEP))
	feed(p, 60, event.Event{Type: event.TypeLED, Kind: "alert", State: "on"}) // ignored
	feed(p, 900, xferEnd(1, event.ModePassive, pasvEP))
	term.Close()
	if len(changes) != 4 {
		t.Errorf("changes = %v, want 4 (heartbeat, passive on, blink-fast, off)", changes)
	}
	want := "10:00:00.000  ○ active (off)  ● passive (on)  ○ alert (off)  ● heartbeat (blink-slow)\n" +
		"10:00:00.050  ○ active (off)  ● passive (blink-fast)  ○ alert (off)  ● heartbeat (blink-slow)\n" +
		"10:00:00.900  ○ active (off)  ○ passive (off)  ○ alert (off)  ● heartbeat (blink-slow)\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("term (-want +got):\n%s", diff)
	}
}

// BenchmarkPanelEvent is the cost of an event that changes no LED (most
// of them: requests, replies) on a panel with four pins.
func BenchmarkPanelEvent(b *testing.B) {
	var outs []Output
	for _, r := range Roles {
		outs = append(outs, Output{Role: r, Pin: &gpiotest.Pin{N: r.String()}})
	}
	p, err := New(Options{Outputs: outs, PacketTime: true, OnChange: func(Change) {}})
	if err != nil {
		b.Fatal(err)
	}
	ev := expect(1, event.ModePassive, pasvEP)
	ev.Time = t0
	p.Event(&ev, nil)
	req := event.Event{Type: event.TypeRequest, Session: 1, Command: "NOOP", Time: t0}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req.Time = t0.Add(time.Duration(i%400) * time.Millisecond) // within the heartbeat's lit half
		p.Event(&req, nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
