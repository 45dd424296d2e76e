#!/usr/bin/env bash
# package.sh [ARCH...]: ftptap's Debian packages, built by nfpm from
# cross/nfpm.yaml: the binary, /etc/ftptap/config.yaml (a conffile), the
# systemd unit, the system user and the data directory for the JetStream
# store. ARCH is arm64, armhf or amd64 (default: all three). The binaries come
# from `make cross` (dist/ftptap-linux-*); the armhf package carries the GOARM=6
# build, as Raspberry Pi OS's armhf runs on every Pi from the Zero and 1 on.
#
#   OUT          where the .deb files go (default: dist)
#   FTPTAP_BIN   the binary, when packaging one ARCH from elsewhere
#   VERSION      the version (default: git describe), made Debian-shaped
#
# nfpm comes from the Go module proxy (go run, cached after the first run),
# so it stays out of go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
NFPM=${NFPM:-github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2}
out=${OUT:-dist}
(($#)) || set -- arm64 armhf amd64

# deb_version turns git describe into a Debian version that sorts right:
# v1.2.3 -> 1.2.3, v1.2.3-4-gabc -> 1.2.3+git4.gabc, an untagged tree ->
# 0.0.0~git<commit time>.<hash> (before any release), -dirty -> +dirty.
deb_version() {
	local v=$1 dirty=
	case $v in *-dirty) dirty=+dirty v=${v%-dirty} ;; esac
	if [[ $v =~ ^v?([0-9]+\.[0-9]+\.[0-9]+)(-([0-9]+)-(g[0-9a-f]+))?$ ]]; then
		v=${BASH_REMATCH[1]}${BASH_REMATCH[3]:++git${BASH_REMATCH[3]}.${BASH_REMATCH[4]}}
	elif [[ $v =~ ^[0-9a-f]{7,}$ ]]; then
		v=0.0.0~git$(git show -s --format=%cd --date=format:%Y%m%d%H%M%S HEAD 2>/dev/null || echo 0).$v
	else
		v=0.0.0~${v//[^A-Za-z0-9.+~]/.}
	fi
	echo "$v$dirty"
}

version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
export FTPTAP_DEB_VERSION
FTPTAP_DEB_VERSION=$(deb_version "$version")
# Reproducible: every file dated at the commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

if [ ! -f firmware/config.yaml ]; then
	echo "package: firmware/config.yaml is missing" >&2
	exit 1
fi
user_bin=${FTPTAP_BIN:-}
mkdir -p "$out"
for arch in "$@"; do
	case $arch in
	arm64) nfpm_arch=arm64 bin=dist/ftptap-linux-arm64 ;;
	armhf) nfpm_arch=arm6 bin=dist/ftptap-linux-armv6 ;;
	amd64) nfpm_arch=amd64 bin=dist/ftptap-linux-amd64 ;;
	*)
		echo "package: unknown arch $arch (arm64, armhf, amd64)" >&2
		exit 2
		;;
	esac
	export FTPTAP_ARCH=$nfpm_arch FTPTAP_BIN=${user_bin:-$bin}
	if [ ! -x "$FTPTAP_BIN" ]; then
		echo "package: $FTPTAP_BIN missing: run make cross" >&2
		exit 1
	fi
	deb="$out/ftptap_${FTPTAP_DEB_VERSION}_$arch.deb"
	if ! log=$(go run "$NFPM" package --config cross/nfpm.yaml --packager deb --target "$deb" 2>&1); then
		echo "package: nfpm for $arch failed:" >&2
		echo "$log" >&2
		exit 1
	fi
	echo "$deb"
done
