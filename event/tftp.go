package event

import (
	"net/netip"
	"strconv"
)

// TFTP is what a tftp.request or tftp.end event says about one TFTP
// transfer (RFC 1350, with the options of RFC 2347, 2348, 2349 and 7440).
type TFTP struct {
	Op   string // "read" (RRQ) or "write" (WRQ)
	Mode string // "octet", "netascii" or "mail", lower case as sent otherwise
	// Options are those the request asked for, in its order; Accepted
	// those the server's OACK granted (nil: no OACK, so no option applies).
	Options  []Option
	Accepted []Option

	// tftp.end
	Blocks      int64 // DATA blocks sent, the empty last block included
	BytesSent   int64 // bytes of the DATA blocks sent (Event.Bytes: those acknowledged)
	BlkSize     int   // the block size in force: 512, or the accepted blksize
	ErrorCode   int   // the ERROR packet's code (0-8); -1 when none came
	Error       string
	Transfer    netip.AddrPort // the server's transfer endpoint (its new port); invalid if it never answered
	Retransmits int64          // repeated requests, DATA blocks and ACKs
}

// Option is one TFTP option: its name (lower case) and value as sent.
type Option struct {
	Name, Value string
}

// ErrorName returns the RFC name of a TFTP error code: RFC 1350 for 0-7,
// RFC 2347 for 8. Other codes are "unknown error N".
func ErrorName(code int) string {
	switch code {
	case 0:
		return "not defined"
	case 1:
		return "file not found"
	case 2:
		return "access violation"
	case 3:
		return "disk full or allocation exceeded"
	case 4:
		return "illegal TFTP operation"
	case 5:
		return "unknown transfer ID"
	case 6:
		return "file already exists"
	case 7:
		return "no such user"
	case 8:
		return "option negotiation refused"
	}
	return "unknown error " + strconv.Itoa(code)
}

// sessionPrefix starts the text of a session id: "s" for FTP sessions,
// "t" for TFTP transfers, so that the ids of the two trackers never meet.
func sessionPrefix(p Proto) byte {
	if p == ProtoTFTP {
		return 't'
	}
	return 's'
}

func (e *Event) appendTFTP(b []byte) []byte {
	t := e.TFTP
	if t == nil {
		t = &TFTP{ErrorCode: -1}
	}
	b = appendField(b, "op", t.Op)
	b = appendField(b, "file", e.File)
	b = appendField(b, "mode", t.Mode)
	b = appendOptions(b, "options", t.Options)
	if e.Type == TypeTFTPRequest {
		return b
	}
	if t.Accepted != nil {
		b = appendOptions(b, "accepted", t.Accepted)
	}
	b = appendInt(b, "bytes", e.Bytes)
	b = appendInt(b, "bytes_sent", t.BytesSent)
	b = appendInt(b, "blocks", t.Blocks)
	b = appendInt(b, "blksize", int64(t.BlkSize))
	b = appendBool(b, "complete", e.Complete)
	if t.ErrorCode >= 0 {
		b = appendInt(b, "error_code", int64(t.ErrorCode))
		b = appendField(b, "error", t.Error)
		b = appendField(b, "text", e.Text)
	}
	b = appendField(b, "reason", e.Reason)
	if t.Transfer.IsValid() {
		b = appendAddr(b, "transfer", t.Transfer)
	}
	b = appendInt(b, "duration_ms", e.DurationMS)
	b = appendInt(b, "retransmits", t.Retransmits)
	if e.Type == TypeTFTPEnd && e.SHA256 != "" {
		b = appendField(b, "sha256", e.SHA256)
		b = appendField(b, "carved", e.Carved)
		b = appendInt(b, "gaps", e.Gaps)
	}
	return b
}

func appendOptions(b []byte, k string, opts []Option) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, `":{`...)
	for i, o := range opts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, o.Name)
		b = append(b, ':')
		b = appendString(b, o.Value)
	}
	return append(b, '}')
}
