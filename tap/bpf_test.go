package tap

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

// frame builds an Ethernet frame: tags are VLAN IDs (outermost first; the
// first uses TPID t0, 0x8100 when zero), ip is 4 or 6.
type frameSpec struct {
	tags        []uint16
	t0          layers.EthernetType
	ip          int
	udp         bool
	sport       uint16
	dport       uint16
	syn         bool
	fin         bool
	rst         bool
	payload     string
	fragOffset  uint16
	seq         uint32 // 0: 0x12345678, outside the sample
	ipv4Options bool
	hopByHop    bool
}

func (s frameSpec) bytes(t testing.TB) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	ls = append(ls, eth)
	l3 := layers.EthernetTypeIPv4
	if s.ip == 6 {
		l3 = layers.EthernetTypeIPv6
	}
	if len(s.tags) > 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		if s.t0 != 0 {
			eth.EthernetType = s.t0
		}
		for i, id := range s.tags {
			next := l3
			if i+1 < len(s.tags) {
				next = layers.EthernetTypeDot1Q
			}
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: id, Type: next})
		}
	} else {
		eth.EthernetType = l3
	}
	proto := layers.IPProtocolTCP
	if s.udp {
		proto = layers.IPProtocolUDP
	}
	var nl gopacket.NetworkLayer
	if s.ip == 6 {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
		nl = ip6
		ls = append(ls, ip6)
		if s.hopByHop {
			ip6.NextHeader = layers.IPProtocolIPv6HopByHop
			hbh := &layers.IPv6HopByHop{}
			hbh.NextHeader = proto
			hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			ls = append(ls, hbh)
		}
	} else {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, FragOffset: s.fragOffset,
			SrcIP: net.IPv4(192, 0, 2, 1), DstIP: net.IPv4(192, 0, 2, 2)}
		if s.ipv4Options {
			ip4.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
		nl = ip4
		ls = append(ls, ip4)
	}
	if s.udp {
		u := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		u.SetNetworkLayerForChecksum(nl)
		ls = append(ls, u)
	} else {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport),
			SYN: s.syn, FIN: s.fin, RST: s.rst, ACK: !s.syn, Seq: s.seq, Window: 512}
		if tcp.Seq == 0 {
			tcp.Seq = 0x12345678
		}
		tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tcp)
	}
	ls = append(ls, gopacket.Payload(s.payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFilterProgram(t *testing.T) {
	ports := []uint16{21, 2121}
	tests := []struct {
		name string
		f    frameSpec
		ftp  bool // passes FilterFTP
		tcp  bool // passes FilterTCP
	}{
		{"v4 command to 21", frameSpec{ip: 4, sport: 40000, dport: 21, payload: "USER a\r\n"}, true, true},
		{"v4 reply from 21", frameSpec{ip: 4, sport: 21, dport: 40000, payload: "220 hi\r\n"}, true, true},
		{"v4 second control port", frameSpec{ip: 4, sport: 40000, dport: 2121, payload: "PASV\r\n"}, true, true},
		{"v4 data payload", frameSpec{ip: 4, sport: 20, dport: 50000, payload: "bulk data"}, false, true},
		{"v4 data sampled", frameSpec{ip: 4, sport: 20, dport: 50000, seq: 0x400ffa00, payload: "bulk data"}, true, true},
		{"v4 data just past the sample", frameSpec{ip: 4, sport: 20, dport: 50000, seq: 0x40100000, payload: "bulk data"}, false, true},
		{"v6 data sampled", frameSpec{ip: 6, sport: 20, dport: 50000, seq: 0xc0000001, payload: "bulk data"}, true, true},
		{"v4 data pure ack", frameSpec{ip: 4, sport: 50000, dport: 20}, false, true},
		{"v4 data SYN", frameSpec{ip: 4, sport: 50000, dport: 6000, syn: true}, true, true},
		{"v4 data FIN", frameSpec{ip: 4, sport: 50000, dport: 6000, fin: true, payload: "last"}, true, true},
		{"v4 data RST", frameSpec{ip: 4, sport: 6000, dport: 50000, rst: true}, true, true},
		{"v4 options", frameSpec{ip: 4, ipv4Options: true, sport: 40000, dport: 21, payload: "NOOP\r\n"}, true, true},
		{"v4 options data", frameSpec{ip: 4, ipv4Options: true, sport: 40000, dport: 5000, payload: "x"}, false, true},
		{"v4 later fragment", frameSpec{ip: 4, fragOffset: 100, sport: 40000, dport: 21, payload: "x"}, false, false},
		{"v4 udp port 21", frameSpec{ip: 4, udp: true, sport: 21, dport: 21, payload: "x"}, false, false},
		{"v6 command", frameSpec{ip: 6, sport: 40000, dport: 21, payload: "EPSV\r\n"}, true, true},
		{"v6 data", frameSpec{ip: 6, sport: 40000, dport: 6000, payload: "x"}, false, true},
		{"v6 data SYN", frameSpec{ip: 6, sport: 40000, dport: 6000, syn: true}, true, true},
		{"v6 hop-by-hop", frameSpec{ip: 6, hopByHop: true, sport: 40000, dport: 21, payload: "x"}, false, false},
		{"vlan command", frameSpec{tags: []uint16{10}, ip: 4, sport: 40000, dport: 21, payload: "QUIT\r\n"}, true, true},
		{"vlan data", frameSpec{tags: []uint16{10}, ip: 4, sport: 40000, dport: 6000, payload: "x"}, false, true},
		{"qinq command", frameSpec{tags: []uint16{10, 20}, t0: layers.EthernetTypeQinQ, ip: 4, sport: 21, dport: 40000, payload: "221\r\n"}, true, true},
		{"qinq v6 FIN", frameSpec{tags: []uint16{10, 20}, ip: 6, sport: 6000, dport: 40000, fin: true}, true, true},
		{"vlan udp", frameSpec{tags: []uint16{10}, ip: 4, udp: true, sport: 53, dport: 53}, false, false},
	}
	vms := map[Filter]*bpf.VM{}
	for _, f := range []Filter{FilterFTP, FilterTCP, FilterAll} {
		prog, err := filterProgram(f, ports)
		if err != nil {
			t.Fatal(err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		vms[f] = vm
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.f.bytes(t)
			for f, want := range map[Filter]bool{FilterFTP: tt.ftp, FilterTCP: tt.tcp, FilterAll: true} {
				n, err := vms[f].Run(b)
				if err != nil {
					t.Fatalf("%v: %v", f, err)
				}
				if got := n > 0; got != want {
					t.Errorf("%v filter: pass = %v, want %v", f, got, want)
				}
				if n > 0 && n < len(b) {
					t.Errorf("%v filter: keeps %d of %d bytes", f, n, len(b))
				}
			}
		})
	}
	// Not Ethernet IP at all.
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06
	if n, _ := vms[FilterTCP].Run(arp); n != 0 {
		t.Errorf("ARP passes the tcp filter")
	}
	// A truncated frame makes the kernel (and the VM) drop it, not panic.
	if n, _ := vms[FilterFTP].Run(tests[0].f.bytes(t)[:30]); n != 0 {
		t.Errorf("truncated frame passes")
	}
}

func TestFilterProgramErrors(t *testing.T) {
	many := make([]uint16, maxControlPorts+1)
	for i := range many {
		many[i] = uint16(1000 + i)
	}
	for _, tt := range []struct {
		name  string
		f     Filter
		ports []uint16
	}{
		{"too many ports", FilterFTP, many},
		{"port 0", FilterFTP, []uint16{21, 0}},
		{"unknown filter", FilterUnknown, []uint16{21}},
	} {
		if _, err := filterProgram(tt.f, tt.ports); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	// The most ports allowed still assemble, with the ingress check.
	if _, err := kernelFilter(FilterFTP, many[:maxControlPorts]); err != nil {
		t.Errorf("%d ports: %v", maxControlPorts, err)
	}
}

func TestParseFilter(t *testing.T) {
	for _, f := range []Filter{FilterFTP, FilterTCP, FilterAll} {
		got, err := ParseFilter(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFilter(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFilter("udp"); err == nil {
		t.Error("ParseFilter(udp): no error")
	}
}
