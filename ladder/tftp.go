package ladder

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ftptap/ftptap/event"
)

// addTFTP adds an event of a TFTP transfer. The tracker reports a transfer
// with two events, its request and its end, so the diagram draws what they
// say: the request to port 69; the server's first answer from its new port
// (tftp.end's transfer endpoint), the port switch, which a firewall that
// lets port 69 through may still block; the blocks and ACKs as one summary,
// not an arrow each; and the end: done, the ERROR, or the timeout.
func (d *Diagram) addTFTP(ev *event.Event) {
	t := ev.TFTP
	if t == nil {
		t = &event.TFTP{ErrorCode: -1}
	}
	switch ev.Type {
	case event.TypeTFTPRequest:
		label := fmt.Sprintf("%s %s (%s", tftpOpcode(t.Op), ev.File, t.Mode)
		for _, o := range t.Options {
			label += ", " + o.Name + "=" + o.Value
		}
		label += ")"
		d.add(Step{Time: ev.Time, Kind: KindRequest, From: EndClient, To: EndServer, Label: label, Port: strconv.Itoa(int(ev.Server.Port()))})
	case event.TypeTFTPEnd:
		d.tftpEnd(ev, t)
		d.Ended, d.EndReason = true, ev.Reason
	case event.TypeAlert:
		d.add(Step{Time: ev.Time, Kind: KindNote, Label: "alert " + ev.Kind, Detail: ev.Detail})
	}
}

func tftpOpcode(op string) string {
	if op == "write" {
		return "WRQ"
	}
	return "RRQ"
}

func (d *Diagram) tftpEnd(ev *event.Event, t *event.TFTP) {
	failed := t.ErrorCode >= 0
	if !t.Transfer.IsValid() {
		// Nothing came back from any port of the server.
		d.add(Step{Time: ev.Time, Kind: KindFail, From: EndClient, To: EndServer, Reason: "timeout", Port: strconv.Itoa(int(ev.Server.Port())),
			Label: fmt.Sprintf("no answer to the %s from %s (sent %s)", tftpOpcode(t.Op), ev.Server, times(t.Retransmits+1))})
		d.add(Step{Time: ev.Time, Kind: KindNote, Label: tftpOutcome(ev, t)})
		return
	}
	// The first answer: an OACK, DATA 1 of a read, ACK 0 of a write, or
	// the ERROR that refused the request outright.
	first := "DATA 1"
	switch {
	case failed && t.Blocks == 0:
		first = tftpError(ev, t)
	case t.Accepted != nil:
		first = "OACK " + options(t.Accepted)
	case t.Op == "write":
		first = "ACK 0"
	}
	port := strconv.Itoa(int(t.Transfer.Port()))
	sw := Step{Time: d.Start, Untimed: true, Kind: KindSwitch, From: EndServer, To: EndClient, Port: port,
		Label: fmt.Sprintf("port switch: %s from the server's new port %s (transfer ID)", first, port)}
	// Never acknowledged: the client's repeats and no bytes known to have
	// arrived (a read whose DATA 1 no ACK answered; a write whose ACK 0
	// no DATA followed).
	if !ev.Complete && !failed && ev.Reason == "timeout" && ev.Bytes == 0 && (t.Op == "read" || t.Blocks == 0) {
		sw.Reason = "unacknowledged"
		sw.Detail = fmt.Sprintf("%s reached the tap, but the client never acknowledged it", t.Transfer)
	}
	d.add(sw)
	if t.Blocks > 0 {
		blocks := "blocks"
		if t.Blocks == 1 {
			blocks = "block"
		}
		label := fmt.Sprintf("%s DATA %s ⇄ ACKs, client ⇄ port %s (summed up, not drawn one by one)", groupDigits(t.Blocks), blocks, port)
		detail := fmt.Sprintf("blocks of up to %s bytes: %s bytes sent, %s acknowledged, %s retransmitted",
			groupDigits(int64(t.BlkSize)), groupDigits(t.BytesSent), groupDigits(ev.Bytes), groupDigits(t.Retransmits))
		d.add(Step{Time: ev.Time, Untimed: true, Kind: KindNote, Label: label, Detail: detail})
		if failed {
			// Who sent the ERROR is in the alert that follows.
			d.add(Step{Time: ev.Time, Kind: KindNote, Label: tftpError(ev, t) + " ends the transfer"})
		}
	}
	d.add(Step{Time: ev.Time, Kind: KindNote, Label: tftpOutcome(ev, t)})
}

func tftpError(ev *event.Event, t *event.TFTP) string {
	s := fmt.Sprintf("ERROR %d (%s)", t.ErrorCode, t.Error)
	if ev.Text != "" {
		s += " " + strconv.Quote(ev.Text)
	}
	return s
}

func tftpOutcome(ev *event.Event, t *event.TFTP) string {
	var b strings.Builder
	if ev.Complete {
		b.WriteString("transfer complete: ")
	} else {
		fmt.Fprintf(&b, "transfer incomplete (%s): ", ev.Reason)
	}
	dir := "download"
	if t.Op == "write" {
		dir = "upload"
	}
	fmt.Fprintf(&b, "%s %s, %s, %s bytes in %d ms", tftpOpcode(t.Op), ev.File, dir, groupDigits(ev.Bytes), ev.DurationMS)
	return b.String()
}

func options(opts []event.Option) string {
	var parts []string
	for _, o := range opts {
		parts = append(parts, o.Name+"="+o.Value)
	}
	return strings.Join(parts, " ")
}

func times(n int64) string {
	if n == 1 {
		return "once"
	}
	return strconv.FormatInt(n, 10) + " times"
}
