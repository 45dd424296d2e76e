package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// frame is one captured frame decoded down to its transport layer. Its
// layers are reused from one frame to the next.
type frame struct {
	t        time.Time
	src, dst netip.Addr
	tcp      *layers.TCP // nil unless the frame holds TCP
	udp      *layers.UDP // nil unless the frame holds UDP
}

// eachFrame reads the pcap files, puts their frames in time order (a
// stable sort: the frames of one file keep their order at equal times) and
// calls fn with each IP frame, decoded.
func eachFrame(files []string, fn func(*frame)) error {
	type raw struct {
		t    time.Time
		data []byte
	}
	var all []raw
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		rd, err := pcapgo.NewReader(bufio.NewReader(f))
		if err != nil {
			f.Close()
			return fmt.Errorf("lab: %s: %w", name, err)
		}
		for {
			data, ci, err := rd.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("lab: %s: %w", name, err)
			}
			all = append(all, raw{ci.Timestamp, data})
		}
		f.Close()
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })

	var (
		eth  layers.Ethernet
		dot1 layers.Dot1Q
		ip4  layers.IPv4
		ip6  layers.IPv6
		tcp  layers.TCP
		udp  layers.UDP
		pl   gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1, &ip4, &ip6, &tcp, &udp, &pl)
	parser.IgnoreUnsupported = true
	var decoded []gopacket.LayerType
	for _, r := range all {
		parser.DecodeLayers(r.data, &decoded)
		fr := frame{t: r.t}
		for _, lt := range decoded {
			switch lt {
			case layers.LayerTypeIPv4:
				fr.src, _ = netip.AddrFromSlice(ip4.SrcIP)
				fr.dst, _ = netip.AddrFromSlice(ip4.DstIP)
			case layers.LayerTypeIPv6:
				fr.src, _ = netip.AddrFromSlice(ip6.SrcIP)
				fr.dst, _ = netip.AddrFromSlice(ip6.DstIP)
			case layers.LayerTypeTCP:
				fr.tcp = &tcp
			case layers.LayerTypeUDP:
				fr.udp = &udp
			}
		}
		if fr.src.IsValid() && (fr.tcp != nil || fr.udp != nil) {
			fn(&fr)
		}
	}
	return nil
}
