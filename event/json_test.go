package event

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestAppendTime: the hand-made timestamp is time.Time.AppendFormat's, for
// times across the years (the layout's four-digit ones, and outside them),
// in any zone.
func TestAppendTime(t *testing.T) {
	const layout = "2006-01-02T15:04:05.000000Z"
	zone := time.FixedZone("x", -(9*3600 + 30*60))
	times := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 6, 7, 8, 9, 10, 11, time.UTC),
		time.Date(2026, 11, 25, 10, 0, 0, 1500, zone),
		time.Unix(0, 0),
	}
	for _, d := range []string{"0000-01-01", "0000-02-29", "0000-03-01", "1600-02-29", "1900-02-28", "1900-03-01",
		"1969-12-31", "1970-01-01", "2000-02-29", "2024-12-31", "2100-03-01", "9999-12-31"} {
		day, err := time.Parse("2006-01-02", d)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, day, day.Add(-time.Nanosecond), day.Add(24*time.Hour-time.Microsecond))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(r.Int64N(400<<30)-200<<30, r.Int64N(1e9)).In(zone))
	}
	for _, tm := range times {
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format(layout); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// TestAppendStringEscapes: what a terminal could act on is escaped (C0
// controls, DEL, C1 controls), as are the JSON specials and the line
// separators; other text, UTF-8 beyond U+009F included, is kept as it is.
func TestAppendStringEscapes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text <&>", `"plain text <&>"`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"\r\n\t", `"\r\n\t"`},
		{"\x00\x1b[31m\x1f", `"\u0000\u001b[31m\u001f"`},
		{"del\x7f", `"del\u007f"`},
		{"c1 \u0080 \u0085 \u009b2J \u009f", `"c1 \u0080 \u0085 \u009b2J \u009f"`},
		{"\u00a0nbsp \u00e9t\u00e9 \u65e5\u672c", "\"\u00a0nbsp \u00e9t\u00e9 \u65e5\u672c\""},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"bad \xff \xc2", `"bad \ufffd \ufffd"`},
	} {
		if got := string(appendString(nil, tt.in)); got != tt.want {
			t.Errorf("appendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestAppendAddr: the endpoints are written as netip.AddrPort.AppendTo
// writes them, IPv4 by a path of its own, IPv6 (mapped IPv4 and zones
// included) by AppendTo itself; the zero AddrPort as an empty string.
func TestAppendAddr(t *testing.T) {
	aps := []netip.AddrPort{{},
		netip.MustParseAddrPort("0.0.0.0:0"), netip.MustParseAddrPort("255.255.255.255:65535"),
		netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("[::ffff:10.1.2.3]:21"),
		netip.MustParseAddrPort("[2001:db8::1]:21"), netip.MustParseAddrPort("[fe80::1%eth0]:2121"),
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		var a [4]byte
		for i := range a {
			a[i] = byte(r.IntN(256))
		}
		aps = append(aps, netip.AddrPortFrom(netip.AddrFrom4(a), uint16(r.IntN(65536))))
	}
	for _, ap := range aps {
		want := `,"k":"` + string(ap.AppendTo(nil)) + `"`
		if !ap.IsValid() {
			want = `,"k":""`
		}
		if got := string(appendAddr(nil, "k", ap)); got != want {
			t.Fatalf("appendAddr(%v) = %s, want %s", ap, got, want)
		}
	}
}

func benchEvents() []Event {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)
	c, s := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:21")
	return []Event{
		{Tap: "bench", Seq: 1, Time: t0, Type: TypeRequest, Proto: ProtoFTP, Session: 42, Client: c, Server: s, Command: "CWD", Arg: "pub"},
		{Tap: "bench", Seq: 2, Time: t0, Type: TypeResponse, Proto: ProtoFTP, Session: 42, Client: c, Server: s, Command: "CWD", Code: 250, Text: "Directory successfully changed."},
		{Tap: "bench", Seq: 3, Time: t0, Type: TypeTransferEnd, Proto: ProtoFTP, Session: 42, Client: c, Server: s, Command: "RETR", File: "pub/file.bin",
			Direction: DirDownload, Bytes: 1 << 20, Code: 226, Complete: true, Mode: ModePassive, DurationMS: 12, Endpoint: s},
	}
}

// TestAppendJSONNoAllocs: encoding an event into a buffer that has room
// allocates nothing.
func TestAppendJSONNoAllocs(t *testing.T) {
	evs := benchEvents()
	buf := make([]byte, 0, 1024)
	for _, ev := range evs {
		if n := testing.AllocsPerRun(100, func() { buf = ev.AppendJSON(buf[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations, want 0", ev.Type, n)
		}
	}
}

// BenchmarkAppendJSON reports events encoded per second (a request, a
// response and a transfer.end in turn).
func BenchmarkAppendJSON(b *testing.B) {
	evs := benchEvents()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = evs[i%len(evs)].AppendJSON(buf[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
