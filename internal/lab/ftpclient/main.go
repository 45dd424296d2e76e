// Command ftpclient is the lab's scripted FTP client. It sends the commands
// it is given, one at a time, waiting for each final reply, and prints what
// it sent and read, so a scenario can drive a real server through sequences
// no packaged client sends: a transfer command refused, then another on the
// same PASV or PORT.
//
//	ftpclient SERVER:PORT COMMAND...
//
// A bare PORT is sent with the address of a listener the client opens on
// its own address. A transfer command (RETR, LIST, NLST, MLSD) uses the
// newest announcement's data connection: in passive mode the client
// connects before it sends the command, as Python's ftplib does, and keeps
// the connection when the command is refused, for the next one; in active
// mode it accepts the server's connection once the server answers 1xx.
//
// Two forms are not sent as they are: "-COMMAND" sends COMMAND without
// waiting for its reply, and FIN half-closes the command channel (the
// client's FIN), then reads what the server still sends until it closes.
// Without QUIT or FIN at the end, the client closes the command channel
// after the last command (a FIN, and a RST for anything the server sends
// after it).
//
// Output, one line each: "local_port=N" (the command channel's port),
// "> COMMAND" sent, "< LINE" read, "# data N bytes" received.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ftpclient SERVER:PORT COMMAND...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "ftpclient:", err)
		os.Exit(1)
	}
}

var pasvReply = regexp.MustCompile(`(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)`)

type client struct {
	ctl  net.Conn
	r    *bufio.Reader
	data net.Conn     // passive: connected to the newest announcement
	ln   net.Listener // active: listening for the server
	pasv string       // the newest passive endpoint
}

func run(server string, cmds []string) error {
	ctl, err := net.DialTimeout("tcp", server, 10*time.Second)
	if err != nil {
		return err
	}
	defer ctl.Close()
	ctl.SetDeadline(time.Now().Add(time.Minute))
	c := &client{ctl: ctl, r: bufio.NewReader(ctl)}
	fmt.Printf("local_port=%d\n", ctl.LocalAddr().(*net.TCPAddr).Port)
	if _, _, err := c.reply(); err != nil { // the greeting
		return err
	}
	for _, cmd := range cmds {
		if err := c.do(cmd); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
	}
	return nil
}

func (c *client) do(cmd string) error {
	if cmd == "FIN" {
		if err := c.ctl.(*net.TCPConn).CloseWrite(); err != nil {
			return err
		}
		for {
			line, err := c.r.ReadString('\n')
			if line != "" {
				fmt.Printf("< %s\n", strings.TrimRight(line, "\r\n"))
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	if rest, ok := strings.CutPrefix(cmd, "-"); ok {
		return c.send(rest)
	}
	verb, _, _ := strings.Cut(cmd, " ")
	verb = strings.ToUpper(verb)
	switch verb {
	case "PORT":
		if c.ln != nil {
			c.ln.Close()
		}
		ip := c.ctl.LocalAddr().(*net.TCPAddr).IP.To4()
		ln, err := net.Listen("tcp4", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			return err
		}
		c.ln = ln
		p := ln.Addr().(*net.TCPAddr).Port
		cmd = fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", ip[0], ip[1], ip[2], ip[3], p>>8, p&0xff)
	case "RETR", "LIST", "NLST", "MLSD":
		return c.transfer(cmd)
	}
	code, text, err := c.command(cmd)
	if err != nil {
		return err
	}
	if verb == "PASV" && code == 227 {
		m := pasvReply.FindStringSubmatch(text)
		if m == nil {
			return fmt.Errorf("no address in %q", text)
		}
		hi, _ := strconv.Atoi(m[5])
		lo, _ := strconv.Atoi(m[6])
		if c.data != nil {
			c.data.Close()
			c.data = nil
		}
		c.pasv = net.JoinHostPort(strings.Join(m[1:5], "."), strconv.Itoa(hi<<8|lo))
		if c.ln != nil {
			c.ln.Close()
			c.ln = nil
		}
	}
	return nil
}

func (c *client) transfer(cmd string) error {
	if c.ln == nil && c.data == nil && c.pasv != "" {
		d, err := net.DialTimeout("tcp", c.pasv, 10*time.Second)
		if err != nil {
			return err
		}
		c.data = d
	}
	if err := c.send(cmd); err != nil {
		return err
	}
	code, _, err := c.reply()
	if err != nil {
		return err
	}
	if code >= 200 {
		return nil // refused: a passive connection stays for the next command
	}
	d := c.data
	c.data, c.pasv = nil, ""
	if c.ln != nil {
		c.ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		if d, err = c.ln.Accept(); err != nil {
			return err
		}
		c.ln.Close()
		c.ln = nil
	}
	if d == nil {
		return fmt.Errorf("a %d reply with no data connection", code)
	}
	n, err := io.Copy(io.Discard, d)
	d.Close()
	if err != nil {
		return err
	}
	fmt.Printf("# data %d bytes\n", n)
	_, _, err = c.reply()
	return err
}

func (c *client) send(cmd string) error {
	fmt.Printf("> %s\n", cmd)
	_, err := io.WriteString(c.ctl, cmd+"\r\n")
	return err
}

func (c *client) command(cmd string) (int, string, error) {
	if err := c.send(cmd); err != nil {
		return 0, "", err
	}
	for {
		code, text, err := c.reply()
		if err != nil || code >= 200 {
			return code, text, err
		}
	}
}

// reply reads one reply, multi-line ones whole (RFC 959 section 4.2), and
// returns its code and its last line's text.
func (c *client) reply() (int, string, error) {
	first := ""
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return 0, "", err
		}
		line = strings.TrimRight(line, "\r\n")
		fmt.Printf("< %s\n", line)
		if first == "" {
			if len(line) < 4 {
				return 0, "", fmt.Errorf("bad reply %q", line)
			}
			first = line[:3]
			if line[3] != '-' {
				code, err := strconv.Atoi(first)
				return code, line[4:], err
			}
			continue
		}
		if strings.HasPrefix(line, first+" ") {
			code, err := strconv.Atoi(first)
			return code, line[4:], err
		}
	}
}
