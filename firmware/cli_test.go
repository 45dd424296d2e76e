package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ftptap/ftptap/event"
)

// TestHelp: help asked for goes to stdout with exit 0; each command's help
// has an example and shows flags as --flag VALUE.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		out, errs, code := runCmd(t, args...)
		if code != 0 || !strings.Contains(out, "commands:") || errs != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want the command list on stdout, exit 0", args, code, out, errs)
		}
	}
	for _, cmd := range []string{"replay", "run", "watch", "leds", "version"} {
		for _, args := range [][]string{{"help", cmd}, {cmd, "--help"}} {
			out, errs, code := runCmd(t, args...)
			if code != 0 || errs != "" || !strings.Contains(out, "usage: ftptap "+cmd) || !strings.Contains(out, "example") {
				t.Errorf("%q: exit %d, stderr %q, stdout:\n%s\nwant its usage with an example on stdout, exit 0", args, code, errs, out)
			}
		}
	}
	out, _, _ := runCmd(t, "help", "replay")
	for _, want := range []string{"\n  --tap ID\n", "\n  --types TYPES\n", "\n  --summary\n", "\n  --control-port PORT\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("replay help lacks %q:\n%s", want, out)
		}
	}
	// A VALUE is named for what it is (DIR, URL, PORT), never by its Go
	// type, as flag prints an unnamed one.
	for _, cmd := range []string{"replay", "run", "watch", "leds"} {
		out, _, _ := runCmd(t, "help", cmd)
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "  --") && (strings.HasSuffix(l, " STRING") || strings.HasSuffix(l, " INT") || strings.HasSuffix(l, " UINT") || strings.HasSuffix(l, " FLOAT")) {
				t.Errorf("help %s: %q names its value by its Go type", cmd, l)
			}
		}
	}
	if out, _, code := runCmd(t, "--version"); code != 0 || !strings.HasPrefix(out, "ftptap ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if out, errs, code := runCmd(t, "version", "extra"); code != 2 || out != "" || !strings.Contains(errs, "no arguments") {
		t.Errorf("version extra: exit %d, stdout %q, stderr %q; want a usage error, exit 2", code, out, errs)
	}
	// Misuse still goes to stderr, exit 2.
	if out, errs, code := runCmd(t, "replay", "--frobnicate"); code != 2 || out != "" || !strings.Contains(errs, "frobnicate") {
		t.Errorf("bad flag: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// writeLinkPcap writes frames with a link type of one byte.
func writeLinkPcap(t *testing.T, link layers.LinkType, frames ...[]byte) string {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	w.WriteFileHeader(65535, link)
	for i, f := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)), CaptureLength: len(f), Length: len(f)}, f)
	}
	name := filepath.Join(t.TempDir(), "x.pcap")
	os.WriteFile(name, b.Bytes(), 0o644)
	return name
}

// TestReplayNeverSilent: an unsupported link type is an error naming it,
// and every replay, even one that printed nothing, ends with a line saying
// what was read (it used to exit 0 with no output).
func TestReplayNeverSilent(t *testing.T) {
	name := writeLinkPcap(t, layers.LinkTypeIEEE802_11, []byte("0123456789abcdefghijklmnopqrstuvwxyz"), []byte("0123456789abcdefghijklmnopqrstuvwxyz"))
	out, errs, code := runCmd(t, "replay", "--tap", "x", name)
	if code != 1 || out != "" || !strings.Contains(errs, "2 frames not read: decode: link type 802.11 (105) is not supported") {
		t.Errorf("802.11 capture: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if !strings.Contains(errs, "ftptap replay: 2 frames read (2 not TCP/IP), 0 sessions, 0 events in ") {
		t.Errorf("no closing line:\n%s", errs)
	}
	_, errs, code = runCmd(t, "replay", "--tap", "x", filepath.Join(labDir, "pasv-retr", "porta.pcap"))
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if code != 0 || len(lines) != 1 || !closingLine.MatchString(lines[0]) || !strings.Contains(lines[0], " 1 session, ") {
		t.Errorf("good capture: exit %d, stderr %q; want only the closing line", code, errs)
	}
}

// TestReplayStdinAndInterrupt reads a capture from standard input (replay
// -), is interrupted half-way, writes the events of what it read (the
// sessions ended, reason shutdown), says "interrupted" and exits 130.
func TestReplayStdinAndInterrupt(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(labDir, "multi", "porta.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()

	// Whole: the same events as from the file.
	want, _, _ := runCmd(t, "replay", "--tap", "x", filepath.Join(labDir, "multi", "porta.pcap"))
	go func() { w.Write(data); w.Close() }()
	got, errs, code := runCmd(t, "replay", "--tap", "x", "-")
	if code != 0 || got != want {
		t.Errorf("replay - : exit %d (%s), %d bytes of events, want the file's %d", code, errs, len(got), len(want))
	}

	r2, w2, _ := os.Pipe()
	defer r2.Close()
	os.Stdin = r2
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() { done <- runMain(ctx, []string{"replay", "--tap", "x", "-"}, &out, &errb) }()
	half := len(data) / 2
	w2.Write(data[:half])
	time.Sleep(200 * time.Millisecond) // the replay waits for more
	cancel()                           // Ctrl-C, while the writer is silent
	var exit int
	select {
	case exit = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("replay not stopped by the interrupt")
	}
	w2.Close()
	if exit != 130 || !strings.Contains(errb.String(), "ftptap replay: interrupted: the events of the ") {
		t.Errorf("interrupted: exit %d, stderr %q; want 130 and an interrupted notice", exit, errb.String())
	}
	if !strings.Contains(out.String(), `"reason":"shutdown"`) || len(out.String()) >= len(want) {
		t.Errorf("interrupted: want fewer events than the whole, sessions ended by shutdown:\n%s", out.String())
	}
}

// TestReplaySelect: --types, --host, --port and --session choose what is
// printed; the closing line counts what was selected.
func TestReplaySelect(t *testing.T) {
	files := []string{filepath.Join(labDir, "multi", "porta.pcap"), filepath.Join(labDir, "multi", "portb.pcap")}
	types := func(out string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var e struct{ Type string }
			if json.Unmarshal([]byte(l), &e) == nil {
				m[e.Type]++
			}
		}
		return m
	}
	out, errs, code := runCmd(t, append([]string{"replay", "--types", "transfer.end,login"}, files...)...)
	if got := types(out); code != 0 || len(got) != 2 || got["transfer.end"] != 5 || got["login"] != 1 {
		t.Errorf("--types: exit %d, %v; stderr %s", code, got, errs)
	}
	if !strings.Contains(errs, "(6 selected)") {
		t.Errorf("closing line does not count the selection: %s", errs)
	}
	out, _, _ = runCmd(t, append([]string{"replay", "--host", "10.77.0.9"}, files...)...)
	if out != "" {
		t.Errorf("--host of no peer printed:\n%s", out)
	}
	// In --summary, --types picks the lines shown; the rows still count
	// from every event of the session (bytes, user, commands).
	out, _, _ = runCmd(t, append([]string{"replay", "--summary", "--types", "transfer.end"}, files...)...)
	for _, want := range []string{"anonymous         ok        31      5  20ms      quit", "1000 B  226  complete         0s  pub/f1000.bin", "1 session, 5 transfers"} {
		if !strings.Contains(out, want) {
			t.Errorf("--summary --types transfer.end lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = runCmd(t, append([]string{"replay", "--summary", "--types", "alert"}, files...)...)
	if !strings.Contains(out, "1 session, 0 transfers") {
		t.Errorf("--summary --types alert shows transfers:\n%s", out)
	}
	out, _, _ = runCmd(t, append([]string{"replay", "--summary", "--host", "10.77.0.9"}, files...)...)
	if !strings.Contains(out, "no FTP session matches the selection") {
		t.Errorf("--summary --host of no peer:\n%s", out)
	}
	all, _, _ := runCmd(t, append([]string{"replay", "--session", "s1", "--port", "21"}, files...)...)
	if n := len(types(all)); n < 5 {
		t.Errorf("--session s1 --port 21: %d types", n)
	}
	for _, bad := range [][]string{{"--types", "transfer.ended"}, {"--host", "example.com"}, {"--port", "0"}, {"--session", "x"}} {
		_, errs, code := runCmd(t, append(append([]string{"replay"}, bad...), files...)...)
		if code != 2 || !strings.Contains(errs, bad[0]) {
			t.Errorf("%q: exit %d, %q; want 2 naming the flag", bad, code, errs)
		}
	}
}

// TestReplayNATSFailsFast: an unreachable --nats server is an error at
// once, naming the URL and the cause, instead of waiting 10 s.
func TestReplayNATSFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, tt := range []struct{ url, want string }{
		{"nats://" + addr, "nats: cannot reach nats://" + addr + ": connect: connection refused"},
		{"nats://no-such-host.invalid:4222", "nats: cannot reach nats://no-such-host.invalid:4222: lookup no-such-host.invalid"},
	} {
		start := time.Now()
		_, errs, code := runCmd(t, "replay", "--nats", tt.url, filepath.Join(labDir, "pasv-retr", "porta.pcap"))
		if code != 1 || !strings.Contains(errs, tt.want) {
			t.Errorf("--nats %s: exit %d, %q; want %q", tt.url, code, errs, tt.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("--nats %s: %v to fail", tt.url, d)
		}
	}
}

// TestSummaryTruth feeds the summary events a hostile peer can cause and
// checks what a reader sees: escaped control bytes, capped widths, human
// sizes, "-" for bytes not seen, plurals, grouped failures.
func TestSummaryTruth(t *testing.T) {
	var b bytes.Buffer
	s := newSummary(&b)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	cl, sv := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:21")
	ep := netip.MustParseAddrPort("10.0.0.1:40001")
	ev := func(e event.Event) { e.Session, e.Client, e.Server = 1, cl, sv; s.Event(&e, nil) }
	ev(event.Event{Type: event.TypeSessionStart, Time: t0})
	ev(event.Event{Type: event.TypeLogin, User: "evil\x1b[2J", OK: true})
	ev(event.Event{Type: event.TypeDataOpen, Endpoint: ep})
	ev(event.Event{Type: event.TypeTransferEnd, Command: "RETR", File: "a\tb\x1b]0;pwned\x07.txt", Bytes: 1258291, Code: 226, Complete: true, Mode: event.ModePassive, Endpoint: ep})
	ev(event.Event{Type: event.TypeTransferEnd, Command: "RETR", File: strings.Repeat("x", 600), Code: 550, Mode: event.ModePassive, Endpoint: netip.MustParseAddrPort("10.0.0.1:40002")})
	// The replies show a data connection the tap did not see.
	ev(event.Event{Type: event.TypeTransferEnd, Command: "STOR", File: "up.bin", Code: 226, Complete: true, DataNotSeen: true, Mode: event.ModePassive, Endpoint: ep})
	for range 500 {
		ev(event.Event{Type: event.TypeDataFail, Mode: event.ModeActive, Via: "PORT", Reason: "unused", Detail: "the server never connected"})
	}
	ev(event.Event{Type: event.TypeSessionEnd, Time: t0.Add(1500 * time.Millisecond), Reason: "quit"})
	s.write(&b)
	out := b.String()
	for _, want := range []string{
		"2026-11-25 10:00:00.000  s1",
		`evil\x1b[2J`,
		`a\tb\x1b]0;pwned\a.txt`,
		"1.2 MiB",
		"  550  incomplete",
		"500 × PORT announced, never used",
		"500 × PORT announced, never used (s1): the server never connected",
		"1 session, 3 transfers",
		"-  226  complete         0s  up.bin",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07\t") {
		t.Errorf("raw control bytes in the summary:\n%q", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if n := len([]rune(l)); n > 200 {
			t.Errorf("a %d-character line: widths not capped:\n%s", n, l)
		}
		if strings.Contains(l, "  550  ") && !strings.Contains(l, "   -  550") {
			t.Errorf("bytes of a transfer with no data connection seen are not '-': %q", l)
		}
	}
}

// TestSummaryLongSession: a session of thousands of passive transfers, each
// on its own announced port, keeps the byte count of every one (the summary
// bounds what it remembers of data connections, not what it shows).
func TestSummaryLongSession(t *testing.T) {
	var b bytes.Buffer
	s := newSummary(&b)
	cl, sv := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("10.0.0.1:21")
	ev := func(e event.Event) { e.Session, e.Client, e.Server = 1, cl, sv; s.Event(&e, nil) }
	ev(event.Event{Type: event.TypeSessionStart})
	const n = 3000
	for i := range n {
		ep := netip.AddrPortFrom(sv.Addr(), uint16(10000+i))
		ev(event.Event{Type: event.TypeDataOpen, Endpoint: ep})
		ev(event.Event{Type: event.TypeTransferEnd, Command: "RETR", File: "f", Bytes: 1000, Code: 226, Complete: true, Mode: event.ModePassive, Endpoint: ep})
	}
	ev(event.Event{Type: event.TypeSessionEnd, Reason: "quit"})
	s.write(&b)
	if got := strings.Count(b.String(), " 1000 B  226  complete"); got != n {
		t.Errorf("%d of %d transfers show their 1000 bytes; the others show them as not seen", got, n)
	}
}

// TestProgressLine: what the progress line says on a terminal.
func TestProgressLine(t *testing.T) {
	for _, tt := range []struct {
		read, size int64
		frames     uint64
		elapsed    time.Duration
		want       string
	}{
		{100 << 20, 400 << 20, 500000, 10 * time.Second, "read 100.0 MiB of 400.0 MiB, 50000 frames/s, 30s left"},
		{3 << 30, 0, 0, time.Second, "read 3.0 GiB, 0 frames/s"},
		{512, 0, 7, 0, "read 512 B"},
	} {
		if got := progressLine(tt.read, tt.size, tt.frames, tt.elapsed); got != tt.want {
			t.Errorf("progressLine(%d, %d, %d, %v) = %q, want %q", tt.read, tt.size, tt.frames, tt.elapsed, got, tt.want)
		}
	}
	// Not a terminal (a pipe, a file, a test buffer): no progress line,
	// only the closing line.
	_, errs, _ := runCmd(t, "replay", filepath.Join(labDir, "pasv-retr", "porta.pcap"))
	if strings.Contains(errs, "\r") {
		t.Errorf("progress drawn on a stderr that is no terminal: %q", errs)
	}
}
