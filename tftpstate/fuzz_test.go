package tftpstate_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/tftpstate"
)

// The fuzz input is a run of datagrams between one client and one server:
// each is a byte that says who sends it to which port (bit 0: from the
// server; bits 1-2: which of the server's ports, 0 being 69), a length
// byte, then that many payload bytes. A byte 0xff instead is an ICMP port
// unreachable about the request.
var (
	fzClient = netip.MustParseAddrPort("10.77.0.2:40000")
	fzPorts  = []uint16{69, 50001, 50002, 50003}
	fzServer = netip.MustParseAddr("10.77.0.1")
)

// seedsFromLab turns each recorded capture into a fuzz input of the shape
// above, so fuzzing starts from real transfers of real servers and
// clients. Payloads are cut at 255 bytes: the short blocks still end
// transfers, the long ones keep their headers.
func seedsFromLab(f *testing.F) [][]byte {
	f.Helper()
	dirs, _ := filepath.Glob(filepath.Join("testdata", "lab", "*"))
	var seeds [][]byte
	for _, dir := range dirs {
		fh, err := os.Open(filepath.Join(dir, "portb.pcap"))
		if err != nil {
			continue
		}
		rd, err := pcapgo.NewReader(fh)
		if err != nil {
			fh.Close()
			continue
		}
		var seed []byte
		ports := map[uint16]byte{69: 0}
		for len(seed) < 8192 {
			data, _, err := rd.ReadPacketData()
			if err != nil {
				break
			}
			pk := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
			u, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if u == nil {
				continue
			}
			fromServer := u.SrcPort == 69 || u.DstPort < 1024 && u.DstPort != 69 || isServer(pk)
			sp := uint16(u.DstPort)
			if fromServer {
				sp = uint16(u.SrcPort)
			}
			idx, ok := ports[sp]
			if !ok {
				idx = byte(len(ports) % 4)
				ports[sp] = idx
			}
			pl := u.Payload
			if len(pl) > 255 {
				pl = pl[:255]
			}
			b := idx << 1
			if fromServer {
				b |= 1
			}
			seed = append(append(seed, b, byte(len(pl))), pl...)
		}
		fh.Close()
		seeds = append(seeds, seed)
	}
	return seeds
}

func isServer(pk gopacket.Packet) bool {
	if n := pk.NetworkLayer(); n != nil {
		src := n.NetworkFlow().Src().String()
		return src == "10.77.0.1" || src == "10.77.0.3" || src == "fd77::1"
	}
	return false
}

func feedFuzz(data []byte) ([]event.Event, int64) {
	var evs []event.Event
	tr := tftpstate.New(&tftpstate.Config{Timeout: 2 * time.Second}, func(ev *event.Event) { evs = append(evs, *ev) })
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var fed int64
	for len(data) >= 2 {
		now = now.Add(100 * time.Millisecond)
		if data[0] == 0xff {
			tr.Feed(&event.Packet{Time: now, Transport: event.TransportUnreachable, Src: fzClient, Dst: netip.AddrPortFrom(fzServer, 69), Code: 3})
			data = data[1:]
			continue
		}
		who, n := data[0], int(data[1])
		data = data[2:]
		if n > len(data) {
			n = len(data)
		}
		srv := netip.AddrPortFrom(fzServer, fzPorts[who>>1&3])
		p := &event.Packet{Time: now, Transport: event.TransportUDP, Src: fzClient, Dst: srv, Payload: data[:n], Length: n}
		if who&1 != 0 {
			p.Src, p.Dst = srv, fzClient
		}
		fed += int64(n)
		tr.Feed(p)
		data = data[n:]
		if who&0x80 != 0 {
			now = now.Add(3 * time.Second) // a pause past the timeout
			tr.Advance(now)
		}
	}
	tr.Flush(now)
	return evs, fed
}

// FuzzTracker feeds arbitrary datagrams and checks the tracker's
// invariants: no panic; the same input gives the same events; every
// tftp.request has exactly one tftp.end after Flush, and no end lacks a
// request; bytes acknowledged never exceed bytes sent, which never exceed
// the payload bytes fed; every event is valid JSON.
func FuzzTracker(f *testing.F) {
	for _, s := range seedsFromLab(f) {
		f.Add(s)
	}
	f.Add([]byte("\x00\x0f\x00\x01f\x00octet\x00\x01\x0c\x00\x03\x00\x01hello!!!\x03\x04\x00\x04\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, fed := feedFuzz(data)
		again, _ := feedFuzz(data)
		if len(again) != len(evs) {
			t.Fatalf("%d events, then %d from the same input", len(evs), len(again))
		}
		open := map[uint64]int{}
		for i, ev := range evs {
			a, b := ev.AppendJSON(nil), again[i].AppendJSON(nil)
			if string(a) != string(b) {
				t.Fatalf("event %d differs between runs:\n%s\n%s", i, a, b)
			}
			var m map[string]any
			if err := json.Unmarshal(a, &m); err != nil {
				t.Fatalf("invalid JSON %s: %v", a, err)
			}
			switch ev.Type {
			case event.TypeTFTPRequest:
				open[ev.Session]++
			case event.TypeTFTPEnd:
				if open[ev.Session] != 1 {
					t.Fatalf("end of t%d without one open request: %s", ev.Session, a)
				}
				open[ev.Session]++
				if ev.Bytes > ev.TFTP.BytesSent {
					t.Fatalf("bytes %d > bytes sent %d: %s", ev.Bytes, ev.TFTP.BytesSent, a)
				}
				if ev.TFTP.BytesSent > fed && ev.TFTP.Blocks > 0 && !gap(evs, ev.Session) {
					t.Fatalf("bytes sent %d > %d fed: %s", ev.TFTP.BytesSent, fed, a)
				}
			}
		}
		for id, n := range open {
			if n != 2 {
				t.Fatalf("transfer t%d: request without end after Flush", id)
			}
		}
	})
}

// gap reports whether a transfer's capture missed blocks (counted at full
// size, so its bytes may exceed what was fed).
func gap(evs []event.Event, id uint64) bool {
	for _, ev := range evs {
		if ev.Session == id && ev.Kind == "tftp_capture_gap" {
			return true
		}
	}
	return false
}

// FuzzParse: any payload parses or gives an error, never a panic; what
// parses stays within the bounds.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"\x00\x01f\x00octet\x00blksize\x001468\x00", "\x00\x03\x00\x01data", "\x00\x04\x00\x01", "\x00\x05\x00\x01File not found\x00", "\x00\x06tsize\x001024\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := tftpstate.Parse(b)
		if err != nil {
			return
		}
		if len(p.File) > tftpstate.MaxFileName || len(p.Options) > tftpstate.MaxOptions || len(p.Message) > tftpstate.MaxErrorText {
			t.Fatalf("out of bounds: %+v", p)
		}
		seen := map[string]bool{}
		for _, o := range p.Options {
			if seen[o.Name] {
				t.Fatalf("option %q twice", o.Name)
			}
			seen[o.Name] = true
		}
	})
}
