package pipeline

import (
	"net"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// frame builds an Ethernet/IPv4/TCP frame (optionally 802.1Q tagged).
func frame(tb testing.TB, src, dst string, sport, dport uint16, seq, ack uint32, syn, fin bool, payload []byte, vlan uint16) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, SYN: syn, FIN: fin, ACK: !syn || ack != 0, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	ls := []gopacket.SerializableLayer{eth}
	if vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: vlan, Type: layers.EthernetTypeIPv4})
	}
	ls = append(ls, ip, tcp, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type benchEnv struct {
	p  *Pipeline
	ts time.Time
	n  int
}

func (e *benchEnv) feed(data []byte) {
	e.ts = e.ts.Add(time.Microsecond)
	e.p.Feed(Frame{Data: data, Info: gopacket.CaptureInfo{Timestamp: e.ts, CaptureLength: len(data), Length: len(data)}, LinkType: layers.LinkTypeEthernet})
	e.n++
}

// newBenchEnv sets up a session with an open passive data connection.
func newBenchEnv(tb testing.TB) *benchEnv {
	tb.Helper()
	var events int
	p, err := New(Options{Tap: "bench", Sinks: []Sink{SinkFunc(func(*event.Event, []byte) { events++ })}})
	if err != nil {
		tb.Fatal(err)
	}
	e := &benchEnv{p: p, ts: t0}
	c, s := "10.0.0.2", "10.0.0.1"
	cs, ss := uint32(1000), uint32(5000)
	send := func(fromClient bool, data string) {
		if fromClient {
			e.feed(frame(tb, c, s, 40000, 21, cs, ss, false, false, []byte(data), 0))
			cs += uint32(len(data))
		} else {
			e.feed(frame(tb, s, c, 21, 40000, ss, cs, false, false, []byte(data), 0))
			ss += uint32(len(data))
		}
	}
	e.feed(frame(tb, c, s, 40000, 21, cs, 0, true, false, nil, 0))
	cs++
	e.feed(frame(tb, s, c, 21, 40000, ss, cs, true, false, nil, 0))
	ss++
	send(false, "220 ready\r\n")
	send(true, "USER anonymous\r\n")
	send(false, "230 ok\r\n")
	send(true, "PASV\r\n")
	send(false, "227 Entering Passive Mode (10,0,0,1,156,64).\r\n")
	e.feed(frame(tb, c, s, 40001, 40000, 7000, 0, true, false, nil, 0))
	e.feed(frame(tb, s, c, 40000, 40001, 9000, 7001, true, false, nil, 0))
	send(true, "RETR big\r\n")
	send(false, "150 go\r\n")
	if events < 8 {
		tb.Fatalf("set-up gave %d events", events)
	}
	return e
}

// BenchmarkFeed measures the per-packet path (decode and track) for the
// three kinds of packets. Unrelated and data-channel packets must not
// allocate.
func BenchmarkFeed(b *testing.B) {
	payload := make([]byte, 1400)
	b.Run("unrelated", func(b *testing.B) {
		e := newBenchEnv(b)
		f := frame(b, "192.168.9.9", "192.168.9.8", 5201, 44444, 1, 1, false, false, payload, 0)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e.feed(f)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
	b.Run("unrelated-vlan", func(b *testing.B) {
		e := newBenchEnv(b)
		f := frame(b, "192.168.9.9", "192.168.9.8", 5201, 44444, 1, 1, false, false, payload, 42)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e.feed(f)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
	b.Run("data", func(b *testing.B) {
		e := newBenchEnv(b)
		// Frames with advancing sequence numbers, built once.
		frames := make([][]byte, 64)
		for i := range frames {
			frames[i] = frame(b, "10.0.0.1", "10.0.0.2", 40000, 40001, 9001+uint32(i*len(payload)), 7001, false, false, payload, 0)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e.feed(frames[i%len(frames)])
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
	b.Run("command", func(b *testing.B) {
		e := newBenchEnv(b)
		cmd := []byte("NOOP\r\n")
		rep := []byte("200 NOOP ok\r\n")
		cs, ss := uint32(1000+1+16+6+10), uint32(5000+1+11+8+47+8)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if i%2 == 0 {
				e.feed(frame(b, "10.0.0.2", "10.0.0.1", 40000, 21, cs, ss, false, false, cmd, 0))
				cs += uint32(len(cmd))
			} else {
				e.feed(frame(b, "10.0.0.1", "10.0.0.2", 21, 40000, ss, cs, false, false, rep, 0))
				ss += uint32(len(rep))
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	})
}

// TestNoAllocs pins the zero-allocation promise for packets off the
// command channel.
func TestNoAllocs(t *testing.T) {
	e := newBenchEnv(t)
	payload := make([]byte, 1400)
	unrelated := frame(t, "192.168.9.9", "192.168.9.8", 5201, 44444, 1, 1, false, false, payload, 7)
	seq := uint32(9001)
	if n := testing.AllocsPerRun(1000, func() { e.feed(unrelated) }); n != 0 {
		t.Errorf("unrelated packet: %v allocations, want 0", n)
	}
	// A link type that cannot be decoded is tried once, not for each frame.
	odd := Frame{Data: unrelated, Info: gopacket.CaptureInfo{Timestamp: t0}, LinkType: layers.LinkType(147)}
	e.p.Feed(odd)
	if n := testing.AllocsPerRun(1000, func() { e.p.Feed(odd) }); n != 0 {
		t.Errorf("frame of an unsupported link type: %v allocations, want 0", n)
	}
	frames := make([][]byte, 1001)
	for i := range frames {
		frames[i] = frame(t, "10.0.0.1", "10.0.0.2", 40000, 40001, seq+uint32(i*len(payload)), 7001, false, false, payload, 0)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { e.feed(frames[i]); i++ }); n != 0 {
		t.Errorf("data-channel packet: %v allocations, want 0", n)
	}
}
