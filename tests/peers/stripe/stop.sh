#!/usr/bin/env bash
# Stops the Stripe fake started by start.sh (by its pid file). It keeps its state in memory:
# customers, payments and registered webhooks are gone with it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
dir=${WASIT_PEERS_DIR:-$repo/target/peers}
pidfile=$dir/stripe.pid

if [[ ! -f $pidfile ]]; then
    echo "Stripe fake not running (no $pidfile)"
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
    echo "Stripe fake stopped (pid $pid)"
fi
rm -f "$pidfile"
