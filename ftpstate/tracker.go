package ftpstate

import "time"

// Tracker follows FTP sessions through the packets fed to it and reports
// what happens as Events. It is not safe for concurrent use: one goroutine
// feeds it.
type Tracker struct {
	cfg  Config
	emit func(*Event)
}

// New returns a Tracker that calls emit for every event, on the goroutine
// that calls Feed, Advance or Flush. The *Event is valid only during the
// call. A nil cfg applies the defaults.
func New(cfg *Config, emit func(*Event)) *Tracker {
	return &Tracker{cfg: cfg.withDefaults(), emit: emit}
}

// Feed tracks one TCP segment.
func (t *Tracker) Feed(p *Packet) {}

// Advance runs the timeouts due at now (packet time, or the wall clock of a
// live tap when no packets come).
func (t *Tracker) Advance(now time.Time) {}

// Flush ends every open session with reason "shutdown", reporting open
// transfers and unused data channels first.
func (t *Tracker) Flush(now time.Time) {}

// OpenSessions returns the number of sessions being tracked.
func (t *Tracker) OpenSessions() int { return 0 }
