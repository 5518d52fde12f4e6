#!/usr/bin/env bash
# Starts a real SMTP server with a JSON API (maildev) for the email tests:
#   tests/peers/smtp/start.sh SMTP_PORT WEB_PORT
# Packages install once into $WASIT_PEERS_DIR/maildev (default <repo>/target/peers), never the
# repository. Idempotent: does nothing if it already answers. Read mail at GET /api/email.
set -euo pipefail
smtp_port=${1:?usage: start.sh SMTP_PORT WEB_PORT}
web_port=${2:?usage: start.sh SMTP_PORT WEB_PORT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
peers=${WASIT_PEERS_DIR:-$repo/target/peers}
app=$peers/maildev
pidfile=$peers/maildev.pid
log=$peers/maildev.log
url=http://127.0.0.1:$web_port/api/email

answers() { node -e 'fetch(process.argv[1], {signal: AbortSignal.timeout(2000)}).then(r => process.exit(r.ok ? 0 : 1)).catch(() => process.exit(1))' "$url" 2>/dev/null; }

mkdir -p "$app"
if answers; then echo "maildev already answers at $url"; exit 0; fi
if ! cmp -s "$here/package-lock.json" "$app/package-lock.json" || [ ! -d "$app/node_modules/maildev" ]; then
  echo "installing maildev into $app"
  cp "$here/package.json" "$here/package-lock.json" "$app/"
  (cd "$app" && npm ci --no-audit --no-fund --loglevel=error)
fi
mkdir -p "$peers/maildev-mail"
nohup setsid node "$app/node_modules/maildev/dist/bin/maildev.js" --ip 127.0.0.1 --web-ip 127.0.0.1 \
  -s "$smtp_port" -w "$web_port" --mail-directory "$peers/maildev-mail" >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 1 120); do
  if answers; then echo "maildev answers: SMTP 127.0.0.1:$smtp_port, API $url"; exit 0; fi
  kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -n 20 "$log" >&2; echo "maildev exited" >&2; exit 1; }
  sleep 0.5
done
echo "maildev did not answer within 60 s (see $log)" >&2; exit 1
