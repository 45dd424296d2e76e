// Package leds drives the tap's indicator LEDs from its events.
//
// # Roles and states
//
// Each LED has a Role and, at any time, a State:
//
//	active     on while at least one active-mode session (PORT, EPRT) has a
//	           data channel announced or open; blink-fast while data moves
//	           on one (from data.open until its data.close or
//	           transfer.end)
//	passive    the same for passive mode (PASV, EPSV); blink-fast too while
//	           a TFTP transfer runs (tftp.request until tftp.end), whose
//	           data goes to a port the server picked, as in passive mode
//	alert      on for a while (Model.AlertHold) after a data channel fails
//	           (refused, timeout) or an alert event; blink-fast while
//	           something is degraded (the capture drops packets, NATS is out
//	           of reach: see Panel.SetDegraded)
//	heartbeat  blink-slow while ftptap runs and both tap ports are up; off
//	           when a port is down (see Panel.SetPort)
//
// # The model
//
// Which LED shows what is a pure function of the events seen so far and of
// the time: Model.Apply takes an event and the time it counts at, and
// Model.State says a role's state at a given time. Level turns a state and a
// time into on or off, so blinking needs no goroutine of its own: a blinking
// LED is on in the first half of each period and off in the second.
//
// # The panel
//
// A Panel follows a Model and writes gpio.PinOut pins (GPIO lines,
// on-board LEDs, periph.io's gpiotest fakes) only when a pin's level must
// change. It takes time either from the events (PacketTime: ftptap replay,
// so a capture always gives the same LED timeline) or from a clock that
// ticks (ftptap run). It reports state changes (OnChange: --leds log) and
// what the LEDs show (OnShow: --leds term). Halt turns every LED off.
//
// The package depends on periph.io's interfaces only: opening the pins
// (host.Init, gpioreg.ByName) is the caller's job.
package leds
