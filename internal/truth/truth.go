// Package truth scores ftptap events against the ground truth of a capture:
// what really happened in each FTP session, in the truth.json shape of the
// lab captures. The rules are those of the outside checks: every request in
// order, the login, each announcement, each transfer with its mode, bytes,
// final code and completeness, each data-channel failure, and nothing
// invented.
package truth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strings"
)

// Truth is one capture's truth.json.
type Truth struct {
	Scenario string    `json:"scenario"`
	Sessions []Session `json:"sessions"`
}

// Session is what happened on one command channel.
type Session struct {
	Client    string         `json:"client"`
	Server    string         `json:"server"`
	User      string         `json:"user"`
	LoginOK   bool           `json:"login_ok"`
	Requests  [][2]string    `json:"requests"`
	TLS       bool           `json:"tls"`
	Announced []Announcement `json:"announced"`
	Transfers []Transfer     `json:"transfers"`
	DataFail  []DataFail     `json:"data_fail"`
	End       string         `json:"end"`
}

// Announcement is one data channel announced on the command channel.
type Announcement struct {
	Mode     string `json:"mode"`
	Endpoint string `json:"endpoint"`
	Via      string `json:"via"`
}

// Transfer is one transfer command and its outcome. A nil Bytes means the
// data connection is not in the capture; a nil Code that no final reply was.
type Transfer struct {
	Command   string `json:"command"`
	File      string `json:"file"`
	Direction string `json:"direction"`
	Mode      string `json:"mode"`
	Endpoint  string `json:"endpoint"`
	Bytes     *int64 `json:"bytes"`
	Code      *int   `json:"code"`
	Complete  bool   `json:"complete"`
	DataFrom  string `json:"data_from,omitempty"`
	DataTo    string `json:"data_to,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
}

// DataFail is a data channel that failed or was never used.
type DataFail struct {
	Mode     string `json:"mode"`
	Endpoint string `json:"endpoint"`
	Via      string `json:"via"`
	Reason   string `json:"reason"`
}

// Load reads a truth.json file.
func Load(name string) (*Truth, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("truth: %w", err)
	}
	var t Truth
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("truth: %s: %w", name, err)
	}
	return &t, nil
}

type event map[string]any

func (e event) str(k string) string {
	if v, ok := e[k].(string); ok {
		return v
	}
	return ""
}

func (e event) num(k string) (float64, bool) {
	v, ok := e[k].(float64)
	return v, ok
}

func (e event) truthy(k string) bool {
	switch v := e[k].(type) {
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	}
	return false
}

func norm(s string) string { return strings.ToLower(s) }

// Check scores JSON-lines events against tr. It returns a line for each
// fact missed or invented, and the number of invented facts (transfer.end
// events no truth transfer accounts for, sessions truth does not have).
// Lines that are not JSON objects count as misses.
func Check(tr *Truth, eventsJSONL []byte) (misses []string, spurious int) {
	var events []event
	sc := bufio.NewScanner(bytes.NewReader(eventsJSONL))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<26)
	bad := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			bad++
			continue
		}
		events = append(events, e)
	}
	type key struct{ c, s string }
	byCtl := map[key][]event{}
	var order []key
	for _, e := range events {
		k := key{norm(e.str("client")), norm(e.str("server"))}
		if _, ok := byCtl[k]; !ok {
			order = append(order, k)
		}
		byCtl[k] = append(byCtl[k], e)
	}
	miss := func(format string, a ...any) { misses = append(misses, fmt.Sprintf(format, a...)) }
	truthCtl := map[key]bool{}
	for _, s := range tr.Sessions {
		k := key{norm(s.Client), norm(s.Server)}
		truthCtl[k] = true
		ev := byCtl[k]
		name := tr.Scenario + " " + s.Client
		if len(ev) == 0 {
			miss("%s: no events for this session", name)
		}
		var got []string
		for _, e := range ev {
			if e.str("type") == "request" {
				got = append(got, strings.ToUpper(e.str("command")))
			}
		}
		i := 0
		for _, r := range s.Requests {
			for i < len(got) && got[i] != r[0] {
				i++
			}
			if i >= len(got) {
				miss("%s: request %s missing (in order)", name, r[0])
			}
			i++
		}
		if s.User != "" {
			found := false
			for _, e := range ev {
				if e.str("type") == "login" && e.str("user") == s.User && e.truthy("ok") == s.LoginOK {
					found = true
				}
			}
			if !found {
				miss("%s: login user=%s ok=%v not reported", name, s.User, s.LoginOK)
			}
		}
		if s.TLS && !has(ev, func(e event) bool { return e.str("type") == "tls" }) {
			miss("%s: tls not reported", name)
		}
		for _, a := range s.Announced {
			if !has(ev, func(e event) bool {
				return e.str("type") == "data.expect" && e.str("mode") == a.Mode && norm(e.str("endpoint")) == norm(a.Endpoint)
			}) {
				miss("%s: data.expect %s %s missing", name, a.Mode, a.Endpoint)
			}
		}
		var ends []event
		for _, e := range ev {
			if e.str("type") == "transfer.end" {
				ends = append(ends, e)
			}
		}
		used := map[int]bool{}
		for _, t := range s.Transfers {
			k := -1
			for j, e := range ends {
				if !used[j] && strings.ToUpper(e.str("command")) == t.Command && path.Base(e.str("file")) == path.Base(t.File) {
					k = j
					break
				}
			}
			what := t.Command + " " + t.File
			if k < 0 {
				miss("%s: transfer.end %s missing", name, what)
				continue
			}
			used[k] = true
			e := ends[k]
			if e.str("mode") != t.Mode {
				miss("%s: %s mode %s != %s", name, what, e.str("mode"), t.Mode)
			}
			if t.Bytes != nil {
				if b, ok := e.num("bytes"); !ok || int64(b) != *t.Bytes {
					miss("%s: %s bytes %v != %d", name, what, e["bytes"], *t.Bytes)
				}
			}
			if t.Code == nil {
				if e.truthy("code") {
					miss("%s: %s code %v but no final reply was sent", name, what, e["code"])
				}
			} else if c, ok := e.num("code"); !ok || int(c) != *t.Code {
				miss("%s: %s code %v != %d", name, what, e["code"], *t.Code)
			}
			if e.truthy("complete") != t.Complete {
				miss("%s: %s complete %v != %v", name, what, e["complete"], t.Complete)
			}
			if t.DataFrom != "" {
				if !has(ev, func(x event) bool {
					return x.str("type") == "data.open" && norm(x.str("from")) == norm(t.DataFrom) && norm(x.str("to")) == norm(t.DataTo)
				}) {
					miss("%s: data.open %s -> %s missing", name, t.DataFrom, t.DataTo)
				}
			}
		}
		spurious += len(ends) - len(used)
		for _, f := range s.DataFail {
			if !has(ev, func(e event) bool {
				return e.str("type") == "data.fail" && e.str("mode") == f.Mode && norm(e.str("endpoint")) == norm(f.Endpoint) && e.str("reason") == f.Reason
			}) {
				miss("%s: data.fail %s %s %s missing", name, f.Mode, f.Endpoint, f.Reason)
			}
		}
	}
	for _, k := range order {
		if truthCtl[k] {
			continue
		}
		if has(byCtl[k], func(e event) bool { t := e.str("type"); return t == "transfer.end" || t == "login" }) {
			spurious++
			miss("invented session (%s, %s)", k.c, k.s)
		}
	}
	if bad > 0 {
		miss("%d lines of output were not JSON", bad)
	}
	return misses, spurious
}

func has(ev []event, f func(event) bool) bool {
	for _, e := range ev {
		if f(e) {
			return true
		}
	}
	return false
}
