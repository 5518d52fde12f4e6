#!/usr/bin/env bash
# Stops the maildev started by start.sh (its mail directory stays).
set -u
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
pidfile=${WASIT_PEERS_DIR:-$repo/target/peers}/maildev.pid
[ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
rm -f "$pidfile"
