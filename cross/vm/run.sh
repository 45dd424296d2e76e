#!/usr/bin/env bash
# run.sh [GUEST...]: boot each guest under QEMU and run ftptap's scenario
# in it (make test-vm). Guests: raspi3b, raspi0, virt16k (default: all
# of them). Prints one line per guest: the QEMU machine, the kernel, the
# page size, what was proven, the result and the time it took; exits
# non-zero if one failed.
#
# Kernels and roots come from Debian's packages (mkroot.sh) and are kept
# in FTPTAP_VM_CACHE (default /var/cache/ftptap-vm), one folder per set of
# package versions, so a run after the first fetches nothing. ftptap and
# the guest's test binary are built fresh each time. Console logs go to
# FTPTAP_VM_LOGS (default /tmp/ftptap-vm). Where QEMU is missing, each
# guest is skipped with the reason. FTPTAP_VM_TIMEOUT bounds one guest
# (seconds, default 420). The guests named in FTPTAP_VM_CLOCK (default
# virt16k) also step their own clock, forward and back, during transfers
# through the tap (guest_test.go's testClockStep).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${FTPTAP_VM_CACHE:-/var/cache/ftptap-vm}
logs=${FTPTAP_VM_LOGS:-/tmp/ftptap-vm}
limit=${FTPTAP_VM_TIMEOUT:-420}
tries=${FTPTAP_VM_TRIES:-2}
mkdir -p "$cache" "$logs"
# One run at a time on a machine: they share the cache, and TCG is
# CPU-heavy enough alone.
exec 9>"$cache/.lock"
if ! flock -n 9; then
	echo "test-vm: another make test-vm runs on this machine; waiting for it" >&2
	flock 9
fi

# name|qemu|machine and options|Debian arch|kernel package|device tree[:node to disable...]|console|GOARCH|GOARM|what it proves
#
# raspi0: QEMU 7.2 does not emulate the BCM2835's power-management block;
# Debian's rpi kernel takes an external abort reading its ASB registers
# (bcm2835_power_probe, then "Attempted to kill init"), so the guest's
# device tree has that node (the watchdog and power domains; nothing the
# scenario uses) disabled, and the I2C controllers, which QEMU leaves
# unimplemented (their clock divider reads 0: "Division by zero in
# kernel"). The BCM2835's only timer is a 32-bit compare that fires on
# equality: a compare the virtual clock has already passed when the
# kernel writes it fires 71 minutes later, and the guest stalls. With
# -icount the clock advances with the instructions run, so it cannot
# pass a compare the kernel is writing. docs/vm.md has the console logs.
guests=(
	"raspi3b|qemu-system-aarch64|-M raspi3b|arm64|linux-image-arm64|broadcom/bcm2837-rpi-3-b.dtb|ttyAMA0|arm64||arm64 build, TPACKET_V3 rings, PASV+PORT via vsftpd/curl, events = truth = replay, 0 drops, LEDs on the BCM2835 GPIO"
	"raspi0|qemu-system-arm|-M raspi0 -icount shift=0,sleep=off|armel|linux-image-rpi|bcm2835-rpi-zero.dtb:/soc/watchdog@7e100000:/soc/i2c@7e205000:/soc/i2c@7e804000:/soc/i2c@7e805000|ttyAMA0|arm|6|armv6 build on an ARM1176 and a 32-bit kernel: the same rings, transfers, checks and LEDs"
	"virt16k|qemu-system-aarch64|-M virt -cpu cortex-a76 -m 512M -nic none|arm64|linux-image-6.12-arm64-16k||ttyAMA0|arm64||16 KiB pages (a Pi 5's kernel and core): ring blocks, the same transfers and checks, no GPIO; its clock stepped ±90 days mid-download"
)
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT

want=("$@")
((${#want[@]})) || want=(raspi3b raspi0 virt16k)
failed=()
summary=()
for g in "${guests[@]}"; do
	IFS='|' read -r name qemu machine arch kpkg dtb console goarch goarm proves <<<"$g"
	if ((${#want[@]})) && [[ " ${want[*]} " != *" $name "* ]]; then
		continue
	fi
	start=$SECONDS
	if ! command -v "$qemu" >/dev/null; then
		summary+=("$(printf '%-8s %-16s SKIP: %s not found (apt-get install qemu-system-arm)' "$name" "$(awk '{ print $2 }' <<<"$machine")" "$qemu")")
		continue
	fi
	if ! dpkg --print-foreign-architectures | grep -x "$arch" >/dev/null && [ "$(dpkg --print-architecture)" != "$arch" ]; then
		echo "test-vm: $name: Debian architecture $arch not added: dpkg --add-architecture $arch; apt-get update (cross/setup.sh test-vm does it)" >&2
		failed+=("$name")
		summary+=("$(printf '%-8s %-16s FAIL: Debian architecture %s not added' "$name" "$(awk '{ print $2 }' <<<"$machine")" "$arch")")
		continue
	fi

	# The kernel and root, built once per set of package versions.
	key=$(apt-cache policy "$kpkg:$arch" busybox-static:"$arch" vsftpd:"$arch" curl:"$arch" tcpdump:"$arch" nftables:"$arch" |
		awk '/Candidate:/ { print $2 }' | sha256sum | cut -c1-12)
	parts="$cache/$arch-$kpkg-$key"
	if [ ! -e "$parts/root.cpio.gz" ]; then
		echo "test-vm: $name: building its kernel and root from Debian's packages into $parts" >&2
		cross/vm/mkroot.sh "$arch" "$kpkg" "$parts"
	fi
	kver=$(awk '$1 ~ /^linux-image-/ { sub(/^linux-image-/, "", $1); print $1 }' "$parts/packages.txt")

	# ftptap and the guest's test binary for the guest's CPU, once a run.
	b="$bins/$goarch$goarm"
	if [ ! -e "$b/overlay.cpio.gz" ]; then
		mkdir -p "$b/root"
		env CGO_ENABLED=0 GOOS=linux GOARCH="$goarch" ${goarm:+GOARM="$goarm"} \
			go build -trimpath -ldflags "-s -w" -o "$b/root/ftptap" ./firmware
		env CGO_ENABLED=0 GOOS=linux GOARCH="$goarch" ${goarm:+GOARM="$goarm"} \
			go test -c -tags vmguest -ldflags "-s -w" -o "$b/root/init" ./cross/vm
		(cd "$b/root" && printf '%s\n' . init ftptap | cpio -o -H newc --quiet | gzip -1) >"$b/overlay.cpio.gz"
	fi
	tmp=$(mktemp -d)
	cat "$parts/root.cpio.gz" "$b/overlay.cpio.gz" >"$tmp/initrd"
	dtbopt=()
	if [ -n "$dtb" ]; then
		cp "$parts/dtbs/${dtb%%:*}" "$tmp/board.dtb"
		IFS=: read -ra nodes <<<"${dtb#*:}"
		[[ $dtb == *:* ]] || nodes=()
		for n in "${nodes[@]}"; do
			fdtput -t s "$tmp/board.dtb" "$n" status disabled
		done
		# A seed for the kernel's random numbers, as a Pi's firmware
		# puts there: without it the Pi Zero's kernel takes a minute to
		# gather entropy, and ftptap's first read of crypto/rand waits
		# for it (QEMU's -M virt writes one itself).
		# shellcheck disable=SC2046 # one argument per byte
		fdtput -t bx "$tmp/board.dtb" /chosen rng-seed $(od -An -tx1 -N64 /dev/urandom)
		dtbopt=(-dtb "$tmp/board.dtb")
	fi

	# A guest that fails is booted once more (FTPTAP_VM_TRIES, default 2);
	# the first failure's lines stay in the output and in GUEST-try1.log.
	kargs=
	[ -z "$dtb" ] || kargs="random.trust_bootloader=on "
	[[ " ${FTPTAP_VM_CLOCK-virt16k} " != *" $name "* ]] || kargs+="ftptap_clock=1 "
	for ((try = 1; try <= tries; try++)); do
		log="$logs/$name.log"
		: >"$log"
		# shellcheck disable=SC2086 # machine holds several options
		"$qemu" $machine -kernel "$parts/vmlinuz" "${dtbopt[@]}" -initrd "$tmp/initrd" \
			-append "console=$console rdinit=/init panic=-1 quiet $kargs-- -test.v -test.timeout $((limit - 60))s" \
			-display none -monitor none -serial "file:$log" -no-reboot </dev/null >"$tmp/qemu.out" 2>&1 &
		qpid=$!
		boot=$SECONDS
		result=
		while :; do
			if grep -q '^ftptap-vm: exit ' "$log"; then
				result=$(awk '/^ftptap-vm: exit / { print $3; exit }' "$log" | tr -d '\r')
				break
			fi
			if ! kill -0 "$qpid" 2>/dev/null; then
				break
			fi
			if ((SECONDS - boot > limit)); then
				echo "test-vm: $name: no result after ${limit}s" >&2
				break
			fi
			sleep 1
		done
		kill "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
		[ "$result" != 0 ] || break
		if ((try < tries)); then
			echo "test-vm: $name: try $try failed (exit ${result:-none}); its report, then once more:" >&2
			grep -a '^ftptap-vm: \|guest_test.go' "$log" | grep -v '^ftptap-vm: step ' | tr -d '\r' | sed "s/^/  $name try $try: /" >&2 || true
			cp "$log" "$logs/$name-try$try.log"
		fi
	done
	took=$((SECONDS - start))
	page=$(awk '/^ftptap-vm: kernel / { printf "%d KiB", $NF / 1024; exit }' "$log" | tr -d '\r')
	if [ "$result" = 0 ]; then
		res=PASS
		((try == 1)) || proves="$proves (passed on try $try)"
	else
		res=FAIL
		failed+=("$name")
		echo "test-vm: $name: FAIL (exit ${result:-none}); console log $log:" >&2
		tail -n 80 "$log" >&2
		cat "$tmp/qemu.out" >&2
	fi
	grep '^ftptap-vm: ' "$log" | grep -v '^ftptap-vm: step ' | tr -d '\r' | sed "s/^ftptap-vm:/  $name:/" >&2 || true
	summary+=("$(printf '%-8s %-16s %-26s %-6s %-4s %4ds  %s' "$name" "$(awk '{ print $2 }' <<<"$machine")" "$kver" "${page:-?}" "$res" "$took" "$proves")")
	rm -rf "$tmp"
done

for s in "${summary[@]}"; do
	echo "$s"
done
skipped=0
for s in "${summary[@]}"; do
	[[ $s != *" SKIP: "* ]] || skipped=$((skipped + 1))
done
echo "test-vm: $((${#summary[@]} - skipped - ${#failed[@]})) passed, ${#failed[@]} failed, $skipped skipped"
if ((${#failed[@]})); then
	echo "test-vm: FAIL: ${failed[*]}" >&2
	exit 1
fi
