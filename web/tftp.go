package web

import (
	"fmt"

	"github.com/ftptap/ftptap/event"
)

// tftpOpcode names the request of a TFTP operation (RFC 1350).
func tftpOpcode(op string) string {
	if op == "write" {
		return "WRQ"
	}
	return "RRQ"
}

// addTFTPTransferLocked adds the row of a TFTP transfer that ended: a read
// is a download, a write an upload; Bytes are those acknowledged.
func (s *Server) addTFTPTransferLocked(ev *event.Event) {
	t := ev.TFTP
	if t == nil {
		t = &event.TFTP{ErrorCode: -1}
	}
	x := Transfer{
		Time: ev.Time, Session: sid(key(ev)), Proto: "tftp", Command: tftpOpcode(t.Op), File: ev.File,
		Direction: event.DirDownload.String(), Mode: t.Mode, Bytes: ev.Bytes, DataSeen: true,
		DurationMS: ev.DurationMS, Complete: ev.Complete, Blocks: t.Blocks, BlkSize: t.BlkSize,
		Retransmits: t.Retransmits, Reason: ev.Reason,
	}
	if t.Transfer.IsValid() {
		x.TransferPort = t.Transfer.String()
	}
	if t.Op == "write" {
		x.Direction = event.DirUpload.String()
	}
	if ev.DurationMS > 0 {
		x.Throughput = float64(ev.Bytes) / (float64(ev.DurationMS) / 1000)
	}
	switch {
	case ev.Complete:
		x.Result = "complete"
	case t.ErrorCode >= 0:
		x.Code = t.ErrorCode
		x.Result = fmt.Sprintf("incomplete (error %d %s", t.ErrorCode, t.Error)
		if ev.Text != "" {
			x.Result += ": " + ev.Text
		}
		x.Result += ")"
	default:
		x.Result = "incomplete (" + ev.Reason + ")"
	}
	s.xfers = appendBounded(s.xfers, x, s.opts.MaxTransfers)
	s.broadcastLocked("transfer", x)
}
