package decode

import (
	"net"
	"strings"
	"testing"

	"github.com/ftptap/ftptap/event"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecode(t *testing.T) {
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	ip4 := func() *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 77, 0, 2}, DstIP: net.IP{10, 77, 0, 1}}
	}
	ip6 := func() *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP("fd77::2"), DstIP: net.ParseIP("fd77::1")}
	}
	tcp := func(n gopacket.NetworkLayer) *layers.TCP {
		l := &layers.TCP{SrcPort: 50000, DstPort: 21, Seq: 7, Ack: 9, PSH: true, ACK: true, Window: 100}
		l.SetNetworkLayerForChecksum(n)
		return l
	}
	payload := gopacket.Payload("USER anonymous\r\n")
	i4, i6 := ip4(), ip6()
	tests := []struct {
		name     string
		link     layers.LinkType
		frame    []byte
		src, dst string
	}{
		// 10.77.0.2.50000 > 10.77.0.1.21: Flags [P.], seq 7:23, ack 9, length 16: FTP: USER anonymous
		{"ethernet ipv4", layers.LinkTypeEthernet, serialize(t, &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv4}, i4, tcp(i4), payload), "10.77.0.2:50000", "10.77.0.1:21"},
		// ethertype 802.1Q, vlan 42, 10.77.0.2.50000 > 10.77.0.1.21: FTP: USER anonymous
		{"802.1Q", layers.LinkTypeEthernet, serialize(t, &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4}, i4, tcp(i4), payload), "10.77.0.2:50000", "10.77.0.1:21"},
		// QinQ: 802.1Q vlan 100, 802.1Q vlan 42, IPv4
		{"QinQ", layers.LinkTypeEthernet, serialize(t, &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4}, i4, tcp(i4), payload), "10.77.0.2:50000", "10.77.0.1:21"},
		// fd77::2.50000 > fd77::1.21: FTP: USER anonymous
		{"ethernet ipv6", layers.LinkTypeEthernet, serialize(t, &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv6}, i6, tcp(i6), payload), "[fd77::2]:50000", "[fd77::1]:21"},
		{"raw ipv4", layers.LinkTypeRaw, serialize(t, i4, tcp(i4), payload), "10.77.0.2:50000", "10.77.0.1:21"},
		{"raw ipv6", layers.LinkTypeRaw, serialize(t, i6, tcp(i6), payload), "[fd77::2]:50000", "[fd77::1]:21"},
		{"LINKTYPE_IPV4", layers.LinkTypeIPv4, serialize(t, i4, tcp(i4), payload), "10.77.0.2:50000", "10.77.0.1:21"},
		// Linux cooked header: packet type 0, ARPHRD_ETHER, 6-byte address, IPv4.
		{"linux cooked", layers.LinkTypeLinuxSLL, append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 8, 0}, serialize(t, i4, tcp(i4), payload)...), "10.77.0.2:50000", "10.77.0.1:21"},
		// Linux cooked v2 (tcpdump -i any, libpcap 1.10): protocol 0x0800,
		// reserved, ifindex 3, ARPHRD_ETHER, packet type 4 (outgoing),
		// 6-byte address 02:00:00:00:00:01, 2 bytes of padding. Issue 10.
		{"linux cooked v2", LinkTypeLinuxSLL2, append([]byte{8, 0, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0}, serialize(t, i4, tcp(i4), payload)...), "10.77.0.2:50000", "10.77.0.1:21"},
		// Linux cooked v2 over IPv6 (protocol 0x86dd), incoming (type 0).
		{"linux cooked v2 ipv6", LinkTypeLinuxSLL2, append([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 2, 0, 0}, serialize(t, i6, tcp(i6), payload)...), "[fd77::2]:50000", "[fd77::1]:21"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.link)
			if err != nil {
				t.Fatal(err)
			}
			var p event.Packet
			if !d.Decode(tt.frame, &p) {
				t.Fatal("not decoded")
			}
			if p.Src.String() != tt.src || p.Dst.String() != tt.dst || p.Seq != 7 || p.Ack != 9 || string(p.Payload) != string(payload) || p.Flags != event.FlagPSH|event.FlagACK {
				t.Errorf("decoded %+v", p)
			}
		})
	}
}

func TestDecodeIgnores(t *testing.T) {
	d, _ := New(layers.LinkTypeEthernet)
	var p event.Packet
	udp := &layers.UDP{SrcPort: 69, DstPort: 1000}
	i4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{1, 2, 3, 4}, DstIP: net.IP{5, 6, 7, 8}}
	udp.SetNetworkLayerForChecksum(i4)
	frame := serialize(t, &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}, i4, udp, gopacket.Payload("x"))
	for name, f := range map[string][]byte{"udp": frame, "empty": nil, "short": frame[:20], "garbage": []byte("\xff\xff\xff\xff\xff\xff\x00\x01\x02\x03\x04\x05\x08\x00\x45")} {
		if d.Decode(f, &p) {
			t.Errorf("%s: decoded as TCP", name)
		}
	}
	if _, err := New(layers.LinkType(147)); err == nil {
		t.Error("New(147): want an error for an unknown link type")
	}
	if _, err := New(layers.LinkTypeIEEE802_11); err == nil || !strings.Contains(err.Error(), "link type 802.11 (105) is not supported") {
		t.Errorf("New(802.11): %v, want the error to name the link type", err)
	}
	d2, _ := New(LinkTypeLinuxSLL2)
	if d2.Decode([]byte{8, 0, 0, 0, 0, 0, 0, 3, 0, 1, 4}, &p) {
		t.Error("a cut SLL2 header decoded as TCP")
	}
}
