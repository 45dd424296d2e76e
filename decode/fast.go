package decode

import (
	"encoding/binary"
	"net/netip"

	"github.com/ftptap/ftptap/event"
)

// fastTCP decodes the frame a tap sees most, an Ethernet II frame carrying
// an IPv4 packet with no options and no fragmentation carrying a TCP
// segment, straight from its bytes. It applies the checks gopacket's
// layers apply (the IP total length bounds the segment; the data offset
// and the options must be whole) and reports false for anything else:
// Decode then gives the frame to gopacket, whose answer stands. A frame it
// takes gives the Packet gopacket's layers give (FuzzFastTCP compares the
// two).
func fastTCP(data []byte, p *event.Packet) bool {
	if len(data) < 14+20+20 || data[12] != 0x08 || data[13] != 0x00 {
		return false // short, or not IPv4 (a VLAN tag, IPv6, ARP...)
	}
	ip := data[14:]
	// Version 4, a 20-byte header, TCP, neither more fragments nor an
	// offset (the don't-fragment and reserved bits may be set).
	if ip[0] != 0x45 || ip[9] != 6 || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return false
	}
	n := int(binary.BigEndian.Uint16(ip[2:4]))
	if n < 20+20 {
		return false // a length of 0 (segmentation offload), or no room for TCP
	}
	if len(ip) > n {
		ip = ip[:n] // Ethernet padding
	}
	tcp := ip[20:]
	if len(tcp) < 20 {
		return false
	}
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) || !tcpOptionsWhole(tcp[20:off]) {
		return false
	}
	p.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(tcp[0:2]))
	p.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(tcp[2:4]))
	p.Seq = binary.BigEndian.Uint32(tcp[4:8])
	p.Ack = binary.BigEndian.Uint32(tcp[8:12])
	var f event.Flags
	b := tcp[13]
	if b&0x01 != 0 {
		f |= event.FlagFIN
	}
	if b&0x02 != 0 {
		f |= event.FlagSYN
	}
	if b&0x04 != 0 {
		f |= event.FlagRST
	}
	if b&0x08 != 0 {
		f |= event.FlagPSH
	}
	if b&0x10 != 0 {
		f |= event.FlagACK
	}
	p.Flags = f
	p.Payload = tcp[off:]
	p.Transport = event.TransportTCP
	p.Code = 0
	p.Length = 0
	return true
}

// tcpOptionsWhole reports whether the options of a TCP header parse as
// gopacket's TCP layer parses them: each of kind 0 (end of list), kind 1
// (one byte), or a length of at least 2 that stays within the header.
func tcpOptionsWhole(o []byte) bool {
	for len(o) > 0 {
		switch o[0] {
		case 0:
			return true // the rest is padding
		case 1:
			o = o[1:]
		default:
			if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
				return false
			}
			o = o[o[1]:]
		}
	}
	return true
}
