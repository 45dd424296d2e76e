// Package frametest builds Ethernet frames and reads pcap files for tests,
// with gopacket alone: apart from ftptap's own decoder and capture
// readers, so that the tests of those can check them against it. It
// imports no ftptap package, so the tests inside any package may use it.
package frametest

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// UDP4 builds an Ethernet frame of a UDP datagram over IPv4, lengths and
// checksums set.
func UDP4(t testing.TB, src, dst string, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, u, gopacket.Payload(payload))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ReadPcap reads every frame of a pcap file with pcapgo and returns the
// frames and their capture infos, in file order. It fails t if the file
// cannot be read to its end.
func ReadPcap(t testing.TB, name string) ([][]byte, []gopacket.CaptureInfo) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var data [][]byte
	var cis []gopacket.CaptureInfo
	for {
		d, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return data, cis
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		data = append(data, d)
		cis = append(cis, ci)
	}
}
