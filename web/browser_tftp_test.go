package web_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/web"
)

const tftpLabDir = "../tftpstate/testdata/lab"

// browserTFTP replays TFTP lab captures into the open page (a normal read,
// t1; the read whose reply from the server's new port a firewall blocked,
// t101; and a read still running, t201) and reads what the browser shows:
// the open transfer, the transfer rows, the alert with its diagnosis, and
// the ladder diagrams with their port switch.
func browserTFTP(t *testing.T, ctx context.Context, srv *web.Server, url, dir string) {
	read := replayDir(t, srv, filepath.Join(tftpLabDir, "hpa-read"), 0, nil)
	blocked := replayDir(t, srv, filepath.Join(tftpLabDir, "reply-blocked"), 100, nil)
	running := replayDir(t, srv, filepath.Join(tftpLabDir, "hpa-read"), 200, func(ev *event.Event) bool { return ev.Type == event.TypeTFTPRequest })
	end := func(evs []event.Event) *event.Event {
		for i := range evs {
			if evs[i].Type == event.TypeTFTPEnd {
				return &evs[i]
			}
		}
		t.Fatal("no tftp.end in the capture")
		return nil
	}
	readEnd, blockedEnd := end(read), end(blocked)
	var diagnosis string
	for _, ev := range blocked {
		if ev.Type == event.TypeAlert && ev.Kind == "tftp_reply_blocked" {
			diagnosis = ev.Detail
		}
	}
	if diagnosis == "" {
		t.Fatal("reply-blocked has no tftp_reply_blocked alert")
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.CSS(`#conn[data-conn="live"]`))); err != nil {
		t.Fatal(err)
	}
	var p pageDOM
	find := func(rows [][]string, session string) []string {
		for _, r := range rows {
			if len(r) > 0 && r[len(r)-1] == session || len(r) > 0 && r[0] == session {
				return r
			}
		}
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		eval(t, ctx, readPage, &p)
		if find(p.Transfers, "t101") != nil && find(p.Open, "t201") != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	screenshot(t, ctx, dir, "page-tftp.png")

	req := running[len(running)-1]
	wantOpen := []string{"t201", req.Client.String(), "10.77.0.1:69", "TFTP", "octet", "RRQ f1000.bin (read; blocks counted when it ends)"}
	if got := find(p.Open, "t201"); fmt.Sprint(got) != fmt.Sprint(wantOpen) {
		t.Errorf("open TFTP transfer %q, want %q", got, wantOpen)
	}
	// 1,000 bytes in 18 ms; from the server's new port.
	wantRead := []string{"f1000.bin", "download", "1,000 B", "18 ms", "55.6 kB/s",
		"✓ complete, TFTP 2 blocks of up to 512 B, from " + readEnd.TFTP.Transfer.String(), "t1"}
	if got := find(p.Transfers, "t1"); len(got) < 2 || fmt.Sprint(got[1:]) != fmt.Sprint(wantRead) {
		t.Errorf("read row %q, want %q", got, wantRead)
	}
	wantBlocked := []string{"f1000.bin", "download", "0 B", "4010 ms", "—",
		"✗ incomplete (timeout), TFTP 1 block of up to 512 B, 5 retransmitted, from " + blockedEnd.TFTP.Transfer.String(), "t101"}
	if got := find(p.Transfers, "t101"); len(got) < 2 || fmt.Sprint(got[1:]) != fmt.Sprint(wantBlocked) {
		t.Errorf("blocked row %q, want %q", got, wantBlocked)
	}
	var found bool
	for _, a := range p.Alerts {
		found = found || a.Kind == "tftp_reply_blocked" && a.Detail == diagnosis
	}
	if !found || !strings.Contains(diagnosis, "nf_conntrack_tftp") {
		t.Errorf("alerts %+v, want tftp_reply_blocked with the diagnosis %q", p.Alerts, diagnosis)
	}
	// The TFTP transfer still running blinks the passive LED (leds.Model:
	// the server picks the transfer's port, as in passive mode).
	if got := p.LEDs["passive"]; len(got) == 0 || got[0] != "blink-fast" {
		t.Errorf("passive LED %q while a TFTP transfer runs", got)
	}

	for _, tt := range []struct {
		id, reason, port string
	}{
		{"t1", "", fmt.Sprint(readEnd.TFTP.Transfer.Port())},
		{"t101", "unacknowledged", fmt.Sprint(blockedEnd.TFTP.Transfer.Port())},
	} {
		steps := diagramSteps(t, ctx, url+"/session/"+tt.id)
		screenshot(t, ctx, dir, "ladder-tftp-"+tt.id+".png")
		reqs, switches := stepsOf(steps, "request"), stepsOf(steps, "switch")
		if len(reqs) != 1 || reqs[0].From != "client" || reqs[0].Port != "69" || reqs[0].X1 >= reqs[0].X2 ||
			!strings.Contains(strings.Join(reqs[0].Texts, " "), "RRQ f1000.bin (octet)") {
			t.Errorf("%s: request arrows %+v, want one RRQ client → server port 69", tt.id, reqs)
		}
		if len(switches) != 1 {
			t.Fatalf("%s: %d port-switch arrows, want 1: %+v", tt.id, len(switches), steps)
		}
		s := switches[0]
		texts := strings.Join(s.Texts, " ")
		// From the server's lifeline, right to left, labelled with the new port.
		if s.From != "server" || s.To != "client" || s.X1 <= s.X2 || s.Port != tt.port || s.Reason != tt.reason ||
			!strings.Contains(texts, "port switch") || !strings.Contains(texts, "port "+tt.port) {
			t.Errorf("%s: port switch %+v, want server → client from port %s, reason %q", tt.id, s, tt.port, tt.reason)
		}
	}
}
