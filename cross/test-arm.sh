#!/usr/bin/env bash
# test-arm.sh [PACKAGE...]: the unit and replay tests, compiled for linux/arm64
# (Cortex-A72, a Pi 4) and for linux/arm GOARM=6 (ARM1176, a Pi Zero or 1),
# run under qemu-user from Debian's qemu-user-static. This is where 64-bit
# atomics on 32-bit ARM, alignment and word-size bugs show up.
#
# The go_linux_*_exec wrappers beside this script run each test binary under
# qemu and set FTPTAP_EMULATED. Left out by default: this package (it
# installs a .deb on the machine) and internal/lab (it builds network
# namespaces; qemu-user does not emulate setns). Tests in the packages that
# stay in which need namespaces or packet rings skip when FTPTAP_EMULATED is
# set. The race detector needs cgo, so these runs go without it.
#
# ARM_TEST_FLAGS adds go test flags (default: -count=1 -timeout 15m).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/cross:$PATH" CGO_ENABLED=0

if (($#)); then
	pkgs=("$@")
else
	mapfile -t pkgs < <(go list ./... | grep -vE '/(cross|internal/lab)$')
fi
for q in qemu-aarch64 qemu-arm; do
	command -v "$q-static" >/dev/null || command -v "$q" >/dev/null || {
		echo "test-arm: $q not found: apt-get install qemu-user-static" >&2
		exit 1
	}
done

read -r -a flags <<<"${ARM_TEST_FLAGS:--count=1 -timeout 15m}"
for t in arm64: arm:6; do
	IFS=: read -r goarch goarm <<<"$t"
	echo "== go test, GOARCH=$goarch${goarm:+ GOARM=$goarm}, under qemu-user"
	env GOARCH="$goarch" ${goarm:+GOARM="$goarm"} go test "${flags[@]}" "${pkgs[@]}"
done
