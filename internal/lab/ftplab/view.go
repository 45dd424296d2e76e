package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// view prints ftptap's JSON-lines events as one readable line each, and
// a tally at the end of its input.
func view(r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	tally := map[string]int{}
	var bytes int64
	sessions := 0
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintf(w, "?? %s\n", sc.Text())
			continue
		}
		s := func(k string) string {
			switch v := e[k].(type) {
			case string:
				return v
			case float64:
				return fmt.Sprint(int64(v))
			case bool:
				return fmt.Sprint(v)
			}
			return ""
		}
		ts := s("ts")
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			ts = t.Local().Format("15:04:05.000")
		}
		head := fmt.Sprintf("%s  %-4s ", ts, s("session"))
		var line string
		switch s("type") {
		case "session.start":
			sessions++
			mid := ""
			if s("midstream") == "true" {
				mid = ", already under way"
			}
			line = fmt.Sprintf("SESSION %s -> %s (client behind port %s%s)", s("client"), s("server"), s("client_side"), mid)
		case "session.end":
			line = "END     " + s("reason")
		case "request":
			line = "  > " + strings.TrimSpace(s("command")+" "+s("arg"))
		case "response":
			text := s("text")
			if i := strings.IndexByte(text, '\n'); i >= 0 {
				text = text[:i] + " ..."
			}
			line = fmt.Sprintf("  < %s %s", s("code"), strings.TrimPrefix(text, s("code")+" "))
		case "login":
			ok := "failed"
			if s("ok") == "true" {
				ok = "ok"
			}
			line = fmt.Sprintf("LOGIN   %s %s", s("user"), ok)
			tally["login "+ok]++
		case "data.expect":
			line = fmt.Sprintf("EXPECT  %s via %s at %s", s("mode"), s("via"), s("endpoint"))
		case "data.open":
			line = fmt.Sprintf("OPEN    %s %s -> %s", s("mode"), s("from"), s("to"))
		case "data.fail":
			line = fmt.Sprintf("FAIL    %s data channel to %s: %s", s("mode"), s("endpoint"), s("reason"))
			tally["data channel "+s("reason")]++
		case "transfer.end":
			state := "complete"
			if s("complete") != "true" {
				state = "INCOMPLETE"
			}
			line = fmt.Sprintf("XFER    %s %s %s, %s mode, %s bytes, %s ms, reply %s, %s",
				s("command"), s("file"), s("direction"), s("mode"), s("bytes"), s("duration_ms"), s("code"), state)
			tally[s("mode")+" "+s("direction")]++
			if b, ok := e["bytes"].(float64); ok {
				bytes += int64(b)
			}
		case "tls":
			line = "TLS     command channel encrypted from here on"
		case "alert":
			line = "ALERT   " + s("kind") + ": " + s("detail")
		case "data.close":
			line = fmt.Sprintf("CLOSE   %s %s -> %s, %s bytes, %s", s("mode"), s("from"), s("to"), s("bytes"), s("reason"))
		case "led":
			line = fmt.Sprintf("LED     %s %s", s("role"), s("state"))
		case "status":
			continue
		default:
			line = s("type")
		}
		fmt.Fprintln(w, head+line)
	}
	fmt.Fprintf(w, "\n%d sessions, %d bytes moved on data channels\n", sessions, bytes)
	keys := make([]string, 0, len(tally))
	for k := range tally {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-28s %d\n", k, tally[k])
	}
	return sc.Err()
}
