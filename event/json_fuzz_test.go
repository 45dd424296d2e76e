package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// FuzzEventJSON checks AppendJSON against encoding/json: for any strings
// in an event (wire bytes of any kind, invalid UTF-8 included), the output
// is one valid JSON object, and each string field decodes to what
// encoding/json makes of the same string.
func FuzzEventJSON(f *testing.F) {
	f.Add("t", "RETR", "a\"b\\c\x00\x7f\xff\u2028", "226 ok\r\n", "<&>", int64(5))
	f.Add("", "", "\xed\xa0\x80\xef\xbf\xbd", "\u2029\t", "\x1f\x80", int64(-1))
	f.Add("\u0085", "\u009b", "\x1b[2J\u009b2J", "\u0080\u009f\u00a0", "\xc2\x7f", int64(0))
	f.Fuzz(func(t *testing.T, tap, cmd, arg, text, file string, n int64) {
		for _, typ := range []Type{TypeRequest, TypeResponse, TypeTransferEnd, TypeAlert, TypeStatus} {
			ev := Event{Tap: tap, Seq: 7, Time: time.Unix(0, n), Type: typ, Session: 3,
				Command: cmd, Arg: arg, Text: text, File: file, Kind: cmd, Detail: text, Bytes: n,
				Counters: []Counter{{Name: file, Value: n}}}
			out := ev.AppendJSON(nil)
			if !json.Valid(out) {
				t.Fatalf("%s: invalid JSON %q", typ, out)
			}
			if i := terminalControl(out); i >= 0 {
				t.Fatalf("%s: a control character unescaped at %d in %q", typ, i, out)
			}
			var m map[string]any
			d := json.NewDecoder(bytes.NewReader(out))
			d.UseNumber()
			if err := d.Decode(&m); err != nil {
				t.Fatalf("%s: %v in %q", typ, err, out)
			}
			if d.More() {
				t.Fatalf("%s: more than one value in %q", typ, out)
			}
			want := map[string]string{"tap": tap, "type": typ.String()}
			switch typ {
			case TypeRequest:
				want["command"], want["arg"] = cmd, arg
			case TypeResponse:
				want["text"], want["command"] = text, cmd
			case TypeTransferEnd:
				want["command"], want["file"] = cmd, file
				if text != "" {
					want["text"] = text
				}
			case TypeAlert:
				want["kind"], want["detail"] = cmd, text
			}
			for k, v := range want {
				got, ok := m[k].(string)
				if !ok {
					t.Fatalf("%s: field %q missing or not a string in %s", typ, k, out)
				}
				if w := viaEncodingJSON(t, v); got != w {
					t.Fatalf("%s: field %q decodes to %q, encoding/json gives %q (from %q)", typ, k, got, w, v)
				}
			}
			if typ == TypeStatus {
				c, ok := m["counters"].(map[string]any)
				if !ok || len(c) != 1 || c[viaEncodingJSON(t, file)] != json.Number(itoa64(n)) {
					t.Fatalf("status counters = %v in %s", m["counters"], out)
				}
			}
			if typ == TypeTransferEnd && m["bytes"] != json.Number(itoa64(n)) {
				t.Fatalf("bytes = %v, want %d", m["bytes"], n)
			}
		}
	})
}

// viaEncodingJSON is s after a round trip through encoding/json, which
// turns each byte of invalid UTF-8 into U+FFFD.
func viaEncodingJSON(t *testing.T, s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back string
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return back
}

// terminalControl returns the index of the first control character (C0,
// DEL or C1) in the UTF-8 text b, or -1.
func terminalControl(b []byte) int {
	for i, r := range string(b) {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return i
		}
	}
	return -1
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
