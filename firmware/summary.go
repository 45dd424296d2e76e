package main

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ftptap/ftptap/event"
)

// summary writes the events as tables a person can read (replay
// --summary). It streams: a session's row, with its transfers and data
// channel failures below it, is written when the session ends, and then
// forgotten, so memory follows the sessions open at once, not the length of
// the capture. Alerts and failures are counted by kind for the closing
// section. Strings from the wire are escaped and cut to the column's width.
type summary struct {
	w         io.Writer
	header    bool
	open      map[uint64]*sumSession
	sessions  int
	transfers int
	alerts    map[string]*sumGroup // by kind
	fails     map[string]*sumGroup // by what failed: "PORT announced, never used"
	tftp      sumTFTP
	// types, when not nil, are the kinds of lines shown (replay --summary
	// --types): transfer.end its transfer rows, tftp.end the TFTP rows,
	// data.fail the failures, alert the alerts. Every FTP session keeps its
	// row, and its columns and byte counts are worked out from all its
	// events, selected or not.
	types map[event.Type]bool
	// selecting: replay selects by host, port, session or type, so no
	// session shown is not no session seen.
	selecting bool
}

// sumGroup is a repeated alert or failure.
type sumGroup struct {
	n        int
	sessions []uint64 // the first few
	example  string   // the first one's detail
	order    int
}

// maxGroups bounds the kinds of alerts and failures kept: a peer chooses
// what fails, not how many kinds ftptap has.
const maxGroups = 256

type sumSession struct {
	id             uint64
	client, server string
	user           string
	login          string
	start, end     time.Time
	endReason      string
	midstream, tls bool
	requests       int
	transfers      []event.Event
	opened         map[netip.AddrPort]bool // data connections seen open, by endpoint
	fails          map[string]int          // failure → count, for this session
	failOrder      []string
	written        bool // its row was written (a huge session writes several)
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, open: map[uint64]*sumSession{}, alerts: map[string]*sumGroup{}, fails: map[string]*sumGroup{}}
}

// The widths of the columns that carry strings from the wire.
const (
	widthUser   = 16
	widthFile   = 48
	widthDetail = 400
)

func (s *summary) Event(ev *event.Event, _ []byte) {
	if ev.Session == 0 {
		return
	}
	if s.types != nil && !s.types[ev.Type] {
		switch ev.Type {
		case event.TypeTransferEnd, event.TypeTFTPEnd, event.TypeDataFail, event.TypeAlert:
			return
		}
	}
	if ev.Proto == event.ProtoTFTP {
		s.tftpEvent(ev)
		return
	}
	ss := s.open[ev.Session]
	if ss == nil {
		ss = &sumSession{id: ev.Session, client: ev.Client.String(), server: ev.Server.String(), start: ev.Time}
		s.open[ev.Session] = ss
	}
	switch ev.Type {
	case event.TypeSessionStart:
		ss.midstream = ev.Midstream
	case event.TypeRequest:
		ss.requests++
	case event.TypeLogin:
		ss.user = ev.User
		if ev.OK {
			ss.login = "ok"
		} else if ss.login != "ok" {
			ss.login = "failed"
		}
	case event.TypeTLS:
		ss.tls = true
	case event.TypeDataOpen:
		if ss.opened == nil {
			ss.opened = map[netip.AddrPort]bool{}
		}
		if len(ss.opened) >= 1024 {
			// Bounded: forget the old endpoints, which later transfers
			// rarely reuse, rather than the new ones.
			clear(ss.opened)
		}
		ss.opened[ev.Endpoint] = true
	case event.TypeTransferEnd:
		ss.transfers = append(ss.transfers, *ev)
		if ev.DataNotSeen || !ss.opened[ev.Endpoint] {
			// No data connection was seen: the bytes are not known.
			ss.transfers[len(ss.transfers)-1].Bytes = -1
		}
		if len(ss.transfers) > 1<<16 {
			s.writeSession(ss) // a huge session: write what it has so far
			ss.transfers = ss.transfers[:0]
		}
	case event.TypeDataFail:
		what := failWhat(ev)
		if ss.fails == nil {
			ss.fails = map[string]int{}
		}
		if _, ok := ss.fails[what]; !ok {
			ss.failOrder = append(ss.failOrder, what)
		}
		ss.fails[what]++
		s.count(s.fails, what, ev.Session, ev.Detail)
	case event.TypeAlert:
		s.count(s.alerts, ev.Kind, ev.Session, ev.Detail)
	case event.TypeSessionEnd:
		ss.end, ss.endReason = ev.Time, ev.Reason
		s.writeSession(ss)
		delete(s.open, ev.Session)
	}
}

// failWhat names a data channel failure as the closing section groups
// them: the announcement and what became of it.
func failWhat(ev *event.Event) string {
	via := ev.Via
	if via == "" {
		via = ev.Mode.String()
	}
	switch ev.Reason {
	case "unused":
		return clean(via, 8) + " announced, never used"
	case "refused":
		return clean(via, 8) + " connection refused"
	case "timeout":
		return clean(via, 8) + " connection timed out"
	}
	return clean(via, 8) + " " + clean(ev.Reason, 16)
}

func (s *summary) count(m map[string]*sumGroup, key string, session uint64, detail string) {
	g := m[key]
	if g == nil {
		if len(m) >= maxGroups {
			key = "(other kinds)"
			if g = m[key]; g == nil {
				g = &sumGroup{order: len(m)}
				m[key] = g
			}
		} else {
			g = &sumGroup{example: detail, order: len(m)}
			m[key] = g
		}
	}
	g.n++
	if len(g.sessions) < 5 && !slices.Contains(g.sessions, session) {
		g.sessions = append(g.sessions, session)
	}
}

const sessionHeader = "START                    SESSION  CLIENT                 SERVER                 USER              LOGIN   CMDS  XFERS  DURATION  END       NOTES"

func (s *summary) writeSession(ss *sumSession) {
	if !s.header {
		fmt.Fprintln(s.w, sessionHeader)
		s.header = true
	}
	if !ss.written {
		s.sessions++
		ss.written = true
	}
	var notes []string
	if ss.midstream {
		notes = append(notes, "midstream")
	}
	if ss.tls {
		notes = append(notes, "tls")
	}
	dur := "-"
	if !ss.end.IsZero() {
		dur = ss.end.Sub(ss.start).Round(time.Millisecond).String()
	}
	row := fmt.Sprintf("%-23s  %-7s  %-21s  %-21s  %-16s  %-6s  %4d  %5d  %-8s  %-8s  %s",
		ss.start.UTC().Format("2006-01-02 15:04:05.000"), "s"+strconv.FormatUint(ss.id, 10), ss.client, ss.server,
		dash(clean(ss.user, widthUser)), dash(ss.login), ss.requests, len(ss.transfers), dur, dash(ss.endReason), strings.Join(notes, " "))
	fmt.Fprintln(s.w, strings.TrimRight(row, " "))
	for _, t := range ss.transfers {
		s.transfers++
		state := "complete"
		if !t.Complete {
			state = "incomplete"
		}
		fmt.Fprintf(s.w, "%25s%-5s  %-8s  %-7s  %10s  %3d  %-10s  %7s  %s\n", "", clean(t.Command, 5), t.Direction, t.Mode,
			sizeOrDash(t.Bytes), t.Code, state, (time.Duration(t.DurationMS) * time.Millisecond).String(), dash(clean(t.File, widthFile)))
	}
	for _, what := range ss.failOrder {
		fmt.Fprintf(s.w, "%25sdata channel: %s\n", "", times(ss.fails[what], what))
	}
}

// write ends the summary: sessions still open (none after a flush), then
// the failures and alerts grouped by kind, then the totals.
func (s *summary) write(w io.Writer) {
	rest := make([]*sumSession, 0, len(s.open))
	for _, ss := range s.open {
		rest = append(rest, ss)
	}
	slices.SortFunc(rest, func(a, b *sumSession) int { return int(a.id - b.id) })
	for _, ss := range rest {
		s.writeSession(ss)
	}
	s.open = map[uint64]*sumSession{}
	if !s.header {
		if s.selecting {
			fmt.Fprintln(w, "no FTP session matches the selection")
		} else {
			fmt.Fprintln(w, "no FTP session seen")
		}
	}
	writeGroups(w, "DATA-CHANNEL FAILURES", "s", s.fails)
	writeGroups(w, "ALERTS", "s", s.alerts)
	s.writeTFTP(w)
	fmt.Fprintf(w, "\n%s, %s%s\n", plural(s.sessions, "session"), plural(s.transfers, "transfer"), s.tftpTotal())
}

// writeGroups writes the groups of m under title, each with its first
// sessions (their ids written with prefix: s for FTP, t for TFTP).
func writeGroups(w io.Writer, title, prefix string, m map[string]*sumGroup) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return m[a].order - m[b].order })
	fmt.Fprintln(w, "\n"+title)
	for _, k := range keys {
		g := m[k]
		ids := make([]string, len(g.sessions))
		for i, id := range g.sessions {
			ids[i] = prefix + strconv.FormatUint(id, 10)
		}
		if g.n > len(g.sessions) && len(g.sessions) == 5 {
			ids = append(ids, "...")
		}
		line := "  " + times(g.n, clean(k, 40)) + " (" + strings.Join(ids, ", ") + ")"
		if g.example != "" {
			line += ": " + clean(g.example, widthDetail)
		}
		fmt.Fprintln(w, line)
	}
}

// times writes a repeated thing: "500 × PORT announced, never used".
func times(n int, what string) string {
	if n == 1 {
		return what
	}
	return strconv.Itoa(n) + " × " + what
}

// sizeOrDash writes a byte count for people; a negative count is "-", bytes
// not seen.
func sizeOrDash(n int64) string {
	if n < 0 {
		return "-"
	}
	return humanBytes(n)
}

// clean makes a string from the wire safe for a terminal and a table:
// control bytes, invalid UTF-8 and other unprintable runes are escaped as
// Go does (\t, \x1b, \u200b), and the result is cut to max runes, ending
// in "…" when cut.
func clean(s string, max int) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		var part string
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			part = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\\':
			part = `\\`
		case unicode.IsPrint(r):
			part = string(r)
		default:
			q := strconv.QuoteRune(r)
			part = q[1 : len(q)-1]
		}
		if n+utf8.RuneCountInString(part) > max {
			b.WriteString("…")
			return b.String()
		}
		b.WriteString(part)
		n += utf8.RuneCountInString(part)
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
