#!/usr/bin/env bash
# systemd.sh: make test-vm's systemd guest (run.sh runs it for the guest
# named systemd). An x86-64 guest under KVM whose PID 1 is systemd, booted
# from a debootstrap'd bookworm root with Debian's linux-image-amd64
# (mkimage.sh, cached in FTPTAP_VM_CACHE by package versions). In it,
# systemd_test.go installs ftptap's amd64 .deb, made by cross/package.sh
# as make package makes it, sets the two ports and proves the packaged
# unit: READY=1, the bridge, events on NATS, the watchdog's restart of a
# SIGSTOPped ftptap, and systemctl stop leaving the bridge up.
#
# Prints one line, run.sh's summary line for the guest, on stdout (what
# the guest reported goes to stderr) and exits non-zero if it failed.
# Without hardware KVM it runs under TCG, which stays within its budget
# (2.5 minutes warm on a busy 2-core machine: docs/vm.md);
# FTPTAP_VM_TCG=0 skips it there instead. FTPTAP_VM_TIMEOUT bounds the boot
# (seconds, default 420); logs go to FTPTAP_VM_LOGS.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${FTPTAP_VM_CACHE:-/var/cache/ftptap-vm}
logs=${FTPTAP_VM_LOGS:-/tmp/ftptap-vm}
limit=${FTPTAP_VM_TIMEOUT:-420}
name=systemd
machine=q35
proves="x86-64 under KVM, systemd 252 as PID 1: the .deb installed, systemctl start -> READY=1, bridge up, events on NATS, watchdog restarts a SIGSTOPped ftptap, systemctl stop leaves the bridge forwarding, the SCHED_RR drop-in on every thread"
mkdir -p "$cache" "$logs"
# One run at a time, as run.sh has it; run.sh's lock is inherited on fd 9.
if [ "$(readlink /proc/self/fd/9 2>/dev/null)" != "$cache/.lock" ]; then
	exec 9>"$cache/.lock"
	if ! flock -n 9; then
		echo "test-vm: another make test-vm runs on this machine; waiting for it" >&2
		flock 9
	fi
fi
start=$SECONDS

skip() {
	printf '%-8s %-16s SKIP: %s\n' "$name" "$machine" "$1"
	exit 0
}
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
command -v debootstrap >/dev/null || skip "debootstrap not found (apt-get install debootstrap)"
# KVM where the machine has hardware virtualisation (kvm_intel, kvm_amd).
# A /dev/kvm without it (kvm_pvm, the paravirtual KVM of some sandboxes)
# runs only kernels built as its guests: Debian's stops after its
# real-mode setup ("Probing EDD", then silence), so TCG is used there.
if [ -w /dev/kvm ] && { [ -e /sys/module/kvm_intel ] || [ -e /sys/module/kvm_amd ]; }; then
	accel=(-accel kvm -cpu host)
else
	why="no /dev/kvm"
	[ ! -e /dev/kvm ] || why="/dev/kvm is not hardware KVM (no kvm_intel or kvm_amd$([ ! -e /sys/module/kvm_pvm ] || echo ': kvm_pvm'))"
	[ "${FTPTAP_VM_TCG:-1}" = 1 ] || skip "$why; FTPTAP_VM_TCG=1 runs it under TCG"
	echo "test-vm: $name: $why: under TCG" >&2
	accel=(-accel tcg,thread=multi -cpu max)
	proves=${proves/under KVM/under TCG}
fi

# The kernel and root, built once per set of package versions and per
# version of mkimage.sh.
key=$({
	apt-cache policy linux-image-amd64:amd64 systemd:amd64 udev:amd64 vsftpd:amd64 curl:amd64 iproute2:amd64 ethtool:amd64 |
		awk '/Candidate:/ { print $2 }'
	cat cross/vm/mkimage.sh
} | sha256sum | cut -c1-12)
parts="$cache/amd64-systemd-$key"
if [ ! -e "$parts/root.ext4" ]; then
	echo "test-vm: $name: building its kernel and root from Debian's packages (debootstrap) into $parts" >&2
	t=$SECONDS
	cross/vm/mkimage.sh "$parts"
	echo "test-vm: $name: root built in $((SECONDS - t))s" >&2
fi
kver=$(awk '$1 ~ /^linux-image-[0-9]/ { sub(/^linux-image-/, "", $1); print $1 }' "$parts/packages.txt")

# The package and the guest's test binary, built fresh each time: the
# share the guest mounts at /mnt/ftptap-vm.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
share=$tmp/share
mkdir -p "$share"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w -X main.version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)" \
	-o "$tmp/ftptap-linux-amd64" ./firmware
deb=$(OUT=$share FTPTAP_BIN=$tmp/ftptap-linux-amd64 cross/package.sh amd64)
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go test -c -tags vmsystemd -ldflags "-s -w" -o "$share/systemd.test" ./cross/vm
printf '#!/bin/sh\nexec /mnt/ftptap-vm/systemd.test -test.v -test.timeout %ds -deb /mnt/ftptap-vm/%s\n' \
	$((limit - 60)) "$(basename "$deb")" >"$share/run.sh"

log=$logs/$name.log
report=$logs/$name-report.log
: >"$log"
: >"$report"
# -snapshot: the cached root stays as built; the guest's writes go to a
# temporary file QEMU drops at exit. No network to the outside (-nic none).
# -nodefaults: no VGA, parallel port or CD-ROM for udev to load drivers
# for.
qemu-system-x86_64 -M "$machine" "${accel[@]}" -smp 2 -m 1024 -snapshot -nodefaults \
	-kernel "$parts/vmlinuz" -initrd "$parts/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 quiet panic=-1 systemd.show_status=error" \
	-drive file="$parts/root.ext4",format=raw,if=virtio \
	-virtfs local,path="$share",mount_tag=ftptapvm,security_model=none,id=ftptapvm \
	-nic none -display none -monitor none -serial "file:$log" -serial "file:$report" -no-reboot \
	</dev/null >"$tmp/qemu.out" 2>&1 &
qpid=$!
boot=$SECONDS
result=
while :; do
	if grep -q '^ftptap-vm: exit ' "$report"; then
		result=$(awk '/^ftptap-vm: exit / { print $3; exit }' "$report" | tr -d '\r')
		break
	fi
	kill -0 "$qpid" 2>/dev/null || break
	if ((SECONDS - boot > limit)); then
		echo "test-vm: $name: no result after ${limit}s" >&2
		break
	fi
	sleep 1
done
# The guest powers itself off once the test ends (ftptap-vm.service's
# SuccessAction and FailureAction); give it a moment to.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	kill -0 "$qpid" 2>/dev/null || break
	sleep 0.5
done
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
[ ! -e "$share/journal.txt" ] || cp "$share/journal.txt" "$logs/$name-journal.log"
took=$((SECONDS - start))
page=$(awk '/^ftptap-vm: kernel / { printf "%d KiB", $NF / 1024; exit }' "$report" | tr -d '\r')
if [ "$result" = 0 ]; then
	res=PASS
else
	res=FAIL
	echo "test-vm: $name: FAIL (exit ${result:-none}); its report $report:" >&2
	tail -n 100 "$report" >&2
	echo "test-vm: $name: console log $log (journal: $logs/$name-journal.log):" >&2
	tail -n 40 "$log" >&2
	cat "$tmp/qemu.out" >&2
fi
grep -a '^ftptap-vm: ' "$report" | grep -v '^ftptap-vm: step ' | tr -d '\r' | sed "s/^ftptap-vm:/  $name:/" >&2 || true
printf '%-8s %-16s %-26s %-6s %-4s %4ds  %s\n' "$name" "$machine" "$kver" "${page:-?}" "$res" "$took" "$proves"
[ "$res" = PASS ]
