#!/usr/bin/env bash
# Stops the CalDAV server started by start.sh (by its pid file). Its data stays in
# $WASIT_PEERS_DIR/radicale-data; remove that folder for a clean slate.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
dir=${WASIT_PEERS_DIR:-$repo/target/peers}
pidfile=$dir/caldav.pid

if [[ ! -f $pidfile ]]; then
    echo "CalDAV server not running (no $pidfile)"
    exit 0
fi
pid=$(cat "$pidfile")
if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "CalDAV server stopped (pid $pid)"
fi
rm -f "$pidfile"
