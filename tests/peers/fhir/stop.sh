#!/usr/bin/env bash
# Stops the FHIR test server started by start.sh (the pid in $WASIT_PEERS_DIR/fhir.pid).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PEERS="${WASIT_PEERS_DIR:-$ROOT/target/peers}"
PIDFILE="$PEERS/fhir.pid"

pid=$(cat "$PIDFILE" 2>/dev/null || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  echo "FHIR test server is not running"
  rm -f "$PIDFILE"
  exit 0
fi
kill "$pid"
for _ in $(seq 1 20); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.25
done
kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
rm -f "$PIDFILE"
echo "FHIR test server (pid $pid) stopped"
