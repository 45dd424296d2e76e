package tftpstate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/ftptap/ftptap/event"
)

// Opcode is a TFTP packet's opcode (RFC 1350 section 5, RFC 2347 for OACK).
type Opcode uint16

// Opcodes. The zero value is no TFTP packet.
const (
	OpUnknown Opcode = iota
	OpRRQ            // read request
	OpWRQ            // write request
	OpDATA           // a block of data
	OpACK            // acknowledgment of a block
	OpERROR          // an error, which ends the transfer
	OpOACK           // option acknowledgment (RFC 2347)
)

func (o Opcode) String() string {
	switch o {
	case OpRRQ:
		return "RRQ"
	case OpWRQ:
		return "WRQ"
	case OpDATA:
		return "DATA"
	case OpACK:
		return "ACK"
	case OpERROR:
		return "ERROR"
	case OpOACK:
		return "OACK"
	}
	return fmt.Sprintf("Opcode(%d)", uint16(o))
}

// Bounds on what a peer controls in one packet. A request longer than these
// is malformed: RFC 1350 puts the whole request in one datagram, and real
// clients send file names of a few dozen bytes and a handful of options.
const (
	MaxFileName  = 1024 // bytes of a file name
	MaxOptions   = 16   // options in a request or OACK
	MaxOptionLen = 255  // bytes of an option's name or value
	MaxErrorText = 512  // bytes of an ERROR's message kept
)

// Packet is one parsed TFTP packet. Which fields are set depends on Op.
type Packet struct {
	Op      Opcode
	File    string         // RRQ, WRQ
	Mode    string         // RRQ, WRQ: lower case
	Options []event.Option // RRQ, WRQ, OACK: names lower case, in order, no repeats
	Block   uint16         // DATA, ACK
	Data    []byte         // DATA: aliases the input
	Code    uint16         // ERROR
	Message string         // ERROR: the sender's text (cut at MaxErrorText)
}

// errNotTFTP is a packet whose opcode is none of TFTP's.
var errNotTFTP = errors.New("tftpstate: not a TFTP opcode")

// Parse parses one TFTP packet: the payload of a UDP datagram. It never
// keeps b, except that Data aliases it. A packet that breaks RFC 1350's
// layout gives an error that says how.
func Parse(b []byte) (Packet, error) {
	if len(b) < 2 {
		return Packet{}, fmt.Errorf("tftpstate: %d-byte packet: no opcode", len(b))
	}
	p := Packet{Op: Opcode(binary.BigEndian.Uint16(b))}
	rest := b[2:]
	switch p.Op {
	case OpRRQ, OpWRQ:
		f := fields(rest)
		if len(f) < 2 {
			return p, fmt.Errorf("tftpstate: %v without a file name and a mode", p.Op)
		}
		if len(f[0]) == 0 {
			return p, fmt.Errorf("tftpstate: %v with an empty file name", p.Op)
		}
		if len(f[0]) > MaxFileName {
			return p, fmt.Errorf("tftpstate: %v file name of %d bytes (at most %d)", p.Op, len(f[0]), MaxFileName)
		}
		if len(f[1]) == 0 || len(f[1]) > MaxOptionLen {
			return p, fmt.Errorf("tftpstate: %v with a mode of %d bytes", p.Op, len(f[1]))
		}
		p.File = string(f[0])
		p.Mode = strings.ToLower(string(f[1]))
		opts, err := options(f[2:])
		if err != nil {
			return p, fmt.Errorf("tftpstate: %v: %w", p.Op, err)
		}
		p.Options = opts
	case OpDATA, OpACK:
		if len(rest) < 2 {
			return p, fmt.Errorf("tftpstate: %v without a block number", p.Op)
		}
		p.Block = binary.BigEndian.Uint16(rest)
		if p.Op == OpDATA {
			p.Data = rest[2:]
		}
		// Bytes after an ACK's block number (padding some stacks add)
		// are ignored, as servers do.
	case OpERROR:
		if len(rest) < 2 {
			return p, fmt.Errorf("tftpstate: ERROR without a code")
		}
		p.Code = binary.BigEndian.Uint16(rest)
		msg := rest[2:]
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		if len(msg) > MaxErrorText {
			msg = msg[:MaxErrorText]
		}
		p.Message = string(msg)
	case OpOACK:
		opts, err := options(fields(rest))
		if err != nil {
			return p, fmt.Errorf("tftpstate: OACK: %w", err)
		}
		p.Options = opts
	default:
		return Packet{}, errNotTFTP
	}
	return p, nil
}

// fields splits NUL-terminated strings. Bytes after the last NUL (an
// unterminated string) are dropped: RFC 1350 terminates every string.
func fields(b []byte) [][]byte {
	var f [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			break
		}
		f = append(f, b[:i])
		b = b[i+1:]
	}
	return f
}

// options pairs names with values (RFC 2347). A name without a value is
// dropped, as is an empty name (padding some clients send); a repeated name
// keeps its first value.
func options(f [][]byte) ([]event.Option, error) {
	var opts []event.Option
	for i := 0; i+1 < len(f); i += 2 {
		name, val := f[i], f[i+1]
		if len(name) == 0 {
			continue
		}
		if len(name) > MaxOptionLen || len(val) > MaxOptionLen {
			return nil, fmt.Errorf("option of %d+%d bytes (at most %d each)", len(name), len(val), MaxOptionLen)
		}
		n := strings.ToLower(string(name))
		dup := false
		for _, o := range opts {
			if o.Name == n {
				dup = true
			}
		}
		if dup {
			continue
		}
		if len(opts) == MaxOptions {
			return nil, fmt.Errorf("more than %d options", MaxOptions)
		}
		opts = append(opts, event.Option{Name: n, Value: string(val)})
	}
	return opts, nil
}

// option returns the value of a named option as a number within [lo, hi],
// or -1 when it is absent or not such a number.
func option(opts []event.Option, name string, lo, hi int64) int64 {
	for _, o := range opts {
		if o.Name != name {
			continue
		}
		if len(o.Value) == 0 || len(o.Value) > 19 {
			return -1
		}
		var v int64
		for i := 0; i < len(o.Value); i++ {
			c := o.Value[i]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int64(c-'0')
		}
		if v < lo || v > hi {
			return -1
		}
		return v
	}
	return -1
}
