//go:build linux

package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Recording is tcpdump running on both tap ports, each writing what
// enters its port (ingress only, so each bridged frame is taken once) to
// porta.pcap and portb.pcap in Dir.
type Recording struct {
	Dir   string
	procs [2]*Proc
}

// Record starts tcpdump on both tap ports, writing into dir, and returns
// once both capture. Stop ends it.
func (l *Lab) Record(dir string) (*Recording, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	r := &Recording{Dir: dir}
	for i, port := range []string{PortA, PortB} {
		errf, err := os.Create(filepath.Join(l.Dir, "log", "tcpdump-"+port+".err"))
		if err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		// --immediate-mode: with TPACKET_V3 libpcap otherwise leaves
		// frames in a ring block until it fills or times out, and a
		// SIGTERM in between loses them. -Z root: Debian's tcpdump drops
		// to its own user, which cannot write into a test's directory.
		p, err := l.Start(l.TapNS, nil, errf, "tcpdump", "-Q", "in", "-i", port, "-n", "-s", "0",
			"--immediate-mode", "-U", "-Z", "root", "-w", filepath.Join(dir, port+".pcap"))
		if err != nil {
			errf.Close()
			r.Stop()
			return nil, err
		}
		r.procs[i] = p
		err = waitFor(errf.Name(), "listening on", p, 5*time.Second)
		errf.Close()
		if err != nil {
			r.Stop()
			return nil, err
		}
	}
	return r, nil
}

// Stop ends the recording and waits until both files are complete.
func (r *Recording) Stop() {
	for _, p := range r.procs {
		if p != nil {
			p.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range r.procs {
		if p != nil {
			p.Wait(5 * time.Second)
		}
	}
}

// Files are the recording's capture files, port A first.
func (r *Recording) Files() []string {
	return []string{filepath.Join(r.Dir, PortA+".pcap"), filepath.Join(r.Dir, PortB+".pcap")}
}

// waitFor waits until the file name contains text, or p exits, or d passes.
func waitFor(name, text string, p *Proc, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		b, _ := os.ReadFile(name)
		if strings.Contains(string(b), text) {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("lab: %s exited: %s", p.Name, strings.TrimSpace(string(b)))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab: %s: no %q after %v: %s", p.Name, text, d, strings.TrimSpace(string(b)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Conn is one TCP connection seen in a capture, from its first SYN: what
// the wire shows, with no FTP in it. Truth uses it for the ports the
// clients do not report (the command channel's source port, the data
// connection's) and for the bytes each direction carried.
type Conn struct {
	From, To netip.AddrPort // the side that sent the SYN, and the other
	SYN      time.Time      // first SYN
	Last     time.Time      // last segment
	Answered bool           // SYN-ACK seen
	Refused  bool           // RST answered the SYN
	Reset    bool           // a RST after the handshake
	FIN      bool           // a FIN seen (either way)
	// Bytes moved each way (From→To, To→From), from the sequence numbers:
	// the highest byte seen minus the initial sequence number, so
	// retransmissions are not counted twice.
	BytesOut, BytesIn int64

	isn, isnIn    uint32
	haveIn        bool
	maxOut, maxIn int64
}

// Conns reads capture files and returns the TCP connections whose SYN they
// hold, in the order of their first SYN.
func Conns(files ...string) ([]*Conn, error) {
	type key struct{ a, b netip.AddrPort }
	byKey := map[key]*Conn{}
	var all []*Conn
	err := eachFrame(files, func(p *frame) {
		tcp := p.tcp
		if tcp == nil {
			return
		}
		s := netip.AddrPortFrom(p.src, uint16(tcp.SrcPort))
		d := netip.AddrPortFrom(p.dst, uint16(tcp.DstPort))
		c, out := byKey[key{s, d}], true
		if c == nil {
			c, out = byKey[key{d, s}], false
		}
		if tcp.SYN && !tcp.ACK && (c == nil || !out || c.Answered && c.FIN) {
			// A new connection (or a new one reusing a closed 4-tuple).
			c = &Conn{From: s, To: d, SYN: p.t, isn: tcp.Seq}
			byKey[key{s, d}] = c
			delete(byKey, key{d, s})
			all = append(all, c)
			out = true
		}
		if c == nil {
			return
		}
		c.Last = p.t
		if !out && tcp.SYN && tcp.ACK {
			c.Answered, c.isnIn, c.haveIn = true, tcp.Seq, true
		}
		if tcp.RST {
			if !c.Answered {
				c.Refused = true
			} else {
				c.Reset = true
			}
		}
		if tcp.FIN {
			c.FIN = true
		}
		if n := len(tcp.Payload); n > 0 {
			if out {
				if end := int64(tcp.Seq-c.isn-1) + int64(n); end > c.maxOut {
					c.maxOut = end
				}
				c.BytesOut = c.maxOut
			} else if c.haveIn {
				if end := int64(tcp.Seq-c.isnIn-1) + int64(n); end > c.maxIn {
					c.maxIn = end
				}
				c.BytesIn = c.maxIn
			}
		}
	})
	return all, err
}

// BytesFrom is the bytes the connection carried from the side at ip.
func (c *Conn) BytesFrom(ip netip.Addr) int64 {
	if c.From.Addr() == ip {
		return c.BytesOut
	}
	return c.BytesIn
}
