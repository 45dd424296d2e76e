package ftpstate

import (
	"fmt"
	"time"
)

// Config holds the tracker's knobs. A nil *Config, and every zero field,
// takes the default given beside the field.
type Config struct {
	// ControlPorts are the TCP ports FTP servers listen on for the command
	// channel. Default: 21.
	ControlPorts []uint16

	// IdleTimeout ends a session with no packets on its command channel or
	// its data channels for this long (packet time). Default: 15m.
	IdleTimeout time.Duration
	// DataTimeout fails a data connection whose SYN has had no answer for
	// this long, and an announced data channel nobody connected to in this
	// long once its transfer is over. An announcement that no transfer
	// command has taken for this long (since it was made, or since a
	// refused command gave it back) and no connection went to is reported
	// unused. Default: 30s.
	DataTimeout time.Duration
	// HandshakeTimeout ends a session begun by its SYN when nothing has
	// come back from the server for this long since that SYN (no SYN-ACK,
	// no segment at all): nothing listens, a firewall drops the SYN, or the
	// server's listen queue is full. The session ends with reason timeout.
	// Retransmissions of the SYN do not extend it, so a peer cannot hold
	// a session this way; a SYN retransmitted after it starts a new one.
	// Default: 30s, as for a data connection's SYN (DataTimeout).
	HandshakeTimeout time.Duration
	// Linger is how long a finished transfer waits for the other half of its
	// end (the final reply, or the close of its data connection) before it
	// is reported anyway. Default: 5s.
	Linger time.Duration
	// DataFiltered says the source keeps the bytes of data connections
	// out: a live tap's kernel filter does (tap.FilterFTP) unless carving
	// or saving the traffic asks for them. A data FIN that starts beyond
	// the bytes seen then ends the connection's bytes at once. Otherwise
	// (a capture file, or a live tap passing data channels whole) such a
	// FIN came ahead of bytes before it, reordered on the way or between
	// the tap's two ports, and the connection's bytes end only once a
	// segment reaches it or the other side's FIN comes, so that the
	// segments behind it still reach OnData (carving).
	DataFiltered bool
	// SYNHold is how long a SYN that matches no announcement is held, in
	// case the reply announcing its port arrives later through the other
	// tap port. Default: 2s.
	SYNHold time.Duration
	// ClockStep is the forward jump of packet time taken as a step of the
	// clock (NTP setting it), not as time that passed: sessions do not time
	// out in it. A jump back of more than 10s is always a step. Default: 24h
	// (a replay may have long quiet gaps); a live tap, whose pipeline
	// advances the clock every second, uses a minute.
	ClockStep time.Duration

	// MaxSessions caps the command channels tracked at once. A new one
	// beyond it ends the session idle longest (see MaxBytes for which).
	// Default: DefaultMaxSessions.
	MaxSessions int
	// MaxExpected caps the data channels announced and not yet used, per
	// session. Default: 64.
	MaxExpected int
	// MaxPending caps the commands awaiting a reply, per session. Default: 64.
	MaxPending int
	// MaxLine caps the bytes of one command or reply line; the rest of a
	// longer line is skipped. Default: 4096.
	MaxLine int
	// MaxReorder caps the bytes of out-of-order segments buffered per
	// direction of a command channel. Default: 65536.
	MaxReorder int
	// MaxHeldSYNs caps the unmatched SYNs held for SYNHold. Default: 256.
	MaxHeldSYNs int
	// MaxDataConns caps the data connections tracked at once; one beyond
	// it is not tracked (its transfer's bytes are unknown). Default:
	// DefaultMaxDataConns.
	MaxDataConns int
	// MaxBytes caps the memory the tracker holds, in bytes, as it
	// estimates it: SessionBytes for each session, DataConnBytes for each
	// data connection, and what each session buffers (out-of-order
	// segments, segments waiting for the other direction, unfinished lines
	// and replies, commands awaiting a reply, announcements, transfers).
	// The per-session caps bound one session's buffers; this bounds their
	// sum. When a packet takes the tracker over it (or a new session is
	// one more than MaxSessions), the tracker evicts: it ends the session
	// idle longest (session.end with reason evicted), choosing first among
	// sessions that have carried no command or reply yet (handshakes, SYN
	// floods, clients that gave up before the greeting), then among all;
	// each eviction is counted (Stats.Evicted) and an alert says why, once
	// a minute. Default: DefaultMaxBytes.
	MaxBytes int

	// NoDetect turns off finding FTP on other ports by its content (a
	// "220" greeting answered by an FTP command such as USER or AUTH).
	NoDetect bool

	// ShowPasswords puts PASS arguments into events; otherwise they are
	// replaced by "****".
	ShowPasswords bool

	// OnData, when not nil, receives the payload of every segment of a data
	// connection that belongs to a transfer (for carving files). The segment
	// is valid only during the call.
	OnData func(*DataSegment)
}

// DataSegment is one data-channel TCP segment handed to Config.OnData.
type DataSegment struct {
	Session  uint64
	Transfer uint64 // unique within the run
	Command  string
	File     string
	Offset   int64 // byte offset in the transfer's stream, from the sequence number
	// Sender is true for a segment that travels the transfer's way (server
	// to client for RETR and listings, client to server for uploads); the
	// other direction of the connection has offsets of its own.
	Sender  bool
	Payload []byte
}

// The default caps, chosen for a Raspberry Pi Zero (512 MB, one core) with
// room to spare, from the costs that BenchmarkOpenSessions measures (about
// 1 KB of memory per idle session, 230 to 300 B per data connection, half
// a KB per transfer; see docs/performance.md):
//
//   - DefaultMaxBytes, 48 MiB, bounds the tracker whatever the peers send:
//     with Go's collector at its default (GOGC=100) the heap stays under
//     about twice that, 100 MB; with ftptap's own 25 MB and the capture
//     rings (2 x 16 MiB) that is about 160 MB of the 512.
//   - DefaultMaxSessions, 32768: 32 MB of idle sessions, within the budget,
//     and twice what the lab's storm of 1,000 new sessions a second holds
//     at once (17,045) while its server fails most of them.
//   - DefaultMaxDataConns, 32768: 7.5 to 10 MB when all are open.
const (
	DefaultMaxSessions  = 32768
	DefaultMaxDataConns = 32768
	DefaultMaxBytes     = 48 << 20
)

// The tracker's estimate of what it holds (see Config.MaxBytes), from the
// heap and RSS per session and per data connection that
// BenchmarkOpenSessions measures with 100,000 of each (851 B heap, 977 B
// RSS per idle session; 273 B heap, 228 B RSS per data connection; about
// 400 B heap more per announced transfer).
const (
	SessionBytes  = 1024
	DataConnBytes = 320
	expectBytes   = 192 // an announcement, and its entries in Tracker.expects
	transferBytes = 320 // a transfer, without its file name
	pendingBytes  = 64  // a command awaiting a reply, without its text
)

// Defaults returns the configuration a nil *Config stands for.
func Defaults() Config { return (*Config)(nil).withDefaults() }

func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if len(d.ControlPorts) == 0 {
		d.ControlPorts = []uint16{21}
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&d.IdleTimeout, 15*time.Minute)
	def(&d.DataTimeout, 30*time.Second)
	def(&d.HandshakeTimeout, 30*time.Second)
	def(&d.Linger, 5*time.Second)
	def(&d.SYNHold, 2*time.Second)
	def(&d.ClockStep, 24*time.Hour)
	defi := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defi(&d.MaxSessions, DefaultMaxSessions)
	defi(&d.MaxExpected, 64)
	defi(&d.MaxPending, 64)
	defi(&d.MaxLine, 4096)
	defi(&d.MaxReorder, 65536)
	defi(&d.MaxHeldSYNs, 256)
	defi(&d.MaxDataConns, DefaultMaxDataConns)
	defi(&d.MaxBytes, DefaultMaxBytes)
	return d
}

// Validate reports the first field of c that holds an impossible value.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	for _, p := range c.ControlPorts {
		if p == 0 {
			return fmt.Errorf("ftpstate: control port 0 is not a port")
		}
	}
	if c.MaxLine < 0 || c.MaxLine > 1<<24 {
		return fmt.Errorf("ftpstate: max line %d out of range (0 to %d)", c.MaxLine, 1<<24)
	}
	// A slice, not a map: with several bad fields, the same one is
	// reported every time.
	for _, f := range []struct {
		name string
		v    int
	}{{"max sessions", c.MaxSessions}, {"max expected", c.MaxExpected}, {"max pending", c.MaxPending}, {"max reorder", c.MaxReorder}, {"max held SYNs", c.MaxHeldSYNs}, {"max data conns", c.MaxDataConns}, {"max bytes", c.MaxBytes}} {
		if f.v < 0 {
			return fmt.Errorf("ftpstate: %s %d is negative", f.name, f.v)
		}
	}
	if c.MaxBytes > 0 && c.MaxBytes < MinMaxBytes {
		return fmt.Errorf("ftpstate: max bytes %d is less than %d (1 MiB): one session's buffers may take half of that", c.MaxBytes, MinMaxBytes)
	}
	return nil
}

// MinMaxBytes is the smallest Config.MaxBytes: a session that fills every
// buffer its caps allow (the defaults) holds about 450 KB.
const MinMaxBytes = 1 << 20
