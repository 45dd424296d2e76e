package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/ftptap/ftptap/event"
)

// summary collects events into a table a person can read (replay --summary).
type summary struct {
	sessions []*sumSession
	byID     map[uint64]*sumSession
	alerts   []string
	tftp     []event.Event // tftp.end events, in order
}

type sumSession struct {
	id             uint64
	client, server string
	user           string
	login          string
	start, end     time.Time
	endReason      string
	midstream, tls bool
	transfers      []event.Event
	fails          []event.Event
	requests       int
}

func newSummary() *summary { return &summary{byID: map[uint64]*sumSession{}} }

func (s *summary) Event(ev *event.Event, _ []byte) {
	if ev.Session == 0 {
		return
	}
	if ev.Proto == event.ProtoTFTP {
		s.tftpEvent(ev)
		return
	}
	ss := s.byID[ev.Session]
	if ss == nil {
		ss = &sumSession{id: ev.Session, client: ev.Client.String(), server: ev.Server.String(), start: ev.Time}
		s.byID[ev.Session] = ss
		s.sessions = append(s.sessions, ss)
	}
	switch ev.Type {
	case event.TypeSessionStart:
		ss.midstream = ev.Midstream
	case event.TypeSessionEnd:
		ss.end, ss.endReason = ev.Time, ev.Reason
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
	case event.TypeTransferEnd:
		ss.transfers = append(ss.transfers, *ev)
	case event.TypeDataFail:
		ss.fails = append(ss.fails, *ev)
	case event.TypeAlert:
		s.alerts = append(s.alerts, fmt.Sprintf("s%d %s: %s", ev.Session, ev.Kind, ev.Detail))
	}
}

func (s *summary) write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "SESSION\tCLIENT\tSERVER\tUSER\tLOGIN\tCMDS\tXFERS\tDURATION\tEND\tNOTES\n")
	for _, ss := range s.sessions {
		notes := ""
		if ss.midstream {
			notes += "midstream "
		}
		if ss.tls {
			notes += "tls "
		}
		dur := "-"
		if !ss.end.IsZero() {
			dur = ss.end.Sub(ss.start).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "s%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", ss.id, ss.client, ss.server, dash(ss.user), dash(ss.login), ss.requests, len(ss.transfers), dur, dash(ss.endReason), notes)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintf(tw, "SESSION\tCOMMAND\tFILE\tDIRECTION\tMODE\tBYTES\tCODE\tCOMPLETE\tMS\n")
	n := 0
	for _, ss := range s.sessions {
		for _, t := range ss.transfers {
			n++
			fmt.Fprintf(tw, "s%d\t%s\t%s\t%s\t%s\t%d\t%d\t%v\t%d\n", ss.id, t.Command, dash(t.File), t.Direction, t.Mode, t.Bytes, t.Code, t.Complete, t.DurationMS)
		}
	}
	tw.Flush()
	var fails []string
	for _, ss := range s.sessions {
		for _, f := range ss.fails {
			fails = append(fails, fmt.Sprintf("s%d %s %s %s: %s", ss.id, f.Mode, f.Endpoint, f.Reason, f.Detail))
		}
	}
	if len(fails) > 0 {
		fmt.Fprintln(w, "\nDATA-CHANNEL FAILURES")
		for _, f := range fails {
			fmt.Fprintln(w, "  "+f)
		}
	}
	s.writeTFTP(w)
	if len(s.alerts) > 0 {
		fmt.Fprintln(w, "\nALERTS")
		for _, a := range s.alerts {
			fmt.Fprintln(w, "  "+a)
		}
	}
	fmt.Fprintf(w, "\n%d sessions, %d transfers\n", len(s.sessions), n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
