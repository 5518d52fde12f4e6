#!/usr/bin/env bash
# Stops the ZATCA stand-in started by start.sh (the pid in $WASIT_PEERS_DIR/zatca.pid). It keeps
# its state in memory; the request log stays in $WASIT_PEERS_DIR/zatca-requests.jsonl.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
pidfile=${WASIT_PEERS_DIR:-$repo/target/peers}/zatca.pid

pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "ZATCA stand-in is not running"
    rm -f "$pidfile"
    exit 0
fi
kill "$pid"
for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
rm -f "$pidfile"
echo "ZATCA stand-in (pid $pid) stopped"
