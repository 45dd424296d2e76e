//go:build linux

package lab

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftptap/ftptap/internal/truth"
	"github.com/google/go-cmp/cmp"
)

// curl 7.88's -v trace of an EPSV download, as the lab ran it.
const curlTrace = `*   Trying 10.77.0.3:21...
* Connected to 10.77.0.3 (10.77.0.3) port 21 (#0)
< 220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------
< 220-You are user number 1 of 50 allowed.
< 220 You will be disconnected after 15 minutes of inactivity.
> USER anonymous
< 230 Anonymous user logged in
> PWD
< 257 "/" is your current location
* Entry path is '/'
> CWD pub
< 250 OK. Current directory is /pub
> EPSV
* Connect data stream passively
< 229 Extended Passive mode OK (|||40162|)
* Connecting to 10.77.0.3 (10.77.0.3) port 40162
*   Trying 10.77.0.3:40162...
* Connected to 10.77.0.3 (10.77.0.3) port 21 (#0)
> TYPE I
< 200 TYPE is now 8-bit binary
> RETR f1000.bin
< 150 Accepted data connection
{ [1000 bytes data]
< 226-File successfully transferred
< 226 0.000 seconds (measured here), 19.42 Mbytes per second
* Connection #0 to host 10.77.0.3 left intact
`

// lftp 4.9's debug 5 output of a session with a multi-line FEAT reply and
// an active download.
const lftpTrace = `---- Resolving host address...
---- Connecting to 10.77.0.1 (10.77.0.1) port 21
<--- 220 (vsFTPd 3.0.3)
---> FEAT
<--- 211-Features:
<---  EPSV
<--- 211 End
---> USER anonymous
<--- 230 Login successful.
---> PORT 10,77,0,2,142,85
<--- 200 PORT command successful. Consider using PASV.
---> RETR pub/readme.txt
---- Accepted data connection from (10.77.0.1) port 20
<--- 150 Opening BINARY mode data connection for pub/readme.txt (19 bytes).
<--- 226 Transfer complete.
---> QUIT
<--- 221 Goodbye.
`

func TestTranscripts(t *testing.T) {
	tests := []struct {
		name   string
		ts     []*Transcript
		server string
		want   []exchange
	}{
		{"curl", parseCurl([]byte(curlTrace)), "10.77.0.3:21", []exchange{
			{cmd: "USER", arg: "anonymous", code: 230, text: "Anonymous user logged in"},
			{cmd: "PWD", code: 257, text: `"/" is your current location`},
			{cmd: "CWD", arg: "pub", code: 250, text: "OK. Current directory is /pub"},
			{cmd: "EPSV", code: 229, text: "Extended Passive mode OK (|||40162|)"},
			{cmd: "TYPE", arg: "I", code: 200, text: "TYPE is now 8-bit binary"},
			{cmd: "RETR", arg: "f1000.bin", code: 226, text: "File successfully transferred", prelim: true},
		}},
		{"lftp", parseLftp([]byte(lftpTrace)), "10.77.0.1:21", []exchange{
			{cmd: "FEAT", code: 211, text: "Features:"},
			{cmd: "USER", arg: "anonymous", code: 230, text: "Login successful."},
			{cmd: "PORT", arg: "10,77,0,2,142,85", code: 200, text: "PORT command successful. Consider using PASV."},
			{cmd: "RETR", arg: "pub/readme.txt", code: 226, text: "Transfer complete.", prelim: true},
			{cmd: "QUIT", code: 221, text: "Goodbye."},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.ts) != 1 {
				t.Fatalf("%d sessions, want 1", len(tt.ts))
			}
			if got := tt.ts[0].Server.String(); got != tt.server {
				t.Errorf("server %s, want %s", got, tt.server)
			}
			var got []exchange
			for _, e := range exchanges(tt.ts[0]) {
				got = append(got, *e)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(exchange{})); diff != "" {
				t.Errorf("exchanges (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndpointOf(t *testing.T) {
	srv := netip.MustParseAddr("fd77::1")
	tests := []struct {
		e    exchange
		want string
		mode string
	}{
		{exchange{cmd: "PASV", code: 227, text: "Entering Passive Mode (10,77,0,1,156,135)."}, "10.77.0.1:40071", "passive"},
		{exchange{cmd: "EPSV", code: 229, text: "Entering Extended Passive Mode (|||40072|)"}, "[fd77::1]:40072", "passive"},
		{exchange{cmd: "PORT", arg: "10,77,0,2,143,203", code: 200}, "10.77.0.2:36811", "active"},
		{exchange{cmd: "EPRT", arg: "|2|fd77::2|43637|", code: 200}, "[fd77::2]:43637", "active"},
		{exchange{cmd: "PORT", arg: "10,77,0,2,143,203", code: 500}, "", ""},
	}
	for _, tt := range tests {
		ep, mode, ok := endpointOf(&tt.e, srv)
		got := ""
		if ok {
			got = ep.String()
		}
		if got != tt.want || mode != tt.mode {
			t.Errorf("%s %s / %d %s: %q %q, want %q %q", tt.e.cmd, tt.e.arg, tt.e.code, tt.e.text, got, mode, tt.want, tt.mode)
		}
	}
}

// TestTestdataConns checks the recorded captures against their truth
// from the TCP side: every transfer's data connection is in the capture
// with the bytes truth gives, every refused or timed-out announcement has
// a refused or unanswered SYN. It needs no root.
func TestTestdataConns(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "..", "ftpstate", "testdata", "lab", "*"))
	if len(dirs) == 0 {
		t.Fatal("no recorded lab captures in ftpstate/testdata/lab")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			tr, err := truth.Load(filepath.Join(dir, "truth.json"))
			if err != nil {
				t.Fatal(err)
			}
			conns, err := Conns(filepath.Join(dir, "porta.pcap"), filepath.Join(dir, "portb.pcap"))
			if err != nil {
				t.Fatal(err)
			}
			find := func(from, to string) *Conn {
				for _, c := range conns {
					if hostPort(c.From.Addr(), c.From.Port()) == from && hostPort(c.To.Addr(), c.To.Port()) == to {
						return c
					}
				}
				return nil
			}
			for _, s := range tr.Sessions {
				if c := find(s.Client, s.Server); c == nil || !c.Answered {
					t.Errorf("no command channel %s -> %s", s.Client, s.Server)
				}
				for _, x := range s.Transfers {
					if x.DataFrom == "" && x.Bytes != nil && *x.Bytes == 0 && !x.Complete && x.Code != nil && *x.Code >= 400 {
						continue // refused before any data connection (refused-retr)
					}
					c := find(x.DataFrom, x.DataTo)
					if c == nil {
						t.Errorf("%s %s: no data connection %s -> %s", x.Command, x.File, x.DataFrom, x.DataTo)
						continue
					}
					if got := c.BytesOut + c.BytesIn; x.Bytes == nil || got != *x.Bytes {
						t.Errorf("%s %s: %d bytes on the wire, truth says %v", x.Command, x.File, got, x.Bytes)
					}
					if f, ok := knownFile(filepath.Base(x.File)); ok && x.Direction == "download" && *x.Bytes != int64(f.Size) {
						t.Errorf("%s %s: %d bytes, the file has %d", x.Command, x.File, *x.Bytes, f.Size)
					}
				}
				for _, f := range s.DataFail {
					var c *Conn
					for _, k := range conns {
						if hostPort(k.To.Addr(), k.To.Port()) == f.Endpoint {
							c = k
						}
					}
					switch {
					case c == nil:
						t.Errorf("%s %s: no SYN in the capture", f.Reason, f.Endpoint)
					case f.Reason == "refused" && !c.Refused, f.Reason == "timeout" && (c.Answered || c.Refused):
						t.Errorf("%s %s: the capture shows answered=%v refused=%v", f.Reason, f.Endpoint, c.Answered, c.Refused)
					}
				}
			}
		})
	}
}

func TestFileContents(t *testing.T) {
	for _, f := range append(Files, HomeFile) {
		if got := len(f.Bytes()); got != f.Size {
			t.Errorf("%s: %d bytes, want %d", f.Name, got, f.Size)
		}
	}
	// The recorded truth names these sums: they must not change.
	if got, want := (File{"f1000.bin", 1000}).SHA256(), "b6844d886bcdda67c7ec25d80eedd50633d3c72cfcca4088217597f82bca274f"; got != want {
		t.Errorf("f1000.bin sha256 %s, want %s (re-record testdata if the contents changed on purpose)", got, want)
	}
	if _, err := os.Stat(filepath.Join("..", "..", "ftpstate", "testdata", "lab", "multi", "truth.json")); err != nil {
		t.Error(err)
	}
}
