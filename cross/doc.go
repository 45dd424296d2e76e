// Package cross holds what takes ftptap from this tree to a Raspberry Pi:
// static cross builds (build.sh), the tests run for arm64 and 32-bit ARM
// under qemu-user (test-arm.sh with the go_linux_*_exec wrappers), and the
// Debian packages built by nfpm (package.sh, nfpm.yaml, deb/). It has no Go
// API; its tests build the amd64 package, install it on the machine, check
// what it put where, verify the systemd unit and remove it again.
package cross
