package event

// Transport is the protocol a Packet carries. The zero value is TCP, which
// is what every Packet was before the others existed.
type Transport uint8

// Transports.
const (
	TransportTCP Transport = iota // a TCP segment: Seq, Ack, Flags, Payload
	TransportUDP                  // a UDP datagram: Payload is its data
	// TransportUnreachable is an ICMP destination unreachable (ICMPv6 type
	// 1) about a UDP datagram: Src and Dst are those of the quoted
	// datagram (the one that could not be delivered), Code the ICMP code,
	// and Payload is empty.
	TransportUnreachable
)

func (t Transport) String() string {
	switch t {
	case TransportTCP:
		return "tcp"
	case TransportUDP:
		return "udp"
	case TransportUnreachable:
		return "unreachable"
	}
	return "unknown"
}
