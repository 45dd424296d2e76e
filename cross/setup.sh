#!/usr/bin/env bash
# setup.sh [TARGET]: install what ftptap's build, tests and demo need on a
# Debian machine (Go, and the Debian packages listed below), then run
# "make TARGET" (default: test). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

GO_MIN=1.26
GO_VERSION=1.26.8 # fetched through the Go module proxy when no Go $GO_MIN is here
export PATH=/usr/local/go/bin:${HOME:-/root}/go/bin:$PATH

apt_pkgs=(make git ca-certificates gcc libc6-dev  # gcc: go test -race needs cgo
	iproute2 ethtool tcpdump
	vsftpd curl lftp nftables iperf3 procps  # lab: real FTP servers and clients in namespaces
	libsodium23 libssl3 libcap2 libpam0g libcrypt1  # lab: pure-ftpd's libraries (it conflicts with vsftpd, so the lab unpacks its package)
	tftpd-hpa tftp-hpa atftp libwrap0 libpcre2-8-0  # lab: TFTP server and clients; atftpd's libraries (it conflicts with tftpd-hpa, so the lab unpacks its package)
	time  # benchmarks: peak RSS of ftptap, tcpdump and tshark
	tshark  # pcapsave: Wireshark's reader checks the saved pcapng
	qemu-user-static systemd  # cross: ARM tests under qemu-user; systemd-analyze, systemd-sysusers for the package
	chromium fonts-dejavu-core  # web: the page's tests in headless Chromium
	qemu-system-arm cpio xz-utils device-tree-compiler  # test-vm: emulated Raspberry Pis and ARM kernels, their initramfs, xz'd modules, device trees
	qemu-system-x86 debootstrap e2fsprogs)  # test-vm: the systemd guest (x86-64 under KVM), its debootstrap'd root, mkfs.ext4 -d

# make test-vm builds its guests from Debian's packages for these
# architectures (apt-get download), so apt must know them.
vm_archs=(arm64 armel)

# Others may run apt at the same time on a shared machine: every apt-get
# that changes the package lists or installs takes the same lock.
apt_get() { flock /tmp/ftptap-apt.lock apt-get "$@"; }

if [ "${1:-test}" = test-vm ]; then
	add=()
	for a in "${vm_archs[@]}"; do
		[ "$a" = "$(dpkg --print-architecture)" ] || dpkg --print-foreign-architectures | grep -x "$a" >/dev/null || add+=("$a")
	done
	if ((${#add[@]})); then
		if [ "$(id -u)" != 0 ]; then
			echo "setup: need root to add the architectures ${add[*]}" >&2
			exit 1
		fi
		for a in "${add[@]}"; do
			dpkg --add-architecture "$a"
		done
		apt_get update -qq
	fi
fi

need=()
for p in "${apt_pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: need root to install: ${need[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt_get update -qq
	# Debian starts a daemon when its package is installed (vsftpd on
	# port 21); the lab runs its own servers in namespaces, so none starts
	# on the host.
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		policy=/usr/sbin/policy-rc.d
	fi
	apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	[ -z "$policy" ] || rm -f "$policy"
fi

go_ok() { command -v go >/dev/null && go version | grep -qE 'go1\.(2[6-9]|[3-9][0-9])'; }

# bootstrap_go puts Go $GO_VERSION on PATH where the machine has no Go
# $GO_MIN: Debian's Go (1.21 or newer, which knows GOTOOLCHAIN) fetches it as
# the module golang.org/toolchain from the Go module proxy. Bookworm's own
# golang-go is 1.19, too old for that, so its golang-1.2x-go comes from
# bookworm-backports, on the mirror apt already uses.
bootstrap_go() {
	if [ "$(id -u)" != 0 ]; then
		echo "setup: no Go $GO_MIN here; as root, setup installs one" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	pick() { apt-cache pkgnames golang-1. | { grep -E '^golang-1\.(2[1-9]|[3-9][0-9])-go$' || true; } | sort -V | tail -n 1; }
	apt_get update -qq
	local pkg mirror codename
	pkg=$(pick)
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	if [ -z "$pkg" ] && [ -n "$codename" ]; then
		mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' |
			awk -v r="$codename" '$2 == r { print $1; exit }')
		if [ -n "$mirror" ]; then
			printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
				"$mirror" "$codename" >/etc/apt/sources.list.d/ftptap-backports.sources
			apt_get update -qq
			pkg=$(pick)
		fi
	fi
	if [ -z "$pkg" ]; then
		echo "setup: no Go $GO_MIN and no Debian golang-1.21-go or newer to fetch it with" >&2
		exit 1
	fi
	echo "setup: no Go $GO_MIN here: $pkg fetches go$GO_VERSION through the Go module proxy" >&2
	apt_get install -y -qq --no-install-recommends "$pkg" >/dev/null
	local debgo="/usr/lib/go-${pkg#golang-}"
	debgo="${debgo%-go}/bin/go"
	local goroot
	goroot=$(GOTOOLCHAIN="go$GO_VERSION" "$debgo" env GOROOT)
	export PATH="$goroot/bin:$PATH"
}

go_ok || bootstrap_go
if ! go_ok; then
	echo "setup: Go $GO_MIN or newer is needed; found: $(go version 2>&1)" >&2
	exit 1
fi

# A new login shell finds this Go too, so that the README's next commands
# (make build, make demo) work after the quick start: setup puts its
# directory on PATH in /etc/profile.d when it is not on the default PATH.
gobin=$(dirname "$(command -v go)")
profile_d=${FTPTAP_PROFILE_D:-/etc/profile.d}
case ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" in
*":$gobin:"*) ;;
*)
	if [ "$(id -u)" = 0 ] || [ -w "$profile_d" ]; then
		printf '# Written by ftptap cross/setup.sh: the Go it found or fetched, for login shells.\ncase ":$PATH:" in *":%s:"*) ;; *) PATH="%s:$PATH" ;; esac\n' \
			"$gobin" "$gobin" >"$profile_d/ftptap-go.sh"
		echo "setup: $profile_d/ftptap-go.sh puts $gobin on PATH for login shells (this one: . $profile_d/ftptap-go.sh)" >&2
	fi
	;;
esac

exec make "${1:-test}"
