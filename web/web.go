package web

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ladder"
	"github.com/ftptap/ftptap/leds"
)

// Defaults of Options.
const (
	DefaultMaxOpen      = 256
	DefaultMaxSessions  = 50
	DefaultMaxTransfers = 100
	DefaultMaxAlerts    = 100
	DefaultMaxSteps     = 400
	DefaultQueue        = 256
	DefaultMaxClients   = 32
)

// Options configure a Server. The zero value serves with the defaults, no
// authentication and the wall clock.
type Options struct {
	// Tap is the tap's id, shown in the page's title.
	Tap string
	// MaxOpen bounds the open sessions followed; sessions beyond it are
	// counted, not shown. Zero: DefaultMaxOpen.
	MaxOpen int
	// MaxSessions is how many ended sessions (and their diagrams) are kept.
	// Zero: DefaultMaxSessions.
	MaxSessions int
	// MaxTransfers and MaxAlerts bound the recent transfers and the recent
	// alerts and data-channel failures. Zero: the defaults.
	MaxTransfers int
	MaxAlerts    int
	// MaxSteps bounds each session's ladder diagram. Zero: DefaultMaxSteps.
	MaxSteps int
	// Queue is the number of messages waiting for one browser before its
	// messages are dropped. Zero: DefaultQueue.
	Queue int
	// MaxClients bounds the browsers connected to the live stream at once.
	// Zero: DefaultMaxClients.
	MaxClients int

	// AlertHold: see leds.Model.AlertHold.
	AlertHold time.Duration
	// PacketTime takes the LEDs' time from the events (ftptap replay), as
	// leds.Options.PacketTime does; otherwise Start runs a ticker on Clock.
	PacketTime bool
	// Clock is the LEDs' clock when not PacketTime. Nil: the real clock.
	Clock clockwork.Clock

	// User and Password, when User is set, require HTTP basic auth.
	User, Password string
	// Token, when set, is required as a bearer token, a ?token= query or
	// the cookie that query sets.
	Token string
}

// Server is the web sink: a pipeline sink and an http.Handler (Handler).
// Its methods are safe for concurrent use; Event must be called in event
// order (the pipeline goroutine does).
type Server struct {
	opts  Options
	panel *leds.Panel

	mu       sync.Mutex          // guards everything below
	open     map[uint64]*session // by key: the session id, TFTP's with tftpKey set
	ended    []*session          // oldest first, at most MaxSessions
	notShown int                 // sessions not followed: over MaxOpen
	xfers    []Transfer          // oldest first
	alerts   []Alert             // oldest first
	lights   map[leds.Role]leds.State
	health   Health
	clients  map[*client]bool
	closed   bool
	dropped  uint64 // messages dropped, all browsers together

	stop chan struct{} // closed by Close: ends every stream
	once sync.Once
}

// session is one session the page follows: what the tables show and its
// diagram.
type session struct {
	key     uint64 // in the open map
	view    Session
	diagram ladder.Diagram
}

// Session is a row of the sessions tables.
type Session struct {
	ID string `json:"id"` // "s1"; a TFTP transfer's "t1"
	// Proto is "ftp", or "tftp" for a TFTP transfer: its Mode is the
	// transfer mode (octet, netascii, mail), its Command the request
	// ("RRQ f1000.bin"), Op read or write and File the file.
	Proto     string    `json:"proto"`
	Op        string    `json:"op,omitempty"`
	File      string    `json:"file,omitempty"`
	Client    string    `json:"client"`
	Server    string    `json:"server"`
	User      string    `json:"user"`
	LoginOK   bool      `json:"login_ok"`
	Mode      string    `json:"mode"`    // the last data channel's: active, passive, or ""
	Command   string    `json:"command"` // the last command, with its argument
	Start     time.Time `json:"start"`
	Midstream bool      `json:"midstream"`
	TLS       bool      `json:"tls"`
	Transfers int       `json:"transfers"`
	Ended     bool      `json:"ended"`
	Reason    string    `json:"reason,omitempty"` // how it ended
	End       time.Time `json:"end,omitzero"`
}

// Transfer is a row of the transfers table.
type Transfer struct {
	Time       time.Time `json:"time"`
	Session    string    `json:"session"`
	Command    string    `json:"command"`
	File       string    `json:"file"`
	Direction  string    `json:"direction"`
	Mode       string    `json:"mode"`
	Bytes      int64     `json:"bytes"`
	DataSeen   bool      `json:"data_seen"` // false: the data connection did not cross the tap, Bytes is unknown
	DurationMS int64     `json:"duration_ms"`
	// Throughput is in bytes per second; 0 when the duration is too short
	// to say.
	Throughput float64 `json:"throughput"`
	Complete   bool    `json:"complete"`
	Code       int     `json:"code"`   // FTP: the reply; TFTP: the error code, 0 with none
	Result     string  `json:"result"` // "complete (226)", "incomplete (426 ...)", "incomplete (error 1 file not found: ...)"

	// Proto is "ftp", or "tftp" for a TFTP transfer, which also has its
	// blocks, block size, retransmissions, the server's transfer endpoint
	// (its new port) and how it ended (done, error, timeout, shutdown).
	Proto        string `json:"proto"`
	Blocks       int64  `json:"blocks,omitempty"`
	BlkSize      int    `json:"blksize,omitempty"`
	Retransmits  int64  `json:"retransmits,omitempty"`
	TransferPort string `json:"transfer_port,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// Alert is an alert or a data-channel failure, with its diagnosis.
type Alert struct {
	Time    time.Time `json:"time"`
	Session string    `json:"session,omitempty"`
	Client  string    `json:"client,omitempty"`
	Server  string    `json:"server,omitempty"`
	// Kind is the alert's kind, or data.refused, data.timeout for a
	// failed data channel.
	Kind   string `json:"kind"`
	Mode   string `json:"mode,omitempty"`
	Detail string `json:"detail"` // the plain-words diagnosis and fix
}

// Light is an LED on the page.
type Light struct {
	Role  string `json:"role"`
	State string `json:"state"`
}

// Health is the capture's health, from status events and SetPort.
type Health struct {
	Time        time.Time `json:"time,omitzero"` // of the last status event
	PortA       *bool     `json:"port_a,omitempty"`
	PortB       *bool     `json:"port_b,omitempty"`
	Frames      int64     `json:"frames"`
	KernelDrops int64     `json:"kernel_drops"`
	Events      int64     `json:"events"`
	Open        int64     `json:"open_sessions"`
	// NATS is "connected", "disconnected", or "" when the status events
	// carry no NATS figures.
	NATS        string `json:"nats"`
	NATSDropped int64  `json:"nats_dropped"`
	// Seen is the number of events the page has taken in.
	Seen int64 `json:"seen"`
}

// State is the whole picture: the page's first message and GET /api/state.
type State struct {
	Tap       string     `json:"tap"`
	Lights    []Light    `json:"lights"`
	Health    Health     `json:"health"`
	Open      []Session  `json:"open"`  // by id
	Ended     []Session  `json:"ended"` // newest first
	NotShown  int        `json:"not_shown"`
	Transfers []Transfer `json:"transfers"` // newest first
	Alerts    []Alert    `json:"alerts"`    // newest first
	Limits    Limits     `json:"limits"`
}

// Limits are the page's bounds, so that it can say what it keeps.
type Limits struct {
	Sessions  int `json:"sessions"`
	Transfers int `json:"transfers"`
	Alerts    int `json:"alerts"`
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// New returns a Server. It follows every LED role.
func New(opts Options) (*Server, error) {
	opts.MaxOpen = orDefault(opts.MaxOpen, DefaultMaxOpen)
	opts.MaxSessions = orDefault(opts.MaxSessions, DefaultMaxSessions)
	opts.MaxTransfers = orDefault(opts.MaxTransfers, DefaultMaxTransfers)
	opts.MaxAlerts = orDefault(opts.MaxAlerts, DefaultMaxAlerts)
	opts.MaxSteps = orDefault(opts.MaxSteps, DefaultMaxSteps)
	opts.Queue = orDefault(opts.Queue, DefaultQueue)
	opts.MaxClients = orDefault(opts.MaxClients, DefaultMaxClients)
	if opts.User == "" && opts.Password != "" {
		return nil, fmt.Errorf("web: a password with no user")
	}
	s := &Server{
		opts:    opts,
		open:    make(map[uint64]*session),
		lights:  make(map[leds.Role]leds.State),
		clients: make(map[*client]bool),
		stop:    make(chan struct{}),
	}
	for _, r := range leds.Roles {
		s.lights[r] = leds.StateOff
	}
	panel, err := leds.New(leds.Options{
		Roles:      leds.Roles,
		AlertHold:  opts.AlertHold,
		PacketTime: opts.PacketTime,
		Clock:      opts.Clock,
		OnChange:   s.ledChanged,
	})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.panel = panel
	for _, c := range panel.States() {
		s.lights[c.Role] = c.State
	}
	return s, nil
}

// Start runs the LEDs' ticker of a live Server (not PacketTime): the alert
// LED goes dark when its hold ends, with no event. Close stops it.
func (s *Server) Start() {
	if !s.opts.PacketTime {
		s.panel.Start()
	}
}

// Close ends every live stream and stops the ticker. The Server takes no
// more browsers; Event still works. Close is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.stop)
		s.mu.Unlock()
		s.panel.Close()
	})
	return nil
}

// Dropped returns the number of messages dropped because a browser read
// too slowly, all browsers together.
func (s *Server) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// SetPort reports whether a tap port is up: the heartbeat LED and the
// capture health follow it.
func (s *Server) SetPort(side event.Side, up bool) {
	s.mu.Lock()
	v := up
	switch side {
	case event.SideA:
		s.health.PortA = &v
	case event.SideB:
		s.health.PortB = &v
	}
	s.broadcastLocked("health", s.health)
	s.mu.Unlock()
	s.panel.SetPort(side, up)
}

// SetDegraded reports that something the tap depends on is degraded, as
// leds.Panel.SetDegraded: the alert LED blinks.
func (s *Server) SetDegraded(reason string, on bool) { s.panel.SetDegraded(reason, on) }

func (s *Server) ledChanged(c leds.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lights[c.Role] == c.State {
		return
	}
	s.lights[c.Role] = c.State
	s.broadcastLocked("lights", s.lightsLocked())
}

func (s *Server) lightsLocked() []Light {
	out := make([]Light, 0, len(leds.Roles))
	for _, r := range leds.Roles {
		out = append(out, Light{Role: r.String(), State: s.lights[r].String()})
	}
	return out
}

// tftpKey marks the key of a TFTP transfer among the sessions: the FTP and
// TFTP trackers number their own, so s1 and t1 are two.
const tftpKey = 1 << 63

// key is the sessions map's key of the event's session.
func key(ev *event.Event) uint64 {
	if ev.Proto == event.ProtoTFTP {
		return ev.Session | tftpKey
	}
	return ev.Session
}

// sid is the id the page shows: "s12", "t3", as the JSON events write it.
func sid(k uint64) string {
	if k&tftpKey != 0 {
		return "t" + strconv.FormatUint(k&^tftpKey, 10)
	}
	return "s" + strconv.FormatUint(k, 10)
}

func addr(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.String()
}

// Event takes one event of the pipeline. It never waits for a browser.
func (s *Server) Event(ev *event.Event, _ []byte) {
	s.mu.Lock()
	s.eventLocked(ev)
	s.mu.Unlock()
	s.panel.Event(ev, nil)
}

func (s *Server) eventLocked(ev *event.Event) {
	s.health.Seen++
	switch ev.Type {
	case event.TypeStatus:
		s.statusLocked(ev)
		return
	case event.TypeLED:
		return
	case event.TypeAlert:
		s.addAlertLocked(ev, Alert{Kind: ev.Kind})
	case event.TypeDataFail:
		if ev.Reason != "unused" {
			s.addAlertLocked(ev, Alert{Kind: "data." + ev.Reason, Mode: ev.Mode.String()})
		}
	case event.TypeTransferEnd:
		s.addTransferLocked(ev)
	case event.TypeTFTPEnd:
		s.addTFTPTransferLocked(ev)
	}
	if ev.Session == 0 {
		return
	}
	k := key(ev)
	ss := s.open[k]
	if ss == nil {
		if ev.Type == event.TypeSessionEnd || ev.Type == event.TypeTFTPEnd {
			return // one that was not followed
		}
		if ev.Type == event.TypeAlert {
			// A TFTP transfer's alerts come right after its tftp.end: they
			// belong to the diagram of the transfer just ended.
			for i := len(s.ended) - 1; i >= max(0, len(s.ended)-4); i-- {
				if s.ended[i].key == k {
					s.ended[i].diagram.Add(ev)
					return
				}
			}
			if ev.Proto == event.ProtoTFTP {
				return // no tftp.end would ever close a session made of it
			}
		}
		if len(s.open) >= s.opts.MaxOpen {
			if ev.Type == event.TypeSessionStart || ev.Type == event.TypeTFTPRequest {
				s.notShown++
			}
			return
		}
		ss = &session{key: k, view: Session{ID: sid(k), Proto: ev.Proto.String(), Client: addr(ev.Client), Server: addr(ev.Server), Start: ev.Time}}
		if ss.view.Proto == "" {
			ss.view.Proto = "ftp"
		}
		ss.diagram.MaxSteps = s.opts.MaxSteps
		s.open[k] = ss
	}
	ss.diagram.Add(ev)
	v := &ss.view
	switch ev.Type {
	case event.TypeTFTPRequest:
		if t := ev.TFTP; t != nil {
			v.Op, v.File, v.Mode = t.Op, ev.File, t.Mode
			v.Command = tftpOpcode(t.Op) + " " + ev.File
		}
	case event.TypeTFTPEnd:
		v.Transfers++
		v.Ended, v.Reason, v.End = true, ev.Reason, ev.Time
		s.endLocked(k, ss)
	case event.TypeSessionStart:
		v.Midstream = ev.Midstream
	case event.TypeRequest:
		v.Command = ev.Command
		if ev.Arg != "" {
			v.Command += " " + ev.Arg
		}
	case event.TypeLogin:
		v.User, v.LoginOK = ev.User, ev.OK
	case event.TypeDataExpect, event.TypeDataOpen:
		v.Mode = ev.Mode.String()
	case event.TypeTLS:
		v.TLS = true
	case event.TypeTransferEnd:
		v.Transfers++
	case event.TypeSessionEnd:
		v.Ended, v.Reason, v.End = true, ev.Reason, ev.Time
		s.endLocked(k, ss)
	default:
		// Other events change the diagram only.
		return
	}
	s.broadcastLocked("session", *v)
}

// endLocked moves the session of key k to the ended ones.
func (s *Server) endLocked(k uint64, ss *session) {
	delete(s.open, k)
	s.ended = append(s.ended, ss)
	if len(s.ended) > s.opts.MaxSessions {
		s.ended[0] = nil
		s.ended = s.ended[1:]
	}
}

func (s *Server) addAlertLocked(ev *event.Event, a Alert) {
	a.Time, a.Detail = ev.Time, ev.Detail
	if ev.Session != 0 {
		a.Session, a.Client, a.Server = sid(key(ev)), addr(ev.Client), addr(ev.Server)
	}
	s.alerts = appendBounded(s.alerts, a, s.opts.MaxAlerts)
	s.broadcastLocked("alert", a)
}

func (s *Server) addTransferLocked(ev *event.Event) {
	x := Transfer{
		Time: ev.Time, Session: sid(key(ev)), Proto: "ftp", Command: ev.Command, File: ev.File,
		Direction: ev.Direction.String(), Mode: ev.Mode.String(), Bytes: ev.Bytes,
		DurationMS: ev.DurationMS, Complete: ev.Complete, Code: ev.Code, DataSeen: !ev.DataNotSeen,
	}
	if ev.DurationMS > 0 && !ev.DataNotSeen {
		x.Throughput = float64(ev.Bytes) / (float64(ev.DurationMS) / 1000)
	}
	result := "incomplete"
	if ev.Complete {
		result = "complete"
	}
	switch {
	case ev.Code != 0 && ev.Text != "" && !ev.Complete:
		result += fmt.Sprintf(" (%d %s)", ev.Code, ev.Text)
	case ev.Code != 0:
		result += fmt.Sprintf(" (%d)", ev.Code)
	}
	x.Result = result
	s.xfers = appendBounded(s.xfers, x, s.opts.MaxTransfers)
	s.broadcastLocked("transfer", x)
}

// appendBounded appends v, dropping the oldest beyond max.
func appendBounded[T any](list []T, v T, max int) []T {
	if len(list) >= max {
		copy(list, list[1:])
		list = list[:len(list)-1]
	}
	return append(list, v)
}

// Status takes the figures of a running tap, as a status event carries
// them (packets_a, kernel_drops, nats_connected...), for the capture health.
// Status events do the same; Status serves a tap that sends none (no NATS).
func (s *Server) Status(t time.Time, counters []event.Counter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusLocked(&event.Event{Type: event.TypeStatus, Time: t, Counters: counters})
}

// statusLocked takes the figures of a status event.
func (s *Server) statusLocked(ev *event.Event) {
	h := &s.health
	h.Time = ev.Time
	var frames int64
	for _, c := range ev.Counters {
		switch c.Name {
		case "packets_a", "packets_b", "packets":
			frames += c.Value
		case "kernel_drops":
			h.KernelDrops = c.Value
		case "events":
			h.Events = c.Value
		case "open_sessions":
			h.Open = c.Value
		case "nats_connected":
			h.NATS = "disconnected"
			if c.Value != 0 {
				h.NATS = "connected"
			}
		case "nats_dropped":
			h.NATSDropped = c.Value
		}
	}
	h.Frames = frames
	s.broadcastLocked("health", *h)
}

// stateLocked returns the whole picture.
func (s *Server) stateLocked() State {
	st := State{
		Tap:      s.opts.Tap,
		Lights:   s.lightsLocked(),
		Health:   s.health,
		NotShown: s.notShown,
		Open:     make([]Session, 0, len(s.open)),
		Ended:    make([]Session, 0, len(s.ended)),
		Limits:   Limits{Sessions: s.opts.MaxSessions, Transfers: s.opts.MaxTransfers, Alerts: s.opts.MaxAlerts},
	}
	ids := make([]uint64, 0, len(s.open))
	for id := range s.open {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		st.Open = append(st.Open, s.open[id].view)
	}
	for i := len(s.ended) - 1; i >= 0; i-- {
		st.Ended = append(st.Ended, s.ended[i].view)
	}
	st.Transfers = reversed(s.xfers)
	st.Alerts = reversed(s.alerts)
	return st
}

func reversed[T any](list []T) []T {
	out := make([]T, len(list))
	for i, v := range list {
		out[len(list)-1-i] = v
	}
	return out
}

// findLocked returns the session named id ("s12", "t3"), open or kept.
func (s *Server) findLocked(id string) *session {
	n, err := strconv.ParseUint(id[min(1, len(id)):], 10, 64)
	if err != nil || len(id) < 2 || id[0] != 's' && id[0] != 't' || n >= tftpKey {
		return nil
	}
	if id[0] == 't' {
		n |= tftpKey
	}
	if ss := s.open[n]; ss != nil {
		return ss
	}
	for _, ss := range s.ended {
		if ss.view.ID == id {
			return ss
		}
	}
	return nil
}

// Diagram returns the ladder diagram of session id ("s12", "t3") as SVG, and
// false when the session is not kept.
func (s *Server) Diagram(id string) ([]byte, bool) {
	s.mu.Lock()
	ss := s.findLocked(id)
	if ss == nil {
		s.mu.Unlock()
		return nil, false
	}
	// Steps are only ever appended: a copy cut to its length stays valid
	// while Event goes on, and the drawing needs no lock.
	d := ss.diagram
	d.Steps = d.Steps[:len(d.Steps):len(d.Steps)]
	s.mu.Unlock()
	return d.SVG(), true
}

// message is one Server-Sent Event, encoded once for every browser.
func message(name string, v any) []byte {
	js, err := json.Marshal(v)
	if err != nil {
		// Only the package's own types are marshalled: this does not
		// happen, but a browser would rather hear of it than wait.
		name, js = "error", []byte(strconv.Quote(err.Error()))
	}
	b := make([]byte, 0, len(name)+len(js)+16)
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	b = append(b, js...)
	return append(b, '\n', '\n')
}
