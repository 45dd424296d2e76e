//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Run is one run of a real FTP client in the client namespace and what it
// said it did.
type Run struct {
	Tool       string // curl, lftp or ftpclient
	Args       []string
	Start, End time.Time
	Output     []byte // standard output
	Log        []byte // the client's protocol trace (curl -v, lftp debug)
	Err        error  // the client's exit status
	Sessions   []*Transcript
}

// Transcript is one command channel as the client saw it: the commands it
// sent and the reply lines it read, in order.
type Transcript struct {
	Server    netip.AddrPort
	LocalPort uint16 // the client's port, when the client reports it (curl)
	Lines     []Line
}

// Line is one line of a transcript: a command sent (Sent) or a reply
// line read.
type Line struct {
	Sent bool
	Text string
}

// Curl runs curl -v in the client namespace with args (URLs and options);
// a curl run is at most one command channel per host. Its transcript
// comes from curl's -v trace, its local port from --write-out.
func (l *Lab) Curl(ctx context.Context, args ...string) *Run {
	full := append(append([]string(nil), CurlArgs...), args...)
	r := l.client(ctx, "curl", full, nil)
	r.Sessions = ParseCurl(r.Log, r.Output)
	return r
}

// CurlArgs are the options Curl gives every curl run, before its own: a
// trace for ParseCurl on stderr, its local port on stdout, a time limit.
var CurlArgs = []string{"-v", "-sS", "--max-time", "60", "-w", "ftplab local_port=%{local_port}\\n"}

// ParseCurl reads the transcripts of a curl run made with CurlArgs
// elsewhere (in a virtual machine, say): trace is its stderr, output its
// stdout.
func ParseCurl(trace, output []byte) []*Transcript {
	ts := parseCurl(trace)
	if m := regexp.MustCompile(`ftplab local_port=(\d+)`).FindSubmatch(output); m != nil && len(ts) == 1 {
		p, _ := strconv.Atoi(string(m[1]))
		ts[0].LocalPort = uint16(p)
	}
	return ts
}

// LftpSettings are the lftp settings every Lftp run starts with: fail on
// the first error, one try, short time-outs, overwrite local files.
const LftpSettings = "set cmd:fail-exit yes; set net:max-retries 1; set net:reconnect-interval-base 1; " +
	"set net:timeout 10; set xfer:clobber yes; set cmd:interactive no"

// Lftp runs an lftp script (commands separated by ";" or newlines) in the
// client namespace, after LftpSettings. Its transcript comes from lftp's
// debug output.
func (l *Lab) Lftp(ctx context.Context, script string) *Run {
	trace := filepath.Join(l.ClientDir(), fmt.Sprintf("lftp-%d.log", time.Now().UnixNano()))
	full := fmt.Sprintf("debug -o %s 5; %s; %s", trace, LftpSettings, script)
	r := l.client(ctx, "lftp", []string{"-c", full}, nil)
	r.Log, _ = os.ReadFile(trace)
	os.Remove(trace)
	r.Sessions = parseLftp(r.Log)
	return r
}

// Scripted runs the lab's scripted client (internal/lab/ftpclient) in the
// client namespace: it sends cmds to s one at a time, in this order and no
// other (no PASV of its own before a transfer command). Its transcript is
// its output.
func (l *Lab) Scripted(ctx context.Context, s Server, cmds ...string) *Run {
	bin, err := buildClient()
	if err != nil {
		return &Run{Tool: "ftpclient", Err: err}
	}
	r := l.client(ctx, bin, append([]string{s.Addr(false).String()}, cmds...), nil)
	r.Tool = "ftpclient"
	t := &Transcript{Server: s.Addr(false)}
	for _, ln := range strings.Split(string(r.Output), "\n") {
		switch {
		case strings.HasPrefix(ln, "local_port="):
			p, _ := strconv.Atoi(strings.TrimPrefix(ln, "local_port="))
			t.LocalPort = uint16(p)
		case strings.HasPrefix(ln, "> "):
			t.Lines = append(t.Lines, Line{Sent: true, Text: ln[2:]})
		case strings.HasPrefix(ln, "< "):
			t.Lines = append(t.Lines, Line{Text: ln[2:]})
		}
	}
	r.Sessions = []*Transcript{t}
	return r
}

func (l *Lab) client(ctx context.Context, tool string, args []string, stdin []byte) *Run {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ClientNS, tool}, args...)...)
	cmd.Dir = l.ClientDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	r := &Run{Tool: tool, Args: args, Start: time.Now()}
	r.Err = cmd.Run()
	r.End = time.Now()
	r.Output = out.Bytes()
	r.Log = errb.Bytes()
	if r.Err != nil {
		r.Err = fmt.Errorf("%s: %w: %s", tool, r.Err, lastLines(errb.Bytes(), 3))
	}
	return r
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

var (
	// * Connected to 10.77.0.1 (10.77.0.1) port 21 (#0)
	curlConnected = regexp.MustCompile(`^\* Connected to \S+ \(([^)]+)\) port (\d+) \(#(\d+)\)`)
	// * Re-using existing connection #0 with host 10.77.0.1
	curlReuse = regexp.MustCompile(`^\* Re-using existing connection #(\d+)`)
	// ---- Connecting to 10.77.0.1 (10.77.0.1) port 21
	lftpConnecting = regexp.MustCompile(`^---- Connecting to \S+ \(([^)]+)\) port (\d+)`)
)

// parseCurl reads curl -v's trace: "> CMD" lines sent, "< reply" lines
// read; curl numbers its connections (#0), data connections print the
// command channel's number again.
func parseCurl(log []byte) []*Transcript {
	var all []*Transcript
	byNum := map[string]*Transcript{}
	var cur *Transcript
	for _, line := range strings.Split(string(log), "\n") {
		line = strings.TrimRight(line, "\r")
		if m := curlConnected.FindStringSubmatch(line); m != nil {
			if t := byNum[m[3]]; t != nil {
				cur = t
				continue
			}
			ip, err := netip.ParseAddr(m[1])
			port, _ := strconv.Atoi(m[2])
			if err != nil {
				continue
			}
			cur = &Transcript{Server: netip.AddrPortFrom(ip, uint16(port))}
			byNum[m[3]] = cur
			all = append(all, cur)
			continue
		}
		if m := curlReuse.FindStringSubmatch(line); m != nil {
			cur = byNum[m[1]]
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "> "):
			cur.Lines = append(cur.Lines, Line{Sent: true, Text: line[2:]})
		case strings.HasPrefix(line, "< "):
			cur.Lines = append(cur.Lines, Line{Text: line[2:]})
		}
	}
	return all
}

// parseLftp reads lftp's debug output: "---> CMD" sent, "<--- reply" read,
// "---- Connecting to" a new command channel.
func parseLftp(log []byte) []*Transcript {
	var all []*Transcript
	var cur *Transcript
	for _, line := range strings.Split(string(log), "\n") {
		line = strings.TrimRight(line, "\r")
		if m := lftpConnecting.FindStringSubmatch(line); m != nil {
			ip, err := netip.ParseAddr(m[1])
			port, _ := strconv.Atoi(m[2])
			if err != nil {
				continue
			}
			cur = &Transcript{Server: netip.AddrPortFrom(ip, uint16(port))}
			all = append(all, cur)
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "---> "):
			cur.Lines = append(cur.Lines, Line{Sent: true, Text: line[5:]})
		case strings.HasPrefix(line, "<--- "):
			cur.Lines = append(cur.Lines, Line{Text: line[5:]})
		}
	}
	return all
}
