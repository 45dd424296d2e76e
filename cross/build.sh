#!/usr/bin/env bash
# build.sh [OUTDIR]: static ftptap binaries for the Raspberry Pi and for PCs,
# CGO off, -trimpath, stripped, the version stamped (`ftptap version`):
#
#   ftptap-linux-arm64   64-bit Raspberry Pi OS: Pi 3, 4, 5, Zero 2 W
#   ftptap-linux-armv7   32-bit OS on ARMv7 and later: Pi 2, 3, 4
#   ftptap-linux-armv6   32-bit OS on any Pi, Zero and 1 included (armhf .deb)
#   ftptap-linux-amd64   a PC or a bench machine
#
# VERSION (default: git describe) is stamped into main.version. Prints each
# binary's size. OUTDIR defaults to dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
mkdir -p "$out"

# name:GOARCH:GOARM
targets=(arm64:arm64: armv7:arm:7 armv6:arm:6 amd64:amd64:)
for t in "${targets[@]}"; do
	IFS=: read -r name goarch goarm <<<"$t"
	bin="$out/ftptap-linux-$name"
	env CGO_ENABLED=0 GOOS=linux GOARCH="$goarch" ${goarm:+GOARM="$goarm"} \
		go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$bin" ./firmware
	awk -v f="$bin" -v s="$(stat -c %s "$bin")" -v v="$version" \
		'BEGIN { printf "%-26s %5.1f MiB  %s\n", f, s / 1048576, v }'
done
