package main

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/natsbus"
)

// watchEvents runs ftptap watch with args against a real server, publishes
// evs as tap lab1 once it has subscribed, and returns what it printed.
func watchEvents(t *testing.T, evs []event.Event, args ...string) string {
	t.Helper()
	srv := runNATS(t, false)
	var out, errb syncBuffer
	done := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		done <- runMain(ctx, append([]string{"watch", "--server", srv.ClientURL()}, args...), &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), "ftptap watch: ") { // printed once subscribed
		if time.Now().After(deadline) {
			t.Fatalf("watch did not subscribe: %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i, ev := range evs {
		ev.Tap, ev.Seq = "lab1", uint64(i+1)
		if err := nc.Publish(natsbus.Subject("lab1", &ev), ev.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("watch exit %d: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("watch did not end; printed:\n%s", out.String())
	}
	return out.String()
}

func watchSample() []event.Event {
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	cl, sv := mustAP("10.0.0.2:40000"), mustAP("10.0.1.21:21")
	base := event.Event{Time: t0, Session: 1, Client: cl, Server: sv}
	with := func(e event.Event) event.Event {
		e.Time, e.Session, e.Client, e.Server = base.Time, base.Session, base.Client, base.Server
		return e
	}
	return []event.Event{
		with(event.Event{Type: event.TypeSessionStart, ClientSide: event.SideA}),
		with(event.Event{Type: event.TypeRequest, Command: "USER", Arg: "anonymous"}),
		with(event.Event{Type: event.TypeResponse, Code: 227, Text: "227 Entering Passive Mode (10,0,1,21,117,48).", Command: "PASV"}),
		with(event.Event{Type: event.TypeTransferEnd, Command: "RETR", File: "a.bin", Direction: event.DirDownload, Bytes: 4096, Code: 226, Complete: true, Mode: event.ModePassive, DurationMS: 12}),
		{Type: event.TypeStatus, Time: t0, Counters: []event.Counter{{Name: "packets_a", Value: 10}, {Name: "kernel_drops", Value: 0}}},
	}
}

func TestWatchTable(t *testing.T) {
	out := watchEvents(t, watchSample(), "--count", "5")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || lines[0] != tableHeader {
		t.Fatalf("want a header and 5 rows, got:\n%s", out)
	}
	for i, want := range []string{
		"session.start       10.0.0.2:40000 -> 10.0.1.21:21 (client on port a)",
		"request             USER anonymous",
		"response            227 Entering Passive Mode (10,0,1,21,117,48).",
		"transfer.end        RETR a.bin download 4096 B 226 complete passive 12 ms",
		"status              kernel_drops=0 packets_a=10",
	} {
		if !strings.Contains(lines[i+1], want) || !strings.Contains(lines[i+1], "lab1") {
			t.Errorf("row %d = %q, want it to contain %q and the tap", i+1, lines[i+1], want)
		}
	}
}

func TestWatchJSONFilter(t *testing.T) {
	out := watchEvents(t, watchSample(), "--json", "--count", "1", "ftptap.*.request.USER")
	var want event.Event = watchSample()[1]
	want.Tap, want.Seq = "lab1", 2
	if got := strings.TrimSpace(out); got != string(want.AppendJSON(nil)) {
		t.Errorf("watch --json printed\n%s\nwant\n%s", got, want.AppendJSON(nil))
	}
}

func TestWatchErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"watch", "ftptap..x"}, 2, "empty token"},
		{[]string{"watch", "ftptap.>.x"}, 2, "last token"},
		{[]string{"watch", "a", "b"}, 2, "one subject filter"},
		{[]string{"watch", "--server", "nats://127.0.0.1:1"}, 1, "connect"},
	} {
		_, errs, code := runCmd(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%q: exit %d, %q; want exit %d and %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
