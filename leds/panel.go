package leds

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"
)

// Output connects a role to a pin.
type Output struct {
	Role Role
	// Pin is the LED's pin: a GPIO line, an on-board LED (periph's
	// sysfs.LED) or a fake. The Panel writes it; the caller opened it and
	// closes it, if it needs closing.
	Pin gpio.PinOut
	// ActiveLow lights the LED with a low level: the LED sits between 3.3 V
	// and the pin.
	ActiveLow bool
}

// Change is a role's new state.
type Change struct {
	Time  time.Time
	Role  Role
	State State
}

// Light is what one LED shows.
type Light struct {
	Role  Role
	State State
	On    bool // lit at the time of the View
}

// View is what the panel's LEDs show at a time.
type View struct {
	Time   time.Time
	Lights []Light
}

// Options configure a Panel.
type Options struct {
	// Outputs are the pins to drive, at most one per role.
	Outputs []Output
	// Roles are the roles followed for OnChange and OnShow, besides those
	// of Outputs. Nil with no Outputs: every role.
	Roles []Role
	// AlertHold: see Model.AlertHold.
	AlertHold time.Duration
	// PacketTime takes the time from the events (ftptap replay): the same
	// capture always gives the same LED timeline. Otherwise the time is
	// Clock's, and Start runs a ticker that makes LEDs blink.
	PacketTime bool
	// Clock is the clock of a live panel. Nil: the real clock.
	Clock clockwork.Clock
	// Tick is the period of a live panel's refresh. Zero: FastPeriod/8.
	Tick time.Duration
	// OnChange, when not nil, receives every change of a role's state, in
	// order. Callbacks run one at a time, on the goroutine that caused the
	// change (Event's caller, the ticker, SetDegraded's caller); they must
	// not block for long nor call the Panel.
	OnChange func(Change)
	// OnShow, when not nil, receives what the LEDs show whenever a state
	// or a level changes. The View is valid only during the call.
	OnShow func(*View)
	// Logf reports pin write failures, once per pin. Nil: not reported
	// (Err still returns the first).
	Logf func(format string, args ...any)
}

// Panel drives LEDs from events. Its methods are safe for concurrent use.
// A Panel is a sink of the pipeline: give it every event through Event.
type Panel struct {
	opts  Options
	clock clockwork.Clock
	roles []Role // followed, in order
	outs  [numRoles]*Output

	deliver sync.Mutex // held while callbacks run, so they see changes in order

	mu      sync.Mutex // guards everything below
	model   Model
	now     time.Time // newest time seen (packet time)
	state   [numRoles]State
	lit     [numRoles]bool // level as shown, before ActiveLow
	written [numRoles]bool // the pin's level is known
	level   [numRoles]gpio.Level
	failed  [numRoles]bool
	err     error // first pin write error
	halted  bool
	pending []Change
	show    bool // a View is due
	view    View

	started bool
	stop    chan struct{}
	done    chan struct{}
}

// New returns a Panel and turns every output off. A pin that refuses the
// write is an error, naming the pin. Two outputs for one role, or an output
// with no pin, are errors too.
func New(opts Options) (*Panel, error) {
	p := &Panel{opts: opts, clock: opts.Clock}
	if p.clock == nil {
		p.clock = clockwork.NewRealClock()
	}
	p.model.AlertHold = opts.AlertHold
	for i := range opts.Outputs {
		o := &opts.Outputs[i]
		if o.Role <= RoleUnknown || o.Role >= numRoles {
			return nil, fmt.Errorf("leds: output %d: invalid role %d", i, o.Role)
		}
		if o.Pin == nil {
			return nil, fmt.Errorf("leds: %s: no pin", o.Role)
		}
		if p.outs[o.Role] != nil {
			return nil, fmt.Errorf("leds: %s: two outputs for one role", o.Role)
		}
		p.outs[o.Role] = o
	}
	var follow [numRoles]bool
	for _, r := range opts.Roles {
		if r <= RoleUnknown || r >= numRoles {
			return nil, fmt.Errorf("leds: invalid role %d", r)
		}
		follow[r] = true
	}
	for _, r := range Roles {
		// Every role with a pin is followed; with no pins and no
		// Roles, every role is.
		if follow[r] || p.outs[r] != nil || opts.Roles == nil && len(opts.Outputs) == 0 {
			p.roles = append(p.roles, r)
		}
	}
	for _, r := range p.roles {
		if o := p.outs[r]; o != nil {
			if err := o.Pin.Out(offLevel(o)); err != nil {
				return nil, fmt.Errorf("leds: %s: %s: %w", r, o.Pin, err)
			}
			p.written[r], p.level[r] = true, offLevel(o)
		}
		p.state[r] = StateOff
	}
	p.view.Lights = make([]Light, len(p.roles))
	return p, nil
}

func offLevel(o *Output) gpio.Level { return gpio.Level(o.ActiveLow) }

// Event updates the LEDs with one event of the pipeline. It implements
// pipeline.Sink; led and status events are ignored.
func (p *Panel) Event(ev *event.Event, _ []byte) {
	if ev.Type == event.TypeLED || ev.Type == event.TypeStatus {
		return
	}
	p.mu.Lock()
	if p.halted {
		p.mu.Unlock()
		return
	}
	t := p.timeLocked(ev.Time)
	p.model.Apply(ev, t)
	p.refreshLocked(t)
	p.unlockAndDeliver()
}

// timeLocked returns the time an event counts at and, in packet time, first
// plays the changes due before it (the end of an alert hold), so the
// timeline shows them when they happened rather than at the next event.
func (p *Panel) timeLocked(evTime time.Time) time.Time {
	if !p.opts.PacketTime {
		return p.clock.Now()
	}
	if p.now.IsZero() {
		p.now = evTime
	}
	for {
		next, ok := p.model.NextChange(p.now)
		if !ok || next.After(evTime) {
			break
		}
		p.now = next
		p.refreshLocked(next)
	}
	// Events from two tap ports can be out of order by a little: the
	// timeline never goes back.
	if evTime.After(p.now) {
		p.now = evTime
	}
	return p.now
}

// nowLocked is the time of a change that comes from no event.
func (p *Panel) nowLocked() time.Time {
	if p.opts.PacketTime {
		return p.now
	}
	return p.clock.Now()
}

// SetDegraded reports that something the tap depends on is degraded (on)
// or has recovered: reason names it ("capture" when the capture drops
// packets, "nats" when NATS is out of reach). The alert LED blinks while any
// reason is degraded.
func (p *Panel) SetDegraded(reason string, on bool) {
	p.mu.Lock()
	if p.halted {
		p.mu.Unlock()
		return
	}
	p.model.SetDegraded(reason, on)
	p.refreshLocked(p.nowLocked())
	p.unlockAndDeliver()
}

// SetPort reports whether the tap port on side is up. The heartbeat LED
// goes dark while a port is down.
func (p *Panel) SetPort(side event.Side, up bool) {
	p.mu.Lock()
	if p.halted {
		p.mu.Unlock()
		return
	}
	p.model.SetPort(side, up)
	p.refreshLocked(p.nowLocked())
	p.unlockAndDeliver()
}

// States returns the state of each followed role, in order.
func (p *Panel) States() []Change {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Change, len(p.roles))
	for i, r := range p.roles {
		out[i] = Change{Time: p.nowLocked(), Role: r, State: p.state[r]}
	}
	return out
}

// Err returns the first pin write error since New, or nil.
func (p *Panel) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// refreshLocked works out every role's state and level at t, writes the
// pins whose level changes and queues the changes for delivery.
func (p *Panel) refreshLocked(t time.Time) {
	for i, r := range p.roles {
		s := StateOff
		if !p.halted {
			s = p.model.State(r, t)
		}
		if s != p.state[r] {
			p.state[r] = s
			p.pending = append(p.pending, Change{Time: t, Role: r, State: s})
			p.show = true
		}
		lit := Level(s, t)
		if lit != p.lit[r] {
			p.lit[r] = lit
			p.show = true
		}
		p.view.Lights[i] = Light{Role: r, State: s, On: lit}
	}
	p.view.Time = t
	for _, r := range p.roles {
		o := p.outs[r]
		if o == nil {
			continue
		}
		l := gpio.Level(p.lit[r] != o.ActiveLow)
		if p.written[r] && l == p.level[r] {
			continue
		}
		if err := o.Pin.Out(l); err != nil {
			if !p.failed[r] {
				p.failed[r] = true
				if p.err == nil {
					p.err = fmt.Errorf("leds: %s: %s: %w", r, o.Pin, err)
				}
				if p.opts.Logf != nil {
					p.opts.Logf("leds: %s: %s: %v", r, o.Pin, err)
				}
			}
			continue
		}
		p.written[r], p.level[r] = true, l
	}
}

// unlockAndDeliver releases mu and runs the callbacks for what
// refreshLocked queued. The deliver lock is taken before mu is released, so
// callbacks from two goroutines cannot overtake each other.
func (p *Panel) unlockAndDeliver() {
	changes := p.pending
	p.pending = nil
	var view *View
	if p.show && p.opts.OnShow != nil {
		v := View{Time: p.view.Time, Lights: append([]Light(nil), p.view.Lights...)}
		view = &v
	}
	p.show = false
	if len(changes) == 0 && view == nil {
		p.mu.Unlock()
		return
	}
	p.deliver.Lock()
	p.mu.Unlock()
	defer p.deliver.Unlock()
	if p.opts.OnChange != nil {
		for _, c := range changes {
			p.opts.OnChange(c)
		}
	}
	if view != nil {
		p.opts.OnShow(view)
	}
}

// Start runs the ticker of a live panel (not PacketTime): it refreshes the
// LEDs every Tick so they blink and the alert hold ends on time. Calling
// Start again does nothing; Close stops it.
func (p *Panel) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.halted || p.opts.PacketTime {
		return
	}
	p.started = true
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	tick := p.opts.Tick
	if tick <= 0 {
		tick = FastPeriod / 8
	}
	tk := p.clock.NewTicker(tick)
	p.refreshLocked(p.clock.Now())
	go p.run(tk, p.stop, p.done)
}

func (p *Panel) run(tk clockwork.Ticker, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.Chan():
			p.mu.Lock()
			if !p.halted {
				p.refreshLocked(p.clock.Now())
			}
			p.unlockAndDeliver()
		}
	}
}

// Halt turns every LED off and stops following events. It writes every pin,
// even one it believes dark already, and returns the errors of those writes.
func (p *Panel) Halt() error {
	p.mu.Lock()
	p.halted = true
	var errs []error
	for _, r := range p.roles {
		if o := p.outs[r]; o != nil {
			if err := o.Pin.Out(offLevel(o)); err != nil {
				errs = append(errs, fmt.Errorf("leds: %s: %s: %w", r, o.Pin, err))
				p.written[r] = false
				continue
			}
			p.written[r], p.level[r] = true, offLevel(o)
		}
	}
	p.refreshLocked(p.nowLocked())
	p.unlockAndDeliver()
	return errors.Join(errs...)
}

// Close stops the ticker, waits for it, then halts the LEDs. It is safe to
// call more than once.
func (p *Panel) Close() error {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	return p.Halt()
}
