// Package decode turns captured frames into the TCP segments that ftpstate
// tracks and, when asked (Decoder.UDP), the UDP datagrams and ICMP
// unreachables that tftpstate tracks. It uses gopacket's DecodingLayerParser with layers allocated once
// per Decoder, so decoding a frame allocates nothing.
//
// Supported link types: Ethernet (with 802.1Q and QinQ tags), raw IP
// (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6), BSD loopback and Linux
// cooked capture, versions 1 (SLL) and 2 (SLL2, what tcpdump -i any writes). Frames that are not TCP (or UDP) over IPv4 or IPv6 are
// reported as not decoded; checksums are never verified, because offloaded
// checksums are often blank in captures.
package decode

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ftptap/ftptap/event"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Decoder decodes frames of one link type. It is not safe for concurrent use.
type Decoder struct {
	parser  *gopacket.DecodingLayerParser
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    linuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	udp     layers.UDP
	payload gopacket.Payload
	decoded []gopacket.LayerType
	raw     bool
	ethLink bool // Ethernet: fastTCP first

	// UDP makes Decode report UDP datagrams and ICMP destination
	// unreachables about UDP datagrams too (see event.Transport); by
	// default it reports TCP segments only.
	UDP bool
}

// New returns a Decoder for frames of the given link type, or an error for a
// link type it cannot decode.
func New(link layers.LinkType) (*Decoder, error) {
	var first gopacket.LayerType
	switch link {
	case layers.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, 12: // 12: LINKTYPE_RAW on OpenBSD
		first = layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		first = layers.LayerTypeIPv6
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case LinkTypeLinuxSLL2:
		first = LayerTypeLinuxSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		first = layers.LayerTypeLoopback
	default:
		return nil, fmt.Errorf("decode: link type %s (%d) is not supported (supported: Ethernet, raw IP, loopback, Linux cooked v1 and v2)", LinkName(link), int(link))
	}
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	d.parser = gopacket.NewDecodingLayerParser(first)
	// A slice indexed by layer type rather than the default map: one
	// lookup per layer of every frame.
	dlc := gopacket.DecodingLayerContainer(gopacket.DecodingLayerSparse(nil))
	for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.tcp, &d.udp, &d.payload} {
		dlc = dlc.Put(l)
	}
	d.parser.SetDecodingLayerContainer(dlc)
	d.parser.IgnoreUnsupported = true
	d.raw = link == layers.LinkTypeRaw || link == 12
	d.ethLink = link == layers.LinkTypeEthernet
	return d, nil
}

// LinkName names a link type as gopacket does (Ethernet, 802.11, ...),
// LINUX_SLL2 for SLL2, or "unknown" where gopacket has no name for it.
func LinkName(link layers.LinkType) string {
	if link == LinkTypeLinuxSLL2 {
		return "LINUX_SLL2"
	}
	if link == 12 {
		return "RAW"
	}
	s := link.String()
	if strings.HasPrefix(s, "UnknownLinkType") {
		return "unknown"
	}
	return s
}

// Decode decodes data into p (whose Time and Side the caller sets) and
// reports whether it held a TCP segment (or, with UDP set, a UDP datagram
// or an ICMP unreachable about one). p.Payload aliases data.
func (d *Decoder) Decode(data []byte, p *event.Packet) bool {
	if d.ethLink && fastTCP(data, p) {
		return true
	}
	return d.decodeLayers(data, p)
}

// decodeLayers is Decode through gopacket's layers.
func (d *Decoder) decodeLayers(data []byte, p *event.Packet) bool {
	if d.raw && len(data) > 0 && data[0]>>4 == 6 {
		// LINKTYPE_RAW carries either IP version; the parser starts at IPv4.
		if err := d.ip6.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return false
		}
		return d.fromIP6(p)
	}
	d.decoded = d.decoded[:0]
	_ = d.parser.DecodeLayers(data, &d.decoded) // errors: truncated or foreign layers; judged below
	var haveTCP, haveUDP, have4, have6 bool
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeTCP:
			haveTCP = true
		case layers.LayerTypeUDP:
			haveUDP = true
		case layers.LayerTypeIPv4:
			have4 = true
		case layers.LayerTypeIPv6:
			have6 = true
		}
	}
	if !haveTCP {
		if d.UDP {
			return d.datagram(p, haveUDP, have4, have6)
		}
		return false
	}
	var src, dst netip.Addr
	switch {
	case have4:
		if len(d.ip4.SrcIP) != 4 || len(d.ip4.DstIP) != 4 || d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
			return false
		}
		src = netip.AddrFrom4([4]byte(d.ip4.SrcIP))
		dst = netip.AddrFrom4([4]byte(d.ip4.DstIP))
	case have6:
		if len(d.ip6.SrcIP) != 16 || len(d.ip6.DstIP) != 16 {
			return false
		}
		src = netip.AddrFrom16([16]byte(d.ip6.SrcIP))
		dst = netip.AddrFrom16([16]byte(d.ip6.DstIP))
	default:
		return false
	}
	d.fill(p, src, dst)
	return true
}

func (d *Decoder) fromIP6(p *event.Packet) bool {
	if d.UDP && d.ip6.NextHeader != layers.IPProtocolTCP {
		if d.ip6.NextHeader == layers.IPProtocolUDP {
			if err := d.udp.DecodeFromBytes(d.ip6.Payload, gopacket.NilDecodeFeedback); err != nil {
				return false
			}
			return d.datagram(p, true, false, true)
		}
		return d.datagram(p, false, false, true)
	}
	if d.ip6.NextHeader != layers.IPProtocolTCP || len(d.ip6.SrcIP) != 16 || len(d.ip6.DstIP) != 16 {
		return false
	}
	if err := d.tcp.DecodeFromBytes(d.ip6.Payload, gopacket.NilDecodeFeedback); err != nil {
		return false
	}
	d.fill(p, netip.AddrFrom16([16]byte(d.ip6.SrcIP)), netip.AddrFrom16([16]byte(d.ip6.DstIP)))
	return true
}

func (d *Decoder) fill(p *event.Packet, src, dst netip.Addr) {
	t := &d.tcp
	p.Src = netip.AddrPortFrom(src, uint16(t.SrcPort))
	p.Dst = netip.AddrPortFrom(dst, uint16(t.DstPort))
	p.Seq = t.Seq
	p.Ack = t.Ack
	var f event.Flags
	if t.FIN {
		f |= event.FlagFIN
	}
	if t.SYN {
		f |= event.FlagSYN
	}
	if t.RST {
		f |= event.FlagRST
	}
	if t.PSH {
		f |= event.FlagPSH
	}
	if t.ACK {
		f |= event.FlagACK
	}
	p.Flags = f
	p.Payload = t.Payload
	p.Transport = event.TransportTCP
	p.Code = 0
	p.Length = 0
}
