package web_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftptap/ftptap/web"
)

// TestWebTFTPState replays an FTP session (s1) and TFTP transfers (t1, the
// reply-blocked t2) into a Server: the two s1 and t1 stay apart, each TFTP
// transfer is a transfer row and an ended session, and the alert that
// follows tftp.end lands in the ended transfer's diagram, not in a new
// open session.
func TestWebTFTPState(t *testing.T) {
	srv, ts := serve(t, web.Options{Tap: "lab", PacketTime: true})
	replay(t, srv, "pasv-retr", 0, nil)
	replayDir(t, srv, filepath.Join(tftpLabDir, "hpa-read"), 0, nil)
	replayDir(t, srv, filepath.Join(tftpLabDir, "reply-blocked"), 1, nil)
	st := getState(t, ts.URL)
	if len(st.Open) != 0 {
		t.Errorf("open sessions %+v, want none", st.Open)
	}
	var ids []string
	for _, s := range st.Ended {
		ids = append(ids, s.ID+"/"+s.Proto)
	}
	if got := strings.Join(ids, " "); got != "t2/tftp t1/tftp s1/ftp" {
		t.Errorf("ended sessions %s, want t2/tftp t1/tftp s1/ftp", got)
	}
	if len(st.Transfers) != 3 {
		t.Fatalf("transfers %+v, want 3", st.Transfers)
	}
	b, r := st.Transfers[0], st.Transfers[1]
	if r.Session != "t1" || r.Proto != "tftp" || r.Command != "RRQ" || r.Direction != "download" || r.Bytes != 1000 || !r.Complete ||
		r.Blocks != 2 || r.BlkSize != 512 || r.Result != "complete" || r.Reason != "done" || r.TransferPort == "" {
		t.Errorf("read %+v", r)
	}
	if b.Session != "t2" || b.Complete || b.Result != "incomplete (timeout)" || b.Retransmits != 5 {
		t.Errorf("blocked read %+v", b)
	}
	if len(st.Alerts) != 1 || st.Alerts[0].Kind != "tftp_reply_blocked" || st.Alerts[0].Session != "t2" || !strings.Contains(st.Alerts[0].Detail, "nf_conntrack_tftp") {
		t.Errorf("alerts %+v", st.Alerts)
	}
	svg, ok := srv.Diagram("t2")
	if !ok || !strings.Contains(string(svg), "alert tftp_reply_blocked") || !strings.Contains(string(svg), `data-kind="switch"`) {
		t.Errorf("t2's diagram (%v) lacks the port switch or the alert:\n%s", ok, svg)
	}
	if svg, _ := srv.Diagram("s1"); strings.Contains(string(svg), "TFTP") {
		t.Errorf("s1's diagram holds TFTP steps")
	}
}
