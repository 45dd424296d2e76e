package event

import (
	"net/netip"
	"time"
)

// Flags are the TCP flags the tracker looks at.
type Flags uint8

// TCP flags.
const (
	FlagFIN Flags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
)

// Has reports whether all of f2 are set in f.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// Packet is one decoded TCP segment. Payload aliases the capture buffer and
// is valid only during the call to Tracker.Feed; the tracker copies what it
// keeps.
type Packet struct {
	Time    time.Time // capture time: the only clock the tracker knows
	Side    Side      // the tap port the frame entered on, if known
	Src     netip.AddrPort
	Dst     netip.AddrPort
	Seq     uint32
	Ack     uint32
	Flags   Flags
	Payload []byte
}
