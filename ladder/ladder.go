package ladder

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ftptap/ftptap/event"
)

// Kind is what a step of the diagram is. Its String form is the step's
// data-kind attribute.
type Kind uint8

// Step kinds. The zero value is invalid.
const (
	KindUnknown Kind = iota
	KindRequest      // the client sent a command
	KindReply        // the server replied
	KindData         // a data connection was opened
	KindFail         // a data connection was refused or never answered
	KindNote         // something that is no arrow: a login, a transfer's outcome, an alert
	KindSwitch       // TFTP: the server's first answer, from its new port (the transfer ID)
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindReply:
		return "reply"
	case KindData:
		return "data"
	case KindFail:
		return "fail"
	case KindNote:
		return "note"
	case KindSwitch:
		return "switch"
	}
	return "unknown"
}

// End is a lifeline.
type End uint8

// Lifelines. EndNone is a step that is no arrow.
const (
	EndNone End = iota
	EndClient
	EndServer
)

func (e End) String() string {
	switch e {
	case EndClient:
		return "client"
	case EndServer:
		return "server"
	}
	return ""
}

// Step is one row of the diagram.
type Step struct {
	Time     time.Time
	Kind     Kind
	From, To End        // the arrow's ends; EndNone for a note
	Mode     event.Mode // data and fail steps
	Reason   string     // fail steps: refused, timeout
	Label    string     // the text on the arrow or in the note
	Detail   string     // a second paragraph: a diagnosis, an alert's explanation
	// Port, for a TFTP arrow, is the server's port it goes to or comes
	// from (69, or the transfer's new port), written beside the server's
	// lifeline.
	Port string
	// Untimed: the events do not say when the step happened, only that it
	// came between its neighbours (a TFTP transfer's first answer).
	Untimed bool
}

// DefaultMaxSteps is the number of steps a Diagram keeps when MaxSteps is
// zero.
const DefaultMaxSteps = 1000

// Diagram is the ladder diagram of one session, built from its events in
// order. The zero value is ready to use. It is not safe for concurrent use.
type Diagram struct {
	// MaxSteps bounds the steps kept; later ones are counted in Omitted.
	// Zero: DefaultMaxSteps.
	MaxSteps int

	Tap     string
	Session uint64
	// Proto is the protocol of the session's events: a TFTP transfer (t1)
	// and an FTP session (s1) may share a number, never a diagram.
	Proto     event.Proto
	Client    netip.AddrPort
	Server    netip.AddrPort
	Start     time.Time // the first event's time
	Midstream bool      // the capture began after the session did
	Ended     bool
	EndReason string // session.end's reason
	Steps     []Step
	Omitted   int // steps not kept: over MaxSteps
}

// Add adds one event of the session. Events of other sessions (another
// session id once the first is known) and of no session are ignored, as are
// those that draw nothing (data.expect: the request and reply that announce a
// data channel are drawn already).
func (d *Diagram) Add(ev *event.Event) {
	tftp := ev.Proto == event.ProtoTFTP
	if ev.Session == 0 || d.Session != 0 && (ev.Session != d.Session || tftp != d.TFTP()) {
		return
	}
	if d.Session == 0 {
		d.Session, d.Tap, d.Proto = ev.Session, ev.Tap, ev.Proto
		d.Client, d.Server = ev.Client, ev.Server
		d.Start = ev.Time
	}
	if tftp {
		d.addTFTP(ev)
		return
	}
	switch ev.Type {
	case event.TypeSessionStart:
		d.Midstream = ev.Midstream
		if ev.Midstream {
			d.add(Step{Time: ev.Time, Kind: KindNote, Label: "capture joined the session mid-way: what came before is not shown"})
		}
	case event.TypeSessionEnd:
		d.Ended, d.EndReason = true, ev.Reason
	case event.TypeRequest:
		d.add(Step{Time: ev.Time, Kind: KindRequest, From: EndClient, To: EndServer, Label: join(ev.Command, ev.Arg)})
	case event.TypeResponse:
		d.add(Step{Time: ev.Time, Kind: KindReply, From: EndServer, To: EndClient, Label: join(strconv.Itoa(ev.Code), ev.Text)})
	case event.TypeLogin:
		what := "login failed"
		if ev.OK {
			what = "logged in"
		}
		d.add(Step{Time: ev.Time, Kind: KindNote, Label: fmt.Sprintf("%s as %q", what, ev.User)})
	case event.TypeTLS:
		d.add(Step{Time: ev.Time, Kind: KindNote, Label: "command channel encrypted (" + join(ev.Command, ev.Arg) + "): later commands are not visible"})
	case event.TypeDataOpen:
		from, to := d.opener(ev)
		d.add(Step{Time: ev.Time, Kind: KindData, From: from, To: to, Mode: ev.Mode,
			Label: fmt.Sprintf("%s data connection %s → %s", ev.Mode, ev.From, ev.To)})
	case event.TypeDataFail:
		d.addFail(ev)
	case event.TypeDataClose:
		d.add(Step{Time: ev.Time, Kind: KindNote, Mode: ev.Mode,
			Label: fmt.Sprintf("%s data connection to %s closed (%s): %s bytes", ev.Mode, ev.Endpoint, ev.Reason, groupDigits(ev.Bytes))})
	case event.TypeTransferEnd:
		d.add(Step{Time: ev.Time, Kind: KindNote, Label: transferLabel(ev)})
	case event.TypeAlert:
		d.add(Step{Time: ev.Time, Kind: KindNote, Label: "alert " + ev.Kind, Detail: ev.Detail})
	}
}

// TFTP reports whether the diagram is a TFTP transfer's.
func (d *Diagram) TFTP() bool { return d.Proto == event.ProtoTFTP }

// ID is the session's id as the events write it: "s1", or "t1" for a TFTP
// transfer.
func (d *Diagram) ID() string {
	if d.TFTP() {
		return "t" + strconv.FormatUint(d.Session, 10)
	}
	return "s" + strconv.FormatUint(d.Session, 10)
}

// opener returns the side that opened a data connection and the side it
// connected to: by the connecting address where it is one of the session's,
// else by the mode (active: the server connects).
func (d *Diagram) opener(ev *event.Event) (from, to End) {
	switch {
	case ev.From.IsValid() && ev.From.Addr() == d.Client.Addr() && d.Client.Addr() != d.Server.Addr():
		return EndClient, EndServer
	case ev.From.IsValid() && ev.From.Addr() == d.Server.Addr() && d.Client.Addr() != d.Server.Addr():
		return EndServer, EndClient
	case ev.Mode == event.ModeActive:
		return EndServer, EndClient
	}
	return EndClient, EndServer
}

func (d *Diagram) addFail(ev *event.Event) {
	if ev.Reason == "unused" {
		d.add(Step{Time: ev.Time, Kind: KindNote, Mode: ev.Mode,
			Label: fmt.Sprintf("%s data channel %s announced by %s, never used", ev.Mode, ev.Endpoint, ev.Via), Detail: ev.Detail})
		return
	}
	from, to := d.opener(ev)
	var what string
	switch ev.Reason {
	case "refused":
		what = "refused (RST)"
	case "timeout":
		what = "not answered (timeout)"
	default:
		what = "failed (" + ev.Reason + ")"
	}
	src := ev.From.String()
	if !ev.From.IsValid() {
		src = from.String()
	}
	d.add(Step{Time: ev.Time, Kind: KindFail, From: from, To: to, Mode: ev.Mode, Reason: ev.Reason,
		Label: fmt.Sprintf("%s data connection %s → %s %s", ev.Mode, src, ev.Endpoint, what), Detail: ev.Detail})
}

func (d *Diagram) add(s Step) {
	max := d.MaxSteps
	if max <= 0 {
		max = DefaultMaxSteps
	}
	if len(d.Steps) >= max {
		d.Omitted++
		return
	}
	d.Steps = append(d.Steps, s)
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + " " + b
}

func transferLabel(ev *event.Event) string {
	var b strings.Builder
	if ev.Complete {
		b.WriteString("transfer complete: ")
	} else {
		b.WriteString("transfer incomplete: ")
	}
	b.WriteString(join(ev.Command, ev.File))
	if ev.DataNotSeen {
		fmt.Fprintf(&b, ", %s, data connection not seen, in %d ms", ev.Direction, ev.DurationMS)
	} else {
		fmt.Fprintf(&b, ", %s, %s bytes in %d ms", ev.Direction, groupDigits(ev.Bytes), ev.DurationMS)
	}
	if ev.Code != 0 {
		fmt.Fprintf(&b, ", reply %d", ev.Code)
	}
	return b.String()
}

// groupDigits writes n with thousands separators: 65,536.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
