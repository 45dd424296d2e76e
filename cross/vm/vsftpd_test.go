//go:build linux && (vmguest || vmsystemd)

package vm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ftptap/ftptap/internal/lab"
)

// vsftpdConf is the guests' vsftpd configuration, the lab's: one IPv4
// address, anonymous download and upload from root, passive ports from the
// lab's range, active connections from port 20, every command and reply
// logged to logFile.
func vsftpdConf(addr, root, logFile string) string {
	return fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=%s
background=NO
anonymous_enable=YES
anon_root=%s
no_anon_password=YES
anon_upload_enable=YES
anon_umask=022
local_enable=NO
write_enable=YES
secure_chroot_dir=/run/vsftpd/empty
seccomp_sandbox=NO
pasv_enable=YES
pasv_min_port=%d
pasv_max_port=%d
port_enable=YES
connect_from_port_20=YES
log_ftp_protocol=YES
vsftpd_log_file=%s
`, addr, root, lab.Vsftpd.PassiveMin, lab.Vsftpd.PassiveMax, logFile)
}

// serveFTP lays out vsftpd's anonymous root: pub/ with files in it, and
// upload/, which vsftpd writes anonymous uploads to as user ftp (uid, gid;
// -1 leaves the group).
func serveFTP(t *testing.T, root string, uid, gid int, files ...lab.File) {
	t.Helper()
	for _, d := range []string{"pub", "upload"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(root, "upload"), uid, gid); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, "pub", f.Name), f.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFile fails t unless the file at path has f's SHA-256.
func checkFile(t *testing.T, path string, f lab.File) {
	t.Helper()
	sum, err := lab.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum != f.SHA256() {
		t.Fatalf("%s: SHA-256 %s, want %s (%s)", path, sum, f.SHA256(), f.Name)
	}
}
