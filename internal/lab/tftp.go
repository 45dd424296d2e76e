//go:build linux

package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// NeedTFTP lists the programs the TFTP scenarios run besides Need (atftpd
// is unpacked by AtftpdBinary).
var NeedTFTP = []string{"/usr/sbin/in.tftpd", "tftp", "atftp", "curl", "apt-get", "dpkg"}

// CanRunTFTP is CanRun for the TFTP scenarios.
func CanRunTFTP() string {
	if why := CanRun(); why != "" {
		return why
	}
	var miss []string
	for _, p := range NeedTFTP {
		if _, err := exec.LookPath(p); err != nil {
			miss = append(miss, p)
		}
	}
	if len(miss) > 0 {
		return "the TFTP lab needs " + strings.Join(miss, ", ") + " (./cross/setup.sh installs them)"
	}
	return ""
}

// TFTPServer is one of the lab's TFTP servers: tftpd-hpa (the Debian
// package) on Vsftpd's addresses, atftpd (its package unpacked, since the
// two conflict) on PureFTPd's IPv4 address. Both serve TFTPRoot.
type TFTPServer struct {
	Name string
	IP4  netip.Addr
	IP6  netip.Addr // invalid: no IPv6
}

// The lab's TFTP servers.
var (
	TftpdHPA = TFTPServer{Name: "tftpd-hpa", IP4: Vsftpd.IP4, IP6: Vsftpd.IP6}
	Atftpd   = TFTPServer{Name: "atftpd", IP4: PureFTPd.IP4}
)

// Addr is the server's request endpoint (port 69).
func (s TFTPServer) Addr(v6 bool) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(s.IP6, 69)
	}
	return netip.AddrPortFrom(s.IP4, 69)
}

// TFTPFiles are the files in the TFTP root: a text file (for netascii),
// a small one, one of exactly two 512-byte blocks (so its last DATA block
// is empty), one of many blocks. TFTPSecret is there too, readable by root
// only.
var TFTPFiles = []File{
	{"readme.txt", 26},
	{"f1000.bin", 1000},
	{"exact1024.bin", 1024},
	{"blk200000.bin", 200000},
}

// TFTPSecret is a file the servers (running as nobody) may not read;
// TFTPPrivate one they may, but which is not world-readable.
const (
	TFTPSecret  = "secret.bin"
	TFTPPrivate = "private.bin"
)

// TFTPRoot is the servers' root directory, writable by all (atftpd and
// tftpd-hpa -c create uploads there).
func (l *Lab) TFTPRoot() string { return filepath.Join(l.Dir, "tftp") }

// StartTFTP starts tftpd-hpa on TftpdHPA's addresses and atftpd on
// Atftpd's, serving TFTPRoot, and returns once they listen.
func (l *Lab) StartTFTP() error {
	root := l.TFTPRoot()
	if err := os.MkdirAll(root, 0o777); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	os.Chmod(root, 0o777)
	for _, f := range TFTPFiles {
		if err := os.WriteFile(filepath.Join(root, f.Name), f.Bytes(), 0o644); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, TFTPSecret), []byte("not for you\n"), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	// nobody may read TFTPPrivate, but it is not world-readable, which
	// tftpd-hpa requires of what it serves.
	priv := filepath.Join(root, TFTPPrivate)
	if err := os.WriteFile(priv, []byte("private\n"), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.Chown(priv, 65534, 65534); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	atftpd, err := AtftpdBinary()
	if err != nil {
		return err
	}
	type inst struct {
		name string
		args []string
		addr netip.AddrPort
	}
	all := []inst{
		// -L: stay in the foreground; -c: allow new files (uploads);
		// -s: chroot into the root; -u nobody: drop to nobody.
		{"tftpd-hpa4", []string{"/usr/sbin/in.tftpd", "-L", "-a", TftpdHPA.Addr(false).String(), "-c", "-s", "-u", "nobody", "-v", root}, TftpdHPA.Addr(false)},
		{"tftpd-hpa6", []string{"/usr/sbin/in.tftpd", "-L", "-6", "-a", TftpdHPA.Addr(true).String(), "-c", "-s", "-u", "nobody", "-v", root}, TftpdHPA.Addr(true)},
		{"atftpd4", []string{atftpd, "--daemon", "--no-fork", "--bind-address", Atftpd.IP4.String(), "--port", "69",
			"--user", "nobody", "--group", "nogroup", "--logfile", "-", "--verbose=7", root}, Atftpd.Addr(false)},
	}
	for _, s := range all {
		logf, err := os.Create(filepath.Join(l.Dir, "log", s.name+".out"))
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		_, err = l.Start(l.ServerNS, logf, logf, s.args[0], s.args[1:]...)
		logf.Close()
		if err != nil {
			return err
		}
	}
	for _, s := range all {
		if err := l.waitListenUDP(s.addr, 5*time.Second); err != nil {
			out, _ := os.ReadFile(filepath.Join(l.Dir, "log", s.name+".out"))
			return fmt.Errorf("lab: %s: %w: %s", s.name, err, bytes.TrimSpace(out))
		}
	}
	l.logf("lab %s: tftpd-hpa on %v and %v, atftpd on %v", l.Name, TftpdHPA.Addr(false), TftpdHPA.Addr(true), Atftpd.Addr(false))
	return nil
}

// waitListenUDP waits until a UDP socket is bound to addr in the server
// namespace.
func (l *Lab) waitListenUDP(addr netip.AddrPort, d time.Duration) error {
	return l.waitSocket("-Hlun", "udp ", addr, d)
}

// AtftpdBinary returns the path of atftpd. tftpd-hpa and atftpd conflict
// as Debian packages (both provide tftpd), so the lab fetches atftpd's
// package and unpacks it, as it does for pure-ftpd (see unpackedBinary).
// FTPLAB_ATFTPD names a binary to use instead.
func AtftpdBinary() (string, error) {
	return unpackedBinary("FTPLAB_ATFTPD", "atftpd", "usr/sbin/atftpd")
}

// TFTPClient runs one of the real TFTP clients in the client namespace.
// tftp-hpa takes commands on its standard input (script); atftp and curl
// take args.
func (l *Lab) TFTPClient(ctx context.Context, tool string, args []string, script string) *Run {
	var stdin []byte
	if script != "" {
		stdin = []byte(script)
	}
	return l.client(ctx, tool, args, stdin)
}

// BlockTFTPReplies makes the client namespace drop (or, reject true,
// refuse with ICMP) UDP from the servers other than from port 69: the
// firewall that allows TFTP requests and the replies from port 69 but
// knows nothing of the server's new port (no conntrack helper).
func (l *Lab) BlockTFTPReplies(reject bool) error {
	verdict := "drop"
	if reject {
		verdict = "reject"
	}
	return l.tftpRules(verdict)
}

// StallTFTPReplies makes the client namespace drop UDP from the servers'
// new ports once n bytes of it have come in: a transfer that starts and
// then stalls mid-way.
func (l *Lab) StallTFTPReplies(n int) error {
	return l.tftpRules(fmt.Sprintf("quota over %d bytes drop", n))
}

func (l *Lab) tftpRules(verdict string) error {
	rules := fmt.Sprintf(`table inet ftplabtftp {
	chain input {
		type filter hook input priority 0; policy accept;
		udp sport != 69 ip saddr 10.77.0.0/24 %s
		udp sport != 69 ip6 saddr fd77::/64 %s
	}
}
`, verdict, verdict)
	return l.nft(l.ClientNS, rules)
}

// UnblockTFTPReplies removes what BlockTFTPReplies added.
func (l *Lab) UnblockTFTPReplies() error {
	return l.InNS(l.ClientNS, "nft", "delete", "table", "inet", "ftplabtftp")
}

// TFTPRequest is a read or write request seen in a capture.
type TFTPRequest struct {
	Client, Server netip.AddrPort
	Op, File, Mode string
	Time           time.Time
}

// TFTPRequests reads capture files and returns the TFTP requests (to port
// 69) in them, each client endpoint's first request for a file once, in
// time order: what the wire shows, for the truth's client ports.
func TFTPRequests(files ...string) ([]TFTPRequest, error) {
	var reqs []TFTPRequest
	seen := map[string]bool{}
	err := eachFrame(files, func(fr *frame) {
		udp := fr.udp
		if udp == nil {
			return
		}
		p := udp.Payload
		if udp.DstPort != 69 || len(p) < 4 || p[0] != 0 || (p[1] != 1 && p[1] != 2) {
			return
		}
		parts := strings.Split(string(p[2:]), "\x00")
		if len(parts) < 2 {
			return
		}
		r := TFTPRequest{Client: netip.AddrPortFrom(fr.src, uint16(udp.SrcPort)), Server: netip.AddrPortFrom(fr.dst, 69),
			Op: map[uint16]string{1: "read", 2: "write"}[binary.BigEndian.Uint16(p)], File: parts[0], Mode: strings.ToLower(parts[1]), Time: fr.t}
		k := r.Client.String() + " " + r.Op + " " + r.File
		if !seen[k] {
			seen[k] = true
			reqs = append(reqs, r)
		}
	})
	if err != nil {
		return nil, err
	}
	return reqs, nil
}

func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return append(b, '\n'), nil
}
