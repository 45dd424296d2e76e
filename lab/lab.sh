#!/usr/bin/env bash
# lab.sh: the ftptap lab from a shell. Network namespaces with real FTP
# servers (vsftpd, pure-ftpd) and clients (curl, lftp), a tap namespace in
# between (see internal/lab/doc.go). Needs root.
#
#   lab/lab.sh up [-bridge]          build a lab; prints LAB=, CLIENT_NS=, TAP_NS=, ...
#   lab/lab.sh down [NAME...]        remove labs (default: every lab that is up)
#   lab/lab.sh status                list labs and what runs in their namespaces
#   lab/lab.sh play NAME SCENARIO... run scenarios (pasv-retr, multi, ... or all)
#   lab/lab.sh view                  events (JSON lines) on stdin, readable lines out
#
# Inside a lab:  ip netns exec "$CLIENT_NS" curl ftp://10.77.0.1/pub/f1000.bin -o /dev/null
#                ip netns exec "$TAP_NS" bin/ftptap run --port-a porta --port-b portb --events -
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
bin=${FTPLAB_BIN:-bin/ftplab}
if [ ! -x "$bin" ] || [ -n "$(find internal/lab -newer "$bin" -name '*.go' -print -quit)" ]; then
	mkdir -p "$(dirname "$bin")"
	CGO_ENABLED=0 go build -o "$bin" ./internal/lab/ftplab
fi
exec "$bin" "$@"
