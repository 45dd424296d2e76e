#!/usr/bin/env bash
# demo.sh: ftptap inline on live FTP traffic. Builds a lab (client, tap and
# server namespaces with vsftpd, pure-ftpd, curl and lftp), runs ftptap in
# the tap namespace across the two ports, plays every lab scenario through
# it and prints its events as they come, then a tally. Removes the lab on
# exit. Needs root and the lab's Debian packages (./cross/setup.sh demo
# installs them, then runs this through make demo).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (network namespaces, capture); try: sudo make demo" >&2
	exit 1
fi
BIN=${BIN:-bin/ftptap}
[ -x "$BIN" ] || make -s build

eval "$(lab/lab.sh up)"
work=$(mktemp -d)
ftptap_pid= view_pid= watch_pid=
cleanup() {
	[ -n "$watch_pid" ] && kill -TERM "$watch_pid" 2>/dev/null || true
	[ -n "$ftptap_pid" ] && kill -TERM "$ftptap_pid" 2>/dev/null && wait "$ftptap_pid" 2>/dev/null || true
	[ -n "$view_pid" ] && wait "$view_pid" 2>/dev/null || true
	lab/lab.sh down "$LAB" || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "lab $LAB: client $CLIENT_NS (10.77.0.2, fd77::2) — $PORT_A [$TAP_NS: ftptap] $PORT_B — server $SERVER_NS"
echo "  vsftpd 10.77.0.1 / fd77::1, pure-ftpd 10.77.0.3 / fd77::3"
echo

# ftptap runs as on the device: with its embedded NATS server (JetStream,
# on the management address: loopback of the tap namespace here), the LED
# changes logged as events, and the events also on stdout for this view.
ip -n "$TAP_NS" link set lo up
printf 'tap: demo\nnats:\n  server:\n    listen: 127.0.0.1:4222\n    store_dir: %s/nats\n' "$work" >"$work/config.yaml"
mkfifo "$work/events"
lab/lab.sh view <"$work/events" &
view_pid=$!
ip netns exec "$TAP_NS" "$BIN" run --port-a "$PORT_A" --port-b "$PORT_B" --config "$work/config.yaml" \
	--events - --leds log >"$work/events" 2>"$work/ftptap.log" &
ftptap_pid=$!

# ftptap bridges the two ports itself; wait until it captures.
for _ in $(seq 100); do
	if grep -qi capturing "$work/ftptap.log" && ip -n "$TAP_NS" -o link show "$PORT_A" | grep -q ' master '; then
		break
	fi
	if ! kill -0 "$ftptap_pid" 2>/dev/null; then
		cat "$work/ftptap.log" >&2
		exit 1
	fi
	sleep 0.1
done

# A subscriber, as a laptop on the management network would run it:
#   nats sub 'ftptap.*.request.USER'   or   ftptap watch 'ftptap.*.request.USER'
ip netns exec "$TAP_NS" "$BIN" watch --config "" --server nats://127.0.0.1:4222 --json 'ftptap.*.request.USER' >"$work/watch" 2>&1 &
watch_pid=$!
sleep 0.5

lab/lab.sh play "$LAB" all
sleep 0.5
kill -TERM "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=
kill -TERM "$ftptap_pid"
wait "$ftptap_pid" || { echo "ftptap exited with $?:" >&2; cat "$work/ftptap.log" >&2; }
ftptap_pid=
wait "$view_pid" || true
view_pid=
echo
echo "a subscriber to ftptap.*.request.USER over NATS received $(grep -c '"command":"USER"' "$work/watch" || true) events, e.g.:"
grep -m1 '"command":"USER"' "$work/watch" | cut -c1-220 | sed 's/^/  /' || true
echo
echo "ftptap's log:"
sed 's/^/  /' "$work/ftptap.log"
