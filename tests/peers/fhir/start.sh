#!/usr/bin/env bash
# Starts the FHIR R4 test server (tests/peers/fhir/server.mjs) on 127.0.0.1:PORT in the
# background and waits until it answers. Idempotent: does nothing if it already answers.
#   tests/peers/fhir/start.sh [PORT]      (default 8103)
#   export WASIT_TEST_FHIR_URL=http://127.0.0.1:PORT/fhir/R4
# node_modules live in $WASIT_PEERS_DIR/fhir (default <repo>/target/peers/fhir), never in
# the repository; the pid goes to $WASIT_PEERS_DIR/fhir.pid, the log to fhir.log.
set -euo pipefail

PORT="${1:-8103}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PEERS="${WASIT_PEERS_DIR:-$ROOT/target/peers}"
APP="$PEERS/fhir"
PIDFILE="$PEERS/fhir.pid"
LOG="$PEERS/fhir.log"
URL="http://127.0.0.1:$PORT/fhir/R4"

die() { printf 'fhir: %s\n' "$*" >&2; exit 1; }
command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20.19+ (with npm)"

# Does our server (not just anything) answer on PORT? Node is needed anyway; curl may not be.
answers() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
      .then((r) => r.json())
      .then((b) => process.exit(b.resourceType === "CapabilityStatement" ? 0 : 1))
      .catch(() => process.exit(1));' "$URL/metadata" 2>/dev/null
}
running_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

already_answers() {
  if answers; then
    echo "FHIR test server already answers at $URL"
    exit 0
  fi
}

already_answers
mkdir -p "$APP"
# Serialise concurrent starts (parallel test runs): the second waits, then finds it running.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$PEERS/fhir.lock"
  flock -w 90 9 || die "another start.sh holds $PEERS/fhir.lock"
fi
already_answers
if pid=$(running_pid); then
  die "a FHIR test server (pid $pid) runs but does not answer at $URL: run tests/peers/fhir/stop.sh first"
fi

# Install the pinned packages once (again only when package-lock.json changes).
if ! cmp -s "$HERE/package-lock.json" "$APP/package-lock.json" || [ ! -d "$APP/node_modules/@medplum/fhir-router" ]; then
  echo "installing the FHIR test server's packages into $APP"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$APP/"
  (cd "$APP" && npm ci --no-audit --no-fund --loglevel=error)
fi
# ES modules ignore NODE_PATH: the server must sit next to its node_modules.
cp "$HERE/server.mjs" "$APP/server.mjs"

echo "starting the FHIR test server at $URL (log: $LOG)"
# Its own session (setsid) so the caller's Ctrl-C or exit does not take it down; fd 9 (the
# lock) closed, or the server would hold the lock for its whole life.
detach=()
command -v setsid >/dev/null 2>&1 && detach=(setsid)
nohup "${detach[@]}" node "$APP/server.mjs" "$PORT" >>"$LOG" 2>&1 </dev/null 9>&- &
pid=$!
echo "$pid" >"$PIDFILE"

for _ in $(seq 1 120); do
  if answers; then
    echo "FHIR test server answers at $URL (pid $pid)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PIDFILE"
    tail -n 20 "$LOG" >&2
    die "the server exited during start-up (is port $PORT taken?)"
  fi
  sleep 0.5
done
kill "$pid" 2>/dev/null || true
rm -f "$PIDFILE"
die "the server did not answer at $URL within 60 s (see $LOG)"
