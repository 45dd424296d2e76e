package tftpstate

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/google/go-cmp/cmp"
)

var (
	cli  = netip.MustParseAddrPort("10.77.0.2:40000")
	srv  = netip.MustParseAddrPort("10.77.0.1:69")
	tid  = netip.MustParseAddrPort("10.77.0.1:50001")
	tid2 = netip.MustParseAddrPort("10.77.0.1:50002")
	t0   = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// run feeds packets to a tracker, 10ms apart, flushes and returns the events.
type run struct {
	t   *testing.T
	tr  *Tracker
	now time.Time
	evs []event.Event
}

func newRun(t *testing.T, cfg *Config) *run {
	r := &run{t: t, now: t0}
	r.tr = New(cfg, func(ev *event.Event) { r.evs = append(r.evs, *ev) })
	return r
}

func (r *run) udp(src, dst netip.AddrPort, payload []byte) {
	r.now = r.now.Add(10 * time.Millisecond)
	r.tr.Feed(&event.Packet{Time: r.now, Transport: event.TransportUDP, Src: src, Dst: dst, Payload: payload, Length: len(payload)})
}

func (r *run) icmp(src, dst netip.AddrPort, code uint8) {
	r.now = r.now.Add(10 * time.Millisecond)
	r.tr.Feed(&event.Packet{Time: r.now, Transport: event.TransportUnreachable, Src: src, Dst: dst, Code: code})
}

func (r *run) flush() []event.Event {
	r.tr.Flush(r.now)
	return r.evs
}

func req(op Opcode, file, mode string, opts ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(op))
	for _, s := range append([]string{file, mode}, opts...) {
		b = append(append(b, s...), 0)
	}
	return b
}

func data(block uint16, n int) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(OpDATA))
	b = binary.BigEndian.AppendUint16(b, block)
	return append(b, make([]byte, n)...)
}

func ack(block uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, uint16(OpACK)), block)
}

func oack(opts ...string) []byte {
	return req(OpOACK, opts[0], opts[1], opts[2:]...)
}

func errPkt(code uint16, msg string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(OpERROR))
	b = binary.BigEndian.AppendUint16(b, code)
	return append(append(b, msg...), 0)
}

// summary is what a test compares of an event.
type summary struct {
	Type, Kind, Op, File, Mode, Reason, Transfer string
	Bytes, Blocks, Retransmits                   int64
	BlkSize, ErrorCode                           int
	Complete                                     bool
}

func sum(evs []event.Event) []summary {
	var out []summary
	for _, ev := range evs {
		s := summary{Type: ev.Type.String(), Kind: ev.Kind, File: ev.File, Reason: ev.Reason, Bytes: ev.Bytes, Complete: ev.Complete}
		if tf := ev.TFTP; tf != nil {
			s.Op, s.Mode, s.Blocks, s.Retransmits, s.BlkSize = tf.Op, tf.Mode, tf.Blocks, tf.Retransmits, tf.BlkSize
			if ev.Type == event.TypeTFTPEnd {
				s.ErrorCode = tf.ErrorCode
				if tf.Transfer.IsValid() {
					s.Transfer = tf.Transfer.String()
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func request(op, file string) summary {
	return summary{Type: "tftp.request", Op: op, File: file, Mode: "octet"}
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name string
		cfg  *Config
		feed func(r *run)
		want []summary
	}{
		{"read of a multiple of 512: the empty last block, a retransmission", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "a.bin", "octet"))
			r.udp(tid, cli, data(1, 512))
			r.udp(cli, tid, ack(1))
			r.udp(tid, cli, data(2, 512))
			r.udp(tid, cli, data(2, 512)) // retransmitted
			r.udp(cli, tid, ack(2))
			r.udp(tid, cli, data(3, 0))
			r.udp(cli, tid, ack(3))
			r.udp(tid, cli, data(3, 0)) // a straggler after the end
		}, []summary{request("read", "a.bin"),
			{Type: "tftp.end", Op: "read", File: "a.bin", Mode: "octet", Reason: "done", Bytes: 1024, Blocks: 3, BlkSize: 512, Complete: true, Retransmits: 1, ErrorCode: -1, Transfer: tid.String()}}},
		{"read with blksize and tsize accepted", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "b.bin", "OCTET", "blksize", "1468", "tsize", "0"))
			r.udp(tid, cli, oack("blksize", "1468", "tsize", "2000"))
			r.udp(cli, tid, ack(0))
			r.udp(tid, cli, data(1, 1468))
			r.udp(cli, tid, ack(1))
			r.udp(tid, cli, data(2, 532))
			r.udp(cli, tid, ack(2))
		}, []summary{request("read", "b.bin"),
			{Type: "tftp.end", Op: "read", File: "b.bin", Mode: "octet", Reason: "done", Bytes: 2000, Blocks: 2, BlkSize: 1468, Complete: true, ErrorCode: -1, Transfer: tid.String()}}},
		{"tsize that does not match", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "b.bin", "octet", "tsize", "0"))
			r.udp(tid, cli, oack("tsize", "999"))
			r.udp(cli, tid, ack(0))
			r.udp(tid, cli, data(1, 100))
			r.udp(cli, tid, ack(1))
		}, []summary{request("read", "b.bin"),
			{Type: "tftp.end", Op: "read", File: "b.bin", Mode: "octet", Reason: "done", Bytes: 100, Blocks: 1, BlkSize: 512, Complete: true, ErrorCode: -1, Transfer: tid.String()},
			{Type: "alert", Kind: "tftp_size_mismatch"}}},
		{"write", nil, func(r *run) {
			r.udp(cli, srv, req(OpWRQ, "up.bin", "octet"))
			r.udp(tid, cli, ack(0))
			r.udp(cli, tid, data(1, 512))
			r.udp(tid, cli, ack(1))
			r.udp(cli, tid, data(2, 10))
			r.udp(tid, cli, ack(2))
		}, []summary{request("write", "up.bin"),
			{Type: "tftp.end", Op: "write", File: "up.bin", Mode: "octet", Reason: "done", Bytes: 522, Blocks: 2, BlkSize: 512, Complete: true, ErrorCode: -1, Transfer: tid.String()}}},
		{"last block never acknowledged", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "c.bin", "octet"))
			r.udp(tid, cli, data(1, 10))
			r.udp(tid, cli, data(1, 10))
		}, []summary{request("read", "c.bin"),
			{Type: "tftp.end", Op: "read", File: "c.bin", Mode: "octet", Reason: "timeout", Bytes: 0, Blocks: 1, BlkSize: 512, Retransmits: 1, ErrorCode: -1, Transfer: tid.String()},
			{Type: "alert", Kind: "tftp_reply_blocked"}}},
		{"file not found", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "nope", "netascii"))
			r.udp(tid, cli, errPkt(1, "File not found"))
		}, []summary{{Type: "tftp.request", Op: "read", File: "nope", Mode: "netascii"},
			{Type: "tftp.end", Op: "read", File: "nope", Mode: "netascii", Reason: "error", BlkSize: 512, ErrorCode: 1, Transfer: tid.String()},
			{Type: "alert", Kind: "tftp_error"}}},
		{"nothing listens: ICMP port unreachable", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "x", "octet"))
			r.icmp(cli, srv, 3)
			r.udp(cli, srv, req(OpRRQ, "x", "octet"))
			r.icmp(cli, srv, 3)
		}, []summary{request("read", "x"),
			{Type: "tftp.end", Op: "read", File: "x", Mode: "octet", Reason: "timeout", BlkSize: 512, Retransmits: 1, ErrorCode: -1},
			{Type: "alert", Kind: "tftp_no_reply"}}},
		{"a firewall refuses the request with ICMP administratively prohibited", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "x", "octet"))
			r.icmp(cli, srv, 13)
		}, []summary{request("read", "x"),
			{Type: "tftp.end", Op: "read", File: "x", Mode: "octet", Reason: "timeout", BlkSize: 512, ErrorCode: -1},
			{Type: "alert", Kind: "tftp_no_reply"}}},
		{"the reply from a new port blocked: the client asks again, two server ports answer", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "y", "octet"))
			r.udp(tid, cli, data(1, 512))
			r.udp(cli, srv, req(OpRRQ, "y", "octet"))
			r.udp(tid2, cli, data(1, 512))
			r.udp(tid, cli, data(1, 512))
		}, []summary{request("read", "y"),
			{Type: "tftp.end", Op: "read", File: "y", Mode: "octet", Reason: "timeout", Bytes: 0, Blocks: 1, BlkSize: 512, Retransmits: 2, ErrorCode: -1, Transfer: tid.String()},
			{Type: "alert", Kind: "tftp_reply_blocked"}}},
		{"a second answer told off by the client does not end the transfer", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "z", "octet"))
			r.udp(cli, srv, req(OpRRQ, "z", "octet"))
			r.udp(tid, cli, data(1, 5))
			r.udp(tid2, cli, data(1, 5))
			r.udp(cli, tid, ack(1))
			r.udp(cli, tid2, errPkt(5, "Unknown transfer ID"))
		}, []summary{request("read", "z"),
			{Type: "tftp.end", Op: "read", File: "z", Mode: "octet", Reason: "done", Bytes: 5, Blocks: 1, BlkSize: 512, Complete: true, Retransmits: 1, ErrorCode: -1, Transfer: tid.String()}}},
		{"stalled mid-way: idle timeout on packet time", &Config{Timeout: 5 * time.Second}, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "s", "octet"))
			r.udp(tid, cli, data(1, 512))
			r.udp(cli, tid, ack(1))
			r.udp(tid, cli, data(2, 512))
			r.tr.Advance(r.now.Add(6 * time.Second))
		}, []summary{request("read", "s"),
			{Type: "tftp.end", Op: "read", File: "s", Mode: "octet", Reason: "timeout", Bytes: 512, Blocks: 2, BlkSize: 512, ErrorCode: -1, Transfer: tid.String()},
			{Type: "alert", Kind: "tftp_stall"}}},
		{"cap on transfers", &Config{MaxTransfers: 1}, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "one", "octet"))
			r.udp(netip.MustParseAddrPort("10.77.0.2:40001"), srv, req(OpRRQ, "two", "octet"))
			r.udp(netip.MustParseAddrPort("10.77.0.2:40002"), srv, req(OpRRQ, "three", "octet"))
		}, []summary{request("read", "one"), {Type: "alert", Kind: "tftp_too_many_transfers"},
			{Type: "tftp.end", Op: "read", File: "one", Mode: "octet", Reason: "timeout", BlkSize: 512, ErrorCode: -1},
			{Type: "alert", Kind: "tftp_no_reply"}}},
		{"windowsize 4 (RFC 7440): one ACK per four blocks, mode mail reported", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "w.bin", "MAIL", "windowsize", "4"))
			r.udp(tid, cli, oack("windowsize", "4"))
			r.udp(cli, tid, ack(0))
			for b := uint16(1); b <= 4; b++ {
				r.udp(tid, cli, data(b, 512))
			}
			r.udp(cli, tid, ack(4))
			r.udp(tid, cli, data(5, 512))
			r.udp(tid, cli, data(6, 1))
			r.udp(cli, tid, ack(6))
		}, []summary{{Type: "tftp.request", Op: "read", File: "w.bin", Mode: "mail"},
			{Type: "tftp.end", Op: "read", File: "w.bin", Mode: "mail", Reason: "done", Bytes: 5*512 + 1, Blocks: 6, BlkSize: 512, Complete: true, ErrorCode: -1, Transfer: tid.String()}}},
		{"the client went away: its port answers ICMP unreachable", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "g", "octet"))
			r.udp(tid, cli, data(1, 512))
			r.udp(cli, tid, ack(1))
			r.udp(tid, cli, data(2, 512))
			r.icmp(tid, cli, 3)
			r.udp(tid, cli, data(2, 512))
		}, []summary{request("read", "g"),
			{Type: "tftp.end", Op: "read", File: "g", Mode: "octet", Reason: "timeout", Bytes: 512, Blocks: 2, BlkSize: 512, Retransmits: 1, ErrorCode: -1, Transfer: tid.String()},
			{Type: "alert", Kind: "tftp_stall"}}},
		{"a capture that missed blocks", nil, func(r *run) {
			r.udp(cli, srv, req(OpWRQ, "m", "octet"))
			r.udp(tid, cli, ack(0))
			r.udp(cli, tid, data(1, 512))
			r.udp(cli, tid, data(3, 7)) // blocks 2 and its ACKs not captured
			r.udp(tid, cli, ack(3))
		}, []summary{request("write", "m"),
			{Type: "tftp.end", Op: "write", File: "m", Mode: "octet", Reason: "done", Bytes: 1031, Blocks: 3, BlkSize: 512, Complete: true, ErrorCode: -1, Transfer: tid.String()},
			{Type: "alert", Kind: "tftp_capture_gap"}}},
		{"a new request from the same port abandons a stalled transfer", nil, func(r *run) {
			r.udp(cli, srv, req(OpRRQ, "one", "octet"))
			r.udp(tid, cli, data(1, 512))
			r.udp(cli, tid, ack(1))
			r.udp(cli, srv, req(OpRRQ, "two", "octet"))
			r.udp(tid2, cli, errPkt(1, "File not found"))
		}, []summary{request("read", "one"),
			{Type: "tftp.end", Op: "read", File: "one", Mode: "octet", Reason: "timeout", Bytes: 512, Blocks: 1, BlkSize: 512, ErrorCode: -1, Transfer: tid.String()},
			{Type: "alert", Kind: "tftp_stall"},
			request("read", "two"),
			{Type: "tftp.end", Op: "read", File: "two", Mode: "octet", Reason: "error", BlkSize: 512, ErrorCode: 1, Transfer: tid2.String()},
			{Type: "alert", Kind: "tftp_error"}}},
		{"malformed request", nil, func(r *run) {
			r.udp(cli, srv, []byte("\x00\x01no terminator"))
			r.udp(cli, srv, []byte("\x00\x02\x00octet\x00"))
		}, []summary{{Type: "alert", Kind: "tftp_malformed"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t, tt.cfg)
			tt.feed(r)
			got := sum(r.flush())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			for _, ev := range r.evs {
				js := ev.AppendJSON(nil)
				var m map[string]any
				if err := json.Unmarshal(js, &m); err != nil {
					t.Fatalf("%s: %v", js, err)
				}
				if m["proto"] != "tftp" || !strings.HasPrefix(m["session"].(string), "t") || m["client"] == "" {
					t.Errorf("event without proto, session or client: %s", js)
				}
				if ev.Kind == "tftp_no_reply" && strings.Contains(ev.Detail, "prohibited") != strings.Contains(ev.Detail, "a firewall on the way refuses") {
					t.Errorf("an ICMP prohibited is a firewall, not nothing listening: %s", ev.Detail)
				}
				if ev.Type == event.TypeAlert && len(ev.Detail) < 20 {
					t.Errorf("alert %s without a plain-words detail: %q", ev.Kind, ev.Detail)
				}
			}
		})
	}
}

// TestWrap moves a file past block 65535 (32 MiB at blksize 512) and checks
// that blocks and bytes count on across the wrap to 0.
func TestWrap(t *testing.T) {
	r := newRun(t, nil)
	r.udp(cli, srv, req(OpRRQ, "big.bin", "octet"))
	const blocks = 70000
	for i := 1; i <= blocks; i++ {
		n := 512
		if i == blocks {
			n = 100
		}
		r.udp(tid, cli, data(uint16(i), n))
		if i == 65536 {
			r.udp(tid, cli, data(uint16(i), n)) // a retransmission right at the wrap
		}
		r.udp(cli, tid, ack(uint16(i)))
	}
	evs := r.flush()
	if len(evs) != 2 {
		t.Fatalf("%d events: %+v", len(evs), sum(evs))
	}
	e := evs[1]
	if want := int64(blocks-1)*512 + 100; e.Bytes != want || e.TFTP.Blocks != blocks || !e.Complete || e.Reason != "done" || e.TFTP.Retransmits != 1 {
		t.Errorf("end: bytes %d (want %d) blocks %d complete %v reason %s retransmits %d", e.Bytes, want, e.TFTP.Blocks, e.Complete, e.Reason, e.TFTP.Retransmits)
	}
}

func TestEventJSON(t *testing.T) {
	r := newRun(t, nil)
	r.udp(cli, srv, req(OpRRQ, "b.bin", "octet", "blksize", "1468", "tsize", "0"))
	r.udp(tid, cli, errPkt(8, "bad options"))
	evs := r.flush()
	got := string(evs[0].AppendJSON(nil)) + "\n" + string(evs[1].AppendJSON(nil))
	want := `{"v":1,"tap":"","seq":0,"ts":"2026-01-02T03:04:05.010000Z","type":"tftp.request","proto":"tftp","session":"t1","client":"10.77.0.2:40000","server":"10.77.0.1:69","op":"read","file":"b.bin","mode":"octet","options":{"blksize":"1468","tsize":"0"}}
{"v":1,"tap":"","seq":0,"ts":"2026-01-02T03:04:05.020000Z","type":"tftp.end","proto":"tftp","session":"t1","client":"10.77.0.2:40000","server":"10.77.0.1:69","op":"read","file":"b.bin","mode":"octet","options":{"blksize":"1468","tsize":"0"},"bytes":0,"bytes_sent":0,"blocks":0,"blksize":512,"complete":false,"error_code":8,"error":"option negotiation refused","text":"bad options","reason":"error","transfer":"10.77.0.1:50001","duration_ms":10,"retransmits":0}`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	if s := evs[0].Subject(); s != "tftp.request.read" {
		t.Errorf("subject %q", s)
	}
	if s := evs[1].Subject(); s != "tftp.end" {
		t.Errorf("subject %q", s)
	}
}

// TestClockStep: the packet clock steps back a day, then forward a year,
// in the middle of a transfer (NTP setting a Pi's clock): the transfer
// carries on to its end, no timeout fires, its duration stays true, and
// events carry the new clock.
func TestClockStep(t *testing.T) {
	r := newRun(t, &Config{Timeout: 5 * time.Second})
	r.udp(cli, srv, req(OpRRQ, "c.bin", "octet"))
	r.udp(tid, cli, data(1, 512))
	r.now = r.now.Add(-24 * time.Hour)
	r.udp(cli, tid, ack(1))
	r.udp(tid, cli, data(2, 512))
	r.tr.Advance(r.now.Add(time.Second))
	r.now = r.now.Add(365 * 24 * time.Hour)
	r.udp(cli, tid, ack(2))
	r.udp(tid, cli, data(3, 1))
	r.udp(cli, tid, ack(3))
	evs := r.flush()
	got := sum(evs)
	want := []summary{request("read", "c.bin"),
		{Type: "tftp.end", Op: "read", File: "c.bin", Mode: "octet", Reason: "done", Bytes: 1025, Blocks: 3, BlkSize: 512, Complete: true, ErrorCode: -1, Transfer: tid.String()}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	// 60 ms of packets and the second Advance let pass; the steps none.
	if end := evs[1]; end.DurationMS < 60 || end.DurationMS > 1060 || !end.Time.Equal(r.now) {
		t.Errorf("end at %v after %d ms, want %v after 60 to 1060 ms", end.Time, end.DurationMS, r.now)
	}
	if n := r.tr.Stats().ClockSteps; n != 2 {
		t.Errorf("%d clock steps, want 2", n)
	}
}
