package leds

import (
	"net/netip"
	"time"

	"github.com/ftptap/ftptap/event"
)

// Role is what an LED shows. The zero value is invalid.
type Role uint8

// LED roles, in the order the tools list them.
const (
	RoleUnknown   Role = iota
	RoleActive         // active-mode data channels
	RolePassive        // passive-mode data channels
	RoleAlert          // failures and degraded operation
	RoleHeartbeat      // ftptap runs and both ports are up
	numRoles
)

// Roles lists the valid roles in order.
var Roles = []Role{RoleActive, RolePassive, RoleAlert, RoleHeartbeat}

var roleNames = [...]string{
	RoleUnknown:   "unknown",
	RoleActive:    "active",
	RolePassive:   "passive",
	RoleAlert:     "alert",
	RoleHeartbeat: "heartbeat",
}

func (r Role) String() string {
	if r < numRoles {
		return roleNames[r]
	}
	return "unknown"
}

// ParseRole returns the role named s, or RoleUnknown.
func ParseRole(s string) Role {
	for _, r := range Roles {
		if roleNames[r] == s {
			return r
		}
	}
	return RoleUnknown
}

// State is what an LED does. The zero value is invalid.
type State uint8

// LED states. Their strings are the "state" of led events.
const (
	StateUnknown   State = iota
	StateOff             // dark
	StateOn              // lit
	StateBlinkFast       // FastPeriod: data moves, or something is degraded
	StateBlinkSlow       // SlowPeriod: the heartbeat
)

var stateNames = [...]string{
	StateUnknown:   "unknown",
	StateOff:       "off",
	StateOn:        "on",
	StateBlinkFast: "blink-fast",
	StateBlinkSlow: "blink-slow",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Blink periods. A blinking LED is lit in the first half of each period,
// counted from the Unix epoch, so the level is a function of the time alone.
const (
	FastPeriod = 200 * time.Millisecond // 5 Hz
	SlowPeriod = time.Second            // 1 Hz
)

// Level reports whether an LED in state s is lit at time t.
func Level(s State, t time.Time) bool {
	var period int64
	switch s {
	case StateOn:
		return true
	case StateBlinkFast:
		period = FastPeriod.Milliseconds()
	case StateBlinkSlow:
		period = SlowPeriod.Milliseconds()
	default:
		return false
	}
	phase := t.UnixMilli() % period
	if phase < 0 {
		phase += period
	}
	return phase < period/2
}

// DefaultAlertHold is how long the alert LED stays on after a failure.
const DefaultAlertHold = 10 * time.Second

// maxChannels bounds the data channels the model follows. The tracker
// already caps them (expectations per session, sessions); this guards
// against a stream of events that never closes what it opens.
const maxChannels = 1 << 16

// chanKey names one data channel of a session: its mode and the announced
// endpoint.
type chanKey struct {
	mode     event.Mode
	endpoint netip.AddrPort
}

// Model is the LED state as a function of events and time. The zero value
// is ready to use, with DefaultAlertHold. It is not safe for concurrent use.
type Model struct {
	// AlertHold is how long the alert LED stays on after a data-channel
	// failure or an alert event. Zero: DefaultAlertHold.
	AlertHold time.Duration

	chans      map[uint64]map[chanKey]bool // by session: data channels announced or open; true: data moves
	nchans     int                         // channels in chans
	count      [3][2]int                   // channels by mode and moving (0, 1)
	alertUntil time.Time
	degraded   map[string]bool // reasons something is degraded (capture drops, NATS down)
	portDown   [3]bool         // by event.Side
	dropped    int             // channels not followed: over maxChannels
}

// Apply updates the model with one event, counted at time now (the event's
// own time in replay, the wall clock live). Events of no interest are
// ignored, as are data events of unknown mode.
func (m *Model) Apply(ev *event.Event, now time.Time) {
	switch ev.Type {
	case event.TypeDataExpect:
		k := chanKey{ev.Mode, ev.Endpoint}
		if _, ok := m.chans[ev.Session][k]; !ok && ev.Mode != event.ModeUnknown {
			m.add(ev.Session, k, false)
		}
	case event.TypeDataOpen:
		if ev.Mode != event.ModeUnknown {
			m.add(ev.Session, chanKey{ev.Mode, ev.Endpoint}, true)
		}
	case event.TypeDataFail:
		m.del(ev.Session, chanKey{ev.Mode, ev.Endpoint})
		// An announcement nobody used is no failure: clients send PASV
		// and then change their mind.
		if ev.Reason != "unused" {
			m.raise(now)
		}
	case event.TypeDataClose:
		// The connection is gone, however it ended; a transfer cut short
		// says so in its transfer.end, which is no failure of the channel.
		m.del(ev.Session, chanKey{ev.Mode, ev.Endpoint})
	case event.TypeTransferEnd:
		m.endTransfer(ev)
	case event.TypeSessionEnd:
		for k := range m.chans[ev.Session] {
			m.del(ev.Session, k)
		}
	case event.TypeAlert:
		m.raise(now)
	case event.TypeTFTPRequest, event.TypeTFTPEnd:
		m.tftp(ev)
	}
}

func (m *Model) add(session uint64, k chanKey, moving bool) {
	sc := m.chans[session]
	old, ok := sc[k]
	if !ok && m.nchans >= maxChannels {
		m.dropped++
		return
	}
	if sc == nil {
		if m.chans == nil {
			m.chans = make(map[uint64]map[chanKey]bool)
		}
		sc = make(map[chanKey]bool, 1)
		m.chans[session] = sc
	}
	if ok {
		m.count[k.mode%3][b2i(old)]--
	} else {
		m.nchans++
	}
	sc[k] = moving
	m.count[k.mode%3][b2i(moving)]++
}

func (m *Model) del(session uint64, k chanKey) {
	sc := m.chans[session]
	moving, ok := sc[k]
	if !ok {
		return
	}
	delete(sc, k)
	if len(sc) == 0 {
		delete(m.chans, session)
	}
	m.nchans--
	m.count[k.mode%3][b2i(moving)]--
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// endTransfer closes the data channel a transfer used, if its data.close
// has not: the one with its endpoint when the event names one, else the
// session's channel of that mode on which data moved.
func (m *Model) endTransfer(ev *event.Event) {
	sc := m.chans[ev.Session]
	if ev.Endpoint.IsValid() {
		m.del(ev.Session, chanKey{ev.Mode, ev.Endpoint})
		return
	}
	for k, moving := range sc {
		if moving && (ev.Mode == event.ModeUnknown || k.mode == ev.Mode) {
			m.del(ev.Session, k)
			return
		}
	}
}

func (m *Model) raise(now time.Time) {
	hold := m.AlertHold
	if hold <= 0 {
		hold = DefaultAlertHold
	}
	if until := now.Add(hold); until.After(m.alertUntil) {
		m.alertUntil = until
	}
}

// SetDegraded marks reason (say "capture" or "nats") as degraded or
// recovered. The alert LED blinks while any reason is degraded.
func (m *Model) SetDegraded(reason string, on bool) {
	if !on {
		delete(m.degraded, reason)
		return
	}
	if m.degraded == nil {
		m.degraded = make(map[string]bool)
	}
	m.degraded[reason] = true
}

// SetPort records whether the tap port on side is up. Ports are taken as up
// until said otherwise. SideUnknown is ignored.
func (m *Model) SetPort(side event.Side, up bool) {
	if side == event.SideA || side == event.SideB {
		m.portDown[side] = !up
	}
}

// State returns the state of role r at time now.
func (m *Model) State(r Role, now time.Time) State {
	switch r {
	case RoleActive:
		return m.modeState(event.ModeActive)
	case RolePassive:
		return m.modeState(event.ModePassive)
	case RoleAlert:
		switch {
		case len(m.degraded) > 0:
			return StateBlinkFast
		case now.Before(m.alertUntil):
			return StateOn
		}
		return StateOff
	case RoleHeartbeat:
		if m.portDown[event.SideA] || m.portDown[event.SideB] {
			return StateOff
		}
		return StateBlinkSlow
	}
	return StateUnknown
}

func (m *Model) modeState(mode event.Mode) State {
	switch c := m.count[mode%3]; {
	case c[1] > 0:
		return StateBlinkFast
	case c[0] > 0:
		return StateOn
	}
	return StateOff
}

// NextChange returns the first time after now at which a state changes
// with no further event (the end of the alert hold), and false when no such
// change is due.
func (m *Model) NextChange(now time.Time) (time.Time, bool) {
	if len(m.degraded) == 0 && m.alertUntil.After(now) {
		return m.alertUntil, true
	}
	return time.Time{}, false
}

// Channels returns the number of data channels followed, and the number not
// followed because the model was full.
func (m *Model) Channels() (open, dropped int) { return m.nchans, m.dropped }
