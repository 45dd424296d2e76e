//go:build linux

package lab

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one of the lab's FTP servers: where it listens and which
// passive ports it announces.
type Server struct {
	Name       string
	IP4, IP6   netip.Addr
	PassiveMin uint16
	PassiveMax uint16
}

// The lab's servers. Both listen on port 21 of their own addresses.
var (
	Vsftpd   = Server{"vsftpd", netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd77::1"), 40000, 40099}
	PureFTPd = Server{"pure-ftpd", netip.MustParseAddr("10.77.0.3"), netip.MustParseAddr("fd77::3"), 40100, 40199}
)

// Addr is the server's command-channel endpoint for IPv4, or IPv6 if v6.
func (s Server) Addr(v6 bool) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(s.IP6, 21)
	}
	return netip.AddrPortFrom(s.IP4, 21)
}

// URL is ftp://host/path for the server (path without the leading slash
// is relative to the login directory, as curl reads it).
func (s Server) URL(v6 bool, path string) string {
	host := s.IP4.String()
	if v6 {
		host = "[" + s.IP6.String() + "]"
	}
	return "ftp://" + host + "/" + path
}

// File is a file the lab serves or uploads. Its contents are a fixed
// function of its name and size, so its SHA-256 is the same on every
// machine and recorded truth stays valid.
type File struct {
	Name string
	Size int
}

// Files are served anonymously from pub/ on both servers. Small ones keep
// recordings small; big.bin is for slow transfers (fail-open) and load.
var Files = []File{
	{"readme.txt", 26},
	{"f1000.bin", 1000},
	{"f4096.bin", 4096},
	{"f65536.bin", 65536},
	{"f200000.bin", 200000},
	{"big.bin", 16 << 20},
}

// HomeFile is in the local user's home directory.
var HomeFile = File{"home.bin", 4096}

// Bytes returns the file's contents.
func (f File) Bytes() []byte {
	if f.Name == "readme.txt" {
		return []byte("hello from the ftptap lab\n")
	}
	seed := sha256.Sum256([]byte(f.Name))
	r := rand.NewChaCha8(seed)
	b := make([]byte, f.Size)
	r.Read(b)
	return b
}

// SHA256 is the hex SHA-256 of the file's contents.
func (f File) SHA256() string {
	s := sha256.Sum256(f.Bytes())
	return hex.EncodeToString(s[:])
}

// FileSHA256 hashes a file on disk.
func FileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// The lab's users, in the server namespace's own passwd.
const (
	uidUser = 7700
	uidFTP  = 7701
)

// passwordHash is crypt(3) SHA-512 of Password ("openssl passwd -6 -salt
// ftptaplab labpass").
const passwordHash = "$6$ftptaplab$zU2ch54onp7TE6IdXzN4T6v7ZWRMDmCGqr1BLfJ5RVJfh/anWbLU2QFrRmTn8gDwDCrny5Kpj6vlC8nLop.PJ0"

// AnonDir is the anonymous root (pub/, upload/); HomeDir the local
// user's home; ClientDir the client's working directory.
func (l *Lab) AnonDir() string   { return filepath.Join(l.Dir, "anon") }
func (l *Lab) HomeDir() string   { return filepath.Join(l.Dir, "home", User) }
func (l *Lab) ClientDir() string { return filepath.Join(l.Dir, "client") }

// UploadPath is where an upload named name lands on the server.
func (l *Lab) UploadPath(name string) string { return filepath.Join(l.AnonDir(), "upload", name) }

// ClientFile writes f into the client's directory (for uploads) and
// returns its path.
func (l *Lab) ClientFile(f File) (string, error) {
	p := filepath.Join(l.ClientDir(), f.Name)
	return p, os.WriteFile(p, f.Bytes(), 0o644)
}

func (l *Lab) writeFiles() error {
	dirs := []struct {
		path string
		uid  int
	}{
		{l.AnonDir(), 0},
		{filepath.Join(l.AnonDir(), "pub"), 0},
		{filepath.Join(l.AnonDir(), "upload"), uidFTP},
		{filepath.Join(l.Dir, "home"), 0},
		{l.HomeDir(), uidUser},
		{filepath.Join(l.Dir, "empty"), 0},
		{filepath.Join(l.Dir, "log"), 0},
		{l.ClientDir(), 0},
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		// MkdirAll's mode is masked by umask; the servers' users need x.
		os.Chmod(d.path, 0o755)
		if d.uid != 0 {
			if err := os.Chown(d.path, d.uid, d.uid); err != nil {
				return fmt.Errorf("lab: %w", err)
			}
		}
	}
	for _, f := range Files {
		if err := os.WriteFile(filepath.Join(l.AnonDir(), "pub", f.Name), f.Bytes(), 0o644); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	hp := filepath.Join(l.HomeDir(), HomeFile.Name)
	if err := os.WriteFile(hp, HomeFile.Bytes(), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	os.Chown(hp, uidUser, uidUser)

	// ip netns exec bind-mounts /etc/netns/NS/* over /etc/*: the servers
	// see these accounts and the host's user database stays untouched.
	etc := filepath.Join("/etc/netns", l.ServerNS)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	passwd := fmt.Sprintf(`root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
ftp:x:%d:%d:ftp:%s:/usr/sbin/nologin
%s:x:%d:%d:lab user:%s:/bin/bash
`, uidFTP, uidFTP, l.AnonDir(), User, uidUser, uidUser, l.HomeDir())
	group := fmt.Sprintf("root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\nftp:x:%d:\n%s:x:%d:\n", uidFTP, User, uidUser)
	shadow := fmt.Sprintf("root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\nftp:*:19000:0:99999:7:::\n%s:%s:19000:0:99999:7:::\n", User, passwordHash)
	for name, body := range map[string]string{"passwd": passwd, "group": group, "shadow": shadow} {
		mode := os.FileMode(0o644)
		if name == "shadow" {
			mode = 0o640
		}
		if err := os.WriteFile(filepath.Join(etc, name), []byte(body), mode); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// vsftpdConf is one vsftpd instance's configuration: one listening
// address (vsftpd listens on one), anonymous download and upload, the
// local user, the passive range, active mode from port 20, and every
// command and reply logged.
func (l *Lab) vsftpdConf(v6 bool) string {
	listen := "listen=YES\nlisten_ipv6=NO\nlisten_address=" + Vsftpd.IP4.String()
	if v6 {
		listen = "listen=NO\nlisten_ipv6=YES\nlisten_address6=" + Vsftpd.IP6.String()
	}
	fam := map[bool]string{false: "4", true: "6"}[v6]
	return fmt.Sprintf(`%s
background=NO
anonymous_enable=YES
anon_root=%s
no_anon_password=YES
anon_upload_enable=YES
anon_mkdir_write_enable=NO
anon_umask=022
local_enable=YES
write_enable=YES
local_umask=022
pam_service_name=vsftpd
secure_chroot_dir=%s
seccomp_sandbox=NO
pasv_enable=YES
pasv_min_port=%d
pasv_max_port=%d
port_enable=YES
connect_from_port_20=YES
max_clients=200
max_per_ip=200
xferlog_enable=YES
log_ftp_protocol=YES
vsftpd_log_file=%s
`, listen, l.AnonDir(), filepath.Join(l.Dir, "empty"), Vsftpd.PassiveMin, Vsftpd.PassiveMax,
		filepath.Join(l.Dir, "log", "vsftpd"+fam+".log"))
}

// pureConf is one pure-ftpd instance's configuration file (pure-ftpd
// 1.0.48 and later read one given as the first argument).
func (l *Lab) pureConf(v6 bool) string {
	addr := PureFTPd.IP4.String()
	if v6 {
		addr = PureFTPd.IP6.String()
	}
	return fmt.Sprintf(`Bind %s,21
PassivePortRange %d %d
UnixAuthentication yes
NoAnonymous no
AnonymousCantUpload no
AnonymousOnly no
MinUID 1000
MaxClientsNumber 200
MaxClientsPerIP 200
DontResolve yes
VerboseLog yes
NoChmod yes
`, addr, PureFTPd.PassiveMin, PureFTPd.PassiveMax)
}

func (l *Lab) startServers() error {
	pure, err := PureFTPdBinary()
	if err != nil {
		return err
	}
	type inst struct {
		name, bin, conf, body string
		addr                  netip.AddrPort
	}
	var all []inst
	for _, v6 := range []bool{false, true} {
		fam := map[bool]string{false: "4", true: "6"}[v6]
		all = append(all,
			inst{"vsftpd" + fam, "/usr/sbin/vsftpd", filepath.Join(l.Dir, "vsftpd"+fam+".conf"), l.vsftpdConf(v6), Vsftpd.Addr(v6)},
			inst{"pure-ftpd" + fam, pure, filepath.Join(l.Dir, "pure-ftpd"+fam+".conf"), l.pureConf(v6), PureFTPd.Addr(v6)})
	}
	for _, s := range all {
		if err := os.WriteFile(s.conf, []byte(s.body), 0o600); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		logf, err := os.Create(filepath.Join(l.Dir, "log", s.name+".out"))
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		_, err = l.Start(l.ServerNS, logf, logf, s.bin, s.conf)
		logf.Close()
		if err != nil {
			return err
		}
	}
	for _, s := range all {
		if err := l.waitListen(s.addr, 5*time.Second); err != nil {
			out, _ := os.ReadFile(filepath.Join(l.Dir, "log", s.name+".out"))
			return fmt.Errorf("lab: %s: %w: %s", s.name, err, bytes.TrimSpace(out))
		}
	}
	l.logf("lab %s: vsftpd on %v and %v, pure-ftpd on %v and %v", l.Name,
		Vsftpd.Addr(false), Vsftpd.Addr(true), PureFTPd.Addr(false), PureFTPd.Addr(true))
	return nil
}

// waitListen waits until something listens on addr in the server
// namespace (ss, so no connection is made that captures would show).
func (l *Lab) waitListen(addr netip.AddrPort, d time.Duration) error {
	return l.waitSocket("-Hltn", "", addr, d)
}

// waitSocket waits up to d until ss, run in the server namespace with
// flags (which sockets: -Hltn listening TCP, -Hlun bound UDP), shows a
// socket on addr. Its error names what (e.g. "udp ") and addr.
func (l *Lab) waitSocket(flags, what string, addr netip.AddrPort, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		out, _ := exec.Command("ip", "netns", "exec", l.ServerNS, "ss", flags, "src", addr.String()).Output()
		if len(bytes.TrimSpace(out)) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s%v", what, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PureFTPdBinary returns the path of pure-ftpd. vsftpd and pure-ftpd
// conflict as Debian packages (both provide ftp-server), so the lab
// fetches pure-ftpd's package and unpacks it (see unpackedBinary).
// FTPLAB_PURE_FTPD names a binary to use instead.
func PureFTPdBinary() (string, error) {
	return unpackedBinary("FTPLAB_PURE_FTPD", "pure-ftpd", "usr/sbin/pure-ftpd")
}

// unpackMu serialises unpacking packages within a process; a lock file
// does so between processes (go test runs packages in parallel).
var unpackMu sync.Mutex

// unpackedBinary returns the path of bin (relative to the package's root)
// in Debian's package pkg, fetched with apt-get download and unpacked with
// dpkg -x into CacheDir()/pkg, once per machine: for servers whose package
// conflicts with another one the lab runs. The environment variable env,
// when set, names a binary to use instead.
func unpackedBinary(env, pkg, bin string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	dir := CacheDir()
	path := filepath.Join(dir, pkg, filepath.FromSlash(bin))
	unpackMu.Lock()
	defer unpackMu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lab: lock %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	dl, err := os.MkdirTemp(dir, "dl-")
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	defer os.RemoveAll(dl)
	// apt drops to _apt for downloads; it must be able to write here.
	os.Chmod(dl, 0o777)
	download := func() ([]byte, error) {
		cmd := exec.Command("apt-get", "download", pkg)
		cmd.Dir = dl
		return cmd.CombinedOutput()
	}
	if _, err := download(); err != nil {
		// A fresh machine may have no package lists yet.
		exec.Command("apt-get", "update", "-qq").Run()
		if out, err := download(); err != nil {
			return "", fmt.Errorf("lab: apt-get download %s: %w: %s", pkg, err, bytes.TrimSpace(out))
		}
	}
	debs, _ := filepath.Glob(filepath.Join(dl, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("lab: apt-get download %s: no package in %s", pkg, dl)
	}
	tmp := filepath.Join(dl, "x")
	if err := run("dpkg", "-x", debs[0], tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(dir, pkg)); err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	return path, nil
}

// CacheDir is where the lab keeps what it fetched: $FTPLAB_CACHE, else
// /var/cache/ftptap-lab.
func CacheDir() string {
	if d := os.Getenv("FTPLAB_CACHE"); d != "" {
		return d
	}
	return "/var/cache/ftptap-lab"
}

// Reject makes the server namespace answer SYNs to a server's passive
// ports with a TCP reset (drop false) or drop them silently (drop true),
// as a firewall in front of the server would.
func (l *Lab) Reject(s Server, drop bool) error {
	verdict := "reject with tcp reset"
	if drop {
		verdict = "drop"
	}
	rules := fmt.Sprintf(`table inet ftplab {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport %d-%d tcp flags & (syn|ack) == syn %s
	}
}
`, s.PassiveMin, s.PassiveMax, verdict)
	return l.nft(l.ServerNS, rules)
}

// nft loads rules, in nft's syntax, in the namespace ns (nft -f -).
func (l *Lab) nft(ns, rules string) error {
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: nft: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Unreject removes what Reject added.
func (l *Lab) Unreject() error {
	return l.InNS(l.ServerNS, "nft", "delete", "table", "inet", "ftplab")
}

// hostPort formats an endpoint as events do: ip:port, [ipv6]:port.
func hostPort(ip netip.Addr, port uint16) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}
