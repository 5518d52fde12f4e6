#!/usr/bin/env bash
# Starts a real CalDAV server (Radicale) for the adapter tests: tests/peers/caldav/start.sh PORT
#
# Installs Radicale into a venv under $WASIT_PEERS_DIR (default <repo>/target/peers) on first
# use, then runs it in the background with its data, pid and log beside the venv. Idempotent:
# if the pid file names a live process and the port answers, it does nothing.
#
# Access rules (why no --rights-type flag): with --auth-type none every request is anonymous,
# and Radicale's default rights backend (owner_only) then skips its user check and grants
# "RW" on first-level paths (/<x>/: MKCOL a plain collection) and "rw" on second-level paths
# (/<x>/<calendar>/: MKCALENDAR, then PUT/GET/DELETE/REPORT on its items). Deeper collections
# are refused. Radicale has no "none" rights type; the tests therefore use /<uuid>/<room>/.
set -euo pipefail

RADICALE_VERSION=3.9.0

port=${1:?usage: start.sh PORT}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
dir=${WASIT_PEERS_DIR:-$repo/target/peers}
venv=$dir/radicale-venv
pidfile=$dir/caldav.pid
log=$dir/caldav.log
url=http://127.0.0.1:$port/

answers() {
    python3 - "$url" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass  # any HTTP status means the server is up
except Exception:
    sys.exit(1)
PY
}

mkdir -p "$dir"

if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers; then
    echo "CalDAV server already running at $url (pid $(cat "$pidfile"))"
    exit 0
fi

if answers; then
    echo "port $port already answers, but not from the Radicale in $dir; stop it or pick another port" >&2
    exit 1
fi

if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c "import radicale" 2>/dev/null; then
    echo "installing Radicale $RADICALE_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "radicale==$RADICALE_VERSION"
fi

# --config "" ignores /etc/radicale/config and ~/.config/radicale/config.
nohup "$venv/bin/python" -m radicale \
    --config "" \
    --server-hosts "127.0.0.1:$port" \
    --storage-filesystem-folder "$dir/radicale-data" \
    --auth-type none \
    --logging-level warning \
    >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"

for _ in $(seq 1 120); do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "Radicale exited; see $log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    if answers; then
        echo "CalDAV server running at $url (pid $(cat "$pidfile"), log $log)"
        echo "export WASIT_TEST_CALDAV_URL=http://127.0.0.1:$port"
        exit 0
    fi
    sleep 0.5
done
echo "Radicale did not answer on $url within 60 s; see $log" >&2
kill "$(cat "$pidfile")" 2>/dev/null || true
rm -f "$pidfile"
exit 1
