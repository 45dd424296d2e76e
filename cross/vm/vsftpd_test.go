//go:build linux && (vmguest || vmsystemd)

package vm

import (
	"fmt"

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
