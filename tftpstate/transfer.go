package tftpstate

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ftptap/ftptap/event"
)

// transfer is one RRQ or WRQ and what followed it.
type transfer struct {
	id       uint64
	client   netip.AddrPort // the requester: its port is its transfer ID
	server   netip.AddrPort // where the request went (ip:69)
	tid      netip.AddrPort // the server's transfer endpoint (its new port); invalid until it answers
	op       Opcode         // OpRRQ or OpWRQ
	file     string
	mode     string
	options  []event.Option
	accepted []event.Option // the OACK's; nil without one

	blksize int64
	tsize   int64 // -1: not given

	start, last time.Time

	requests      int // the request and its repeats
	replies       int // packets from the server's transfer endpoint
	firstReply    Opcode
	otherTIDs     int // answers from other ports of the server (to repeated requests)
	clientPackets int // packets from the client to tid

	hiData      int64 // highest DATA block seen (absolute, past wraps); 0: none
	hiAck       int64 // highest block acknowledged; -1: none
	final       int64 // the short last block; 0 until seen
	bytes       int64
	gaps        int64 // blocks the capture missed
	retransmits int64
	repeat      bool // the last packet repeated an earlier one
	complete    bool

	errCode     int // -1: none
	errText     string
	errByClient bool

	unreachRequest bool  // an ICMP unreachable answered the request
	unreachServer  bool  // ... a packet to the server's transfer port
	unreachClient  bool  // ... a packet to the client
	unreachCode    uint8 // its ICMP code
	abandoned      bool  // the client's port started another request
	malformed      int   // datagrams on the transfer's ports that were not TFTP

	ended   bool
	endedAt time.Time
}

func newTransfer(id uint64, p *event.Packet, pk *Packet) *transfer {
	x := &transfer{id: id, client: p.Src, server: p.Dst, op: pk.Op, file: pk.File, mode: pk.Mode,
		options: pk.Options, blksize: 512, tsize: -1, start: p.Time, last: p.Time,
		requests: 1, hiAck: -1, errCode: -1}
	if pk.Op == OpWRQ {
		// RFC 2349: a writer gives the size it will send.
		x.tsize = option(pk.Options, "tsize", 0, 1<<62)
	}
	return x
}

// fromServer handles a datagram from the server's address to the client.
func (x *transfer) fromServer(t *Tracker, p *event.Packet) {
	if x.ended {
		x.last = p.Time // a straggler of a finished transfer
		return
	}
	if !x.tid.IsValid() {
		x.tid = p.Src
	} else if p.Src != x.tid {
		// Another port of the server: it answered a repeated request too.
		// The client keeps to the first (and tells the others it does not
		// know them: ERROR 5).
		x.otherTIDs++
		x.repeat = true
		x.last = p.Time
		return
	}
	pk, err := Parse(p.Payload)
	if err != nil {
		x.badPacket(t)
		return
	}
	x.replies++
	if x.replies == 1 {
		x.firstReply = pk.Op
	}
	x.last = p.Time
	switch {
	case pk.Op == OpOACK:
		if x.accepted != nil {
			x.retransmits++
			x.repeat = true
			return
		}
		x.repeat = false
		x.accept(pk.Options)
	case pk.Op == OpDATA && x.op == OpRRQ:
		x.data(t, &pk, p)
	case pk.Op == OpACK && x.op == OpWRQ:
		x.ack(pk.Block, t)
	case pk.Op == OpERROR:
		x.fail(&pk, false, t)
	default:
		x.badPacket(t)
	}
}

// badPacket counts a datagram of x that is not TFTP, or not what x's
// state expects, both in x and in the tracker's Stats.
func (x *transfer) badPacket(t *Tracker) {
	x.malformed++
	t.stats.Malformed++
}

// fromClient handles a datagram from the client to the server's address.
func (x *transfer) fromClient(t *Tracker, p *event.Packet) {
	if x.ended {
		x.last = p.Time
		return
	}
	if !x.tid.IsValid() || p.Dst != x.tid {
		// To a port that is not the transfer's: an ERROR 5 to a second
		// answer, say. Not this transfer's business.
		t.stats.Unmatched++
		return
	}
	pk, err := Parse(p.Payload)
	if err != nil {
		x.badPacket(t)
		return
	}
	x.clientPackets++
	x.last = p.Time
	switch {
	case pk.Op == OpACK && x.op == OpRRQ:
		x.ack(pk.Block, t)
	case pk.Op == OpDATA && x.op == OpWRQ:
		x.data(t, &pk, p)
	case pk.Op == OpERROR:
		x.fail(&pk, true, t)
	default:
		x.badPacket(t)
	}
}

// accept applies the options of an OACK (RFC 2347): those it names are in
// force, the others are not.
func (x *transfer) accept(opts []event.Option) {
	x.accepted = opts
	if x.accepted == nil {
		x.accepted = []event.Option{}
	}
	if v := option(opts, "blksize", 8, 65464); v > 0 { // RFC 2348
		x.blksize = v
	}
	if x.op == OpRRQ {
		x.tsize = option(opts, "tsize", 0, 1<<62) // RFC 2349: the server gives the file's size
	}
}

// abs maps a 16-bit block number to the absolute block nearest ref: block
// numbers wrap past 65535 (to 0, as tftp-hpa and atftp do) on large files.
func abs(w uint16, ref int64) int64 {
	a := ref&^0xffff | int64(w)
	switch {
	case a-ref > 0x8000 && a >= 0x10000:
		a -= 0x10000
	case ref-a > 0x8000:
		a += 0x10000
	}
	return a
}

// data counts a DATA block once; a repeat is a retransmission.
func (x *transfer) data(t *Tracker, pk *Packet, p *event.Packet) {
	a := abs(pk.Block, x.hiData+1)
	if a <= x.hiData || x.final > 0 && a > x.final {
		x.retransmits++
		x.repeat = true
		if a >= 1 && (x.final == 0 || a <= x.final) {
			// A block the capture may have missed the first time (out of
			// order), or a repeat: the carver keeps the first copy.
			t.onData(x, a, true, pk.Data)
		}
		return
	}
	t.onData(x, a, false, pk.Data)
	x.repeat = false
	if a > x.hiData+1 {
		// Blocks the capture missed: counted at full size.
		x.gaps += a - x.hiData - 1
		x.bytes += (a - x.hiData - 1) * x.blksize
	}
	n := int64(p.Length)
	if n < int64(len(p.Payload)) {
		n = int64(len(p.Payload))
	}
	n -= 4 // opcode and block number
	x.bytes += n
	x.hiData = a
	if n < x.blksize {
		x.final = a
	}
}

// ackedBytes is the bytes of the blocks the receiver acknowledged: what
// is known to have arrived. Every block before the last is full.
func (x *transfer) ackedBytes() int64 {
	switch {
	case x.hiAck <= 0:
		return 0
	case x.final > 0 && x.hiAck >= x.final || x.hiAck >= x.hiData:
		return x.bytes
	}
	return x.hiAck * x.blksize
}

// ack notes an acknowledgment; that of the short last block completes the
// transfer.
func (x *transfer) ack(w uint16, t *Tracker) {
	a := abs(w, x.hiData)
	if a < 0 {
		a = 0
	}
	if a <= x.hiAck {
		x.retransmits++
		x.repeat = true
		return
	}
	x.repeat = false
	x.hiAck = a
	if x.final > 0 && a >= x.final {
		x.complete = true
		t.end(x, "done")
	}
}

func (x *transfer) fail(pk *Packet, byClient bool, t *Tracker) {
	x.errCode, x.errText, x.errByClient = int(pk.Code), pk.Message, byClient
	t.end(x, "error")
}

func (x *transfer) opName() string {
	if x.op == OpWRQ {
		return "write"
	}
	return "read"
}

// event returns an event of the transfer of type typ at time at.
func (x *transfer) event(typ event.Type, at time.Time) event.Event {
	ev := event.Event{Time: at, Type: typ, Proto: event.ProtoTFTP, Session: x.id, Client: x.client, Server: x.server, File: x.file}
	tf := &event.TFTP{Op: x.opName(), Mode: x.mode, Options: x.options, ErrorCode: -1}
	ev.TFTP = tf
	if typ == event.TypeTFTPRequest {
		return ev
	}
	tf.Accepted = x.accepted
	tf.Blocks = x.hiData
	tf.BlkSize = int(x.blksize)
	tf.Transfer = x.tid
	tf.Retransmits = x.retransmits
	if x.errCode >= 0 {
		tf.ErrorCode = x.errCode
		tf.Error = event.ErrorName(x.errCode)
		ev.Text = x.errText
	}
	ev.Bytes = x.ackedBytes()
	tf.BytesSent = x.bytes
	ev.Complete = x.complete
	ev.DurationMS = x.last.Sub(x.start).Milliseconds()
	return ev
}

type diagnosis struct{ kind, detail string }

// diagnose says in plain words what went wrong with a transfer that ended.
func (x *transfer) diagnose(reason string) []diagnosis {
	var d []diagnosis
	what := fmt.Sprintf("the %s of %q", map[Opcode]string{OpRRQ: "download", OpWRQ: "upload"}[x.op], x.file)
	tries := func() string {
		if x.requests == 1 {
			return "sent once"
		}
		return fmt.Sprintf("sent %d times", x.requests)
	}
	switch {
	case x.errCode >= 0:
		who := "the server"
		if x.errByClient {
			who = "the client"
		}
		text := ""
		if x.errText != "" {
			text = fmt.Sprintf(" (%q)", x.errText)
		}
		hint := ""
		switch x.errCode {
		case 1:
			hint = ": the file is not there, or not under the server's root directory"
		case 2:
			hint = ": the server may not read or write that file (permissions, or a server that refuses uploads or new files)"
		case 5:
			hint = ": a packet came from a port the peer did not expect (a NAT that changed the port mid-transfer, or a repeated request answered twice)"
		case 8:
			hint = ": the options asked for were refused"
		}
		d = append(d, diagnosis{"tftp_error", fmt.Sprintf("%s ended with error %d (%s) from %s%s%s",
			what, x.errCode, event.ErrorName(x.errCode), who, text, hint)})
	case !x.tid.IsValid():
		if x.unreachRequest {
			v6 := x.server.Addr().Is6() && !x.server.Addr().Is4In6()
			meaning := "nothing listens on that port"
			switch {
			case strings.Contains(unreachName(x.unreachCode, v6), "prohibited"):
				meaning = "a firewall on the way refuses TFTP to that host"
			case unreachName(x.unreachCode, v6) != "port unreachable":
				meaning = "the server cannot be reached"
			}
			d = append(d, diagnosis{"tftp_no_reply", fmt.Sprintf("%s: the request to %v (%s) was answered by ICMP %s: %s",
				what, x.server, tries(), unreachName(x.unreachCode, v6), meaning)})
		} else {
			d = append(d, diagnosis{"tftp_no_reply", fmt.Sprintf("%s: the request to %v (%s) was never answered, and no ICMP unreachable came back: "+
				"no server there, or a firewall drops the request (a host with no server usually answers port unreachable, so a silent drop points at a firewall)",
				what, x.server, tries())})
		}
	case x.clientPackets == 0 && x.firstReply != OpERROR:
		rej := ""
		if x.unreachClient {
			rej = fmt.Sprintf("; the client's side answered it with ICMP %s", unreachName(x.unreachCode, x.client.Addr().Is6() && !x.client.Addr().Is4In6()))
		}
		d = append(d, diagnosis{"tftp_reply_blocked", fmt.Sprintf("%s: the server answered from its new port %v, but the client never acknowledged it and asked again (%s)%s: "+
			"a firewall or NAT in front of the client lets port %d through but not the reply from another port. "+
			"Fix: load the conntrack TFTP helper (nf_conntrack_tftp, with an nftables \"ct helper\" rule for udp port %d), allow UDP from the server's ephemeral ports to the client, or use a TFTP-aware NAT",
			what, x.tid, tries(), rej, x.server.Port(), x.server.Port())})
	case reason == "timeout" && !x.complete:
		side := fmt.Sprintf("block %d was sent and never acknowledged (it or its acknowledgment was lost on the way), and the sender gave up", x.hiData)
		if x.hiAck >= x.hiData {
			side = fmt.Sprintf("block %d was acknowledged, and the next one never came", x.hiAck)
		}
		if x.final > 0 {
			side = fmt.Sprintf("the last block (%d) was sent but its acknowledgment never came", x.final)
		}
		if x.unreachClient {
			side += "; the client's port answered ICMP unreachable (the client gave up)"
		} else if x.unreachServer {
			side += "; the server's transfer port answered ICMP unreachable (the server gave up)"
		} else if x.abandoned {
			side += "; the client started another request from the same port"
		}
		d = append(d, diagnosis{"tftp_stall", fmt.Sprintf("%s stalled after block %d (%d bytes sent, %d acknowledged), with %d retransmissions: %s",
			what, x.hiData, x.bytes, x.ackedBytes(), x.retransmits, side)})
	}
	if x.complete && x.tsize >= 0 && x.bytes != x.tsize && x.mode == "octet" {
		d = append(d, diagnosis{"tftp_size_mismatch", fmt.Sprintf("%s moved %d bytes, but tsize announced %d", what, x.bytes, x.tsize)})
	}
	if x.gaps > 0 {
		d = append(d, diagnosis{"tftp_capture_gap", fmt.Sprintf("%s: the capture missed %d blocks; they are counted at %d bytes each", what, x.gaps, x.blksize)})
	}
	return d
}

// unreachName names an ICMP (v6: ICMPv6) destination unreachable code.
func unreachName(code uint8, v6 bool) string {
	if v6 {
		switch code {
		case 1:
			return "administratively prohibited (a firewall rejects it)"
		case 4:
			return "port unreachable"
		case 3:
			return "address unreachable"
		}
		return fmt.Sprintf("unreachable (code %d)", code)
	}
	switch code {
	case 3:
		return "port unreachable"
	case 1:
		return "host unreachable"
	case 9, 10, 13:
		return "administratively prohibited (a firewall rejects it)"
	}
	return strings.TrimSpace(fmt.Sprintf("unreachable (code %d)", code))
}
