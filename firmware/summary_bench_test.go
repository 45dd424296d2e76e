package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/pipeline"
)

// sessionFrames builds the frames of one short FTP session between
// 10.0.0.2:40000 and 10.255.0.1:21 (handshake, login, QUIT, FINs); the
// benchmark patches addresses and ports into copies.
func sessionFrames(tb testing.TB) [][]byte {
	tb.Helper()
	cl, sv := net.IP{10, 0, 0, 2}, net.IP{10, 255, 0, 1}
	cseq, sseq := uint32(1000), uint32(5000)
	var out [][]byte
	seg := func(fromClient bool, syn, fin bool, payload string) {
		src, dst, sp, dp, seq, ack := cl, sv, 40000, 21, cseq, sseq
		if !fromClient {
			src, dst, sp, dp, seq, ack = sv, cl, 21, 40000, sseq, cseq
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: ack, SYN: syn, FIN: fin, ACK: !(syn && fromClient), PSH: payload != "", Window: 65535}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			tb.Fatal(err)
		}
		out = append(out, append([]byte(nil), buf.Bytes()...))
		n := uint32(len(payload))
		if syn || fin {
			n++
		}
		if fromClient {
			cseq += n
		} else {
			sseq += n
		}
	}
	seg(true, true, false, "")
	seg(false, true, false, "")
	seg(true, false, false, "")
	seg(false, false, false, "220 ready\r\n")
	seg(true, false, false, "USER anonymous\r\n")
	seg(false, false, false, "331 Password please.\r\n")
	seg(true, false, false, "PASS x@y\r\n")
	seg(false, false, false, "230 Login successful.\r\n")
	seg(true, false, false, "QUIT\r\n")
	seg(false, false, false, "221 Goodbye.\r\n")
	seg(false, false, true, "")
	seg(true, false, true, "")
	seg(false, false, false, "")
	return out
}

// fromServer says which of sessionFrames' frames the server sends.
var fromServer = []bool{false, true, false, true, false, true, false, true, false, true, true, false, true}

type eofSource struct{}

func (eofSource) ReadFrame() (pipeline.Frame, error) { return pipeline.Frame{}, io.EOF }

// peakRSS is the process's peak resident set (VmHWM), in MiB.
func peakRSS(tb testing.TB) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// countWriter counts what the summary writes.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkSummaryMillion runs replay --summary's sinks over a generated
// capture of one million FTP sessions (13 frames each, 64 open at a time)
// and reports the process's peak RSS: the summary streams, so memory
// follows the sessions open at once, not the capture (an unstreamed summary took 1.0 GB for
// a 560 MB capture). Run it alone for a meaningful peak:
//
//	go test -run='^$' -bench=BenchmarkSummaryMillion -benchtime=1x ./firmware
func BenchmarkSummaryMillion(b *testing.B) {
	sessions := 1_000_000
	if raceEnabled {
		sessions = 2_000
	}
	tmpl := sessionFrames(b)
	const open = 64 // sessions interleaved
	frames := make([][]byte, open*len(tmpl))
	for i := range frames {
		frames[i] = append([]byte(nil), tmpl[i%len(tmpl)]...)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var out countWriter
		sum := newSummary(&out)
		p, err := pipeline.New(pipeline.Options{Tap: "bench", Sinks: []pipeline.Sink{sum}})
		if err != nil {
			b.Fatal(err)
		}
		ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
		for base := 0; base < sessions; base += open {
			// 64 sessions, their frames interleaved: frame k of each,
			// then frame k+1.
			for k := range tmpl {
				for j := 0; j < open && base+j < sessions; j++ {
					id := uint32(base + j)
					f := frames[j*len(tmpl)+k]
					// The client is 10.x.y.z: patch its address into
					// the source or destination, as the frame goes.
					off := 26 // IPv4 source
					if fromServer[k] {
						off = 30 // the client is the destination
					}
					binary.BigEndian.PutUint32(f[off:], 10<<24|id&0xffffff)
					ts = ts.Add(time.Microsecond)
					p.Feed(pipeline.Frame{Data: f, Info: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}, LinkType: layers.LinkTypeEthernet})
				}
			}
		}
		if err := p.Run(context.Background(), eofSource{}); err != nil { // the flush
			b.Fatal(err)
		}
		sum.write(&out)
		if got := sum.sessions; got != sessions {
			b.Fatalf("%d sessions in the summary, want %d", got, sessions)
		}
		b.ReportMetric(float64(out.n)/float64(sessions), "summary_B/session")
	}
	b.ReportMetric(float64(sessions*b.N)/b.Elapsed().Seconds(), "sessions/s")
	b.ReportMetric(peakRSS(b), "peak_rss_MiB")
}
