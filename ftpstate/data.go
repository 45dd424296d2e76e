package ftpstate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ftptap/ftptap/event"
)

// expectation is a data channel announced on a command channel: the
// endpoint a data connection will go to (the server's in passive mode, the
// client's in active mode).
type expectation struct {
	sess     *session
	mode     event.Mode
	via      string
	endpoint netip.AddrPort
	alt      netip.AddrPort // also matched: the control peer's address with the announced port (NAT)
	at       time.Time
	xfer     *transfer // the transfer that uses it
	opened   bool      // a data connection to it was set up
	failed   bool      // data.fail was reported
	unseen   bool      // a transfer's replies show it was used, though no connection crossed the tap
	done     bool

	// free is when it was last left without a transfer: its announcement,
	// or the refusal of the transfer command that had taken it (refused,
	// refusedCode). No transfer command for DataTimeout from then, and no
	// connection to it: it is reported unused and expired, but still
	// matched (see expireIdle).
	free        time.Time
	refused     string
	refusedCode int
	expired     bool

	// bounce: an active-mode address that is not the client's (and no NAT
	// case): the bounce alert waits for what the server does with it.
	bounce, bounceShown bool
}

type dataState uint8

const (
	dataSynSent dataState = iota + 1
	dataOpen
	dataClosed
)

// dataConn is a TCP connection tied to an announcement. Its byte counts
// come from sequence numbers, so retransmissions are not counted twice and
// bytes missing from the capture are.
//
// A tap may track tens of thousands at once, so the struct is kept small
// (see docs/performance.md): its map key is not stored (keyOf(from, to)
// gives it) and its times take 8 bytes each.
type dataConn struct {
	sess     *session
	exp      *expectation
	xfer     *transfer
	from, to netip.AddrPort // the connecting and the listening side
	synTime  instant
	openTime instant
	doneTime instant
	hiSeq    [2]uint32
	hi       [2]int64 // bytes, per direction: 0 from→to, 1 to→from
	mode     event.Mode
	state    dataState
	done     bool // FIN or RST seen: no more data
	dark     bool // found by address, on a session gone TLS
	rst      bool
	fin      [2]bool
	init     [2]bool
	// finSeq is the sequence number of a FIN that came ahead of bytes
	// before it (fin set, done not yet): see dataPacket.
	finSeq [2]uint32
}

// key is the connection's key in Tracker.data.
func (d *dataConn) key() connKey { return keyOf(d.from, d.to) }

// transfer is one RETR, STOR, STOU, APPE, LIST, NLST or MLSD.
type transfer struct {
	id        uint64
	sess      *session
	cmd, file string
	dir       event.Direction
	start     time.Time
	exp       *expectation
	conn      *dataConn
	code      int
	text      string
	replied   bool
	replyTime time.Time
	sizeHint  int64
	ended     bool
	prelim    int  // the code of the 1xx reply, if one came
	released  bool // refused before any data connection: exp went back to the session
}

func modeOfCommand(cmd string) event.Mode {
	switch cmd {
	case "PORT", "EPRT", "LPRT":
		return event.ModeActive
	}
	return event.ModePassive
}

// announceActive handles PORT, EPRT and LPRT: the client announces where
// the server is to connect. Like Zeek, the expectation starts with the
// command, so the server's SYN is matched even before the 200 is seen.
func (t *Tracker) announceActive(s *session, cmd, arg string) *expectation {
	var ep netip.AddrPort
	var err error
	switch cmd {
	case "PORT":
		ep, err = ParsePORT(arg)
	case "EPRT":
		ep, err = ParseEPRT(arg)
	default:
		ep, err = ParseLPRT(arg)
	}
	if err != nil || ep.Port() == 0 {
		t.alertOnce(s, "bad_port_argument", "%s %q names no valid address", cmd, clip(arg, 80))
		return nil
	}
	var alt netip.AddrPort
	bounce := false
	ca := s.client.Addr()
	if ep.Addr() != ca {
		// The server may connect to the client's own address at the
		// announced port all the same (a NAT that does not rewrite the
		// address, an address rewritten on the way, a server that will
		// not connect to a third host): that connection is the
		// transfer's too.
		alt = netip.AddrPortFrom(ca, ep.Port())
		if isPrivate(ep.Addr()) && !isPrivate(ca) || ep.Addr().IsUnspecified() {
			t.alertOnce(s, "nat_mismatch", "the client announced %s in %s but its command channel comes from %s: a NAT in front of the client does not rewrite %s (enable the NAT's FTP helper, or use passive mode)", ep.Addr(), cmd, ca, cmd)
		} else {
			bounce = true // reported once the server's answer is known: see showBounce
		}
	} else if ep.Port() < 1024 {
		t.alertOnce(s, "bounce", "%s asks the server to connect to a privileged port %d (RFC 2577)", cmd, ep.Port())
	}
	e := t.newExpect(s, event.ModeActive, cmd, ep, alt)
	e.bounce = bounce
	t.matchHeld(e)
	return e
}

// showBounce reports an announcement naming a third host as a bounce
// alert, with what became of it (outcome), once per announcement and at
// most once per session.
func (t *Tracker) showBounce(e *expectation, outcome string) {
	if !e.bounce || e.bounceShown {
		return
	}
	e.bounceShown = true
	t.alertOnce(e.sess, "bounce", "the client asked the server to connect to %s, not to itself (%s): an FTP bounce (RFC 2577) or a transfer between two servers (FXP); %s", e.endpoint, e.sess.client.Addr(), outcome)
}

// passiveReplyCode is the reply code that announces the data port of PASV,
// EPSV or LPSV.
func passiveReplyCode(cmd string) int {
	switch cmd {
	case "PASV":
		return 227
	case "EPSV":
		return 229
	}
	return 228
}

// announcePassive handles a positive reply to PASV, EPSV or LPSV.
func (t *Tracker) announcePassive(s *session, cmd string, code int, text string) {
	var ep netip.AddrPort
	var err error
	switch cmd {
	case "PASV":
		ep, err = ParsePASV(text)
	case "EPSV":
		var port uint16
		port, err = ParseEPSV(text)
		ep = netip.AddrPortFrom(s.server.Addr(), port)
	default:
		ep, err = ParseLPRT(text)
	}
	if err != nil || ep.Port() == 0 {
		t.alert(s, "bad_passive_reply", "the %d reply to %s names no address: %q", code, cmd, clip(text, 80))
		return
	}
	var alt netip.AddrPort
	sa := s.server.Addr()
	if ep.Addr() != sa {
		alt = netip.AddrPortFrom(sa, ep.Port())
		if ep.Addr().IsUnspecified() {
			t.alertOnce(s, "nat_mismatch", "the server announced %s in its %d reply: clients must guess the address (they use %s)", ep.Addr(), code, sa)
		} else {
			t.alertOnce(s, "nat_mismatch", "the server announced %s for passive mode but its command channel answers from %s: a NAT in front of the server announces the wrong address (set the server's external address, e.g. pasv_address, or enable the NAT's FTP helper)", ep.Addr(), sa)
		}
	}
	e := t.newExpect(s, event.ModePassive, cmd, ep, alt)
	t.matchHeld(e)
	// A transfer command sent right behind PASV, before its reply came
	// (pipelined), has no announcement yet: this one is its.
	for i := range s.pending {
		if x := s.pending[i].xfer; x != nil && x.exp == nil && !x.ended && !e.done {
			useExpect(x, e)
			break
		}
	}
}

// newExpect records an announcement. The previous one of the session, if
// nobody connected to it nor used it, is reported unused: a server listens
// on its latest announcement only.
func (t *Tracker) newExpect(s *session, mode event.Mode, via string, ep, alt netip.AddrPort) *expectation {
	if c := s.current; c != nil && c.xfer == nil && !c.opened && !t.hasConn(c) {
		t.finishExpect(c)
	}
	if len(s.expects) >= t.cfg.MaxExpected {
		t.capHit(s, "too_many_expected", "more than %d data channels announced and not finished: the oldest are dropped", t.cfg.MaxExpected)
		t.finishExpect(s.expects[0])
	}
	s.announced = true
	t.stopAdopt(s)
	e := &expectation{sess: s, mode: mode, via: via, endpoint: ep, alt: alt, at: t.now, free: t.now}
	s.expects = append(s.expects, e)
	s.current = e
	t.putExpect(ep, e)
	if alt.IsValid() {
		t.putExpect(alt, e)
	}
	ev := event.Event{Type: event.TypeDataExpect, Mode: mode, Via: via, Endpoint: ep}
	t.emitEvent(s, &ev)
	return e
}

// matchHeld ties the SYNs held for the endpoints of e (sent before the
// announcement reached the capture) to it.
func (t *Tracker) matchHeld(e *expectation) {
	t.replayHeld(e.endpoint)
	if e.alt.IsValid() && !e.done {
		t.replayHeld(e.alt)
	}
}

func (t *Tracker) hasConn(e *expectation) bool {
	for _, d := range e.sess.conns {
		if d.exp == e {
			return true
		}
	}
	return false
}

// rejectExpect handles a PORT (EPRT, LPRT) the server refused.
func (t *Tracker) rejectExpect(e *expectation, code int) {
	if e.done || e.opened || e.failed {
		return
	}
	t.showBounce(e, fmt.Sprintf("the server refused it (%d)", code))
	t.failUnused(e, fmt.Sprintf("the server answered %s with %d: it will not connect to %s", e.via, code, e.endpoint))
	t.finishExpect(e)
}

// failUnused marks announcement e failed and reports it unused (a
// data.fail), detail saying why.
func (t *Tracker) failUnused(e *expectation, detail string) {
	e.failed = true
	ev := event.Event{Type: event.TypeDataFail, Mode: e.mode, Via: e.via, Endpoint: e.endpoint, Reason: "unused", Detail: detail}
	t.emitEvent(e.sess, &ev)
}

// finishExpect retires an announcement, reporting it unused if nothing
// connected to it.
func (t *Tracker) finishExpect(e *expectation) {
	if e.done {
		return
	}
	e.done = true
	s := e.sess
	t.showBounce(e, "no connection to it was seen")
	if !e.opened && !e.failed && !e.unseen {
		t.failUnused(e, fmt.Sprintf("%s announced %s but no connection to it was seen", e.via, e.endpoint))
	}
	if t.expects[e.endpoint] == e {
		t.deleteExpect(e.endpoint)
	}
	if e.alt.IsValid() && t.expects[e.alt] == e {
		t.deleteExpect(e.alt)
	}
	if i := slices.Index(s.expects, e); i >= 0 {
		s.expects = slices.Delete(s.expects, i, i+1)
	}
	if s.current == e {
		s.current = nil
	}
}

// expireIdle reports the announcements of s that no transfer command has
// taken for DataTimeout since they were made (or since the refused command
// that had taken them released them), and that no connection went to, as
// unused. An expired announcement stays matched all the same: vsftpd,
// for one, keeps its passive port listening until a transfer command comes,
// however late, so a connection to it later is still the next transfer's.
func (t *Tracker) expireIdle(s *session) {
	for _, e := range s.expects {
		if e.done || e.failed || e.xfer != nil || e.opened || t.now.Sub(e.free) < t.cfg.DataTimeout || t.hasConn(e) {
			continue
		}
		e.expired = true
		detail := fmt.Sprintf("%s announced %s at %s, but no transfer command used it within %s", e.via, e.endpoint, t.clockOf(e.at), t.cfg.DataTimeout)
		if e.refused != "" {
			detail = fmt.Sprintf("%s announced %s at %s; %s was refused (%d) at %s and no transfer command used it in the %s after", e.via, e.endpoint, t.clockOf(e.at), e.refused, e.refusedCode, t.clockOf(e.free), t.cfg.DataTimeout)
		}
		t.failUnused(e, detail)
	}
}

// clockOf is tracker time tm as a detail shows it: the time of day, UTC,
// on the packets' clock as it is now (as the event's ts is, after a step).
func (t *Tracker) clockOf(tm time.Time) string {
	return tm.Add(-t.clk.Shift()).UTC().Format("15:04:05.000")
}

// openData starts tracking a data connection to an announced endpoint.
func (t *Tracker) openData(k connKey, e *expectation, from, to netip.AddrPort, p *event.Packet, midstream bool) {
	if t.nData >= t.cfg.MaxDataConns {
		t.capHit(nil, "too_many_data_conns", "more than %d data connections at once: %s to %s is not tracked", t.cfg.MaxDataConns, from, to)
		return
	}
	s := e.sess
	d := &dataConn{sess: s, exp: e, mode: e.mode, from: from, to: to, state: dataSynSent, synTime: instantOf(p.Time)}
	t.putData(k, d)
	s.conns = append(s.conns, d)
	t.stats.DataConns++
	want := s.client.Addr()
	if e.mode == event.ModeActive {
		want = s.server.Addr()
	}
	if e.bounce {
		if to == e.alt {
			t.showBounce(e, fmt.Sprintf("the server connected to the client instead, at %s (the address was rewritten on the way, or the server does not connect to hosts other than the client)", to))
		} else {
			t.showBounce(e, fmt.Sprintf("the server connected to %s", to))
		}
	}
	if from.Addr() != want && !midstream {
		t.alert(s, "foreign_data_conn", "%s connected to the %s data port %s announced for %s: a third host took the data channel", from, describeMode(e.mode), to, want)
	}
	if x := e.xfer; x != nil && (x.conn == nil || x.conn.state == dataClosed && x.conn.openTime.IsZero()) {
		// A connection that never opened (refused, say) gives way to
		// the retry, which carries the transfer's bytes.
		x.conn = d
		d.xfer = x
	}
	if midstream {
		t.setOpen(d)
	}
	t.dataPacket(d, p)
	if !midstream && t.dataAt(k) == d {
		t.replayHeldConn(k, d, p.Time)
	}
}

// openDarkData tracks a connection between the two hosts of a session gone
// TLS: the announcement was encrypted, but the connection is still its.
func (t *Tracker) openDarkData(k connKey, s *session, p *event.Packet) {
	t.openUnannounced(k, s, p, nil)
}

// openUnannounced tracks a data connection of s that no announcement in
// the clear led to, from its first segment p: that of transfer x, which
// waits for it (see openAdopted), or with x nil, one of a session gone TLS,
// which stays dark.
func (t *Tracker) openUnannounced(k connKey, s *session, p *event.Packet, x *transfer) {
	if t.nData >= t.cfg.MaxDataConns {
		t.capHit(nil, "too_many_data_conns", "more than %d data connections at once", t.cfg.MaxDataConns)
		return
	}
	mode := event.ModePassive
	if p.Src.Addr() == s.server.Addr() {
		mode = event.ModeActive
	}
	d := &dataConn{sess: s, mode: mode, from: p.Src, to: p.Dst, state: dataSynSent, synTime: instantOf(p.Time), xfer: x, dark: x == nil}
	if x != nil {
		x.conn = d
	}
	t.putData(k, d)
	s.conns = append(s.conns, d)
	t.stats.DataConns++
	t.dataPacket(d, p)
	if t.dataAt(k) == d {
		t.replayHeldConn(k, d, p.Time)
	}
}

func (t *Tracker) setOpen(d *dataConn) {
	if d.state != dataSynSent {
		return
	}
	d.state = dataOpen
	d.openTime = instantOf(t.now)
	ev := event.Event{Type: event.TypeDataOpen, Mode: d.mode, Endpoint: d.to, From: d.from, To: d.to}
	if e := d.exp; e != nil {
		e.opened = true
		ev.Endpoint = e.endpoint
		ev.Via = e.via
	}
	t.emitEvent(d.sess, &ev)
}

// dataPacket tracks a segment of a data connection. Nothing here allocates.
func (t *Tracker) dataPacket(d *dataConn, p *event.Packet) {
	dir := 0
	if p.Src != d.from {
		dir = 1
	}
	t.touch(d.sess, false)
	f := p.Flags
	if f.Has(event.FlagSYN) {
		if !d.init[dir] || d.state == dataSynSent {
			d.init[dir] = true
			d.hiSeq[dir] = p.Seq + 1
			d.hi[dir] = 0
		}
		if dir == 1 && f.Has(event.FlagACK) {
			t.setOpen(d)
		}
	}
	if f.Has(event.FlagRST) {
		if d.state == dataSynSent {
			if dir == 1 {
				t.failData(d, "refused")
			} else {
				t.failData(d, "aborted")
			}
			return
		}
		if d.done {
			// A RST after a FIN (a client that resets once it has its
			// bytes): the connection is over, forget it now; kept, it
			// would count against MaxDataConns for the session's life.
			t.dropData(d)
			return
		}
		d.rst = true
		t.dataDone(d)
		return
	}
	// A FIN that starts beyond the bytes seen so far came ahead of some
	// of them (segments reordered on the way or between the tap's two
	// ports): the bytes still count from the sequence numbers, but the
	// connection is done only once a segment reaches the FIN, or when
	// the transfer's linger after its reply runs out, so that the
	// segments behind it still reach OnData (carving) before the
	// transfer ends.
	//
	// A SYN's sequence number is its own, not a byte's: its payload, if
	// any, starts after it (RFC 9293 section 3.4), also on a SYN that
	// comes again once bytes have flowed.
	start := p.Seq
	if f.Has(event.FlagSYN) {
		start++
		if d.init[dir] && d.hiSeq[dir] == p.Seq {
			d.hiSeq[dir] = start
		}
	}
	finAhead := !t.cfg.DataFiltered && f.Has(event.FlagFIN) && d.init[dir] && int32(start-d.hiSeq[dir]) > 0
	end := start + uint32(len(p.Payload))
	if len(p.Payload) > 0 || f.Has(event.FlagFIN) {
		if d.state == dataSynSent && len(p.Payload) > 0 {
			t.setOpen(d) // the SYN-ACK was not seen (a one-way capture)
		}
		if !d.init[dir] {
			d.init[dir] = true
			d.hiSeq[dir] = start
		}
		if d.fin[dir] && !d.done && end == d.finSeq[dir] && len(p.Payload) > 0 {
			defer t.finDone(d)
		}
		if delta := int32(end - d.hiSeq[dir]); delta > 0 {
			d.hi[dir] += int64(delta)
			d.hiSeq[dir] = end
		}
		if len(p.Payload) > 0 && t.cfg.OnData != nil && d.xfer != nil {
			x := d.xfer
			off := d.hi[dir] - int64(int32(d.hiSeq[dir]-end)) - int64(len(p.Payload))
			t.seg = DataSegment{Session: d.sess.id, Transfer: x.id, Command: x.cmd, File: x.file, Offset: off, Sender: dir == senderDir(d, x), Payload: p.Payload}
			t.cfg.OnData(&t.seg)
			t.seg.Payload = nil
		}
	}
	if f.Has(event.FlagFIN) {
		d.fin[dir] = true
		if finAhead && !d.fin[dir^1] {
			d.finSeq[dir] = end
			return
		}
		t.finDone(d)
	}
}

// finDone ends a data connection's bytes once its FIN counts, and forgets
// the connection once both sides have sent one.
func (t *Tracker) finDone(d *dataConn) {
	t.dataDone(d)
	if d.fin[0] && d.fin[1] {
		t.dropData(d)
	}
}

// dataDone marks the end of a data connection's bytes and lets its transfer
// end.
func (t *Tracker) dataDone(d *dataConn) {
	if d.done {
		return
	}
	d.done = true
	d.doneTime = instantOf(t.now)
	if d.state == dataSynSent {
		d.state = dataClosed
		return
	}
	d.state = dataClosed
	reason := "close"
	if d.rst {
		reason = "reset"
	}
	ev := event.Event{Type: event.TypeDataClose, Mode: d.mode, Endpoint: d.to, From: d.from, To: d.to, Bytes: d.hi[0] + d.hi[1], Reason: reason}
	if d.exp != nil {
		ev.Endpoint = d.exp.endpoint
	}
	t.emitEvent(d.sess, &ev)
	if d.xfer != nil {
		t.maybeEndTransfer(d.xfer)
	}
	if d.rst {
		t.dropData(d)
	}
}

// failData reports a data connection that never opened: refused (a RST
// answered its SYN) or timeout (nothing did). One report per announcement.
func (t *Tracker) failData(d *dataConn, reason string) {
	if d.state != dataSynSent {
		return
	}
	d.state = dataClosed
	d.done = true
	d.doneTime = instantOf(t.now)
	e := d.exp
	if reason == "aborted" {
		// The connecting side gave up before any answer: as good as
		// unanswered.
		reason = "timeout"
	}
	if e == nil || !e.failed {
		if e != nil {
			e.failed = true
		}
		ev := event.Event{Type: event.TypeDataFail, Mode: d.mode, Endpoint: d.to, From: d.from, Reason: reason, Detail: t.diagnose(d, reason)}
		if e != nil {
			ev.Endpoint = e.endpoint
			ev.Via = e.via
		}
		t.emitEvent(d.sess, &ev)
	}
	t.dropData(d)
	if d.xfer != nil {
		t.maybeEndTransfer(d.xfer)
	}
}

// diagnose explains a failed data connection in plain words.
func (t *Tracker) diagnose(d *dataConn, reason string) string {
	s := d.sess
	nat := d.exp != nil && d.exp.alt.IsValid() && d.to == d.exp.endpoint && !d.exp.bounce
	switch {
	case d.mode == event.ModeActive && d.exp != nil && d.exp.bounce && d.to == d.exp.endpoint && reason == "refused":
		return fmt.Sprintf("the server's connection to %s, the third host the client named, was refused with a RST: nothing listens there", d.to)
	case d.mode == event.ModeActive && d.exp != nil && d.exp.bounce && d.to == d.exp.endpoint:
		return fmt.Sprintf("the server's SYN to %s, the third host the client named, got no answer: the host is down or a firewall drops the connection", d.to)
	case d.mode == event.ModePassive && nat:
		return fmt.Sprintf("the client tried the address the server announced, %s, which is not the server's own (%s): a NAT in front of the server announces its inside address; set the server's external address or enable the NAT's FTP helper", d.to, s.server.Addr())
	case d.mode == event.ModePassive && reason == "refused":
		return fmt.Sprintf("passive mode refused: the client's connection to %s was answered by a RST; nothing listens on the announced port (the server closed it) or a firewall in front of the server rejects the passive port range", d.to)
	case d.mode == event.ModePassive:
		return fmt.Sprintf("passive mode dropped: the client's SYN to %s got no answer; a firewall in front of the server silently drops the passive port range (open it, e.g. vsftpd's pasv_min_port..pasv_max_port)", d.to)
	case d.mode == event.ModeActive && nat:
		return fmt.Sprintf("the server connected back to %s, an address the client announced that is not its own (%s): a NAT in front of the client; use passive mode", d.to, s.client.Addr())
	case d.mode == event.ModeActive && reason == "refused":
		return fmt.Sprintf("active mode blocked on the client side: the server's connection back to %s was refused with a RST; the client's firewall rejects incoming connections (use passive mode)", d.to)
	default:
		return fmt.Sprintf("active mode blocked on the client side: the server's SYN to %s got no answer; a firewall or NAT in front of the client drops incoming connections (use passive mode)", d.to)
	}
}

// dropData forgets a data connection.
func (t *Tracker) dropData(d *dataConn) {
	if k := d.key(); t.dataAt(k) == d {
		t.deleteData(k)
	}
	s := d.sess
	if i := slices.Index(s.conns, d); i >= 0 {
		s.conns = slices.Delete(s.conns, i, i+1)
	}
}

// startTransfer handles a transfer command: it takes the session's newest
// announcement and the connection made to it, if any.
func (t *Tracker) startTransfer(s *session, cmd, arg string) *transfer {
	t.nextXfer++
	// The transfer keeps its own copy of the file name (see strArena).
	x := &transfer{id: t.nextXfer, sess: s, cmd: cmd, file: strings.Clone(arg), start: t.now, sizeHint: -1}
	switch cmd {
	case "RETR":
		x.dir = event.DirDownload
	case "STOR", "STOU", "APPE":
		x.dir = event.DirUpload
	default:
		x.dir = event.DirListing
	}
	if e := s.current; e != nil && e.xfer == nil {
		useExpect(x, e)
	} else if s.midstream && !s.announced && !s.tls {
		t.adoptFor(s, x)
	} else if s.tls {
		// Dark: the newest connection between the hosts is the best guess.
		for i := len(s.conns) - 1; i >= 0; i-- {
			if d := s.conns[i]; d.xfer == nil {
				d.xfer = x
				x.conn = d
				break
			}
		}
	}
	s.transfers = append(s.transfers, x)
	return x
}

// adoptFor lets transfer x of a session caught mid-way, whose
// announcement came before the capture began, take the data connection
// between the session's two hosts: one whose SYN was held just before the
// command (a passive client connects before it sends RETR), or the next
// one (an active server connects after it).
func (t *Tracker) adoptFor(s *session, x *transfer) {
	if s.adopt == nil {
		t.nAdopt++
	}
	s.adopt = x
	n := len(t.held)
	for i := n - 1; i >= 0; i-- { // newest first
		h := &t.held[(t.heldNext+i)%n]
		if h.used || h.time.IsZero() || t.now.Sub(h.time) > t.cfg.SYNHold || !h.flags.Has(event.FlagSYN) || h.flags.Has(event.FlagACK) || !t.betweenHosts(s, h.src, h.dst) {
			continue
		}
		k := keyOf(h.src, h.dst)
		if t.dataAt(k) != nil {
			continue
		}
		h.used = true
		p := event.Packet{Time: h.time, Side: h.side, Src: h.src, Dst: h.dst, Seq: h.seq, Flags: h.flags}
		t.openAdopted(k, s, &p)
		d := t.dataAt(k)
		for j := 0; j < n && d != nil; j++ { // what else was held of it (its SYN-ACK), oldest first
			h := &t.held[(t.heldNext+j)%n]
			if h.used || h.time.IsZero() || keyOf(h.src, h.dst) != k {
				continue
			}
			h.used = true
			q := event.Packet{Time: h.time, Side: h.side, Src: h.src, Dst: h.dst, Seq: h.seq, Flags: h.flags}
			t.dataPacket(d, &q)
			d = t.dataAt(k)
		}
		return
	}
}

// betweenHosts reports whether a connection from src to dst goes between
// the two hosts of session s, as a data connection would (the client to
// the server, or the server to the client), on no control port.
func (t *Tracker) betweenHosts(s *session, src, dst netip.AddrPort) bool {
	c, v := s.client.Addr(), s.server.Addr()
	if !(src.Addr() == c && dst.Addr() == v || src.Addr() == v && dst.Addr() == c) {
		return false
	}
	return !t.isControlPort(src.Port()) && !t.isControlPort(dst.Port())
}

// adopter finds the session whose transfer waits for a data connection
// from src to dst with no announcement (see adoptFor).
func (t *Tracker) adopter(src, dst netip.AddrPort) *session {
	if t.nAdopt == 0 {
		return nil
	}
	for _, s := range t.order {
		if s.adopt != nil && !s.ended && t.betweenHosts(s, src, dst) {
			return s
		}
	}
	return nil
}

// stopAdopt ends the wait of s for an unannounced data connection.
func (t *Tracker) stopAdopt(s *session) {
	if s.adopt != nil {
		s.adopt = nil
		t.nAdopt--
	}
}

// openAdopted tracks the data connection of the transfer s waits for.
func (t *Tracker) openAdopted(k connKey, s *session, p *event.Packet) {
	x := s.adopt
	t.stopAdopt(s)
	if x == nil || x.ended || x.conn != nil {
		return
	}
	t.openUnannounced(k, s, p, x)
}

// useExpect ties transfer x to announcement e and to the connection made
// to it, if any.
func useExpect(x *transfer, e *expectation) {
	s := x.sess
	e.xfer = x
	x.exp = e
	if s.current == e {
		s.current = nil
	}
	for i := len(s.conns) - 1; i >= 0; i-- {
		if d := s.conns[i]; d.exp == e && d.xfer == nil && d.state != dataClosed {
			d.xfer = x
			x.conn = d
			break
		}
	}
}

// transferReply takes a reply to a transfer command.
func (t *Tracker) transferReply(x *transfer, code int, text string, final bool) {
	if x.ended {
		return
	}
	if x.cmd == "STOU" {
		if name, ok := parseUniqueName(text); ok {
			x.file = strings.Clone(name)
		}
	}
	if !final {
		x.prelim = code
		if n := parseSizeHint(text); n >= 0 {
			x.sizeHint = n
		}
		return
	}
	x.code, x.text = code, strings.Clone(text)
	x.replied = true
	x.replyTime = t.now
	if refusedCommand(x, code) {
		t.releaseExpect(x)
	}
	if d := x.conn; d != nil && d.state == dataSynSent && code >= 400 {
		t.failData(d, "timeout")
	}
	t.maybeEndTransfer(x)
}

// refusedCommand reports whether the final reply code to transfer x
// refuses the command itself (550 no such file, 553, 450, 530...) before
// any data connection: no 1xx came, no connection was attempted for it, and
// the code is not one that speaks of the data connection (425 cannot open
// it, 426 it broke). The server still listens on its passive port (or
// still holds the PORT address) for the next transfer command.
func refusedCommand(x *transfer, code int) bool {
	if code < 400 || code == 425 || code == 426 || x.prelim != 0 || x.exp == nil {
		return false
	}
	d := x.conn
	// A passive connection the client made before sending the command
	// is not an attempt for it: the server has not touched it yet.
	return d == nil || d.state == dataOpen && !d.done && d.hi[0]+d.hi[1] == 0 && d.synTime < instantOf(x.start)
}

// releaseExpect gives the announcement of a refused transfer command back
// to its session, with the connection made to it, if any: the next transfer
// command uses them. Replaced by a newer announcement meanwhile, it is
// retired now.
func (t *Tracker) releaseExpect(x *transfer) {
	e, s := x.exp, x.sess
	x.released = true
	e.xfer = nil
	e.free, e.refused, e.refusedCode = t.now, x.cmd, x.code
	if d := x.conn; d != nil {
		d.xfer = nil
		x.conn = nil
	}
	switch s.current {
	case nil:
		s.current = e
	case e:
	default:
		t.finishExpect(e)
	}
}

// maybeEndTransfer reports a transfer once both halves of its end are in:
// the final reply and the end of its data connection, or once the Linger
// for the missing half has passed.
func (t *Tracker) maybeEndTransfer(x *transfer) {
	if x.ended {
		return
	}
	d := x.conn
	switch {
	case x.replied && (d == nil || d.done):
	case x.replied && t.now.Sub(x.replyTime) >= t.cfg.Linger:
	case !x.replied && d != nil && d.done && t.now.Sub(d.doneTime.Time()) >= t.cfg.DataTimeout:
	default:
		return
	}
	t.endTransferNow(x)
}

// endTransferNow reports a transfer with what is known of it.
func (t *Tracker) endTransferNow(x *transfer) {
	if x.ended {
		return
	}
	x.ended = true
	s := x.sess
	ev := event.Event{Type: event.TypeTransferEnd, Command: x.cmd, File: x.file, Direction: x.dir, Code: x.code, Text: x.text, Transfer: x.id}
	end := t.now
	if x.replied {
		end = x.replyTime
	}
	if e := x.exp; e != nil && (!e.expired || x.conn != nil) {
		// An expired announcement (reported unused) that no connection
		// came to is not known to be the transfer's: its mode is unknown.
		ev.Mode = e.mode
		ev.Endpoint = e.endpoint
	}
	d := x.conn
	if d != nil {
		ev.Mode = d.mode
		if !ev.Endpoint.IsValid() {
			ev.Endpoint = d.to
		}
		ev.Bytes = d.hi[senderDir(d, x)]
		if x.sizeHint > ev.Bytes && (x.sizeHint-ev.Bytes)%(1<<32) == 0 {
			// Sequence numbers wrapped around 4 GiB between two segments
			// in the capture: the announced size settles it.
			ev.Bytes = x.sizeHint
		}
		if d.done && d.doneTime.Time().After(end) {
			end = d.doneTime.Time()
		}
	}
	if d == nil && !s.tls && (x.prelim != 0 && x.code != 425 || x.exp != nil && (x.code == 226 || x.code == 250)) {
		// A 1xx (not followed by 425), or a 226 or 250 for an announced
		// data channel (the 150 lost from the capture), shows the
		// server made the data connection, but it did not cross the
		// tap: its bytes are unknown, not 0, and the announcement was
		// not unused.
		ev.DataNotSeen = true
		if x.exp != nil {
			x.exp.unseen = true
		}
		code := x.prelim
		if code == 0 {
			code = x.code
		}
		t.alertOnce(s, "data_not_seen", "the server answered %s with %d, so a data connection was made, but it did not cross the tap; this usually means the tap sees only the command channel (a SPAN or mirror of port 21 alone, asymmetric routing, or a data path that bypasses the tap); such transfers report data_seen false and no byte count", x.cmd, code)
	}
	ev.Complete = x.replied && x.code >= 200 && x.code < 300 && (d == nil || !d.rst || d.fin[0] || d.fin[1])
	ev.DurationMS = end.Sub(x.start).Milliseconds()
	ev.Time = t.now
	t.emitEvent(s, &ev)
	if s.adopt == x {
		t.stopAdopt(s)
	}
	if i := slices.Index(s.transfers, x); i >= 0 {
		s.transfers = slices.Delete(s.transfers, i, i+1)
	}
	if x.exp != nil && !x.released {
		t.finishExpect(x.exp)
	}
	if d != nil {
		d.xfer = nil
	}
}

// senderDir is the direction of d (0 from→to, 1 to→from) that carries
// transfer x's bytes: the server sends downloads and listings, the client
// uploads, and the connecting side is the server in active mode.
func senderDir(d *dataConn, x *transfer) int {
	senderIsFrom := d.mode == event.ModeActive
	if x.dir == event.DirUpload {
		senderIsFrom = !senderIsFrom
	}
	if senderIsFrom {
		return 0
	}
	return 1
}
