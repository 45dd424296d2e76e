package event

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// Type is the kind of an Event. Its String form is the event's "type" field
// and doubles as the NATS subject tokens (dots separate tokens).
type Type uint8

// Event types. The zero value is invalid.
const (
	TypeUnknown      Type = iota
	TypeSessionStart      // a command channel was seen for the first time
	TypeSessionEnd        // a command channel ended
	TypeRequest           // the client sent a command
	TypeResponse          // the server sent a (possibly multi-line) reply
	TypeLogin             // the outcome of USER/PASS/ACCT
	TypeDataExpect        // a data channel was announced (PORT, EPRT, PASV, EPSV...)
	TypeDataOpen          // the announced data connection was set up
	TypeDataFail          // the announced data connection failed or was never tried
	TypeTransferEnd       // a transfer command (RETR, STOR, LIST...) finished
	TypeTLS               // the command channel went encrypted
	TypeAlert             // an anomaly: a cap was hit, a peer broke the protocol, a diagnosis
	TypeLED               // an LED changed state (leds, log mode)
	TypeStatus            // periodic counters of a running tap
	TypeDataClose         // a data connection ended (its bytes are all counted)
	TypeTFTPRequest       // a TFTP read or write request (RRQ, WRQ)
	TypeTFTPEnd           // a TFTP transfer ended: done, error or timeout
)

var typeNames = [...]string{
	TypeUnknown:      "unknown",
	TypeSessionStart: "session.start",
	TypeSessionEnd:   "session.end",
	TypeRequest:      "request",
	TypeResponse:     "response",
	TypeLogin:        "login",
	TypeDataExpect:   "data.expect",
	TypeDataOpen:     "data.open",
	TypeDataFail:     "data.fail",
	TypeTransferEnd:  "transfer.end",
	TypeTLS:          "tls",
	TypeAlert:        "alert",
	TypeLED:          "led",
	TypeStatus:       "status",
	TypeDataClose:    "data.close",
	TypeTFTPRequest:  "tftp.request",
	TypeTFTPEnd:      "tftp.end",
}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "unknown"
}

// ParseType returns the Type named s, or TypeUnknown.
func ParseType(s string) Type {
	for i, n := range typeNames {
		if n == s {
			return Type(i)
		}
	}
	return TypeUnknown
}

// Proto is the protocol an event belongs to. Its String form is the
// event's "proto" field.
type Proto uint8

// Protocols. The zero value is an event of no protocol (status, led): its
// JSON form has no "proto" field.
const (
	ProtoNone Proto = iota
	ProtoFTP        // RFC 959 and its extensions
	ProtoTFTP       // RFC 1350 and its options
)

func (p Proto) String() string {
	switch p {
	case ProtoFTP:
		return "ftp"
	case ProtoTFTP:
		return "tftp"
	}
	return ""
}

// Mode is the mode of a data channel.
type Mode uint8

// Data-channel modes. The zero value is unknown.
const (
	ModeUnknown Mode = iota
	ModeActive       // PORT, EPRT, LPRT: the server connects to the client
	ModePassive      // PASV, EPSV, LPSV: the client connects to the server
)

func (m Mode) String() string {
	switch m {
	case ModeActive:
		return "active"
	case ModePassive:
		return "passive"
	}
	return "unknown"
}

// Direction is where a transfer moves its bytes.
type Direction uint8

// Transfer directions.
const (
	DirUnknown  Direction = iota
	DirDownload           // RETR: server to client
	DirUpload             // STOR, STOU, APPE: client to server
	DirListing            // LIST, NLST, MLSD: server to client
)

func (d Direction) String() string {
	switch d {
	case DirDownload:
		return "download"
	case DirUpload:
		return "upload"
	case DirListing:
		return "listing"
	}
	return "unknown"
}

// Side names a port of the tap: the NIC (or capture file) a frame entered on.
type Side uint8

// Tap ports. SideUnknown is a frame whose port is not known (one capture file).
const (
	SideUnknown Side = iota
	SideA
	SideB
)

func (s Side) String() string {
	switch s {
	case SideA:
		return "a"
	case SideB:
		return "b"
	}
	return ""
}

// Event is one thing the tracker observed. Which fields are meaningful
// depends on Type; the JSON form (AppendJSON) writes only those.
//
// Tap and Seq are not set by the Tracker: the pipeline that numbers the
// events of one tap fills them in.
type Event struct {
	Tap  string
	Seq  uint64
	Time time.Time
	Type Type
	// Proto is the protocol of the tracker that made the event; none for
	// events of the tap itself (status, led).
	Proto Proto

	Session uint64         // unique within a run; 0 for events of no session (status, led)
	Client  netip.AddrPort // command channel's client endpoint
	Server  netip.AddrPort // command channel's server endpoint

	// session.start
	Midstream  bool
	ClientSide Side
	// session.end: quit, close, reset, timeout, shutdown. data.fail: refused,
	// timeout, unused.
	Reason string

	// request, response (Command: the request it answers), transfer.end
	Command string
	Arg     string
	Code    int
	Text    string

	// login
	User string
	OK   bool

	// data.*
	Mode     Mode
	Via      string
	Endpoint netip.AddrPort
	From, To netip.AddrPort

	// transfer.end
	File       string
	Direction  Direction
	Bytes      int64
	Complete   bool
	DurationMS int64
	// Transfer numbers the transfer within the run (not in the JSON form):
	// ftpstate.DataSegment.Transfer names the same transfer.
	Transfer uint64
	// Carving (transfer.end and tftp.end, when ftptap carves files): SHA256 is the hex
	// SHA-256 of the carved file, Carved its path relative to the carving
	// directory (empty: not carved), Gaps the bytes missing from the
	// capture (zeros in the file). Carving fills them in before sinks see
	// the event; SHA256 empty leaves all three out of the JSON form.
	SHA256 string
	Carved string
	Gaps   int64
	// DataNotSeen: the server's replies show a data connection was made,
	// but it did not cross the tap, so Bytes is unknown (written as
	// "data_seen":false in place of "bytes").
	DataNotSeen bool

	// alert: Kind is one subject token (letters, digits, '_'); led: Kind is
	// the role and State its new state.
	Kind   string
	State  string
	Detail string // plain-language explanation (alert, data.fail)

	// status: counters, written as a JSON object in the given order.
	Counters []Counter

	// tftp.request, tftp.end: the transfer (nil for other events). File,
	// Bytes, Complete, DurationMS, Reason and Text are the Event's own.
	TFTP *TFTP
}

// Counter is a named figure of a status event.
type Counter struct {
	Name  string
	Value int64
}

// Subject returns the NATS subject tokens after "ftptap.<tap>." for the
// event: the type, then the command for requests, the code for responses,
// the mode for data events, and the kind for alerts.
func (e *Event) Subject() string {
	var a [64]byte
	return string(e.AppendSubject(a[:0]))
}

// AppendSubject appends the tokens Subject returns to b.
func (e *Event) AppendSubject(b []byte) []byte {
	b = append(b, e.Type.String()...)
	switch e.Type {
	case TypeRequest:
		return appendToken(append(b, '.'), e.Command)
	case TypeResponse:
		return strconv.AppendInt(append(b, '.'), int64(e.Code), 10)
	case TypeDataExpect, TypeDataOpen, TypeDataFail, TypeDataClose:
		return append(append(b, '.'), e.Mode.String()...)
	case TypeAlert, TypeLED:
		return appendToken(append(b, '.'), e.Kind)
	case TypeTFTPRequest:
		if e.TFTP != nil {
			return appendToken(append(b, '.'), e.TFTP.Op)
		}
	}
	return b
}

// appendToken appends Token(s) to b.
func appendToken(b []byte, s string) []byte {
	if s == "" {
		return append(b, '_')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !tokenByte(c) {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// Token maps s to a valid subject token (see ValidToken): other characters
// become '_', and the empty string "_". Hostile commands cannot inject
// subject separators or wildcards.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i := range b {
		if !tokenByte(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

// ValidToken reports whether s is one NATS subject token as ftptap uses
// them (a tap id, a JetStream domain): letters, digits, '-' and '_'.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			return false
		}
	}
	return true
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// AppendJSON appends the event as one JSON object (no newline) to b.
// Common fields come first in a fixed order: v, tap, seq, ts, type, proto,
// session, client, server. Strings from the wire are escaped, every control
// character (C0, DEL, C1) as \u00XX, so the output is safe on a terminal;
// invalid UTF-8 becomes U+FFFD.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"v":1,"tap":`...)
	b = appendString(b, e.Tap)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"ts":"`...)
	b = appendTime(b, e.Time)
	b = append(b, `","type":"`...)
	b = append(b, e.Type.String()...) // no character to escape
	b = append(b, '"')
	if e.Proto != ProtoNone {
		b = appendField(b, "proto", e.Proto.String())
	}
	if e.Session != 0 || e.Client.IsValid() {
		b = append(b, `,"session":"`...)
		b = append(b, sessionPrefix(e.Proto))
		b = strconv.AppendUint(b, e.Session, 10)
		b = append(b, '"')
		b = appendAddr(b, "client", e.Client)
		b = appendAddr(b, "server", e.Server)
	}
	switch e.Type {
	case TypeSessionStart:
		b = appendBool(b, "midstream", e.Midstream)
		if e.ClientSide != SideUnknown {
			b = appendField(b, "client_side", e.ClientSide.String())
		}
	case TypeSessionEnd:
		b = appendField(b, "reason", e.Reason)
	case TypeRequest:
		b = appendField(b, "command", e.Command)
		b = appendField(b, "arg", e.Arg)
	case TypeResponse:
		b = appendInt(b, "code", int64(e.Code))
		b = appendField(b, "text", e.Text)
		b = appendField(b, "command", e.Command)
	case TypeLogin:
		b = appendField(b, "user", e.User)
		b = appendBool(b, "ok", e.OK)
		if e.Code != 0 {
			b = appendInt(b, "code", int64(e.Code))
		}
	case TypeDataExpect:
		b = appendField(b, "mode", e.Mode.String())
		b = appendField(b, "via", e.Via)
		b = appendAddr(b, "endpoint", e.Endpoint)
	case TypeDataOpen:
		b = appendField(b, "mode", e.Mode.String())
		b = appendAddr(b, "endpoint", e.Endpoint)
		b = appendAddr(b, "from", e.From)
		b = appendAddr(b, "to", e.To)
		if e.Via != "" {
			b = appendField(b, "via", e.Via)
		}
	case TypeDataFail:
		b = appendField(b, "mode", e.Mode.String())
		b = appendAddr(b, "endpoint", e.Endpoint)
		b = appendField(b, "reason", e.Reason)
		if e.Via != "" {
			b = appendField(b, "via", e.Via)
		}
		if e.From.IsValid() {
			b = appendAddr(b, "from", e.From)
		}
		if e.Detail != "" {
			b = appendField(b, "detail", e.Detail)
		}
	case TypeDataClose:
		b = appendField(b, "mode", e.Mode.String())
		b = appendAddr(b, "endpoint", e.Endpoint)
		b = appendAddr(b, "from", e.From)
		b = appendAddr(b, "to", e.To)
		b = appendInt(b, "bytes", e.Bytes)
		b = appendField(b, "reason", e.Reason)
	case TypeTransferEnd:
		b = appendField(b, "command", e.Command)
		b = appendField(b, "file", e.File)
		b = appendField(b, "direction", e.Direction.String())
		if e.DataNotSeen {
			b = append(b, `,"data_seen":false`...)
		} else {
			b = appendInt(b, "bytes", e.Bytes)
		}
		b = appendInt(b, "code", int64(e.Code))
		b = appendBool(b, "complete", e.Complete)
		b = appendField(b, "mode", e.Mode.String())
		b = appendInt(b, "duration_ms", e.DurationMS)
		if e.Endpoint.IsValid() {
			b = appendAddr(b, "endpoint", e.Endpoint)
		}
		if e.Text != "" {
			b = appendField(b, "text", e.Text)
		}
		if e.SHA256 != "" {
			b = appendField(b, "sha256", e.SHA256)
			b = appendField(b, "carved", e.Carved)
			b = appendInt(b, "gaps", e.Gaps)
		}
	case TypeTLS:
		b = appendField(b, "command", e.Command)
		b = appendField(b, "arg", e.Arg)
	case TypeAlert:
		b = appendField(b, "kind", e.Kind)
		b = appendField(b, "detail", e.Detail)
	case TypeLED:
		b = appendField(b, "role", e.Kind)
		b = appendField(b, "state", e.State)
	case TypeTFTPRequest, TypeTFTPEnd:
		b = e.appendTFTP(b)
	case TypeStatus:
		b = append(b, `,"counters":{`...)
		for i, c := range e.Counters {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c.Name)
			b = append(b, ':')
			b = strconv.AppendInt(b, c.Value, 10)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendTime appends t in UTC as 2006-01-02T15:04:05.000000Z, the form
// time.Time.AppendFormat gives, at a fraction of its cost: the layout is
// not parsed for every event, and the date comes from the Unix day by
// integer arithmetic alone (civilDate).
func appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	days := sec / 86400
	if sec%86400 < 0 {
		days--
	}
	year, month, day := civilDate(days)
	if year < 0 || year > 9999 {
		return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	}
	s := int(sec - days*86400)
	hour, minute, second := s/3600, s/60%60, s%60
	us := t.Nanosecond() / 1000
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+second/10), byte('0'+second%10), '.',
		byte('0'+us/100000), byte('0'+us/10000%10), byte('0'+us/1000%10),
		byte('0'+us/100%10), byte('0'+us/10%10), byte('0'+us%10), 'Z')
}

// civilDate returns the proleptic Gregorian date of the day days after
// 1970-01-01 (Howard Hinnant's days_from_civil, inverted: eras of 400
// years, years starting in March so that the leap day comes last).
func civilDate(days int64) (year, month, day int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // day of the era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of the era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the year from March 1, [0, 365]
	mp := (5*doy + 2) / 153                                // month from March, [0, 11]
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	y := yoe + era*400
	if month <= 2 {
		y++
	}
	return int(y), month, day
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendInt(b []byte, k string, v int64) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

func appendBool(b []byte, k string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

func appendAddr(b []byte, k string, ap netip.AddrPort) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, `":"`...)
	if a := ap.Addr(); a.Is4() {
		// What AddrPort.AppendTo writes, without its general path.
		v := a.As4()
		for i, x := range v {
			if i > 0 {
				b = append(b, '.')
			}
			b = appendSmall(b, int(x))
		}
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(ap.Port()), 10)
	} else if ap.IsValid() {
		b = ap.AppendTo(b)
	}
	return append(b, '"')
}

// appendSmall appends n, 0 to 255, in decimal.
func appendSmall(b []byte, n int) []byte {
	switch {
	case n >= 100:
		return append(b, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	case n >= 10:
		return append(b, byte('0'+n/10), byte('0'+n%10))
	}
	return append(b, byte('0'+n))
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes a JSON string holds as they are: printable ASCII
// but '"' and '\\'. One load per byte is the fast path of appendString.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Control characters are escaped
// (C0, DEL and C1: U+0000 to U+001F, U+007F, U+0080 to U+009F, as a
// terminal may act on any of them), so are U+2028 and U+2029, invalid
// UTF-8 is replaced, and <, >, & are left alone (the output is not HTML).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r < 0xa0 {
			// C1 controls (two bytes: 0xc2 0x80 to 0xc2 0x9f).
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
