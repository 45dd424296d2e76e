package decode

import (
	"net"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/frametest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestDecodeUDP(t *testing.T) {
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: et}
	}
	ip4 := func(p layers.IPProtocol, src, dst net.IP) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: src, DstIP: dst}
	}
	ip6 := func(p layers.IPProtocol, src, dst string) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	}
	udp := func(n gopacket.NetworkLayer, sport, dport layers.UDPPort) *layers.UDP {
		u := &layers.UDP{SrcPort: sport, DstPort: dport}
		u.SetNetworkLayerForChecksum(n)
		return u
	}
	plain := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	c4, s4 := net.IP{10, 77, 0, 2}, net.IP{10, 77, 0, 1}
	rrq := gopacket.Payload("\x00\x01hello.txt\x00octet\x00")
	u4 := ip4(layers.IPProtocolUDP, c4, s4)
	u6 := ip6(layers.IPProtocolUDP, "fd77::2", "fd77::1")
	// The datagram an ICMP error quotes: its IP header and UDP header.
	q4 := plain(ip4(layers.IPProtocolUDP, c4, s4), &layers.UDP{SrcPort: 40000, DstPort: 69})
	q6 := plain(ip6(layers.IPProtocolUDP, "fd77::2", "fd77::1"), &layers.UDP{SrcPort: 40000, DstPort: 69})
	icmp4 := ip4(layers.IPProtocolICMPv4, s4, c4)
	icmp6 := ip6(layers.IPProtocolICMPv6, "fd77::1", "fd77::2")
	unreach6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}
	unreach6.SetNetworkLayerForChecksum(icmp6)
	frag := ip4(layers.IPProtocolUDP, s4, c4)
	frag.Flags = layers.IPv4MoreFragments
	fragUDP := plain(&layers.UDP{SrcPort: 50000, DstPort: 40000}, gopacket.Payload(make([]byte, 1480)))
	fragUDP[4], fragUDP[5] = 0x10, 0x08 // UDP length 4104: DATA of blksize 4096
	tests := []struct {
		name      string
		link      layers.LinkType
		frame     []byte
		transport event.Transport
		src, dst  string
		payload   string
		code      uint8
		length    int
	}{
		// 10.77.0.2.40000 > 10.77.0.1.69: TFTP, length 20, RRQ "hello.txt" octet
		{"udp ipv4", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv4), u4, udp(u4, 40000, 69), rrq),
			event.TransportUDP, "10.77.0.2:40000", "10.77.0.1:69", string(rrq), 0, len(rrq)},
		// fd77::2.40000 > fd77::1.69: TFTP, length 20, RRQ "hello.txt" octet
		{"udp ipv6", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv6), u6, udp(u6, 40000, 69), rrq),
			event.TransportUDP, "[fd77::2]:40000", "[fd77::1]:69", string(rrq), 0, len(rrq)},
		// vlan 42, 10.77.0.2.40000 > 10.77.0.1.69: TFTP RRQ
		{"udp 802.1Q", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4}, u4, udp(u4, 40000, 69), rrq),
			event.TransportUDP, "10.77.0.2:40000", "10.77.0.1:69", string(rrq), 0, len(rrq)},
		{"udp raw ipv6", layers.LinkTypeRaw, serialize(t, u6, udp(u6, 40000, 69), rrq),
			event.TransportUDP, "[fd77::2]:40000", "[fd77::1]:69", string(rrq), 0, len(rrq)},
		// 10.77.0.1 > 10.77.0.2: ICMP 10.77.0.1 udp port 69 unreachable
		{"icmp port unreachable", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv4), icmp4,
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(q4)),
			event.TransportUnreachable, "10.77.0.2:40000", "10.77.0.1:69", "", 3, 0},
		// fd77::1 > fd77::2: ICMP6, destination unreachable, unreachable port fd77::1 udp port 69
		{"icmpv6 port unreachable", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv6), icmp6,
			unreach6, gopacket.Payload(append([]byte{0, 0, 0, 0}, q6...))),
			event.TransportUnreachable, "[fd77::2]:40000", "[fd77::1]:69", "", 4, 0},
		// 10.77.0.1.50000 > 10.77.0.2.40000: UDP, bad length 4096 > 1480 (first fragment)
		{"first fragment", layers.LinkTypeEthernet, serialize(t, eth(layers.EthernetTypeIPv4), frag, gopacket.Payload(fragUDP)),
			event.TransportUDP, "10.77.0.1:50000", "10.77.0.2:40000", string(fragUDP[8:]), 0, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.link)
			if err != nil {
				t.Fatal(err)
			}
			var p event.Packet
			if d.Decode(tt.frame, &p) {
				t.Fatal("decoded without UDP set")
			}
			d.UDP = true
			if !d.Decode(tt.frame, &p) {
				t.Fatal("not decoded")
			}
			if p.Transport != tt.transport || p.Src.String() != tt.src || p.Dst.String() != tt.dst ||
				string(p.Payload) != tt.payload || p.Code != tt.code || p.Length != tt.length {
				t.Errorf("decoded %v %v > %v code %d length %d payload %q", p.Transport, p.Src, p.Dst, p.Code, p.Length, p.Payload)
			}
		})
	}
}

func TestDecodeUDPIgnores(t *testing.T) {
	d, _ := New(layers.LinkTypeEthernet)
	d.UDP = true
	e := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	later := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, FragOffset: 185, SrcIP: net.IP{1, 2, 3, 4}, DstIP: net.IP{5, 6, 7, 8}}
	echo := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{1, 2, 3, 4}, DstIP: net.IP{5, 6, 7, 8}}
	for name, f := range map[string][]byte{
		"later fragment": serialize(t, e, later, gopacket.Payload("later bytes of a datagram")),
		"icmp echo":      serialize(t, e, echo, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, gopacket.Payload("ping")),
		"icmp short":     serialize(t, e, echo, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload("\x45\x00")),
	} {
		var p event.Packet
		if d.Decode(f, &p) {
			t.Errorf("%s: decoded as %v", name, p.Transport)
		}
	}
}

// FuzzDecodeUDP: any frame, with UDP set. Seeds: the frames of the TFTP lab
// captures (datagrams, ICMP unreachables), under each link type's header.
// Invariants: no panic; decoding is deterministic; a payload lies inside
// the frame; a whole UDP datagram agrees with gopacket's (ports, payload).
func FuzzDecodeUDP(f *testing.F) {
	names, _ := filepath.Glob("../tftpstate/testdata/lab/*/port*.pcap")
	for _, name := range names {
		frames, _ := frametest.ReadPcap(f, name)
		for i, data := range frames[:min(len(frames), 40)] {
			if i%5 == 0 {
				addRelinked(f, data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, li uint8) {
		link := fuzzLinks[int(li)%len(fuzzLinks)]
		d, err := New(link)
		if err != nil {
			t.Fatal(err)
		}
		d.UDP = true
		var p, q event.Packet
		ok := d.Decode(data, &p)
		if ok2 := d.Decode(data, &q); ok2 != ok || ok && (p.Transport != q.Transport || !samePacket(&p, &q) || p.Code != q.Code || p.Length != q.Length) {
			t.Fatalf("two decodes differ: %v %+v, %v %+v", ok, p, ok2, q)
		}
		if !ok || p.Transport == event.TransportTCP {
			return
		}
		if len(p.Payload) > 0 {
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
			pp := uintptr(unsafe.Pointer(unsafe.SliceData(p.Payload)))
			if pp < lo || pp+uintptr(len(p.Payload)) > lo+uintptr(len(data)) {
				t.Fatalf("payload of %d bytes lies outside the %d-byte frame", len(p.Payload), len(data))
			}
		}
		if p.Transport == event.TransportUDP && link == layers.LinkTypeEthernet && p.Length == len(p.Payload) {
			pk := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
			u, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if u == nil {
				return // gopacket stops at what it cannot follow (a fragment, say)
			}
			if uint16(u.SrcPort) != p.Src.Port() || uint16(u.DstPort) != p.Dst.Port() || string(u.Payload) != string(p.Payload) {
				t.Fatalf("Decode: %v > %v %q; gopacket: %d > %d %q", p.Src, p.Dst, p.Payload, u.SrcPort, u.DstPort, u.Payload)
			}
		}
	})
}
