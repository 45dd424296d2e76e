package carve_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ftptap/ftptap/carve"
	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/ftpstate"
	"github.com/ftptap/ftptap/internal/replaytest"
	"github.com/ftptap/ftptap/pipeline"
)

// BenchmarkCarve feeds a transfer in 1448-byte segments, in order, to the
// carver: each written at its offset and hashed (SHA-256). It reports
// MB/s through the carver (b.SetBytes) and CPU seconds per GB carved.
func BenchmarkCarve(b *testing.B) {
	dir := b.TempDir()
	c, err := carve.New(carve.Config{Dir: dir, MinFreeBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 1448)
	for i := range payload {
		payload[i] = byte(i)
	}
	const perFile = 64 << 20
	seg := ftpstate.DataSegment{Session: 1, Command: "RETR", Sender: true, Payload: payload}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	var xfer uint64 = 1
	var off int64
	for range b.N {
		seg.Transfer, seg.Offset = xfer, off
		c.Data(&seg)
		off += int64(len(payload))
		if off >= perFile {
			ev := event.Event{Type: event.TypeTransferEnd, Proto: event.ProtoFTP, Session: 1, Transfer: xfer, Command: "RETR", File: "f.bin", Direction: event.DirDownload, Bytes: off, Complete: true, Time: time.Unix(0, 0)}
			c.Annotate(&ev)
			os.RemoveAll(filepath.Join(dir, "1970-01-01"))
			xfer++
			off = 0
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	gb := float64(b.N) * float64(len(payload)) / 1e9
	b.ReportMetric(cpu.Seconds()/gb, "cpu-s/GB")
	c.Close()
}

// BenchmarkCarveReplay replays the lab's captures with carving on, from
// memory: frames decoded, tracked, carved and hashed. It reports the MB/s
// of files carved.
func BenchmarkCarveReplay(b *testing.B) {
	var files [][]string
	for _, d := range labCaptures(b, labDir) {
		files = append(files, tapPorts(d))
	}
	var carved int64
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		out := b.TempDir()
		for _, f := range files {
			for _, ev := range replayCarve(b, out, carve.Config{MinFreeBytes: -1}, f...) {
				if ev.Type == event.TypeTransferEnd && ev.Carved != "" {
					carved += ev.Bytes - ev.Gaps
				}
			}
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(carved)/1e6/b.Elapsed().Seconds(), "carved-MB/s")
	b.ReportMetric(cpu.Seconds()/(float64(carved)/1e9), "cpu-s/GB")
}

// synthSession builds the frames of one FTP session that downloads size
// bytes in passive mode: handshake, greeting, USER, PASV, the data
// connection, RETR, the data in 1448-byte segments, 226, QUIT.
func synthSession(tb testing.TB, size int) []pipeline.Frame {
	tb.Helper()
	cli, srv := net.IPv4(10, 0, 0, 2), net.IPv4(10, 0, 0, 1)
	ts := time.Unix(1700000000, 0)
	var out []pipeline.Frame
	seq := map[uint16]uint32{40000: 1000, 21: 5000, 40001: 9000, 50000: 70000}
	mk := func(from bool, sport, dport uint16, flags string, payload []byte) {
		src, dst := cli, srv
		if !from {
			src, dst = srv, cli
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq[sport], Ack: seq[dport], Window: 65535,
			SYN: strings.Contains(flags, "S"), FIN: strings.Contains(flags, "F"), ACK: !strings.Contains(flags, "s")}
		tcp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			tb.Fatal(err)
		}
		seq[sport] += uint32(len(payload))
		if tcp.SYN || tcp.FIN {
			seq[sport]++
		}
		ts = ts.Add(10 * time.Microsecond)
		b := bytes.Clone(buf.Bytes())
		side := event.SideA
		if !from {
			side = event.SideB
		}
		out = append(out, pipeline.Frame{Data: b, Info: gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}, Side: side, LinkType: layers.LinkTypeEthernet})
	}
	cmd := func(s string) { mk(true, 40000, 21, "", []byte(s+"\r\n")) }
	reply := func(s string) { mk(false, 21, 40000, "", []byte(s+"\r\n")) }
	mk(true, 40000, 21, "Ss", nil)
	mk(false, 21, 40000, "S", nil)
	mk(true, 40000, 21, "", nil)
	reply("220 ready")
	cmd("USER anonymous")
	reply("230 ok")
	cmd("PASV")
	reply("227 Entering Passive Mode (10,0,0,1,195,80)")
	mk(true, 40001, 50000, "Ss", nil)
	mk(false, 50000, 40001, "S", nil)
	mk(true, 40001, 50000, "", nil)
	cmd("RETR big.bin")
	reply("150 here it comes")
	chunk := make([]byte, 1448)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for n := 0; n < size; n += len(chunk) {
		mk(false, 50000, 40001, "", chunk[:min(len(chunk), size-n)])
	}
	mk(false, 50000, 40001, "F", nil)
	mk(true, 40001, 50000, "F", nil)
	reply("226 done")
	cmd("QUIT")
	reply("221 bye")
	mk(false, 21, 40000, "F", nil)
	mk(true, 40000, 21, "F", nil)
	return out
}

// BenchmarkCarveReplay32M replays, from memory, one session that
// downloads 32 MiB, through decode, tracking and carving (writing and
// SHA-256): MB/s of the file carved, and CPU seconds per GB.
func BenchmarkCarveReplay32M(b *testing.B) {
	const size = 32 << 20
	frames := synthSession(b, size)
	b.SetBytes(size)
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		out := b.TempDir()
		p, err := pipeline.New(pipeline.Options{Tap: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		addCarver(b, p, carve.Config{Dir: out, MinFreeBytes: -1})
		var got string
		p.AddSink(pipeline.SinkFunc(func(ev *event.Event, _ []byte) {
			if ev.Type == event.TypeTransferEnd && ev.Gaps == 0 && ev.Bytes == size {
				got = ev.Carved
			}
		}))
		if err := p.Run(context.Background(), &replaytest.Source{Frames: frames}); err != nil {
			b.Fatal(err)
		}
		if got == "" {
			b.Fatal("the file was not carved whole")
		}
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(cpu.Seconds()/(float64(b.N)*size/1e9), "cpu-s/GB")
}
