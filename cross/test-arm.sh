#!/usr/bin/env bash
# test-arm.sh [PACKAGE...]: the unit and replay tests, compiled for linux/arm64
# (Cortex-A72, a Pi 4) and for linux/arm GOARM=6 (ARM1176, a Pi Zero or 1),
# run under qemu-user from Debian's qemu-user-static. This is where 64-bit
# atomics on 32-bit ARM, alignment and word-size bugs show up.
#
# The go_linux_*_exec wrappers beside this script run each test binary under
# qemu and set FTPTAP_EMULATED. qemu-user emulates neither network
# namespaces nor packet rings, so the tests that build namespaces skip when
# it is set (internal/netnstest.New does that for them). Left out: this
# package (it installs a .deb on the machine) and internal/lab (the FTP lab
# in namespaces). The race detector needs cgo, so these runs go without it.
# -short leaves out the long scenarios (natsbus's 30 s outage, its cluster of
# nats-server processes, which would be built for ARM and could not be
# exec'd here); `make unit` runs them natively.
#
# ARM_TEST_SKIP is a go test -skip pattern; ARM_TEST_FLAGS replaces the
# other go test flags.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/cross:$PATH" CGO_ENABLED=0

if (($#)); then
	pkgs=("$@")
else
	mapfile -t pkgs < <(go list ./... | grep -vE '/(cross|internal/lab)(/|$)')
fi
for q in qemu-aarch64 qemu-arm; do
	command -v "$q-static" >/dev/null || command -v "$q" >/dev/null || {
		echo "test-arm: $q not found: apt-get install qemu-user-static" >&2
		exit 1
	}
done

failed=()
skip=${ARM_TEST_SKIP:-}
read -r -a flags <<<"${ARM_TEST_FLAGS:--count=1 -short -timeout 15m}"
flags+=(${skip:+-skip "$skip"})
for t in arm64: arm:6; do
	IFS=: read -r goarch goarm <<<"$t"
	echo "== go test, GOARCH=$goarch${goarm:+ GOARM=$goarm}, under qemu-user"
	env GOARCH="$goarch" ${goarm:+GOARM="$goarm"} go test "${flags[@]}" "${pkgs[@]}" || failed+=("$t")
done
if ((${#failed[@]})); then
	echo "test-arm: FAIL on ${failed[*]}" >&2
	exit 1
fi
