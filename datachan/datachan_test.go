package datachan_test

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/datachan"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/pipeline"
)

var (
	cli = netip.MustParseAddrPort("10.77.0.2:41186")
	srv = netip.MustParseAddrPort("10.77.0.1:21")
)

func TestAnnounced(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name     string
		payload  string
		from     netip.AddrPort
		toServer bool
		want     []netip.AddrPort
	}{
		{"PORT", "PORT 10,77,0,2,192,79\r\n", cli, true, []netip.AddrPort{ap("10.77.0.2:49231")}},
		{"PORT behind a NAT", "PORT 192,168,1,5,192,79\r\n", cli, true, []netip.AddrPort{ap("192.168.1.5:49231"), ap("10.77.0.2:49231")}},
		{"EPRT v6", "EPRT |2|fd77::2|40000|\r\n", netip.MustParseAddrPort("[fd77::2]:5000"), true, []netip.AddrPort{ap("[fd77::2]:40000")}},
		{"227", "227 Entering Passive Mode (10,77,0,1,156,68).\r\n", srv, false, []netip.AddrPort{ap("10.77.0.1:40004")}},
		{"229", "229 Entering Extended Passive Mode (|||40100|)\r\n", srv, false, []netip.AddrPort{ap("10.77.0.1:40100")}},
		{"pipelined in one segment", "200 OK\r\n227 =10,77,0,1,156,69\r\n", srv, false, []netip.AddrPort{ap("10.77.0.1:40005")}},
		{"a reply from the client is not one", "227 (10,77,0,1,156,68)\r\n", cli, true, nil},
		{"a command from the server is not one", "PORT 10,77,0,2,192,79\r\n", srv, false, nil},
		{"malformed", "PORT 10,77,0,2,999,1\r\n227 no numbers\r\n", cli, true, nil},
		{"other commands", "RETR f\r\nLIST\r\n", cli, true, nil},
	}
	for _, tt := range tests {
		got := datachan.Announced([]byte(tt.payload), tt.from, tt.toServer)
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestTable: endpoints join at data.expect or from Watch, leave at the end
// of their connection or session, and the oldest give way past the cap.
func TestTable(t *testing.T) {
	var got []netip.AddrPort
	sets := 0
	var pairs [][2]netip.Addr
	tb := datachan.New(func(eps []netip.AddrPort, ps [][2]netip.Addr) error {
		got = append(got[:0], eps...)
		pairs = append(pairs[:0], ps...)
		sets++
		return nil
	}, nil)
	ep := netip.MustParseAddrPort("10.77.0.1:40004")
	ev := func(typ event.Type, sess uint64, e netip.AddrPort) {
		tb.Event(&event.Event{Type: typ, Proto: event.ProtoFTP, Session: sess, Endpoint: e, To: e}, nil)
	}
	tb.Add(ep) // Watch saw the 227 first
	ev(event.TypeDataExpect, 1, ep)
	if len(got) != 1 || got[0] != ep || sets != 1 {
		t.Fatalf("after the announcement: %v (%d sets)", got, sets)
	}
	ev(event.TypeDataClose, 1, ep)
	if len(got) != 0 {
		t.Errorf("after data.close: %v", got)
	}
	ev(event.TypeDataExpect, 2, ep)
	ev(event.TypeSessionEnd, 2, netip.AddrPort{})
	if len(got) != 0 {
		t.Errorf("after session.end: %v", got)
	}
	// Host pairs: from Watch, confirmed by session.start, gone with the
	// last session.end.
	c, s := netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("10.77.0.1")
	tb.AddPair(s, c)
	tb.Event(&event.Event{Type: event.TypeSessionStart, Proto: event.ProtoFTP, Session: 3, Client: netip.AddrPortFrom(c, 1), Server: netip.AddrPortFrom(s, 21)}, nil)
	tb.Event(&event.Event{Type: event.TypeSessionStart, Proto: event.ProtoFTP, Session: 4, Client: netip.AddrPortFrom(c, 2), Server: netip.AddrPortFrom(s, 21)}, nil)
	tb.AddPair(c, s)
	if len(pairs) != 1 {
		t.Fatalf("pairs %v, want one", pairs)
	}
	tb.Event(&event.Event{Type: event.TypeSessionEnd, Proto: event.ProtoFTP, Session: 3, Client: netip.AddrPortFrom(c, 1), Server: netip.AddrPortFrom(s, 21)}, nil)
	if len(pairs) != 1 {
		t.Errorf("a pair with a session left went: %v", pairs)
	}
	tb.Event(&event.Event{Type: event.TypeSessionEnd, Proto: event.ProtoFTP, Session: 4, Client: netip.AddrPortFrom(c, 2), Server: netip.AddrPortFrom(s, 21)}, nil)
	if len(pairs) != 0 {
		t.Errorf("after the last session.end: pairs %v", pairs)
	}
	// The pipeline reads its frames late: a session between the same hosts
	// ends there after Watch saw the next one open, whose data connection
	// may come before the pipeline's session.start for it. The pair stays
	// until that session ends too.
	sess := func(typ event.Type, id uint64, cport uint16) {
		tb.Event(&event.Event{Type: typ, Proto: event.ProtoFTP, Session: id, Client: netip.AddrPortFrom(c, cport), Server: netip.AddrPortFrom(s, 21)}, nil)
	}
	seg := func(cport uint16, flags event.Flags) {
		tb.Seen(&event.Packet{Src: netip.AddrPortFrom(c, cport), Dst: netip.AddrPortFrom(s, 21), Flags: flags})
	}
	seg(5, event.FlagSYN)
	sess(event.TypeSessionStart, 5, 5)
	seg(6, event.FlagSYN) // the next session opens
	sess(event.TypeSessionEnd, 5, 5)
	if len(pairs) != 1 {
		t.Errorf("the pair went at the end of one session while Watch had seen the next open: %v", pairs)
	}
	sess(event.TypeSessionStart, 6, 6)
	seg(6, event.FlagFIN|event.FlagACK)
	sess(event.TypeSessionEnd, 6, 6)
	if len(pairs) != 0 {
		t.Errorf("after the last session.end: pairs %v", pairs)
	}
	// A SYN the pipeline never reports is let go at its RST.
	seg(7, event.FlagSYN)
	seg(7, event.FlagRST)
	sess(event.TypeSessionStart, 8, 8)
	sess(event.TypeSessionEnd, 8, 8)
	if len(pairs) != 0 {
		t.Errorf("after a SYN reset and the last session.end: pairs %v", pairs)
	}
	for i := range datachan.MaxEndpoints + 5 {
		tb.Add(netip.AddrPortFrom(ep.Addr(), uint16(50000+i)))
	}
	if len(got) != datachan.MaxEndpoints || got[0].Port() != 50005 {
		t.Errorf("past the cap: %d endpoints, the first %v", len(got), got[0])
	}
}

// frames is a pipeline.Source of Ethernet frames, then io.EOF.
type frames [][]byte

func (f *frames) ReadFrame() (pipeline.Frame, error) {
	if len(*f) == 0 {
		return pipeline.Frame{}, io.EOF
	}
	d := (*f)[0]
	*f = (*f)[1:]
	return pipeline.Frame{Data: d, LinkType: layers.LinkTypeEthernet}, nil
}

func segment(t *testing.T, from, to netip.AddrPort, payload string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: from.Addr().AsSlice(), DstIP: to.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(from.Port()), DstPort: layers.TCPPort(to.Port()), Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 512}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWatchLate: when Watch reads a command channel's segments only after
// the pipeline has ended its session (the process was not scheduled for a
// while), they do not bring its host pair back: nothing would remove it,
// and the filter would pass the two hosts' bulk traffic from then on.
func TestWatchLate(t *testing.T) {
	var pairs [][2]netip.Addr
	tb := datachan.New(func(_ []netip.AddrPort, ps [][2]netip.Addr) error {
		pairs = append(pairs[:0], ps...)
		return nil
	}, nil)
	sess := func(typ event.Type, client netip.AddrPort) {
		tb.Event(&event.Event{Type: typ, Proto: event.ProtoFTP, Session: 1, Client: client, Server: srv}, nil)
	}
	sess(event.TypeSessionStart, cli)
	sess(event.TypeSessionEnd, cli)
	if len(pairs) != 0 {
		t.Fatalf("after session.end: pairs %v", pairs)
	}
	late := frames{segment(t, srv, cli, "220 (vsFTPd 3.0.3)\r\n"), segment(t, cli, srv, "PORT 10,77,0,2,192,79\r\n")}
	if err := tb.Watch(&late, nil); err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 0 {
		t.Errorf("the ended session's late segments added pairs %v", pairs)
	}
	if eps := tb.Endpoints(); len(eps) != 0 {
		t.Errorf("the ended session's late PORT added endpoints %v", eps)
	}
	// A new command channel between the same hosts passes at once.
	next := netip.AddrPortFrom(cli.Addr(), cli.Port()+1)
	fresh := frames{segment(t, next, srv, "USER anonymous\r\n")}
	if err := tb.Watch(&fresh, nil); err != nil {
		t.Fatal(err)
	}
	if want := [2]netip.Addr{srv.Addr(), cli.Addr()}; len(pairs) != 1 || pairs[0] != want {
		t.Errorf("a new session's segment: pairs %v, want [%v]", pairs, want)
	}
	// The same client port again, in a new session the pipeline starts.
	sess(event.TypeSessionStart, cli)
	sess(event.TypeSessionEnd, next)
	again := frames{segment(t, cli, srv, "PWD\r\n")}
	if err := tb.Watch(&again, nil); err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 1 {
		t.Errorf("a port used again by a new session: pairs %v, want one", pairs)
	}
}
