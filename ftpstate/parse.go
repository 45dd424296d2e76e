package ftpstate

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
)

// Parsers for the FTP command channel: pure functions of bytes, as textproto
// keeps parsing apart from reading. None of them sees a socket.

// ParseCommand splits a request line (without its line end) into the
// command, upper-cased, and its argument (RFC 959 section 5.3: the command
// is separated from its argument by a single space). Leading spaces are
// skipped; the argument keeps inner and trailing spaces except one
// separating space.
func ParseCommand(line []byte) (cmd, arg string) {
	verb, c, a := splitCommand(line)
	arg = string(a)
	if verb != "" {
		return verb, arg
	}
	return upperASCII(c), arg
}

// splitCommand is ParseCommand without making strings: verb is the
// command when it is one of verbs, otherwise "" and c holds the command as
// sent; a is the argument.
func splitCommand(line []byte) (verb string, c, a []byte) {
	line = bytes.TrimLeft(line, " ")
	c = line
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		c, a = line[:i], line[i+1:]
	}
	if v, ok := knownVerb(c); ok {
		return v, nil, a
	}
	return "", c, a
}

func upperASCII(b []byte) string {
	for _, c := range b {
		if c >= 'a' && c <= 'z' {
			u := make([]byte, len(b))
			for i, c := range b {
				if c >= 'a' && c <= 'z' {
					c -= 'a' - 'A'
				}
				u[i] = c
			}
			return string(u)
		}
	}
	return string(b)
}

// ReplyLine is one line of a server reply, parsed.
type ReplyLine struct {
	Code int    // 100 to 599; 0 when the line has no valid reply code
	Sep  byte   // ' ' (last line), '-' (first line of a multi-line reply), 0 (no separator) or the odd byte found
	Text string // what follows the code and separator; the whole line when Code is 0
}

// ParseReplyLine parses one reply line (without its line end), RFC 959
// section 4.2: three digits, the first 1 to 5 (or 6, the protected replies
// of RFC 2228), then a space, or a hyphen that opens a multi-line reply, or
// the end of the line.
func ParseReplyLine(line []byte) ReplyLine {
	code, sep, text := splitReply(line)
	return ReplyLine{Code: code, Sep: sep, Text: string(text)}
}

// splitReply is ParseReplyLine without making a string: text is a part of
// line.
func splitReply(line []byte) (code int, sep byte, text []byte) {
	if len(line) < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2]) || line[0] < '1' || line[0] > '6' {
		return 0, 0, line
	}
	if len(line) > 3 && isDigit(line[3]) {
		return 0, 0, line
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, 0, nil
	}
	return code, line[3], line[4:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Errors of the address parsers.
var (
	ErrBadAddress = errors.New("ftpstate: malformed address")
	ErrNoAddress  = errors.New("ftpstate: no address in reply")
)

// ParsePORT parses the argument of PORT, h1,h2,h3,h4,p1,p2 (RFC 959).
func ParsePORT(arg string) (netip.AddrPort, error) {
	var n [6]int
	if !parseNumbers([]byte(trimSpace(arg)), n[:], true) {
		return netip.AddrPort{}, ErrBadAddress
	}
	return hostPort(n)
}

// ParsePASV finds the address in a 227 reply's text. RFC 959 leaves its
// shape open: servers write "Entering Passive Mode (h1,h2,h3,h4,p1,p2).",
// without the parentheses, with "=" before the numbers, or with other text
// around; the first run of six comma-separated numbers wins, as in
// Wireshark and Zeek.
func ParsePASV(text string) (netip.AddrPort, error) {
	b := []byte(text)
	for i := 0; i < len(b); i++ {
		if !isDigit(b[i]) || (i > 0 && isDigit(b[i-1])) {
			continue
		}
		var n [6]int
		if parseNumbers(b[i:], n[:], false) {
			return hostPort(n)
		}
	}
	return netip.AddrPort{}, ErrNoAddress
}

// parseNumbers reads len(n) comma-separated decimal numbers (each up to
// 255) from the start of b. With whole, b must hold nothing else.
func parseNumbers(b []byte, n []int, whole bool) bool {
	j := 0
	for k := range n {
		if k > 0 {
			if j >= len(b) || b[j] != ',' {
				return false
			}
			j++
			for j < len(b) && b[j] == ' ' {
				j++
			}
		}
		start := j
		v := 0
		for j < len(b) && isDigit(b[j]) && j-start < 3 {
			v = v*10 + int(b[j]-'0')
			j++
		}
		if j == start || v > 255 || (j < len(b) && isDigit(b[j])) {
			return false
		}
		n[k] = v
	}
	return !whole || j == len(b)
}

func hostPort(n [6]int) (netip.AddrPort, error) {
	a := netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	p := uint16(n[4]<<8 | n[5])
	return netip.AddrPortFrom(a, p), nil
}

// ParseEPRT parses the argument of EPRT, <d>proto<d>addr<d>port<d> (RFC
// 2428 section 2), where d is any printable character and proto 1 is IPv4,
// 2 is IPv6.
func ParseEPRT(arg string) (netip.AddrPort, error) {
	f, ok := splitDelimited(trimSpace(arg), 3)
	if !ok {
		return netip.AddrPort{}, ErrBadAddress
	}
	a, err := netip.ParseAddr(f[1])
	if err != nil || a.Zone() != "" {
		return netip.AddrPort{}, ErrBadAddress
	}
	switch f[0] {
	case "1":
		if !a.Is4() {
			return netip.AddrPort{}, ErrBadAddress
		}
	case "2":
		if !a.Is6() {
			return netip.AddrPort{}, ErrBadAddress
		}
	default:
		return netip.AddrPort{}, ErrBadAddress
	}
	p, err := parsePort(f[2])
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, p), nil
}

// ParseEPSV finds the port in a 229 reply's text, "(<d><d><d>port<d>)"
// (RFC 2428 section 3). The reply names no address: the server's own is
// meant.
func ParseEPSV(text string) (uint16, error) {
	i := indexByte(text, '(')
	for i >= 0 {
		rest := text[i+1:]
		if j := indexByte(rest, ')'); j >= 0 {
			if f, ok := splitDelimited(rest[:j], 3); ok && f[0] == "" && f[1] == "" {
				if p, err := parsePort(f[2]); err == nil {
					return p, nil
				}
			}
		}
		k := indexByte(rest, '(')
		if k < 0 {
			break
		}
		i += 1 + k
	}
	return 0, ErrNoAddress
}

// ParseLPRT parses LPRT's argument or finds LPSV's (228) address: af,hal,
// h1..hn,pal,p1..pn (RFC 1639), for IPv4 (af 4, hal 4) and IPv6 (af 6,
// hal 16) with two port bytes.
func ParseLPRT(text string) (netip.AddrPort, error) {
	b := []byte(text)
	for i := 0; i < len(b); i++ {
		if !isDigit(b[i]) || (i > 0 && isDigit(b[i-1])) {
			continue
		}
		for _, hal := range [2]int{4, 16} {
			n := make([]int, 2+hal+3)
			if !parseNumbers(b[i:], n, false) {
				continue
			}
			if (hal == 4 && n[0] != 4) || (hal == 16 && n[0] != 6) || n[1] != hal || n[2+hal] != 2 {
				continue
			}
			var a netip.Addr
			if hal == 4 {
				a = netip.AddrFrom4([4]byte{byte(n[2]), byte(n[3]), byte(n[4]), byte(n[5])})
			} else {
				var x [16]byte
				for k := range x {
					x[k] = byte(n[2+k])
				}
				a = netip.AddrFrom16(x)
			}
			p := uint16(n[3+hal]<<8 | n[4+hal])
			return netip.AddrPortFrom(a, p), nil
		}
	}
	return netip.AddrPort{}, ErrNoAddress
}

// splitDelimited splits "<d>f1<d>f2<d>...<d>" into n fields, d being the
// first character (a printable ASCII one).
func splitDelimited(s string, n int) ([]string, bool) {
	if len(s) < n+1 || s[0] < 33 || s[0] > 126 {
		return nil, false
	}
	d := s[0]
	f := make([]string, 0, n)
	start := 1
	for i := 1; i < len(s); i++ {
		if s[i] == d {
			f = append(f, s[start:i])
			start = i + 1
			if len(f) == n {
				return f, i == len(s)-1
			}
		}
	}
	return nil, false
}

func parsePort(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil || v == 0 {
		return 0, ErrBadAddress
	}
	return uint16(v), nil
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// parseSizeHint finds "(N bytes)" in a 150 reply, the size servers announce
// for a download (vsftpd, NetBSD-ftpd, wu-ftpd); -1 when absent.
func parseSizeHint(text string) int64 {
	i := indexByte(text, '(')
	for i >= 0 {
		rest := text[i+1:]
		j := 0
		var v int64
		for j < len(rest) && isDigit(rest[j]) && j < 19 {
			v = v*10 + int64(rest[j]-'0')
			j++
		}
		if j > 0 && len(rest) >= j+6 && rest[j:j+6] == " bytes" {
			return v
		}
		k := indexByte(rest, '(')
		if k < 0 {
			break
		}
		i += 1 + k
	}
	return -1
}

// parseUniqueName finds the name the server gave the file of a STOU: its
// 125 or 150 reply reads "FILE: name" (RFC 1123 section 4.1.2.9; some
// servers put it in the 226 or 250 instead). The first line that starts
// so wins.
func parseUniqueName(text string) (string, bool) {
	for len(text) > 0 {
		ln := text
		if i := indexByte(text, '\n'); i >= 0 {
			ln, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		if len(ln) > 5 && upperASCII([]byte(ln[:5])) == "FILE:" {
			if name := trimSpace(ln[5:]); name != "" {
				return name, true
			}
		}
	}
	return "", false
}
