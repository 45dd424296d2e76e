package main

import (
	"fmt"
	"regexp"
	"time"

	"github.com/ftptap/ftptap/leds"
)

// LEDConfig is the leds: section of the config file.
//
//	leds:
//	  mode: gpio            # gpio, term, log or off; run's default: gpio
//	  alert_hold: 10s       # how long the alert LED stays on after a failure
//	  active:    {pin: GPIO17}
//	  passive:   {pin: GPIO27}
//	  alert:     {pin: GPIO22, active_low: true}
//	  heartbeat: {led: ACT} # the Pi's own green LED
//
// A section that maps no role takes the default wiring (defaultLEDPins);
// once one role is mapped, only the mapped roles are driven.
type LEDConfig struct {
	// Mode is what ftptap run does with the LEDs when --leds is not given:
	// gpio (the pins below), term (drawn on stderr), log (led events) or
	// off. Default: gpio. replay's default is off.
	Mode string `yaml:"mode"`
	// AlertHold is how long the alert LED stays on after a data channel
	// fails or an alert event. Default: 10s.
	AlertHold time.Duration `yaml:"alert_hold"`

	Active    *LEDPin `yaml:"active"`
	Passive   *LEDPin `yaml:"passive"`
	Alert     *LEDPin `yaml:"alert"`
	Heartbeat *LEDPin `yaml:"heartbeat"`
}

// LEDPin is where one role's LED is: a GPIO line or an on-board LED.
type LEDPin struct {
	// Pin is the GPIO line's name as periph.io knows it: GPIO17 (the BCM
	// number, on every Pi), or an alias such as P1_11 (the header pin).
	Pin string `yaml:"pin"`
	// ActiveLow: the LED lights when the pin is low (wired from 3.3 V to
	// the pin).
	ActiveLow bool `yaml:"active_low"`
	// LED is an on-board LED under /sys/class/leds: ACT or PWR on a
	// Raspberry Pi (led0, led1 on older kernels).
	LED string `yaml:"led"`
}

// defaultLEDPins is the wiring the README draws: four LEDs on neighbouring
// header pins 11, 13, 15 and 16, with ground on pin 9 or 14.
var defaultLEDPins = map[leds.Role]LEDPin{
	leds.RoleActive:    {Pin: "GPIO17"},
	leds.RolePassive:   {Pin: "GPIO27"},
	leds.RoleAlert:     {Pin: "GPIO22"},
	leds.RoleHeartbeat: {Pin: "GPIO23"},
}

// ledModes are the values of --leds and leds.mode.
var ledModes = []string{"gpio", "term", "log", "off"}

// ledNameRE matches the name of a directory of /sys/class/leds ("ACT",
// "input3::capslock"): no path separators, no "..".
// pinNameRE is the shape of a periph pin name (GPIO17, P1_11).
var pinNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

var ledNameRE = regexp.MustCompile(`^[A-Za-z0-9_:-]+$`)

// roleLED is a role and where its LED is.
type roleLED struct {
	role leds.Role
	LEDPin
}

// roles returns the mapped roles in order, with the default wiring when
// none is mapped.
func (c *LEDConfig) roles() []roleLED {
	byRole := map[leds.Role]*LEDPin{
		leds.RoleActive:    c.Active,
		leds.RolePassive:   c.Passive,
		leds.RoleAlert:     c.Alert,
		leds.RoleHeartbeat: c.Heartbeat,
	}
	var out []roleLED
	for _, r := range leds.Roles {
		if p := byRole[r]; p != nil {
			out = append(out, roleLED{r, *p})
		}
	}
	if len(out) == 0 {
		for _, r := range leds.Roles {
			out = append(out, roleLED{r, defaultLEDPins[r]})
		}
	}
	return out
}

func validMode(m string) bool {
	for _, v := range ledModes {
		if m == v {
			return true
		}
	}
	return false
}

// validate checks what can be checked before the hardware is opened: the
// mode, one place per role, names, and no pin or LED used twice. Whether a
// pin exists is known only after host.Init; attachLEDs checks it before
// capture starts.
func (c *LEDConfig) validate() error {
	if c.Mode != "" && !validMode(c.Mode) {
		return fmt.Errorf("leds: mode %q: want gpio, term, log or off", c.Mode)
	}
	if c.AlertHold < 0 {
		return fmt.Errorf("leds: alert_hold %s is negative", c.AlertHold)
	}
	usedBy := map[string]leds.Role{}
	for _, rl := range c.roles() {
		switch {
		case rl.Pin == "" && rl.LED == "":
			return fmt.Errorf("leds: %s: set pin (a GPIO name such as GPIO17) or led (an on-board LED such as ACT)", rl.role)
		case rl.Pin != "" && rl.LED != "":
			return fmt.Errorf("leds: %s: pin %q and led %q: set one, not both", rl.role, rl.Pin, rl.LED)
		}
		kind, name := "pin", rl.Pin
		if rl.LED != "" {
			kind, name = "led", rl.LED
		}
		if kind == "pin" && !pinNameRE.MatchString(name) || kind == "led" && !ledNameRE.MatchString(name) {
			return fmt.Errorf("leds: %s: %s %q is not a pin or LED name", rl.role, kind, name)
		}
		if other, ok := usedBy[kind+" "+name]; ok {
			return fmt.Errorf("leds: %s %q used twice (%s and %s)", kind, name, other, rl.role)
		}
		usedBy[kind+" "+name] = rl.role
	}
	return nil
}
