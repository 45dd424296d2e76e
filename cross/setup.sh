#!/usr/bin/env bash
# setup.sh [TARGET]: install what ftptap's build, tests and demo need on a
# Debian machine (Go, and the Debian packages listed below), then run
# "make TARGET" (default: test). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

GO_MIN=1.26
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH

apt_pkgs=(make git ca-certificates iproute2 ethtool tcpdump
	vsftpd curl lftp nftables iperf3 procps)  # lab: real FTP servers and clients in namespaces

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
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v go >/dev/null || ! go version | grep -qE 'go1\.(2[6-9]|[3-9][0-9])'; then
	echo "setup: Go $GO_MIN or newer is needed (install it to /usr/local/go)" >&2
	exit 1
fi

exec make "${1:-test}"
