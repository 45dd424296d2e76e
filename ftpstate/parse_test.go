package ftpstate

import (
	"net/netip"
	"testing"

	"github.com/ftptap/ftptap/event"
	"github.com/google/go-cmp/cmp"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name, line, cmd, arg string
	}{
		{"plain", "USER anonymous", "USER", "anonymous"},
		{"lower case", "retr file.txt", "RETR", "file.txt"},
		{"no argument", "PASV", "PASV", ""},
		{"spaces in argument", "STOR my file .txt", "STOR", "my file .txt"},
		{"trailing space kept", "CWD dir ", "CWD", "dir "},
		{"leading spaces", "  NOOP", "NOOP", ""},
		{"empty argument", "LIST ", "LIST", ""},
		{"non-ASCII argument", "RETR f\xc3\xa9.txt", "RETR", "f\xc3\xa9.txt"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, arg := ParseCommand([]byte(tt.line))
			if cmd != tt.cmd || arg != tt.arg {
				t.Errorf("ParseCommand(%q) = %q, %q; want %q, %q", tt.line, cmd, arg, tt.cmd, tt.arg)
			}
		})
	}
}

func TestParseReplyLine(t *testing.T) {
	tests := []struct {
		name, line string
		want       ReplyLine
	}{
		{"single", "220 ready", ReplyLine{Code: 220, Sep: ' ', Text: "ready"}},
		{"multi first", "230-Welcome", ReplyLine{Code: 230, Sep: '-', Text: "Welcome"}},
		{"code only", "200", ReplyLine{Code: 200}},
		{"no space", "230_no_space", ReplyLine{Code: 230, Sep: '_', Text: "no_space"}},
		{"two digits", "99 PASV invalid", ReplyLine{Text: "99 PASV invalid"}},
		{"four digits", "2300 x", ReplyLine{Text: "2300 x"}},
		{"protected reply (RFC 2228)", "632 Zm9v", ReplyLine{Code: 632, Sep: ' ', Text: "Zm9v"}},
		{"first digit 7", "700 x", ReplyLine{Text: "700 x"}},
		{"no code", "SYST not supported", ReplyLine{Text: "SYST not supported"}},
		{"ssh banner", "SSH-2.0-mod_sftp/0.9.7", ReplyLine{Text: "SSH-2.0-mod_sftp/0.9.7"}},
		{"continuation", " indented feature", ReplyLine{Text: " indented feature"}},
		{"empty", "", ReplyLine{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ParseReplyLine([]byte(tt.line))); diff != "" {
				t.Errorf("ParseReplyLine(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestParsePORT(t *testing.T) {
	tests := []struct {
		arg  string
		want string // "" for an error
	}{
		{"10,77,0,2,143,203", "10.77.0.2:36811"},
		{" 192,168,1,5,0,21 ", "192.168.1.5:21"},
		{"10,0,0,200,78,33", "10.0.0.200:20001"},
		{"114,115", ""},
		{"256,0,0,1,0,21", ""},
		{"1,2,3,4,5", ""},
		{"1,2,3,4,5,6,7", ""},
		{"1,2,3,4,5,6x", ""},
		{"", ""},
		{"a,b,c,d,e,f", ""},
	}
	for _, tt := range tests {
		got, err := ParsePORT(tt.arg)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParsePORT(%q) = %v, want an error", tt.arg, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParsePORT(%q) = %v, %v; want %s", tt.arg, got, err, tt.want)
		}
	}
}

func TestParsePASV(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"Entering Passive Mode (10,77,0,1,156,68).", "10.77.0.1:40004"},
		{"Entering Passive Mode 10,77,0,1,156,68", "10.77.0.1:40004"},
		{"Entering Passive Mode=10,77,0,1,156,68", "10.77.0.1:40004"},
		{"=127,0,0,1,4,1 ok", "127.0.0.1:1025"},
		{"Passive (1, 2, 3, 4, 5, 6)", "1.2.3.4:1286"},
		{"PASV 1999 then (10,0,0,1,0,80)", "10.0.0.1:80"},
		{"Fake response PASV", ""},
		{"(300,1,1,1,1,1)", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := ParsePASV(tt.text)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParsePASV(%q) = %v, want an error", tt.text, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParsePASV(%q) = %v, %v; want %s", tt.text, got, err, tt.want)
		}
	}
}

func TestParseEPRT(t *testing.T) {
	tests := []struct {
		arg  string
		want string
	}{
		{"|1|132.235.1.2|6275|", "132.235.1.2:6275"},
		{"|2|1080::8:800:200C:417A|5282|", "[1080::8:800:200c:417a]:5282"},
		{"!2!fd77::2!40001!", "[fd77::2]:40001"},
		{"|1|fd77::2|40001|", ""},
		{"|2|10.0.0.1|40001|", ""},
		{"|3|10.0.0.1|40001|", ""},
		{"|1|10.0.0.1|0|", ""},
		{"|1|10.0.0.1|70000|", ""},
		{"|1|10.0.0.1|21", ""},
		{"|1|10.0.0.1|21|x", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := ParseEPRT(tt.arg)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseEPRT(%q) = %v, want an error", tt.arg, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseEPRT(%q) = %v, %v; want %s", tt.arg, got, err, tt.want)
		}
	}
}

func TestParseEPSV(t *testing.T) {
	tests := []struct {
		text string
		want uint16
	}{
		{"Entering Extended Passive Mode (|||6446|)", 6446},
		{"Entering Extended Passive Mode (!!!6446!)", 6446},
		{"ok (x) then (|||40001|).", 40001},
		{"Entering Extended Passive Mode (|1|1.2.3.4|6446|)", 0},
		{"Entering Extended Passive Mode (|||0|)", 0},
		{"Entering Extended Passive Mode (|||99999|)", 0},
		{"Entering Extended Passive Mode", 0},
	}
	for _, tt := range tests {
		got, err := ParseEPSV(tt.text)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("ParseEPSV(%q) = %d, want an error", tt.text, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseEPSV(%q) = %d, %v; want %d", tt.text, got, err, tt.want)
		}
	}
}

func TestParseLPRT(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"4,4,10,0,0,1,2,4,1", "10.0.0.1:1025"},
		{"Entering Long Passive Mode (4,4,192,168,0,1,2,0,21)", "192.168.0.1:21"},
		{"6,16,254,128,0,0,0,0,0,0,0,0,0,0,0,0,0,1,2,0,80", "[fe80::1]:80"},
		{"4,16,10,0,0,1,2,4,1", ""},
		{"4,4,10,0,0,1,3,4,1,1", ""},
	}
	for _, tt := range tests {
		got, err := ParseLPRT(tt.text)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseLPRT(%q) = %v, want an error", tt.text, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseLPRT(%q) = %v, %v; want %s", tt.text, got, err, tt.want)
		}
	}
}

func TestParseSizeHint(t *testing.T) {
	tests := []struct {
		text string
		want int64
	}{
		{"Opening BINARY mode data connection for f1000.bin (1000 bytes).", 1000},
		{"Opening BINARY mode data connection for rfc1001.txt (154427 bytes)", 154427},
		{"Opening BINARY mode data connection for (x) (5 bytes)", 5},
		{"Ok to send data.", -1},
		{"(bytes)", -1},
	}
	for _, tt := range tests {
		if got := parseSizeHint(tt.text); got != tt.want {
			t.Errorf("parseSizeHint(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

func TestStripTelnet(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ABOR", "ABOR"},
		{"\xff\xf4\xff\xf2ABOR", "ABOR"},   // IAC IP, IAC DM (RFC 959 ABOR)
		{"\xff\xfb\x01USER x", "USER x"},   // IAC WILL ECHO
		{"RETR a\xff\xffb", "RETR a\xffb"}, // an escaped 0xff
		{"RETR a\xff", "RETR a"},           // cut IAC
	}
	for _, tt := range tests {
		if got := string(stripTelnet([]byte(tt.in))); got != tt.want {
			t.Errorf("stripTelnet(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEventJSONEscapes(t *testing.T) {
	ev := event.Event{Tap: "t", Seq: 1, Type: event.TypeRequest, Session: 1,
		Client: netip.MustParseAddrPort("[fd77::2]:5000"), Server: netip.MustParseAddrPort("[fd77::1]:21"),
		Command: "RETR", Arg: "a\"b\\c\x00\x7f\xff\u2028"}
	got := string(ev.AppendJSON(nil))
	want := `{"v":1,"tap":"t","seq":1,"ts":"0001-01-01T00:00:00.000000Z","type":"request","session":"s1","client":"[fd77::2]:5000","server":"[fd77::1]:21","command":"RETR","arg":"a\"b\\c\u0000\u007f\ufffd\u2028"}`
	if got != want {
		t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		ev   event.Event
		want string
	}{
		{event.Event{Type: event.TypeRequest, Command: "USER"}, "request.USER"},
		{event.Event{Type: event.TypeRequest, Command: "US.ER*>"}, "request.US_ER__"},
		{event.Event{Type: event.TypeRequest, Command: ""}, "request._"},
		{event.Event{Type: event.TypeResponse, Code: 227}, "response.227"},
		{event.Event{Type: event.TypeDataOpen, Mode: event.ModePassive}, "data.open.passive"},
		{event.Event{Type: event.TypeAlert, Kind: "nat_mismatch"}, "alert.nat_mismatch"},
		{event.Event{Type: event.TypeSessionStart}, "session.start"},
		{event.Event{Type: event.TypeTransferEnd}, "transfer.end"},
	}
	for _, tt := range tests {
		if got := tt.ev.Subject(); got != tt.want {
			t.Errorf("Subject(%v) = %q, want %q", tt.ev.Type, got, tt.want)
		}
	}
}
