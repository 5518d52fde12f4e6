#!/usr/bin/env bash
# Starts a Stripe-API fake (localstripe) for the Stripe gateway tests: tests/peers/stripe/start.sh PORT
#
# Installs localstripe into a venv under $WASIT_PEERS_DIR (default <repo>/target/peers) on first
# use, then runs it in the background with its pid and log beside the venv. Idempotent: if the
# pid file names a live process and the port answers, it does nothing.
#
# Its own CLI (`localstripe --port`) binds every interface, so a small launcher serves the
# same aiohttp app on 127.0.0.1 only. The launcher also keeps the state in memory: localstripe
# pickles its whole store to /tmp/localstripe.pickle on every write (one file for every
# instance on the machine); here each start begins empty and several instances can coexist.
# Any sk_… key is accepted (basic-auth user); webhooks are registered with
# POST /_config/webhooks/<id> (url, secret, events) and live until it stops.
set -euo pipefail

LOCALSTRIPE_VERSION=1.15.10

port=${1:?usage: start.sh PORT}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
dir=${WASIT_PEERS_DIR:-$repo/target/peers}
venv=$dir/stripe-venv
pidfile=$dir/stripe.pid
log=$dir/stripe.log
url=http://127.0.0.1:$port/

answers() {
    python3 - "$url" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "v1/customers", timeout=2)
except urllib.error.HTTPError:
    pass  # any HTTP status (401 without a key) means the server is up
except Exception:
    sys.exit(1)
PY
}

mkdir -p "$dir"

if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers; then
    echo "Stripe fake already running at $url (pid $(cat "$pidfile"))"
    exit 0
fi

if answers; then
    echo "port $port already answers, but not from the localstripe in $dir; stop it or pick another port" >&2
    exit 1
fi

if [[ ! -x $venv/bin/python ]] ||
    [[ $("$venv/bin/python" -c "import localstripe; print(localstripe.__version__)" 2>/dev/null) != "$LOCALSTRIPE_VERSION" ]]; then
    echo "installing localstripe $LOCALSTRIPE_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "localstripe==$LOCALSTRIPE_VERSION"
fi

launcher='
import logging, sys
from aiohttp import web
import localstripe.resources
import localstripe.server

# In memory only: no /tmp/localstripe.pickle, read or written.
localstripe.resources.Store.dump_to_disk = lambda self: None
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
web.run_app(
    localstripe.server.app,
    host="127.0.0.1",
    port=int(sys.argv[1]),
    access_log=logging.getLogger("aiohttp.access"),
    print=None,
)
'
nohup "$venv/bin/python" -c "$launcher" "$port" >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"

for _ in $(seq 1 120); do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "localstripe exited; see $log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    if answers; then
        echo "Stripe fake running at $url (pid $(cat "$pidfile"), log $log)"
        echo "export WASIT_TEST_STRIPE_URL=http://127.0.0.1:$port"
        exit 0
    fi
    sleep 0.5
done
echo "localstripe did not answer on $url within 60 s; see $log" >&2
kill "$(cat "$pidfile")" 2>/dev/null || true
rm -f "$pidfile"
exit 1
