package decode

import (
	"encoding/binary"
	"errors"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// LinkTypeLinuxSLL2 stands for LINKTYPE_LINUX_SLL2 (276): the Linux cooked
// capture header, version 2, which tcpdump -i any writes since libpcap 1.10.
// gopacket 1.1.19 knows only version 1, and its LinkType is a byte: pcapgo
// reads 276 as 276 mod 256 = 20. LINKTYPE 20 is not assigned
// (https://www.tcpdump.org/linktypes.html), so 20 means SLL2 here; tap reads
// the link type's full 16 bits from the file and refuses the other values
// above 255 by number, which would otherwise alias a real one.
const LinkTypeLinuxSLL2 layers.LinkType = 276 % 256

// LinkTypeLinuxSLL2Number is SLL2's number in capture files.
const LinkTypeLinuxSLL2Number = 276

// LayerTypeLinuxSLL2 is the layer of the SLL2 header.
var LayerTypeLinuxSLL2 = gopacket.RegisterLayerType(1276, gopacket.LayerTypeMetadata{
	Name:    "LinuxSLL2",
	Decoder: gopacket.DecodeFunc(decodeLinuxSLL2),
})

// linuxSLL2 is the 20-byte header of https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html:
//
//	protocol type (2, big endian: an EtherType), reserved (2),
//	interface index (4), ARPHRD_ type (2), packet type (1),
//	link-layer address length (1), link-layer address (8, padded)
type linuxSLL2 struct {
	layers.BaseLayer
	Protocol       layers.EthernetType
	InterfaceIndex uint32
	ARPHRD         uint16
	PacketType     layers.LinuxSLLPacketType
}

const sll2Len = 20

var errSLL2Short = errors.New("linux cooked v2 header shorter than 20 bytes")

func (s *linuxSLL2) LayerType() gopacket.LayerType { return LayerTypeLinuxSLL2 }

func (s *linuxSLL2) CanDecode() gopacket.LayerClass { return LayerTypeLinuxSLL2 }

func (s *linuxSLL2) NextLayerType() gopacket.LayerType { return s.Protocol.LayerType() }

func (s *linuxSLL2) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < sll2Len {
		df.SetTruncated()
		return errSLL2Short
	}
	s.Protocol = layers.EthernetType(binary.BigEndian.Uint16(data[0:2]))
	s.InterfaceIndex = binary.BigEndian.Uint32(data[4:8])
	s.ARPHRD = binary.BigEndian.Uint16(data[8:10])
	s.PacketType = layers.LinuxSLLPacketType(data[10])
	s.BaseLayer = layers.BaseLayer{Contents: data[:sll2Len], Payload: data[sll2Len:]}
	return nil
}

func decodeLinuxSLL2(data []byte, p gopacket.PacketBuilder) error {
	s := &linuxSLL2{}
	if err := s.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(s)
	return p.NextDecoder(s.Protocol)
}
