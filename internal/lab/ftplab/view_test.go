package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestView(t *testing.T) {
	in := `{"v":1,"tap":"lab","seq":1,"ts":"2026-11-27T13:45:01.000001Z","type":"session.start","session":"s1","client":"10.77.0.2:41186","server":"10.77.0.1:21","midstream":false,"client_side":"a"}
{"v":1,"tap":"lab","seq":2,"ts":"2026-11-27T13:45:01.000002Z","type":"request","session":"s1","client":"10.77.0.2:41186","server":"10.77.0.1:21","command":"RETR","arg":"pub/f1000.bin"}
{"v":1,"tap":"lab","seq":3,"ts":"2026-11-27T13:45:01.000003Z","type":"transfer.end","session":"s1","client":"10.77.0.2:41186","server":"10.77.0.1:21","command":"RETR","file":"pub/f1000.bin","direction":"download","bytes":1000,"code":226,"complete":true,"mode":"passive","duration_ms":3}
{"v":1,"tap":"lab","seq":4,"ts":"2026-11-27T13:45:01.000004Z","type":"data.fail","session":"s1","client":"10.77.0.2:41186","server":"10.77.0.1:21","mode":"passive","endpoint":"10.77.0.1:40074","reason":"timeout"}
not json
`
	var out bytes.Buffer
	if err := view(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"SESSION 10.77.0.2:41186 -> 10.77.0.1:21 (client behind port a)",
		"  > RETR pub/f1000.bin",
		"XFER    RETR pub/f1000.bin download, passive mode, 1000 bytes, 3 ms, reply 226, complete",
		"FAIL    passive data channel to 10.77.0.1:40074: timeout",
		"?? not json",
		"1 sessions, 1000 bytes moved on data channels",
		"passive download             1",
		"data channel timeout         1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("view output lacks %q:\n%s", want, out.String())
		}
	}
}
