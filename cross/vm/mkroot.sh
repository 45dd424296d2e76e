#!/usr/bin/env bash
# mkroot.sh ARCH KERNEL_PKG OUT: the parts of a guest, from Debian's own
# packages for ARCH (arm64, armel): the kernel KERNEL_PKG (a metapackage
# such as linux-image-arm64 is followed to its image), its device trees,
# and root.cpio.gz, an initramfs with busybox-static, the programs the
# guest's scenario runs (vsftpd, curl, tcpdump, nftables, ethtool) with the
# shared libraries they link, and the kernel modules the scenario needs.
# Nothing is installed on the machine: packages are fetched with
# apt-get download and unpacked with dpkg-deb -x, no maintainer script
# runs. ARCH must have been added (dpkg --add-architecture ARCH, then
# apt-get update). OUT gets vmlinuz, dtbs/, root.cpio.gz and packages.txt
# (each package and version that went in).
set -euo pipefail
arch=$1 kpkg=$2 out=$3
tools=(busybox-static vsftpd curl tcpdump nftables ethtool)
rm -rf "$out.tmp" # left by a run that was stopped

dl=$(mktemp -d)
root=$(mktemp -d)
trap 'rm -rf "$dl" "$root"' EXIT

# The kernel image behind a metapackage.
kimg=$kpkg
while :; do
	dep=$(apt-cache depends "$kimg:$arch" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { sub(/:.*/, "", $2); print $2; exit }')
	[ -n "$dep" ] || break
	kimg=$dep
done
# A name only provided (linux-image-6.12.117+deb12-arm64-16k): the
# package is the unsigned image.
if ! apt-cache show "$kimg:$arch" >/dev/null 2>&1; then
	kimg=$kimg-unsigned
fi

# The tools and, recursively, the libraries they depend on. Other
# dependencies (debconf, adduser, perl: what maintainer scripts use) are
# not followed: nothing here runs them.
# Some libraries are not needed by these programs, and large: left out.
# One apt-cache call per level of the dependency tree.
skip=(libperl5.36 libpam-modules libpam-modules-bin libelogind0 libdebian-installer4 libnewt0.52 libslang2 libsemanage2)
declare -A want=()
level=("${tools[@]}")
while ((${#level[@]})); do
	for p in "${level[@]}"; do want[$p]=1; done
	mapfile -t next < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
		"${level[@]/%/:$arch}" 2>/dev/null |
		awk '($1 == "Depends:" || $1 == "PreDepends:") && $2 !~ /^</ { sub(/:.*/, "", $2); print $2 }' |
		grep -E '^(lib|zlib1g$|gcc-[0-9]+-base$)' | grep -vxF -f <(printf '%s\n' "${skip[@]}") | sort -u)
	level=()
	for d in "${next[@]}"; do
		[ -n "${want[$d]:-}" ] || level+=("$d")
	done
done

pkgs=("$kimg" "${!want[@]}")
(cd "$dl" && apt-get download -q "${pkgs[@]/%/:$arch}" >/dev/null 2>"$dl/err") || {
	cat "$dl/err" >&2
	exit 1
}
: >"$dl/packages.txt"
for deb in "$dl"/*.deb; do
	dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >>"$dl/packages.txt"
done
sort -o "$dl/packages.txt" "$dl/packages.txt"

kdir=$(mktemp -d)
for deb in "$dl"/*.deb; do
	case $(basename "$deb") in
	linux-image-*) dpkg-deb -x "$deb" "$kdir" ;;
	*) dpkg-deb -x "$deb" "$root" ;;
	esac
done
kver=$(ls "$kdir/lib/modules")
mkdir -p "$out.tmp/dtbs"
cp "$kdir"/boot/vmlinuz-* "$out.tmp/vmlinuz"
if [ -d "$kdir/usr/lib/linux-image-$kver" ]; then
	cp -r "$kdir/usr/lib/linux-image-$kver"/. "$out.tmp/dtbs/"
fi
# Modules: bridge, veth and netfilter (nft's reject), as .ko files with a
# modules.dep made by busybox's depmod, so modprobe finds what each needs.
m=lib/modules/$kver
mkdir -p "$root/$m"
cp "$kdir/$m"/modules.order "$kdir/$m"/modules.builtin "$root/$m/"
(cd "$kdir" && find "$m/kernel/net/bridge" "$m/kernel/net/802" "$m/kernel/net/llc" "$m/kernel/net/netfilter" \
	"$m/kernel/net/ipv4/netfilter" "$m/kernel/net/ipv6/netfilter" "$m/kernel/drivers/net/veth.ko"* \
	"$m/kernel/lib" "$m/kernel/crypto" -name '*.ko*' | cpio -pdm --quiet "$root")
rm -rf "$kdir"
# Busybox's modprobe loads plain .ko files; newer kernels ship them xz'd.
find "$root/$m" -name '*.ko.xz' -exec xz -d {} +

# busybox's applets, a user database for vsftpd, and the directories the
# init expects.
mkdir -p "$root"/{proc,sys,dev,run,tmp,etc,srv/ftp,var/run/vsftpd/empty,usr/share/empty}
chmod 1777 "$root/tmp"
rm -rf "$root/var/run" && ln -s ../run "$root/var/run"
mkdir -p "$root/run/vsftpd/empty"
printf 'root:x:0:0:root:/root:/bin/sh\nftp:x:100:101:ftp:/srv/ftp:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nftp:x:101:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'tcp 6 TCP\nudp 17 UDP\n' >"$root/etc/protocols"
printf 'ftp-data 20/tcp\nftp 21/tcp\n' >"$root/etc/services"
echo "$kver" >"$root/etc/kernel-release"
cp "$dl/packages.txt" "$out.tmp/packages.txt"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp/root.cpio.gz"
rm -rf "$out"
mv "$out.tmp" "$out"
