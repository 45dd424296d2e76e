package tap

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

// icmpFrame builds an Ethernet frame with an ICMP (ip 4) or ICMPv6 (ip 6)
// destination unreachable that quotes a datagram of protocol quoted.
func icmpFrame(t *testing.T, ip int, typ uint8, quoted layers.IPProtocol) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	q := gopacket.NewSerializeBuffer()
	if ip == 6 {
		src, dst := net.ParseIP("2001:db8::2"), net.ParseIP("2001:db8::1")
		qip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: quoted, SrcIP: dst, DstIP: src}
		if err := gopacket.SerializeLayers(q, gopacket.SerializeOptions{FixLengths: true}, qip, gopacket.Payload("\x9c\x40\x00\x45\x00\x10\x00\x00")); err != nil {
			t.Fatal(err)
		}
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: src, DstIP: dst}
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 4)}
		ic.SetNetworkLayerForChecksum(ip6)
		ls = append(ls, &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6},
			ip6, ic, gopacket.Payload(append([]byte{0, 0, 0, 0}, q.Bytes()...)))
	} else {
		qip := &layers.IPv4{Version: 4, TTL: 64, Protocol: quoted, SrcIP: net.IPv4(192, 0, 2, 1), DstIP: net.IPv4(192, 0, 2, 2)}
		if err := gopacket.SerializeLayers(q, gopacket.SerializeOptions{FixLengths: true}, qip, gopacket.Payload("\x9c\x40\x00\x45\x00\x10\x00\x00")); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IPv4(192, 0, 2, 2), DstIP: net.IPv4(192, 0, 2, 1)},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 3)}, gopacket.Payload(q.Bytes()))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFilterProgramTFTP: every filter passes TFTP (requests, transfers by
// their shape, ICMP unreachables about UDP) and no other UDP.
func TestFilterProgramTFTP(t *testing.T) {
	ports := []uint16{21}
	data := func(n int) string { return "\x00\x03\x00\x07" + strings.Repeat("d", n) }
	tests := []struct {
		name  string
		frame func(t *testing.T) []byte
		pass  bool
	}{
		{"RRQ to 69", spec(frameSpec{ip: 4, udp: true, sport: 40000, dport: 69, payload: "\x00\x01f\x00octet\x00"}), true},
		{"v6 WRQ to 69", spec(frameSpec{ip: 6, udp: true, sport: 40000, dport: 69, payload: "\x00\x02f\x00octet\x00"}), true},
		{"vlan RRQ to 69", spec(frameSpec{tags: []uint16{10}, ip: 4, udp: true, sport: 40000, dport: 69, payload: "\x00\x01f\x00octet\x00"}), true},
		{"reply from 69", spec(frameSpec{ip: 4, udp: true, sport: 69, dport: 40000, payload: "\x00\x03\x00\x01x"}), true},
		{"DATA of 512", spec(frameSpec{ip: 4, udp: true, sport: 50000, dport: 40000, payload: data(512)}), true},
		{"v6 DATA of 1428", spec(frameSpec{ip: 6, udp: true, sport: 50000, dport: 40000, payload: data(1428)}), true},
		{"qinq DATA", spec(frameSpec{tags: []uint16{10, 20}, ip: 4, udp: true, sport: 50000, dport: 40000, payload: data(100)}), true},
		{"empty last DATA", spec(frameSpec{ip: 4, udp: true, sport: 50000, dport: 40000, payload: data(0)}), true},
		{"ACK", spec(frameSpec{ip: 4, udp: true, sport: 40000, dport: 50000, payload: "\x00\x04\xff\xff"}), true},
		{"ERROR", spec(frameSpec{ip: 4, udp: true, sport: 50000, dport: 40000, payload: "\x00\x05\x00\x01File not found\x00"}), true},
		{"OACK", spec(frameSpec{ip: 6, udp: true, sport: 50000, dport: 40000, payload: "\x00\x06blksize\x001468\x00"}), true},
		{"ICMP port unreachable about UDP", func(t *testing.T) []byte { return icmpFrame(t, 4, 3, layers.IPProtocolUDP) }, true},
		{"ICMPv6 port unreachable about UDP", func(t *testing.T) []byte { return icmpFrame(t, 6, 1, layers.IPProtocolUDP) }, true},

		{"ACK too long", spec(frameSpec{ip: 4, udp: true, sport: 40000, dport: 50000, payload: "\x00\x04\x00\x01xx"}), false},
		{"DATA without a block number", spec(frameSpec{ip: 4, udp: true, sport: 50000, dport: 40000, payload: "\x00\x03\x00"}), false},
		{"ERROR without a string", spec(frameSpec{ip: 4, udp: true, sport: 50000, dport: 40000, payload: "\x00\x05\x00\x01"}), false},
		{"iperf3 datagram", spec(frameSpec{ip: 4, udp: true, sport: 5201, dport: 40000, payload: "\x6a\x1b\x2c\x3d\x00\x0b\x71\xb0\x00\x00\x00\x01" + strings.Repeat("9", 1400)}), false},
		{"DNS", spec(frameSpec{ip: 4, udp: true, sport: 53, dport: 40000, payload: "\x12\x34\x81\x80\x00\x01\x00\x01"}), false},
		{"RRQ opcode to another port", spec(frameSpec{ip: 4, udp: true, sport: 40000, dport: 70, payload: "\x00\x01f\x00octet\x00"}), false},
		{"later fragment", spec(frameSpec{ip: 4, udp: true, fragOffset: 100, sport: 50000, dport: 40000, payload: data(10)}), false},
		{"v6 hop-by-hop UDP", spec(frameSpec{ip: 6, hopByHop: true, udp: true, sport: 40000, dport: 69, payload: "x"}), false},
		{"ICMP echo", func(t *testing.T) []byte { return icmpFrame(t, 4, 8, layers.IPProtocolUDP) }, false},
		{"ICMP unreachable about TCP", func(t *testing.T) []byte { return icmpFrame(t, 4, 3, layers.IPProtocolTCP) }, false},
		{"ICMPv6 neighbour solicitation", func(t *testing.T) []byte { return icmpFrame(t, 6, 135, layers.IPProtocolUDP) }, false},
	}
	// The command-channel socket's filter passes no TFTP.
	ctl, err := filterProgram(filterControl, ports)
	if err != nil {
		t.Fatal(err)
	}
	ctlVM, err := bpf.NewVM(ctl)
	if err != nil {
		t.Fatal(err)
	}
	vms := map[Filter]*bpf.VM{}
	for _, f := range []Filter{FilterFTP, FilterTCP} {
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
	// With the most data channels the filter takes (carving on), TFTP
	// still passes the same.
	df := &DataFilter{Pairs: make([][2]netip.Addr, MaxHostPairs)}
	for i := range MaxDataEndpoints {
		df.Endpoints = append(df.Endpoints, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000))
	}
	for i := range df.Pairs {
		df.Pairs[i] = [2]netip.Addr{netip.AddrFrom4([4]byte{10, 2, 0, byte(i)}), netip.AddrFrom4([4]byte{10, 3, 0, byte(i)})}
	}
	full, err := filterProgramData(FilterFTP, ports, df)
	if err != nil {
		t.Fatal(err)
	}
	fullVM, err := bpf.NewVM(full)
	if err != nil {
		t.Fatal(err)
	}
	const filterFTPFull Filter = 99 // a name for the map only
	vms[filterFTPFull] = fullVM
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.frame(t)
			for f, vm := range vms {
				n, err := vm.Run(b)
				if err != nil {
					t.Fatalf("%v: %v", f, err)
				}
				if got := n > 0; got != tt.pass {
					t.Errorf("%v filter: pass = %v, want %v", f, got, tt.pass)
				}
			}
			if n, err := ctlVM.Run(b); err != nil || n > 0 {
				t.Errorf("command-channel filter: %d, %v: passes TFTP", n, err)
			}
		})
	}
}

func spec(s frameSpec) func(t *testing.T) []byte {
	return func(t *testing.T) []byte { return s.bytes(t) }
}
