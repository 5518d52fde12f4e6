#!/usr/bin/env bash
# Starts the ZATCA reporting API stand-in (stand_in.py) on 127.0.0.1:PORT in the background:
#   tests/peers/zatca/start.sh [PORT]      (default 18430)
#   export WASIT_TEST_ZATCA_URL=http://127.0.0.1:PORT
# There is no ZATCA sandbox reachable from the test machines; this answers as ZATCA's developer
# portal documents the reporting API. It needs the test venv's lxml and cryptography
# (start_test_peers in scripts/lib.sh installs them; its python is $WASIT_TEST_PYTHON) and
# validates against the UBL schemas when WASIT_TEST_UBL_XSD is set. Pid, log and the request log
# (one JSON line per request) go to $WASIT_PEERS_DIR (default <repo>/target/peers). Idempotent.
set -euo pipefail

port=${1:-18430}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
dir=${WASIT_PEERS_DIR:-$repo/target/peers}
python=${WASIT_TEST_PYTHON:-$dir/test-venv/bin/python}
pidfile=$dir/zatca.pid
log=$dir/zatca.log
requests=$dir/zatca-requests.jsonl
url=http://127.0.0.1:$port

# Does our stand-in (not just anything) answer on PORT?
answers() {
    python3 - "$url/_stand_in/received" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if isinstance(json.loads(response.read()), list) else 1)
except Exception:
    sys.exit(1)
PY
}

mkdir -p "$dir"
if answers; then
    echo "ZATCA stand-in already answers at $url"
    exit 0
fi
if ! "$python" -c 'import lxml, cryptography' 2>/dev/null; then
    echo "$python lacks lxml and cryptography: run scripts/test, or source scripts/lib.sh and call start_test_peers" >&2
    exit 1
fi

# Its own session (setsid) so the caller's Ctrl-C or exit does not take it down.
detach=()
command -v setsid >/dev/null 2>&1 && detach=(setsid)
nohup "${detach[@]}" "$python" "$here/stand_in.py" "$port" "$requests" >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"

for _ in $(seq 1 60); do
    if answers; then
        echo "ZATCA stand-in answers at $url (pid $(cat "$pidfile"), requests in $requests)"
        echo "export WASIT_TEST_ZATCA_URL=$url"
        exit 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        rm -f "$pidfile"
        tail -n 20 "$log" >&2
        echo "the ZATCA stand-in exited during start-up (is port $port taken?)" >&2
        exit 1
    fi
    sleep 0.5
done
kill "$(cat "$pidfile")" 2>/dev/null || true
rm -f "$pidfile"
echo "the ZATCA stand-in did not answer at $url within 30 s (see $log)" >&2
exit 1
