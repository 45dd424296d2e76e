package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/host/v3/rpi"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/leds"
	"github.com/ftptap/ftptap/pipeline"
)

// pinLog records the writes of recordingPins, in order, as "GPIO17=High".
type pinLog struct {
	mu     sync.Mutex
	writes []string
}

func (l *pinLog) add(s string) {
	l.mu.Lock()
	l.writes = append(l.writes, s)
	l.mu.Unlock()
}

func (l *pinLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.writes...)
}

// recordingPin is a gpiotest.Pin that logs its writes and can refuse them.
type recordingPin struct {
	*gpiotest.Pin
	log    *pinLog
	refuse error
}

func (p *recordingPin) Out(l gpio.Level) error {
	if p.refuse != nil {
		return p.refuse
	}
	p.log.add(p.N + "=" + l.String())
	return p.Pin.Out(l)
}

// fakePins registers fake pins in periph's registry under the names a Pi
// gives its GPIO lines, so that ftptap finds them with the same
// gpioreg.ByName lookup as on a Pi. They are unregistered when the test
// ends.
func fakePins(t *testing.T, names ...string) (map[string]*recordingPin, *pinLog) {
	t.Helper()
	log := &pinLog{}
	pins := make(map[string]*recordingPin)
	for i, n := range names {
		p := &recordingPin{Pin: &gpiotest.Pin{N: n, Num: 100 + i}, log: log}
		if err := gpioreg.Register(p); err != nil {
			t.Skipf("cannot register fake pin %s (a real one exists on this machine?): %v", n, err)
		}
		t.Cleanup(func() { gpioreg.Unregister(n) })
		pins[n] = p
	}
	return pins, log
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runFtptap runs ftptap with args and returns its exit code, stdout and
// stderr (where --leds term draws, too).
func runFtptap(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	old := ledsOut
	ledsOut = &stderr
	defer func() { ledsOut = old }()
	code := runMain(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func corpusCapture(t *testing.T, scenario string) string {
	t.Helper()
	path := filepath.Join("..", "..", "shared", "corpus", "gen", scenario, "merged.pcap")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("corpus capture %s not available: %v", path, err)
	}
	return path
}

const fourPins = `
leds:
  active:    {pin: GPIO17}
  passive:   {pin: GPIO27}
  alert:     {pin: GPIO22}
  heartbeat: {pin: GPIO23}
`

func TestLEDConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		err  string // substring; empty: valid
	}{
		{"no section: default wiring", "", ""},
		{"four pins", fourPins, ""},
		{"one role, on-board LED", "leds: {heartbeat: {led: ACT}}", ""},
		{"led name with colons", "leds: {alert: {led: 'input3::capslock'}}", ""},
		{"active low", "leds: {alert: {pin: GPIO22, active_low: true}, mode: log, alert_hold: 30s}", ""},
		{"bad mode", "leds: {mode: blink}", `line 1: leds.mode "blink": want gpio, term, log or off`},
		{"pin used twice", "leds: {active: {pin: GPIO17}, alert: {pin: GPIO17}}", `leds: pin "GPIO17" used twice (active and alert)`},
		{"led used twice", "leds: {active: {led: ACT}, heartbeat: {led: ACT}}", `leds: led "ACT" used twice (active and heartbeat)`},
		{"pin and led", "leds: {active: {pin: GPIO17, led: ACT}}", `leds: active: pin "GPIO17" and led "ACT": set one, not both`},
		{"neither", "leds: {passive: {active_low: true}}", "leds: passive: set pin"},
		{"path as LED name", "leds: {alert: {led: ../../etc}}", `leds: alert: led "../../etc" is not a pin or LED name`},
		{"bad pin name", "leds: {alert: {pin: 'GPIO 17'}}", `leds: alert: pin "GPIO 17" is not a pin or LED name`},
		{"negative hold", "leds: {alert_hold: -1s}", "leds: alert_hold -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(writeConfig(t, tt.yaml))
			if err == nil {
				err = cfg.Validate()
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Validate: %v, want %q", err, tt.err)
			}
		})
	}
	if _, err := LoadConfig(writeConfig(t, "leds: {active: {pin: GPIO17, colour: red}}")); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestLEDConfigRoles(t *testing.T) {
	var c LEDConfig
	var got []string
	for _, rl := range c.roles() {
		got = append(got, rl.role.String()+"="+rl.Pin)
	}
	want := []string{"active=GPIO17", "passive=GPIO27", "alert=GPIO22", "heartbeat=GPIO23"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("default roles (-want +got):\n%s", diff)
	}
	c.Alert = &LEDPin{LED: "ACT"}
	if r := c.roles(); len(r) != 1 || r[0].LED != "ACT" {
		t.Errorf("one mapped role: %v, want only alert", r)
	}
}

func TestLEDsTestCommand(t *testing.T) {
	pins, log := fakePins(t, "GPIO17", "GPIO27", "GPIO22", "GPIO23")
	cfg := writeConfig(t, fourPins)
	cfgLow := writeConfig(t, strings.Replace(fourPins, "{pin: GPIO22}", "{pin: GPIO22, active_low: true}", 1))
	code, stdout, stderr := runFtptap(t, "leds", "test", "--config", cfg, "--hold", "1ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	wantOut := "active    GPIO17\npassive   GPIO27\nalert     GPIO22\nheartbeat GPIO23\n"
	if diff := cmp.Diff(wantOut, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	// All off, then each lit and put out in turn, then all off.
	want := []string{
		"GPIO17=Low", "GPIO27=Low", "GPIO22=Low", "GPIO23=Low",
		"GPIO17=High", "GPIO17=Low",
		"GPIO27=High", "GPIO27=Low",
		"GPIO22=High", "GPIO22=Low",
		"GPIO23=High", "GPIO23=Low",
		"GPIO17=Low", "GPIO27=Low", "GPIO22=Low", "GPIO23=Low",
	}
	if diff := cmp.Diff(want, log.all()); diff != "" {
		t.Errorf("pin writes (-want +got):\n%s", diff)
	}

	code, stdout, _ = runFtptap(t, "leds", "test", "--config", cfgLow, "--hold", "1ms")
	if code != 0 || !strings.Contains(stdout, "alert     GPIO22, active low\n") {
		t.Errorf("active-low: exit %d, stdout %q", code, stdout)
	}
	if pins["GPIO22"].Read() != gpio.High {
		t.Error("active-low alert LED left lit (pin low) after the test")
	}

	code, _, stderr = runFtptap(t, "leds", "check")
	if code != 2 || !strings.Contains(stderr, `want "ftptap leds test"`) {
		t.Errorf("ftptap leds check: exit %d, %q", code, stderr)
	}
}

func TestLEDsPinNotFound(t *testing.T) {
	fakePins(t, "GPIO17")
	cfg := writeConfig(t, "leds: {active: {pin: GPIO17}, passive: {pin: GPIO99}}")
	pcap := corpusCapture(t, "pasv-retr")
	code, stdout, stderr := runFtptap(t, "replay", "--config", cfg, "--leds", "gpio", "--tap", "t", pcap)
	if code != 1 || !strings.Contains(stderr, `leds: pin "GPIO99" not found`) {
		t.Errorf("exit %d, stderr %q; want 1 and the pin named", code, stderr)
	}
	if stdout != "" {
		t.Errorf("capture started before the LEDs were checked: %q", stdout)
	}
	code, _, stderr = runFtptap(t, "leds", "test", "--config", cfg)
	if code != 1 || !strings.HasPrefix(stderr, "ftptap leds: pin \"GPIO99\" not found") {
		t.Errorf("leds test: exit %d, stderr %q", code, stderr)
	}
}

func TestLEDsSamePinTwice(t *testing.T) {
	fakePins(t, "GPIO17")
	if err := gpioreg.RegisterAlias("P1_11", "GPIO17"); err != nil {
		t.Skipf("alias: %v", err)
	}
	t.Cleanup(func() { gpioreg.Unregister("P1_11") })
	cfg := writeConfig(t, "leds: {active: {pin: GPIO17}, heartbeat: {pin: P1_11}}")
	code, _, stderr := runFtptap(t, "leds", "test", "--config", cfg, "--hold", "1ms")
	if code != 1 || !strings.Contains(stderr, "active and heartbeat use the same pin GPIO17") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestLEDsPinRefused(t *testing.T) {
	pins, _ := fakePins(t, "GPIO17")
	pins["GPIO17"].refuse = errors.New("permission denied")
	cfg := writeConfig(t, "leds: {active: {pin: GPIO17}}")
	code, stdout, stderr := runFtptap(t, "replay", "--config", cfg, "--leds", "gpio", "--tap", "t", corpusCapture(t, "port-stor"))
	if code != 1 || !strings.Contains(stderr, "leds: active: GPIO17") || !strings.Contains(stderr, "permission denied") {
		t.Errorf("exit %d, stderr %q; want 1 and the refusal", code, stderr)
	}
	if stdout != "" {
		t.Errorf("capture started with a refused pin: %q", stdout)
	}
}

func TestLEDsNoPi(t *testing.T) {
	if rpi.Present() {
		t.Skip("this is a Raspberry Pi")
	}
	cfg := writeConfig(t, "leds: {active: {pin: GPIO17}}") // no such pin registered
	code, stdout, stderr := runFtptap(t, "replay", "--config", cfg, "--leds", "gpio", "--tap", "t", corpusCapture(t, "pasv-retr"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The notice, then the closing line of every replay.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if want := "ftptap replay: leds: no GPIO on this machine (not a Raspberry Pi); running without LEDs"; len(lines) != 2 || lines[0] != want || !closingLine.MatchString(lines[1]) {
		t.Errorf("stderr %q, want %q and the closing line", stderr, want)
	}
	if !strings.Contains(stdout, `"type":"session.start"`) {
		t.Errorf("no events without LEDs: %q", stdout)
	}
}

func TestReplayLEDsGPIO(t *testing.T) {
	pins, log := fakePins(t, "GPIO17", "GPIO27", "GPIO22", "GPIO23")
	cfg := writeConfig(t, fourPins)
	code, _, stderr := runFtptap(t, "replay", "--config", cfg, "--leds", "gpio", "--tap", "t", corpusCapture(t, "pasv-rst"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lit := map[string]bool{}
	for _, w := range log.all() {
		if strings.HasSuffix(w, "=High") {
			lit[strings.TrimSuffix(w, "=High")] = true
		}
	}
	if !lit["GPIO27"] || !lit["GPIO22"] || lit["GPIO17"] {
		t.Errorf("pins lit during the refused passive capture: %v; want passive (GPIO27) and alert (GPIO22), not active (GPIO17)", lit)
	}
	for n, p := range pins {
		if p.Read() != gpio.Low {
			t.Errorf("%s lit after the replay", n)
		}
	}
}

func TestReplayLEDsLog(t *testing.T) {
	pcap := corpusCapture(t, "pasv-rst")
	code, stdout, stderr := runFtptap(t, "replay", "--leds", "log", "--tap", "t", pcap)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, `"type":"led"`) {
			i := strings.Index(line, `"type"`)
			got = append(got, line[i:])
		}
	}
	want := []string{
		`"type":"led","role":"heartbeat","state":"blink-slow"}`,
		`"type":"led","role":"passive","state":"on"}`,
		`"type":"led","role":"passive","state":"off"}`,
		`"type":"led","role":"alert","state":"on"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("led events (-want +got):\n%s", diff)
	}
	// Packet time: the same capture gives the same bytes.
	_, again, _ := runFtptap(t, "replay", "--leds", "log", "--tap", "t", pcap)
	if again != stdout {
		t.Error("two replays of one capture gave different LED timelines")
	}
	code, stdout, _ = runFtptap(t, "replay", "--tap", "t", pcap)
	if code != 0 || strings.Contains(stdout, `"type":"led"`) {
		t.Errorf("replay without --leds: exit %d, led events in %q", code, stdout)
	}
	code, _, stderr = runFtptap(t, "replay", "--leds", "rgb", pcap)
	if code != 2 || !strings.Contains(stderr, `--leds "rgb": want gpio, term, log or off`) {
		t.Errorf("--leds rgb: exit %d, %q", code, stderr)
	}
}

func TestReplayLEDsTerm(t *testing.T) {
	code, _, stderr := runFtptap(t, "replay", "--leds", "term", "--tap", "t", corpusCapture(t, "port-stor"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	want := []string{
		"○ active (off)  ○ passive (off)  ○ alert (off)  ● heartbeat (blink-slow)",
		"● active (on)  ○ passive (off)  ○ alert (off)  ● heartbeat (blink-slow)",
		"● active (blink-fast)  ○ passive (off)  ○ alert (off)  ● heartbeat (blink-slow)",
		"○ active (off)  ○ passive (off)  ○ alert (off)  ● heartbeat (blink-slow)",
		"○ active (off)  ○ passive (off)  ○ alert (off)  ○ heartbeat (off)", // the end: Halt
	}
	var got []string
	for _, l := range lines {
		if i := strings.Index(l, "  "); i > 0 {
			got = append(got, l[i+2:]) // drop the time
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("term lines (-want +got):\n%s\nall:\n%s", diff, stderr)
	}
}

// TestLEDReports checks the hooks other parts of ftptap call.
func TestLEDReports(t *testing.T) {
	reportDegraded("nats", true) // no panel: nothing happens
	p, err := leds.New(leds.Options{PacketTime: true})
	if err != nil {
		t.Fatal(err)
	}
	ledPanel.Store(p)
	defer ledPanel.Store(nil)
	reportDegraded("capture", true)
	reportPort(event.SideB, false)
	got := fmt.Sprint(p.States())
	for _, want := range []string{"alert blink-fast", "heartbeat off"} {
		if !strings.Contains(got, want) {
			t.Errorf("states %s: want %q", got, want)
		}
	}
}

// TestLEDsLive attaches the LEDs as ftptap run does: the mode comes from the
// config, changes from other goroutines arrive as injected led events, and
// closing stops the ticker.
func TestLEDsLive(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg, err := LoadConfig(writeConfig(t, "leds: {mode: log}"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	p, err := pipeline.New(pipeline.Options{Tap: "t", Sinks: []pipeline.Sink{pipeline.SinkFunc(func(ev *event.Event, _ []byte) {
		if ev.Type == event.TypeLED {
			mu.Lock()
			got = append(got, ev.Kind+" "+ev.State)
			mu.Unlock()
		}
	})}})
	if err != nil {
		t.Fatal(err)
	}
	ledsFlag = "" // no --leds: the config's mode
	closeLEDs, err := attachLEDs(context.Background(), &sinkEnv{cmd: "run", cfg: cfg, pipeline: p, live: true})
	if err != nil {
		t.Fatal(err)
	}
	reportDegraded("nats", true)
	reportPort(event.SideA, false)
	p.Feed(pipeline.Frame{Info: gopacket.CaptureInfo{Timestamp: time.Now()}}) // a tick: injected events go out
	if err := closeLEDs(); err != nil {
		t.Fatal(err)
	}
	if err := closeLEDs(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if ledPanel.Load() != nil {
		t.Error("panel still reachable after close")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"heartbeat blink-slow", "alert blink-fast", "heartbeat off"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("led events (-want +got):\n%s", diff)
	}
}

func TestWatchCaptureDrops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p, err := leds.New(leds.Options{PacketTime: true})
	if err != nil {
		t.Fatal(err)
	}
	ledPanel.Store(p)
	defer ledPanel.Store(nil)
	var drops atomic.Uint64
	fc := clockwork.NewFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchCaptureDrops(ctx, fc, time.Second, drops.Load)
	}()
	alert := func() leds.State { return p.States()[2].State }
	waitAlert := func(want leds.State, what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for alert() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: alert %v, want %v", what, alert(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := fc.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	drops.Store(7)
	fc.Advance(time.Second)
	waitAlert(leds.StateBlinkFast, "drops grew")
	fc.Advance(time.Second)
	waitAlert(leds.StateOff, "no new drops")
	drops.Store(9)
	fc.Advance(time.Second)
	waitAlert(leds.StateBlinkFast, "drops grew again")
	cancel()
	<-done
	if alert() != leds.StateOff {
		t.Errorf("alert %v after the watch ended, want off", alert())
	}
}
