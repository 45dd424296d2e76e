// Command ftpstorm opens new FTP sessions at a steady rate (log in, QUIT)
// and prints, for each, the client's local port, the commands sent and
// replies read (a multi-line reply counts once), and when it began and
// when it closed its socket (Unix nanoseconds), so that a test can check
// every session's events: over a long storm the client's ports are used
// again, one session after the other, and the closing times tell them
// apart. Sessions whose SYN got no
// answer have no port and are counted apart (on stderr). The lab's
// session-storm benchmark runs it in the client namespace.
//
//	ftpstorm -server 10.77.0.1:21 -rate 1000 -duration 30s
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

func main() {
	server := flag.String("server", "10.77.0.1:21", "FTP server")
	rate := flag.Int("rate", 1000, "new sessions per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to keep starting sessions")
	timeout := flag.Duration("timeout", 10*time.Second, "time limit of one session")
	flag.Parse()
	if *rate <= 0 {
		fmt.Fprintln(os.Stderr, "ftpstorm: -rate must be positive")
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex // guards out, failed, unanswered
	failed, unanswered := 0, 0
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(*rate)
	start := time.Now()
	n := 0
	for next := start; time.Since(start) < *duration; next = next.Add(interval) {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		n++
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			port, sent, read, ended, err := session(*server, *timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
			}
			if port != 0 {
				fmt.Fprintf(out, "%d %d %d %d %d\n", port, sent, read, began.UnixNano(), ended.UnixNano())
			} else {
				unanswered++
			}
		}()
	}
	took := time.Since(start)
	wg.Wait()
	out.Flush()
	fmt.Fprintf(os.Stderr, "ftpstorm: %d sessions in %.1fs (%.0f/s), %d failed (%d never connected)\n", n, took.Seconds(), float64(n)/took.Seconds(), failed, unanswered)
}

// session logs in anonymously and quits. It returns the local port, the
// commands sent and replies read, whatever happened, and the time just
// before it closed the socket (the port may serve another session after
// that).
func session(server string, timeout time.Duration) (port, sent, read int, closed time.Time, err error) {
	c, err := net.DialTimeout("tcp", server, timeout)
	if err != nil {
		return 0, 0, 0, time.Now(), err
	}
	defer func() {
		closed = time.Now()
		c.Close()
	}()
	c.SetDeadline(time.Now().Add(timeout))
	port = c.LocalAddr().(*net.TCPAddr).Port
	r := bufio.NewReader(c)
	reply := func() (string, error) {
		code, err := readReply(r)
		if err == nil {
			read++
		}
		return code, err
	}
	send := func(line string) error {
		_, err := c.Write([]byte(line + "\r\n"))
		if err == nil {
			sent++
		}
		return err
	}
	code, err := reply()
	if err != nil || code != "220" {
		return port, sent, read, closed, fmt.Errorf("greeting %q: %v", code, err)
	}
	for _, step := range []struct{ cmd, want string }{{"USER anonymous", "3"}, {"PASS storm@example.com", "2"}} {
		if err := send(step.cmd); err != nil {
			return port, sent, read, closed, err
		}
		if code, err = reply(); err != nil {
			return port, sent, read, closed, err
		}
		if strings.HasPrefix(code, "2") {
			break // logged in without a password
		}
	}
	if err := send("QUIT"); err != nil {
		return port, sent, read, closed, err
	}
	_, err = reply()
	return port, sent, read, closed, err
}

// readReply reads one reply (RFC 959 multi-line replies end with their
// code and a space) and returns its code.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 4 {
		return "", fmt.Errorf("short reply %q", line)
	}
	code := line[:3]
	if line[3] != '-' {
		return code, nil
	}
	for {
		line, err = r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(line, code+" ") {
			return code, nil
		}
	}
}
