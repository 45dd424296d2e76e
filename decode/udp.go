package decode

import (
	"encoding/binary"
	"net/netip"

	"github.com/ftptap/ftptap/event"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// datagram fills p from a frame that held no TCP: a UDP datagram, or an
// ICMP (ICMPv6) destination unreachable quoting one. IPv4 fragments other
// than the first are not decoded; a first fragment is, with p.Length giving
// the whole datagram's length from its UDP header.
func (d *Decoder) datagram(p *event.Packet, haveUDP, have4, have6 bool) bool {
	var src, dst netip.Addr
	var proto layers.IPProtocol
	var ipPayload []byte
	switch {
	case have4:
		if len(d.ip4.SrcIP) != 4 || len(d.ip4.DstIP) != 4 || d.ip4.FragOffset != 0 {
			return false
		}
		src = netip.AddrFrom4([4]byte(d.ip4.SrcIP))
		dst = netip.AddrFrom4([4]byte(d.ip4.DstIP))
		proto, ipPayload = d.ip4.Protocol, d.ip4.Payload
		if !haveUDP && proto == layers.IPProtocolUDP && d.ip4.Flags&layers.IPv4MoreFragments != 0 {
			// gopacket stops at a fragment; the first holds the UDP header.
			haveUDP = d.udp.DecodeFromBytes(ipPayload, gopacket.NilDecodeFeedback) == nil
		}
	case have6:
		if len(d.ip6.SrcIP) != 16 || len(d.ip6.DstIP) != 16 {
			return false
		}
		src = netip.AddrFrom16([16]byte(d.ip6.SrcIP))
		dst = netip.AddrFrom16([16]byte(d.ip6.DstIP))
		proto, ipPayload = d.ip6.NextHeader, d.ip6.Payload
	default:
		return false
	}
	*p = event.Packet{Time: p.Time, Side: p.Side}
	switch {
	case haveUDP && proto == layers.IPProtocolUDP:
		u := &d.udp
		p.Transport = event.TransportUDP
		p.Src = netip.AddrPortFrom(src, uint16(u.SrcPort))
		p.Dst = netip.AddrPortFrom(dst, uint16(u.DstPort))
		p.Payload = u.Payload
		p.Length = len(u.Payload)
		if n := int(u.Length) - 8; n > p.Length {
			p.Length = n
		}
		return true
	case have4 && proto == layers.IPProtocolICMPv4:
		// RFC 792: type 3, code, checksum, 4 unused bytes, then the
		// datagram's IP header and at least its first 8 bytes.
		if len(ipPayload) < 8 || ipPayload[0] != layers.ICMPv4TypeDestinationUnreachable {
			return false
		}
		return quoted(p, ipPayload[1], ipPayload[8:], false)
	case have6 && proto == layers.IPProtocolICMPv6:
		// RFC 4443: type 1, code, checksum, 4 unused bytes, then as much
		// of the packet as fits.
		if len(ipPayload) < 8 || ipPayload[0] != layers.ICMPv6TypeDestinationUnreachable {
			return false
		}
		return quoted(p, ipPayload[1], ipPayload[8:], true)
	}
	return false
}

// quoted fills p from the IP header and UDP header that an ICMP error
// quotes. It reports false unless they are whole and the datagram was UDP.
func quoted(p *event.Packet, code uint8, q []byte, v6 bool) bool {
	var src, dst netip.Addr
	var udp []byte
	if v6 {
		if len(q) < 40+8 || q[0]>>4 != 6 || q[6] != byte(layers.IPProtocolUDP) {
			return false
		}
		src = netip.AddrFrom16([16]byte(q[8:24]))
		dst = netip.AddrFrom16([16]byte(q[24:40]))
		udp = q[40:]
	} else {
		if len(q) < 20 || q[0]>>4 != 4 {
			return false
		}
		ihl := int(q[0]&0x0f) * 4
		if ihl < 20 || len(q) < ihl+8 || q[9] != byte(layers.IPProtocolUDP) {
			return false
		}
		src = netip.AddrFrom4([4]byte(q[12:16]))
		dst = netip.AddrFrom4([4]byte(q[16:20]))
		udp = q[ihl:]
	}
	p.Transport = event.TransportUnreachable
	p.Code = code
	p.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(udp[0:2]))
	p.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(udp[2:4]))
	return true
}
