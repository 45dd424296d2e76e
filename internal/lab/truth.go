//go:build linux

package lab

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ftptap/ftptap/internal/truth"
)

// Truth is what a scenario did, in the truth.json shape of the corpus:
// the FTP side from the clients' transcripts (commands, replies,
// announcements, transfers and their final codes), the TCP side from the
// connections in the capture (the command channel's client port, which
// data connection served which announcement, bytes moved, refused or
// unanswered SYNs). sums maps file names (base names) to the SHA-256 of
// what was moved, for the files the scenario checked; the lab's own
// Files are always known.
func Truth(scenario string, runs []*Run, conns []*Conn, sums map[string]string) (*truth.Truth, error) {
	tr := &truth.Truth{Scenario: scenario, Sessions: []truth.Session{}}
	used := map[*Conn]bool{}
	type pending struct {
		run *Run
		t   *Transcript
	}
	var all []pending
	sorted := append([]*Run(nil), runs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	for _, r := range sorted {
		for _, t := range r.Sessions {
			all = append(all, pending{r, t})
		}
	}
	// Transcripts that name their port claim their connection first.
	ctl := make([]*Conn, len(all))
	for pass := 0; pass < 2; pass++ {
		for i, p := range all {
			if ctl[i] != nil || (pass == 0) != (p.t.LocalPort != 0) {
				continue
			}
			for _, c := range conns {
				if used[c] || c.To != p.t.Server || !c.Answered {
					continue
				}
				if p.t.LocalPort != 0 && c.From.Port() != p.t.LocalPort {
					continue
				}
				if c.SYN.Before(p.run.Start.Add(-time.Second)) || c.SYN.After(p.run.End.Add(time.Second)) {
					continue
				}
				ctl[i], used[c] = c, true
				break
			}
			if ctl[i] == nil {
				return nil, fmt.Errorf("lab: truth %s: no connection to %v in the capture for a %s session", scenario, p.t.Server, p.run.Tool)
			}
		}
	}
	for i, p := range all {
		s, err := sessionTruth(p.t, ctl[i], conns, used, sums)
		if err != nil {
			return nil, fmt.Errorf("lab: truth %s: %w", scenario, err)
		}
		tr.Sessions = append(tr.Sessions, s)
	}
	return tr, nil
}

// exchange is a command and the reply that ended it. Code is 0 when no
// final reply came.
type exchange struct {
	cmd, arg string
	code     int
	text     string
	prelim   bool // a 1xx came first
}

var replyLine = regexp.MustCompile(`^(\d{3})([ -])(.*)$`)

// exchanges pairs each command of a transcript with its final reply
// (RFC 959 4.2: a 1xx reply is preliminary and another follows; a
// multi-line reply runs from "NNN-" to "NNN "). Replies before any
// command (the greeting) answer none.
func exchanges(t *Transcript) []*exchange {
	var ex []*exchange
	var queue []*exchange
	multi := ""
	for _, l := range t.Lines {
		if l.Sent {
			cmd, arg, _ := strings.Cut(l.Text, " ")
			e := &exchange{cmd: strings.ToUpper(cmd), arg: arg}
			ex = append(ex, e)
			queue = append(queue, e)
			continue
		}
		m := replyLine.FindStringSubmatch(l.Text)
		if multi != "" {
			if m != nil && m[1] == multi && m[2] == " " {
				multi = ""
			} else {
				continue
			}
		} else if m == nil {
			continue
		} else if m[2] == "-" {
			multi = m[1]
			if len(queue) > 0 && queue[0].text == "" {
				queue[0].text = m[3]
			}
			continue
		}
		code, _ := strconv.Atoi(m[1])
		if len(queue) == 0 {
			continue
		}
		if code < 200 {
			queue[0].prelim = true
			continue
		}
		queue[0].code = code
		if queue[0].text == "" {
			queue[0].text = m[3]
		}
		queue = queue[1:]
	}
	return ex
}

var (
	pasvReply = regexp.MustCompile(`(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)`)
	epsvReply = regexp.MustCompile(`\(([\x21-\x7e])([\x21-\x7e])([\x21-\x7e])(\d+)([\x21-\x7e])\)`)
)

func sessionTruth(t *Transcript, ctl *Conn, conns []*Conn, used map[*Conn]bool, sums map[string]string) (truth.Session, error) {
	s := truth.Session{
		Client:    hostPort(ctl.From.Addr(), ctl.From.Port()),
		Server:    hostPort(ctl.To.Addr(), ctl.To.Port()),
		Requests:  [][2]string{},
		Announced: []truth.Announcement{},
		Transfers: []truth.Transfer{},
		DataFail:  []truth.DataFail{},
	}
	serverIP := ctl.To.Addr()
	type announced struct {
		truth.Announcement
		ep   netip.AddrPort
		used bool // a transfer used it
		conn *Conn
	}
	var cur *announced
	var anns []*announced
	quit := false
	// findConn finds the data connection to ep within this session.
	findConn := func(ep netip.AddrPort) *Conn {
		for _, c := range conns {
			if used[c] || c.To != ep || c.SYN.Before(ctl.SYN) || c.SYN.After(ctl.Last.Add(time.Second)) {
				continue
			}
			used[c] = true
			return c
		}
		return nil
	}
	for _, e := range exchanges(t) {
		arg := e.arg
		if e.cmd == "PASS" {
			arg = ""
		}
		s.Requests = append(s.Requests, [2]string{e.cmd, arg})
		switch e.cmd {
		case "USER":
			s.User = e.arg
			if e.code == 230 {
				s.LoginOK = true
			}
		case "PASS", "ACCT":
			if e.code == 230 {
				s.LoginOK = true
			}
		case "AUTH":
			if e.code == 234 {
				s.TLS = true
			}
		case "QUIT":
			quit = e.code == 221
		case "PASV", "EPSV", "PORT", "EPRT":
			ep, mode, ok := endpointOf(e, serverIP)
			if !ok {
				continue
			}
			a := &announced{Announcement: truth.Announcement{Mode: mode, Endpoint: ep.String(), Via: e.cmd}, ep: ep}
			a.Endpoint = hostPort(ep.Addr(), ep.Port())
			s.Announced = append(s.Announced, a.Announcement)
			a.conn = findConn(ep)
			anns = append(anns, a)
			cur = a
		case "RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD":
			if cur == nil || cur.used {
				continue
			}
			// A command refused outright (a final 4xx or 5xx but 425 and
			// 426, with no 1xx) leaves the announcement to the next
			// transfer command: the server still listens, or still
			// holds the PORT address.
			refused := e.code >= 400 && e.code != 425 && e.code != 426 && !e.prelim
			cur.used = !refused
			x := truth.Transfer{
				Command:   e.cmd,
				File:      e.arg,
				Direction: direction(e.cmd),
				Mode:      cur.Mode,
				Endpoint:  cur.Endpoint,
			}
			if e.cmd == "LIST" || e.cmd == "NLST" || e.cmd == "MLSD" {
				x.File = ""
			}
			if e.code != 0 {
				code := e.code
				x.Code = &code
			}
			x.Complete = e.code == 226 || e.code == 250
			var n int64
			if c := cur.conn; c != nil && c.Answered && !refused {
				from := serverIP
				if x.Direction == "upload" {
					from = ctl.From.Addr()
				}
				n = c.BytesFrom(from)
				x.DataFrom = hostPort(c.From.Addr(), c.From.Port())
				x.DataTo = hostPort(c.To.Addr(), c.To.Port())
			}
			x.Bytes = &n
			if sum, ok := sums[path.Base(e.arg)]; ok && x.Complete {
				x.SHA256 = sum
			} else if f, ok := knownFile(path.Base(e.arg)); ok && x.Complete && x.Direction == "download" {
				x.SHA256 = f.SHA256()
			}
			s.Transfers = append(s.Transfers, x)
		}
	}
	for _, a := range anns {
		reason := ""
		switch {
		case a.conn != nil && a.conn.Refused:
			reason = "refused"
		case a.conn != nil && !a.conn.Answered:
			reason = "timeout"
		case a.conn == nil:
			reason = "unused"
		}
		if reason != "" {
			s.DataFail = append(s.DataFail, truth.DataFail{Mode: a.Mode, Endpoint: a.Endpoint, Via: a.Via, Reason: reason})
		}
	}
	switch {
	case quit:
		s.End = "quit"
	case ctl.Reset:
		s.End = "reset"
	case ctl.FIN:
		s.End = "close"
	default:
		s.End = "shutdown"
	}
	return s, nil
}

// endpointOf is the data endpoint a command announces: the client's for
// PORT and EPRT (when the server accepted it), the server's for a 227 or
// 229 reply (EPSV names only a port: the server's address is meant, RFC
// 2428 section 3).
func endpointOf(e *exchange, serverIP netip.Addr) (netip.AddrPort, string, bool) {
	switch e.cmd {
	case "PASV":
		m := pasvReply.FindStringSubmatch(e.text)
		if e.code != 227 || m == nil {
			return netip.AddrPort{}, "", false
		}
		var b [6]byte
		for i := range b {
			v, _ := strconv.Atoi(m[i+1])
			b[i] = byte(v)
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(b[4])<<8|uint16(b[5])), "passive", true
	case "EPSV":
		m := epsvReply.FindStringSubmatch(e.text)
		if e.code != 229 || m == nil {
			return netip.AddrPort{}, "", false
		}
		p, _ := strconv.Atoi(m[4])
		return netip.AddrPortFrom(serverIP, uint16(p)), "passive", true
	case "PORT":
		f := strings.Split(e.arg, ",")
		if e.code/100 != 2 || len(f) != 6 {
			return netip.AddrPort{}, "", false
		}
		var b [6]byte
		for i := range b {
			v, _ := strconv.Atoi(strings.TrimSpace(f[i]))
			b[i] = byte(v)
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(b[4])<<8|uint16(b[5])), "active", true
	case "EPRT":
		if e.code/100 != 2 || len(e.arg) < 2 {
			return netip.AddrPort{}, "", false
		}
		f := strings.Split(e.arg, e.arg[:1])
		if len(f) != 5 {
			return netip.AddrPort{}, "", false
		}
		ip, err := netip.ParseAddr(f[2])
		p, err2 := strconv.Atoi(f[3])
		if err != nil || err2 != nil {
			return netip.AddrPort{}, "", false
		}
		return netip.AddrPortFrom(ip, uint16(p)), "active", true
	}
	return netip.AddrPort{}, "", false
}

func direction(cmd string) string {
	switch cmd {
	case "RETR":
		return "download"
	case "STOR", "STOU", "APPE":
		return "upload"
	}
	return "listing"
}

func knownFile(name string) (File, bool) {
	if name == HomeFile.Name {
		return HomeFile, true
	}
	for _, f := range Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}
