package ftpstate

import (
	"net/netip"
	"time"
)

// session is one FTP command channel.
type session struct {
	id             uint64
	key            connKey
	client, server netip.AddrPort
	start, last    time.Time
	midstream      bool
	ended          bool

	dir   [2]stream  // 0: client to server, 1: server to client
	lines [2]lineBuf // unfinished lines, per direction
	fin   [2]bool
	isn   [2]uint32 // ISN of each direction's SYN, when seen
	syn   [2]bool

	greeting bool // the first reply is still to come (the start was seen)
	reply    struct {
		code  int      // code of the multi-line reply being read; 0: none
		lines []string // its lines so far
		size  int
	}
	pending []pendingCmd

	user     string
	loggedIn bool
	quit     bool // QUIT was sent
	quitOK   bool // and answered with 2xx
	tls      bool // AUTH TLS/SSL accepted: the channel is dark

	expects   []*expectation // announced, not yet finished
	conns     []*dataConn    // data connections
	transfers []*transfer    // transfers not yet reported
	current   *expectation   // the newest announcement, which the next transfer uses

	halfClosed bool
	closeTime  time.Time
	reset      bool

	lineAlerted  [2]bool
	capsReported map[string]int
}

type pendingCmd struct {
	cmd, arg string
	time     time.Time
	xfer     *transfer
	expect   *expectation // for PORT/EPRT/LPRT: the announcement made
}

func (s *session) endReason(def string) string {
	if s.quit && s.quitOK {
		return "quit"
	}
	if s.reset {
		return "reset"
	}
	return def
}

// startSession begins tracking a command channel, from its SYN or, caught
// mid-way, from a segment with data.
func (t *Tracker) startSession(k connKey, p *Packet, midstream bool) {
	if t.sessionCount() >= t.cfg.MaxSessions {
		t.capHit(nil, "too_many_sessions", "more than %d FTP sessions at once: %s to %s is not tracked", t.cfg.MaxSessions, p.Src, p.Dst)
		return
	}
	t.nextID++
	s := &session{id: t.nextID, key: k, start: p.Time, last: p.Time, midstream: midstream}
	clientSide := p.Side
	if midstream && !t.isControlPort(p.Dst.Port()) && t.isControlPort(p.Src.Port()) {
		s.client, s.server = p.Dst, p.Src
		clientSide = otherSide(p.Side)
	} else {
		s.client, s.server = p.Src, p.Dst
	}
	if !midstream {
		s.greeting = true
	}
	t.sessions[k] = s
	t.order = append(t.order, s)
	t.stats.Sessions++
	ev := Event{Type: TypeSessionStart, Midstream: midstream, ClientSide: clientSide}
	t.emitEvent(s, &ev)
	t.controlPacket(s, p)
}

func otherSide(s Side) Side {
	switch s {
	case SideA:
		return SideB
	case SideB:
		return SideA
	}
	return SideUnknown
}

// controlPacket tracks a segment of a command channel.
func (t *Tracker) controlPacket(s *session, p *Packet) {
	d := 0
	if p.Src != s.client {
		d = 1
	}
	s.last = t.now
	if p.Flags.Has(FlagSYN) {
		if d == 0 && !p.Flags.Has(FlagACK) && s.syn[0] && p.Seq != s.isn[0] && (s.fin[0] || s.fin[1] || s.reset) {
			// The port pair is used again by a new connection.
			t.endSession(s, s.endReason("close"))
			t.startSession(s.key, p, false)
			return
		}
		s.syn[d] = true
		s.isn[d] = p.Seq
		if !s.dir[d].init {
			s.dir[d].start(p.Seq + 1)
		}
	}
	// Bytes the peer acknowledges before this segment's own bytes: the
	// other direction's commands come first (see stream.acked).
	if p.Flags.Has(FlagACK) && !s.tls && !s.ended {
		o := 1 - d
		if s.dir[o].acked(p.Ack, func(data []byte, gap bool) { t.deliver(s, o, data, gap) }) {
			t.stats.Gaps++
		}
	}
	if len(p.Payload) > 0 && !s.tls {
		forced := s.dir[d].add(p.Seq, p.Payload, t.cfg.MaxReorder, func(data []byte, gap bool) {
			t.deliver(s, d, data, gap)
		})
		if forced {
			t.stats.Gaps++
			t.capHit(s, "reorder_cap", "more than %d bytes out of order on the command channel: skipped a gap", t.cfg.MaxReorder)
		}
	} else if len(p.Payload) > 0 && s.tls {
		// Dark: keep the stream position only.
		s.dir[d].init = true
		s.dir[d].next = p.Seq + uint32(len(p.Payload))
	}
	if s.ended {
		return
	}
	if p.Flags.Has(FlagRST) {
		s.reset = true
		t.finishStreams(s)
		t.endSession(s, s.endReason("reset"))
		return
	}
	if p.Flags.Has(FlagFIN) && !s.fin[d] {
		s.fin[d] = true
		if s.fin[0] && s.fin[1] {
			t.finishStreams(s)
			t.endSession(s, s.endReason("close"))
			return
		}
		s.halfClosed = true
		s.closeTime = t.now
	}
}

// finishStreams delivers what is left in both directions of a command
// channel that has ended: buffered segments and an unfinished last line.
func (t *Tracker) finishStreams(s *session) {
	for d := 0; d < 2; d++ {
		if s.tls {
			continue
		}
		s.dir[d].finish(func(data []byte, gap bool) { t.deliver(s, d, data, gap) })
		if rest := s.lines[d].rest(); len(rest) > 0 && !s.ended {
			t.line(s, d, rest)
		}
	}
	if s.reply.code != 0 && !s.ended {
		t.finishReply(s, "")
	}
}

// deliver takes in-order bytes of one direction.
func (t *Tracker) deliver(s *session, d int, data []byte, gap bool) {
	if s.ended || s.tls {
		return
	}
	if gap {
		t.stats.Gaps++
		s.lines[d].reset()
	}
	if s.lines[d].feed(data, t.cfg.MaxLine, func(ln []byte) {
		if !s.ended && !s.tls {
			t.line(s, d, ln)
		}
	}) {
		t.capHit(s, "line_too_long", "a %s line longer than %d bytes was cut", dirName(d), t.cfg.MaxLine)
	}
}

func dirName(d int) string {
	if d == 0 {
		return "command"
	}
	return "reply"
}

// line handles one complete line of a direction.
func (t *Tracker) line(s *session, d int, ln []byte) {
	ln = stripTelnet(ln)
	if d == 0 {
		t.request(s, ln)
	} else {
		t.replyLine(s, ln)
	}
}

// stripTelnet removes Telnet commands (IAC sequences, RFC 854) that clients
// send around ABOR (IAC IP, IAC DM) from a command line.
func stripTelnet(ln []byte) []byte {
	i := indexIAC(ln)
	if i < 0 {
		return ln
	}
	out := make([]byte, 0, len(ln))
	for j := 0; j < len(ln); j++ {
		c := ln[j]
		if c != 0xff {
			out = append(out, c)
			continue
		}
		if j+1 >= len(ln) {
			break
		}
		switch ln[j+1] {
		case 0xff:
			out = append(out, 0xff)
			j++
		case 251, 252, 253, 254: // WILL, WONT, DO, DONT take an option
			j += 2
		default:
			j++
		}
	}
	return out
}

func indexIAC(b []byte) int {
	for i, c := range b {
		if c == 0xff {
			return i
		}
	}
	return -1
}

// maxCommandLen is the longest command name taken as such; longer ones are
// reported (RFC 959 commands are 3 or 4 letters; extensions stay short).
const maxCommandLen = 32

// request handles a command line from the client.
func (t *Tracker) request(s *session, ln []byte) {
	if len(ln) == 0 {
		return
	}
	cmd, arg := ParseCommand(ln)
	if len(cmd) > maxCommandLen {
		t.alert(s, "command_too_long", "a %d-byte command name was cut to %d bytes", len(cmd), maxCommandLen)
		cmd = cmd[:maxCommandLen]
	}
	shown := arg
	if cmd == "PASS" && !t.cfg.ShowPasswords && arg != "" {
		shown = "****"
	}
	ev := Event{Type: TypeRequest, Command: cmd, Arg: shown}
	t.emitEvent(s, &ev)

	pc := pendingCmd{cmd: cmd, arg: arg, time: t.now}
	switch cmd {
	case "USER":
		s.user = arg
	case "QUIT":
		s.quit = true
	case "PORT", "EPRT", "LPRT":
		pc.expect = t.announceActive(s, cmd, arg)
	case "RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD":
		pc.xfer = t.startTransfer(s, cmd, arg)
	}
	if len(s.pending) >= t.cfg.MaxPending {
		t.capHit(s, "too_many_pending", "more than %d commands awaiting a reply: the oldest are dropped", t.cfg.MaxPending)
		old := s.pending[0]
		s.pending = s.pending[1:]
		if old.xfer != nil {
			t.endTransferNow(old.xfer)
		}
	}
	s.pending = append(s.pending, pc)
}

// maxReplyBytes caps the text of one multi-line reply.
const maxReplyLines = 512

// replyLine handles one line from the server.
func (t *Tracker) replyLine(s *session, ln []byte) {
	if s.reply.code != 0 {
		// Inside a multi-line reply: it ends at a line with the same code
		// and a space (RFC 959 section 4.2); other lines are text.
		r := ParseReplyLine(ln)
		if r.Code == s.reply.code && (r.Sep == ' ' || r.Sep == 0) {
			s.reply.lines = append(s.reply.lines, r.Text)
			t.finishReply(s, "")
			return
		}
		text := string(ln)
		if r.Code == s.reply.code && r.Sep == '-' {
			text = r.Text
		}
		if len(s.reply.lines) < maxReplyLines {
			s.reply.lines = append(s.reply.lines, text)
		} else {
			t.capHit(s, "reply_too_long", "a multi-line reply of more than %d lines was cut", maxReplyLines)
		}
		return
	}
	r := ParseReplyLine(ln)
	switch {
	case r.Code == 0:
		// No valid code: the server broke the protocol. Zeek stops
		// analysing here; we report it and take the line as a reply
		// without a code, so the commands that follow stay matched.
		t.alert(s, "invalid_reply", "reply line without a valid code: %q", clip(string(ln), 80))
		t.response(s, 0, r.Text)
	case r.Sep == '-':
		s.reply.code = r.Code
		s.reply.lines = append(s.reply.lines[:0], r.Text)
	case r.Sep == ' ' || r.Sep == 0:
		t.response(s, r.Code, r.Text)
	default:
		t.alert(s, "invalid_reply", "reply code %d not followed by a space: %q", r.Code, clip(string(ln), 80))
		t.response(s, r.Code, string(ln[3:]))
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (t *Tracker) finishReply(s *session, _ string) {
	code := s.reply.code
	text := joinLines(s.reply.lines)
	s.reply.code = 0
	clear(s.reply.lines)
	s.reply.lines = s.reply.lines[:0]
	t.response(s, code, text)
}

// response handles a complete reply: matches it to the command it answers
// and acts on it.
func (t *Tracker) response(s *session, code int, text string) {
	var pc *pendingCmd
	var popped pendingCmd
	switch {
	case s.greeting:
		// The first reply of a session whose start we saw is the
		// greeting, even when the client sent commands before it.
		if code != 120 {
			s.greeting = false
		}
	case code == 421 && len(s.pending) == 0:
		// Service closing, unsolicited.
	case len(s.pending) == 0:
		// A reply to nothing we saw (caught mid-way, or unsolicited).
	case code >= 100 && code < 200:
		pc = &s.pending[0] // preliminary: the command waits for its final reply
	default:
		popped = s.pending[0]
		s.pending[0] = pendingCmd{}
		s.pending = s.pending[1:]
		if len(s.pending) == 0 {
			s.pending = s.pending[:0:0]
		}
		pc = &popped
	}
	cmd := ""
	if pc != nil {
		cmd = pc.cmd
	}
	ev := Event{Type: TypeResponse, Code: code, Text: text, Command: cmd}
	t.emitEvent(s, &ev)
	if pc == nil {
		return
	}
	final := code >= 200 || code == 0
	switch pc.cmd {
	case "USER", "PASS", "ACCT":
		if !final {
			break
		}
		switch {
		case code == 230 || (code == 202 && pc.cmd != "USER"):
			s.loggedIn = true
			t.login(s, true, code)
		case code == 331 || code == 332:
			// The login goes on (password, account).
		case code >= 400:
			t.login(s, false, code)
		}
	case "QUIT":
		if code >= 200 && code < 300 {
			s.quitOK = true
		}
	case "AUTH":
		// 234: the server accepts TLS (RFC 4217). AUTH GSSAPI's 334/235
		// keep a readable line protocol (ENC, MIC), so they stay in sight.
		if code == 234 {
			s.tls = true
			ev := Event{Type: TypeTLS, Command: pc.cmd, Arg: pc.arg}
			t.emitEvent(s, &ev)
			t.goDark(s)
		}
	case "PASV", "EPSV", "LPSV":
		if final && code >= 200 && code < 300 {
			t.announcePassive(s, pc.cmd, code, text)
		}
	case "PORT", "EPRT", "LPRT":
		if final && pc.expect != nil && (code >= 400 || code == 0) {
			t.rejectExpect(pc.expect, code)
		}
	}
	if pc.xfer != nil {
		t.transferReply(pc.xfer, code, text, final)
	}
}

func (t *Tracker) login(s *session, ok bool, code int) {
	ev := Event{Type: TypeLogin, User: s.user, OK: ok, Code: code}
	t.emitEvent(s, &ev)
}

// goDark stops reading the command channel: its bytes are TLS from here on.
// Data connections between the two hosts are still recognised.
func (t *Tracker) goDark(s *session) {
	for d := 0; d < 2; d++ {
		s.dir[d].ooo = nil
		s.dir[d].oooSize = 0
		s.lines[d].reset()
	}
	s.reply.code = 0
	t.dark[addrPair{s.client.Addr(), s.server.Addr()}] = s
}

// endSession reports the end of a session: open transfers first, then data
// channels that failed or were never used, then session.end.
func (t *Tracker) endSession(s *session, reason string) {
	if s.ended {
		return
	}
	for _, x := range append([]*transfer(nil), s.transfers...) {
		t.endTransferNow(x)
	}
	for _, d := range append([]*dataConn(nil), s.conns...) {
		if d.state == dataSynSent {
			t.failData(d, "timeout")
		}
		t.dropData(d)
	}
	for _, e := range append([]*expectation(nil), s.expects...) {
		t.finishExpect(e)
	}
	s.ended = true
	ev := Event{Type: TypeSessionEnd, Reason: reason}
	t.emitEvent(s, &ev)
	delete(t.sessions, s.key)
	if s.tls {
		delete(t.dark, addrPair{s.client.Addr(), s.server.Addr()})
	}
	s.pending = nil
}
