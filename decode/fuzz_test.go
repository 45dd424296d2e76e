package decode

import (
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/internal/frametest"
)

// fuzzLinks are the link types the fuzzer picks from: every one New takes.
var fuzzLinks = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
	layers.LinkTypeLinuxSLL, LinkTypeLinuxSLL2, layers.LinkTypeNull, layers.LinkTypeLoop, 12,
}

// labFrames returns the Ethernet frames of the project's lab captures.
func labFrames(t testing.TB) [][]byte {
	t.Helper()
	names, _ := filepath.Glob("../ftpstate/testdata/lab/*/port*.pcap")
	if len(names) == 0 {
		t.Fatal("no lab captures in ../ftpstate/testdata/lab")
	}
	var out [][]byte
	for _, name := range names {
		data, _ := frametest.ReadPcap(t, name)
		out = append(out, data...)
	}
	return out
}

// addRelinked adds an Ethernet frame to f's seeds under each link type's
// header (with the index of the link type in fuzzLinks).
func addRelinked(f *testing.F, eth []byte) {
	for li, link := range fuzzLinks {
		if b := relink(eth, link); b != nil {
			f.Add(b, uint8(li))
		}
	}
}

// relink turns an Ethernet frame carrying IP into the same packet under
// another link type's header.
func relink(eth []byte, link layers.LinkType) []byte {
	if len(eth) < 14 {
		return nil
	}
	ip := eth[14:]
	v6 := eth[12] == 0x86 && eth[13] == 0xdd
	switch link {
	case layers.LinkTypeEthernet:
		return eth
	case layers.LinkTypeRaw, 12:
		return ip
	case layers.LinkTypeIPv4:
		if v6 {
			return nil
		}
		return ip
	case layers.LinkTypeIPv6:
		if !v6 {
			return nil
		}
		return ip
	case layers.LinkTypeLinuxSLL:
		// packet type 0 (to us), ARPHRD_ETHER, 6-byte address, then the
		// ethertype of the frame.
		h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, eth[12], eth[13]}
		return append(h, ip...)
	case LinkTypeLinuxSLL2:
		// protocol, reserved, interface 2, ARPHRD_ETHER, packet type 0,
		// 6-byte address padded to 8.
		h := []byte{eth[12], eth[13], 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
		return append(h, ip...)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		af := byte(2) // AF_INET, host order as BSD writes it
		if v6 {
			af = 24
		}
		return append([]byte{af, 0, 0, 0}, ip...)
	}
	return nil
}

// FuzzDecode feeds any bytes as a frame of any supported link type. Seeds:
// every frame of the lab captures, under each link type's header.
// Invariants: no panic; decoding is deterministic; a decoded payload lies
// inside the frame; and what Decode reports agrees with gopacket's own
// full decoder (addresses, ports, sequence numbers, flags, payload).
func FuzzDecode(f *testing.F) {
	frames := labFrames(f)
	for i, fr := range frames {
		if i%7 != 0 {
			continue // a sample of each capture keeps the seed set small
		}
		addRelinked(f, fr)
	}
	f.Fuzz(func(t *testing.T, data []byte, li uint8) {
		link := fuzzLinks[int(li)%len(fuzzLinks)]
		d, err := New(link)
		if err != nil {
			t.Fatal(err)
		}
		var p, q event.Packet
		ok := d.Decode(data, &p)
		if ok2 := d.Decode(data, &q); ok2 != ok || (ok && !samePacket(&p, &q)) {
			t.Fatalf("two decodes differ: %v %+v, %v %+v", ok, p, ok2, q)
		}
		if !ok {
			return
		}
		if len(p.Payload) > 0 {
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
			pp := uintptr(unsafe.Pointer(unsafe.SliceData(p.Payload)))
			if pp < lo || pp+uintptr(len(p.Payload)) > lo+uintptr(len(data)) {
				t.Fatalf("payload of %d bytes lies outside the %d-byte frame", len(p.Payload), len(data))
			}
		}
		checkAgainstGopacket(t, link, data, &p)
	})
}

func samePacket(a, b *event.Packet) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.Seq == b.Seq && a.Ack == b.Ack && a.Flags == b.Flags && string(a.Payload) == string(b.Payload)
}

// checkAgainstGopacket decodes data with gopacket.NewPacket and compares.
func checkAgainstGopacket(t *testing.T, link layers.LinkType, data []byte, p *event.Packet) {
	t.Helper()
	var first gopacket.Decoder = link
	if link == LinkTypeLinuxSLL2 {
		// gopacket has no SLL2: judge the packet after the 20-byte header
		// by its protocol field.
		if len(data) < 20 {
			t.Fatalf("Decode found TCP in a %d-byte SLL2 frame", len(data))
		}
		first = layers.EthernetType(uint16(data[0])<<8 | uint16(data[1])).LayerType()
		data = data[20:]
	} else if link == layers.LinkTypeRaw || link == 12 || link == layers.LinkTypeIPv4 {
		first = layers.LayerTypeIPv4
		if len(data) > 0 && data[0]>>4 == 6 && link != layers.LinkTypeIPv4 {
			first = layers.LayerTypeIPv6
		}
	} else if link == layers.LinkTypeIPv6 {
		first = layers.LayerTypeIPv6
	}
	pk := gopacket.NewPacket(data, first, gopacket.DecodeOptions{NoCopy: true})
	tl, _ := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tl == nil {
		t.Fatalf("Decode found TCP %+v; gopacket finds none: %v", p, pk)
	}
	if uint16(tl.SrcPort) != p.Src.Port() || uint16(tl.DstPort) != p.Dst.Port() || tl.Seq != p.Seq || tl.Ack != p.Ack {
		t.Fatalf("Decode: %v > %v seq %d ack %d; gopacket: %d > %d seq %d ack %d", p.Src, p.Dst, p.Seq, p.Ack, tl.SrcPort, tl.DstPort, tl.Seq, tl.Ack)
	}
	if tl.SYN != (p.Flags&event.FlagSYN != 0) || tl.FIN != (p.Flags&event.FlagFIN != 0) || tl.RST != (p.Flags&event.FlagRST != 0) || tl.ACK != (p.Flags&event.FlagACK != 0) {
		t.Fatalf("flags %v, gopacket %v", p.Flags, tl)
	}
	if string(tl.Payload) != string(p.Payload) {
		t.Fatalf("payload %q, gopacket %q", p.Payload, tl.Payload)
	}
	if nl := pk.NetworkLayer(); nl != nil {
		src, dst := nl.NetworkFlow().Endpoints()
		if src.String() != p.Src.Addr().String() || dst.String() != p.Dst.Addr().String() {
			t.Fatalf("addresses %v > %v, gopacket %v > %v", p.Src.Addr(), p.Dst.Addr(), src, dst)
		}
	}
}
