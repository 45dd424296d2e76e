package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ftptap/ftptap/natsbus"
)

func init() {
	register(command{name: "watch", summary: "subscribe to a tap's events over NATS and print them", run: runWatch})
}

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("watch", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: ftptap watch [flags] [SUBJECT-FILTER]

Prints events as they come, as a table or as JSON lines. The filter is a NATS
subject (default ftptap.>), e.g. 'ftptap.*.request.USER' (every USER command),
'ftptap.lab1.response.227', 'ftptap.*.transfer.end', 'ftptap.*.alert.>'.

examples:
  ftptap watch
  ftptap watch --server nats://10.0.0.5:4222 'ftptap.*.alert.>'
  ftptap watch --json --count 10 'ftptap.lab1.transfer.end'

flags:`)
		printFlags(fs)
	}
	server := fs.String("server", "", "NATS server `URL`(s), comma-separated (default: the config's nats.urls, else "+defaultWatchServer+")")
	asJSON := fs.Bool("json", false, "print each event's JSON as it came")
	count := fs.Int("count", 0, "exit after `N` events (0: until interrupted)")
	configPath := fs.String("config", DefaultConfigPath, "config `FILE` for the servers and credentials (its nats: section), if present")
	creds := fs.String("creds", "", "NATS .creds `FILE`")
	token := fs.String("token", "", "NATS `TOKEN`")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		fs.Usage()
		return fmt.Errorf("%w: one subject filter at most, got %q", errUsage, pos)
	}
	subject := natsbus.Prefix + ".>"
	if len(pos) == 1 {
		subject = pos[0]
	}
	if err := checkSubjectFilter(subject); err != nil {
		return fmt.Errorf("%w: subject %q: %v", errUsage, subject, err)
	}
	if w := subjectWarning(subject); w != "" {
		fmt.Fprintln(stderr, "ftptap watch: warning: "+w)
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if err := cfg.NATS.validate(); err != nil {
		return err
	}
	co := cfg.NATS.clientOptions(cfg.NATS.URLs, "watch")
	co.Name = "ftptap watch"
	if len(co.URLs) == 0 {
		co.URLs = []string{defaultWatchServer}
		co.Token = cfg.NATS.Server.Token
	}
	if *server != "" {
		co.URLs = nil
		for _, u := range strings.Split(*server, ",") {
			if u = strings.TrimSpace(u); !strings.Contains(u, "://") {
				u = "nats://" + u
			}
			co.URLs = append(co.URLs, u)
		}
	}
	if *creds != "" {
		co.Creds, co.Token, co.NKeyFile = *creds, "", ""
	}
	if *token != "" {
		co.Token = *token
	}
	nc, err := natsbus.DialOnce(co)
	if err != nil {
		return err
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(subject, msgs)
	if err != nil {
		return fmt.Errorf("subscribe %q: %w", subject, err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribe %q: %w", subject, err)
	}
	fmt.Fprintf(stderr, "ftptap watch: %s on %s\n", subject, nc.ConnectedUrlRedacted())

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if !*asJSON {
		fmt.Fprintln(out, tableHeader)
		out.Flush()
	}
	n := 0
	for *count == 0 || n < *count {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			if *asJSON {
				out.Write(m.Data)
				out.WriteByte('\n')
			} else {
				out.WriteString(formatRow(m.Subject, m.Data))
				out.WriteByte('\n')
			}
			// Flush when the burst is over, so a person sees each event.
			if len(msgs) == 0 {
				if err := out.Flush(); err != nil {
					return err
				}
			}
			n++
		}
	}
	return nil
}

// checkSubjectFilter checks a subscription subject: non-empty tokens, '>'
// only last, no spaces.
func checkSubjectFilter(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("not a subject")
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("empty token")
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("'>' must be the last token")
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("token %q: a wildcard stands alone", t)
		}
	}
	return nil
}

const tableHeader = "TIME             TAP        SESSION  EVENT               DETAIL"

// watchEvent is the JSON of an event as ftptap watch reads it: every field
// of the contract that a row shows.
type watchEvent struct {
	Tap        string           `json:"tap"`
	Seq        uint64           `json:"seq"`
	TS         string           `json:"ts"`
	Type       string           `json:"type"`
	Session    string           `json:"session"`
	Client     string           `json:"client"`
	Server     string           `json:"server"`
	Midstream  bool             `json:"midstream"`
	ClientSide string           `json:"client_side"`
	Reason     string           `json:"reason"`
	Command    string           `json:"command"`
	Arg        string           `json:"arg"`
	Code       int              `json:"code"`
	Text       string           `json:"text"`
	User       string           `json:"user"`
	OK         bool             `json:"ok"`
	Mode       string           `json:"mode"`
	Via        string           `json:"via"`
	Endpoint   string           `json:"endpoint"`
	From       string           `json:"from"`
	To         string           `json:"to"`
	File       string           `json:"file"`
	Direction  string           `json:"direction"`
	Bytes      int64            `json:"bytes"`
	DataSeen   *bool            `json:"data_seen"` // false: the data connection did not cross the tap
	Complete   bool             `json:"complete"`
	DurationMS int64            `json:"duration_ms"`
	Kind       string           `json:"kind"`
	Detail     string           `json:"detail"`
	Role       string           `json:"role"`
	State      string           `json:"state"`
	Counters   map[string]int64 `json:"counters"`

	watchTFTP // tftp.request, tftp.end
}

// formatRow renders one event as a table row; a payload that is not an
// event's JSON is shown raw, quoted.
func formatRow(subject string, data []byte) string {
	var e watchEvent
	if err := json.Unmarshal(data, &e); err != nil || e.Type == "" {
		return fmt.Sprintf("%-16s %-10s %-8s %-19s %q", "-", "-", "-", clean(subject, 64), truncate(string(data), 200))
	}
	ts := e.TS
	if t, err := time.Parse(time.RFC3339Nano, e.TS); err == nil {
		ts = t.Local().Format("15:04:05.000000")
	}
	sess := e.Session
	if sess == "" {
		sess = "-"
	}
	// Strings from the wire (file names, replies) are escaped: a peer
	// must not send escape sequences to the terminal.
	return fmt.Sprintf("%-16s %-10s %-8s %-19s %s", clean(ts, 32), clean(e.Tap, 10), clean(sess, 8), clean(e.Type, 19), clean(e.detail(), 300))
}

// subjectWarning says why a subject filter outside ftptap.> likely
// matches nothing: taps publish only under that prefix.
func subjectWarning(subject string) string {
	prefix := natsbus.Prefix + "."
	if strings.HasPrefix(subject, prefix) || subject == natsbus.Prefix+".>" {
		return ""
	}
	hint := prefix + subject
	if subject == ">" {
		hint = prefix + ">"
	}
	return fmt.Sprintf("subject filter %q is outside %s>, where taps publish: it may match no event (did you mean %q?)", subject, prefix, hint)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// detail is the part of a row that depends on the event type.
func (e *watchEvent) detail() string {
	oneLine := func(s string) string {
		s = strings.ReplaceAll(s, "\r\n", " | ")
		return strings.ReplaceAll(s, "\n", " | ")
	}
	switch e.Type {
	case "session.start":
		s := e.Client + " -> " + e.Server
		if e.ClientSide != "" {
			s += " (client on port " + e.ClientSide + ")"
		}
		if e.Midstream {
			s += " midstream"
		}
		return s
	case "session.end":
		return e.Client + " -> " + e.Server + " " + e.Reason
	case "request":
		return strings.TrimSpace(e.Command + " " + e.Arg)
	case "response":
		s := oneLine(e.Text)
		if !strings.HasPrefix(s, strconv.Itoa(e.Code)) {
			s = strconv.Itoa(e.Code) + " " + s
		}
		return s
	case "login":
		if e.OK {
			return e.User + " ok"
		}
		return e.User + " failed"
	case "data.expect":
		return e.Mode + " " + e.Via + " " + e.Endpoint
	case "data.open":
		return e.Mode + " " + e.From + " -> " + e.To
	case "data.fail":
		s := e.Mode + " " + e.Endpoint + " " + e.Reason
		if e.Detail != "" {
			s += ": " + e.Detail
		}
		return s
	case "transfer.end":
		state := "complete"
		if !e.Complete {
			state = "INCOMPLETE"
		}
		bytes := fmt.Sprintf("%d B", e.Bytes)
		if e.DataSeen != nil && !*e.DataSeen {
			bytes = "data not seen"
		}
		return fmt.Sprintf("%s %s %s %s %d %s %s %d ms", e.Command, e.File, e.Direction, bytes, e.Code, state, e.Mode, e.DurationMS)
	case "data.close":
		return fmt.Sprintf("%s %s -> %s %s %s", e.Mode, e.From, e.To, humanBytes(e.Bytes), e.Reason)
	case "tftp.request", "tftp.end":
		return e.tftpDetail()
	case "tls":
		return strings.TrimSpace(e.Command+" "+e.Arg) + ": command channel encrypted"
	case "alert":
		return e.Kind + ": " + e.Detail
	case "led":
		return e.Role + " " + e.State
	case "status":
		keys := make([]string, 0, len(e.Counters))
		for k := range e.Counters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", k, e.Counters[k])
		}
		return b.String()
	}
	return ""
}
