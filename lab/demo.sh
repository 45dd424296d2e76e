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
ftptap_pid= view_pid=
cleanup() {
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

mkfifo "$work/events"
lab/lab.sh view <"$work/events" &
view_pid=$!
ip netns exec "$TAP_NS" "$BIN" run --port-a "$PORT_A" --port-b "$PORT_B" --tap demo \
	--events - --nats off --leds log >"$work/events" 2>"$work/ftptap.log" &
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

lab/lab.sh play "$LAB" all
sleep 0.5
kill -TERM "$ftptap_pid"
wait "$ftptap_pid" || { echo "ftptap exited with $?:" >&2; cat "$work/ftptap.log" >&2; }
ftptap_pid=
wait "$view_pid" || true
view_pid=
echo
echo "ftptap's log:"
sed 's/^/  /' "$work/ftptap.log"
