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

// Packet is one decoded TCP segment, UDP datagram or ICMP unreachable
// (Transport says which; the zero value is TCP). Payload aliases the capture
// buffer and is valid only during the call to Tracker.Feed; the tracker
// copies what it keeps.
type Packet struct {
	Time    time.Time // capture time: the only clock the tracker knows
	Side    Side      // the tap port the frame entered on, if known
	Src     netip.AddrPort
	Dst     netip.AddrPort
	Seq     uint32
	Ack     uint32
	Flags   Flags
	Payload []byte

	// Transport is the packet's protocol: TCP (the zero value, so that
	// code written for TCP alone needs no change), UDP, or an ICMP
	// destination unreachable quoting a UDP datagram.
	Transport Transport
	// Code is the ICMP code of an unreachable (3 port unreachable in ICMP,
	// 4 in ICMPv6; 13 and 1 administratively prohibited).
	Code uint8
	// Length is a UDP datagram's data length as its header gives it. It
	// exceeds len(Payload) for the first fragment of a fragmented IPv4
	// datagram (the rest is in fragments the decoder does not join).
	Length int
}
