//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// WaitQuiet waits until the scenario's traffic is over: in the client and
// server namespaces, every TCP socket listens or is in TIME-WAIT (its last
// ACK is sent), and every UDP socket is a TFTP server's listener on port
// 69, so that no server is still retransmitting to a client that gave up.
// A test that stopped ftptap and the recording while traffic still flowed
// would compare two captures of different spans: a tftpd-hpa child goes on
// resending its DATA for seconds after the client ended, and the ICMP
// unreachable that finally ends it may fall in one capture and not the
// other. It returns an error naming what is still open when ctx ends.
func (l *Lab) WaitQuiet(ctx context.Context) error {
	start := time.Now()
	for {
		busy, err := l.busySockets()
		if err != nil {
			return err
		}
		if len(busy) == 0 {
			l.logf("lab %s: quiet after %v", l.Name, time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab %s: traffic still in flight: %s: %w", l.Name, strings.Join(busy, "; "), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// busySockets lists the sockets of the client and server namespaces that
// may still send: see WaitQuiet.
func (l *Lab) busySockets() ([]string, error) {
	var busy []string
	for _, ns := range []string{l.ClientNS, l.ServerNS} {
		out, err := exec.Command("ip", "netns", "exec", ns, "ss", "-Htuan").Output()
		if err != nil {
			return nil, fmt.Errorf("lab: ss in %s: %w", ns, err)
		}
		for _, line := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			proto, state, local := f[0], f[1], f[4]
			switch {
			case proto == "tcp" && (state == "LISTEN" || state == "TIME-WAIT"):
			case proto == "udp" && strings.HasSuffix(local, ":69"):
			default:
				busy = append(busy, ns+": "+strings.Join(f, " "))
			}
		}
	}
	return busy, nil
}
