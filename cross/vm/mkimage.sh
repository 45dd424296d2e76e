#!/usr/bin/env bash
# mkimage.sh OUT: the parts of the systemd guest (systemd.sh), from
# Debian's own packages for amd64: a bookworm root made by debootstrap with
# systemd as PID 1, Debian's linux-image-amd64 and its initramfs, and what
# the scenario runs (vsftpd, curl, iproute2, ethtool, ping). OUT gets
# vmlinuz, initrd.img, root.ext4 (made with mkfs.ext4 -d: no loop mount)
# and packages.txt (each package and version that went in).
#
# The root boots straight into ftptap-vm.service, which runs
# /mnt/ftptap-vm/run.sh from the 9p share the host passes each boot, and
# powers the guest off when it ends. Nothing else starts that the scenario
# does not need: vsftpd's own service, the gettys and apt's timers are off.
#
# The mirror is the one apt already uses for bookworm (FTPTAP_VM_MIRROR
# overrides it). Needs root (debootstrap).
set -euo pipefail
out=$1
suite=bookworm
include=systemd-sysv,udev,kmod,linux-image-amd64,vsftpd,curl,iproute2,ethtool,iputils-ping,procps
mirror=${FTPTAP_VM_MIRROR:-$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' |
	awk -v r="$suite" '$2 == r && $1 !~ /security/ { print $1; exit }')}
if [ -z "$mirror" ]; then
	echo "mkimage: apt knows no mirror for $suite: set FTPTAP_VM_MIRROR" >&2
	exit 1
fi
rm -rf "$out.tmp" # left by a run that was stopped
mkdir -p "$out.tmp"
root=$(mktemp -d /var/tmp/ftptap-vm-root.XXXXXX)
trap 'rm -rf "$root"' EXIT

if ! debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$out.tmp/debootstrap.log" 2>&1; then
	tail -n 30 "$out.tmp/debootstrap.log" >&2
	echo "mkimage: debootstrap failed (log: $out.tmp/debootstrap.log)" >&2
	exit 1
fi

echo ftptap-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 ftptap-vm\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,noatime 0 1\nftptapvm /mnt/ftptap-vm 9p trans=virtio,version=9p2000.L,msize=262144,nofail 0 0\n' >"$root/etc/fstab"
mkdir -p "$root/mnt/ftptap-vm"
# The 9p transport is a module; the initramfs does not need it, the root
# loads it before the share is mounted.
printf '9p\n9pnet_virtio\nveth\nbridge\n' >"$root/etc/modules-load.d/ftptap-vm.conf"

cat >"$root/etc/systemd/system/ftptap-vm.service" <<'EOF'
# make test-vm's scenario in the systemd guest (cross/vm/systemd.sh): the
# host writes run.sh into the share at each boot. Its output goes to the
# second serial port, which the host reads; the guest powers off when it
# ends, whatever the result.
[Unit]
Description=ftptap make test-vm scenario
RequiresMountsFor=/mnt/ftptap-vm
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=exec
ExecStart=/bin/sh /mnt/ftptap-vm/run.sh
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS1
TTYReset=no
TTYVHangup=no
Environment=PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$root/etc/systemd/journald.conf.d/ftptap-vm.conf"
ln -sf /etc/systemd/system/ftptap-vm.service "$root/etc/systemd/system/multi-user.target.wants/ftptap-vm.service"
# Off: what would start a second vsftpd on port 21, logins on the console,
# apt's and the file systems' timers, and boot-time work the scenario does
# not use (each costs seconds under TCG). The journal stays in memory.
for u in vsftpd.service getty@tty1.service serial-getty@ttyS0.service getty-static.service apt-daily.timer \
	apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer \
	systemd-tmpfiles-clean.timer systemd-timesyncd.service systemd-random-seed.service \
	systemd-update-utmp.service systemd-update-utmp-runlevel.service systemd-journal-flush.service \
	modprobe@dm_mod.service modprobe@efi_pstore.service modprobe@fuse.service modprobe@loop.service \
	modprobe@drm.service sys-kernel-config.mount sys-fs-fuse-connections.mount dev-hugepages.mount dev-mqueue.mount; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done
# Under TCG every module udev loads at boot costs seconds: the initramfs
# holds only what mounts the root, and the root loads no KVM of its own
# (-cpu max offers SVM and VMX).
echo MODULES=list >"$root/etc/initramfs-tools/conf.d/ftptap-vm"
printf 'virtio_pci\nvirtio_blk\next4\n' >>"$root/etc/initramfs-tools/modules"
printf 'blacklist kvm\nblacklist kvm_amd\nblacklist kvm_intel\n' >"$root/etc/modprobe.d/ftptap-vm.conf"
chroot "$root" update-initramfs -u -k all >/dev/null 2>&1
# The guest has no network to the outside (QEMU -nic none).
rm -f "$root"/etc/apt/sources.list.d/* && : >"$root/etc/apt/sources.list"
chroot "$root" apt-get clean
# A machine id at first boot, not one baked in.
: >"$root/etc/machine-id"

chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' | sort >"$out.tmp/packages.txt"
kver=$(ls "$root/lib/modules")
cp "$root/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out.tmp/initrd.img"
size=$(du -sm "$root" | awk '{ print $1 + 512 }')
mkfs.ext4 -q -F -L ftptap-vm -d "$root" "$out.tmp/root.ext4" "${size}M" >/dev/null
rm -rf "$out"
mv "$out.tmp" "$out"
