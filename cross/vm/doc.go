// Package vm proves ftptap on emulated Raspberry Pis and real ARM kernels:
// QEMU boots Debian's own kernels on a Raspberry Pi board model (or on
// -M virt), with an initramfs of Debian's busybox, vsftpd, curl, tcpdump
// and nftables, and ftptap's static binary for the guest's CPU. In the
// guest, the test binary built from guest_test.go is the init: it makes
// network namespaces and a bridge, runs ftptap live on its packet rings,
// drives real transfers through it, reads the Pi's GPIO lines back, and
// checks the events against the transfers' truth and against a replay of
// the guest's own capture.
//
// The systemd guest is x86-64 with systemd as PID 1 (systemd.sh, its root
// from mkimage.sh): there the test binary built from systemd_test.go
// installs ftptap's .deb and proves the packaged service: READY=1, the
// bridge, events on NATS, the watchdog's restart, the bridge after stop.
//
// run.sh builds and boots the guests (make test-vm); mkroot.sh builds a
// guest's kernel and initramfs from Debian's packages. docs/vm.md tells
// what each guest proves. The package has no Go API.
package vm
