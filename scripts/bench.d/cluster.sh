# scripts/bench's cluster scenarios (#18, point 4), sourced by it: a scripts/cluster of its own
# (data under .data/cluster-bench, ports from 26440, below the ephemeral range) running the release binary, measured in
# one run:
#   holds   POST /v1/bookings (bench.d/book.lua) on instance 1 directly, then through HAProxy
#           to both instances (the replica's lag sampled meanwhile), then on a third instance
#           started here on the primary itself (no PgBouncer): what the pooler's hop costs
#   search  a different question every request (bench.d/search_distinct.lua) on instance 1,
#           which reads searches from the replica, then on the third instance, which reads
#           them from the primary
# On two cores, two instances share the cores one instance had: the HAProxy figures show what
# the extra hop costs and that the outcomes hold, not a speed-up.

cluster_env() { sed -n "s/^$1=//p" "$BENCH_CLUSTER_DIR/cluster.env" | tr -d '"'; }

# wrk against URL; records req/s, p50, p99 and errors under cluster_NAME.
cluster_wrk() { # name connections url [wrk args...]
  local name=$1 conns=$2 target=$3; shift 3
  log "wrk: cluster $name ($conns connections, $DURATION)"
  wrk -t2 -c"$conns" -d"$DURATION" --latency "$@" "$target" > "$OUT/wrk-cluster-$name.txt" 2>&1
  record "cluster_$name" "$(python3 scripts/bench.d/report.py parse-wrk "$OUT/wrk-cluster-$name.txt")"
}

# Until killed, a sample every 250 ms plus the time it takes: the replica's replay lag from the primary (seconds, bytes) and the
# lag instance 1 measured itself (wasit_replica_lag_seconds on /metrics).
sample_replica_lag() { # primary_url instance_url admin_token out
  while :; do
    printf '%s %s\n' \
      "$(psql "$1" -XAtq -F ' ' -c "SELECT COALESCE(extract(epoch FROM replay_lag), 0),
           pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication LIMIT 1")" \
      "$(curl -fsS -H "authorization: Bearer $3" "$2/metrics" | awk '/^wasit_replica_lag_seconds/ {print $2}')" >> "$4"
    sleep 0.25
  done
}

# Holds leave "held" emails queued (unsent: the customer has not verified the address); each
# run starts from a quiet queue, as in scripts/bench's settle_queue.
settle_cluster_queue() { psql "$1" -XAtqc "DELETE FROM jobs WHERE state = 'queued' AND kind = 'send_booking_email'" >/dev/null; }

# Transactions committed in the wasit database of the server at URL so far.
commits() { psql "$1" -XAtqc "SELECT xact_commit FROM pg_stat_database WHERE datname = 'wasit'"; }

bench_cluster() {
  BENCH_CLUSTER_DIR="$DATA/cluster-bench"
  local base="${BENCH_CLUSTER_PORT_BASE:-26440}" extra_pid sampler
  log "cluster: HAProxy, two instances, a worker, PgBouncer and a replica (scripts/cluster, release build)"
  ( for v in $(compgen -e | grep '^WASIT__'); do unset "$v"; done
    export WASIT_CLUSTER_DIR="$BENCH_CLUSTER_DIR" WASIT_CLUSTER_PORT_BASE="$base" WASIT_CLUSTER_BIN="$bin"
    export WASIT_CLUSTER_LOG_FILTER=warn
    # One address sends every hold, all one customer's (as in the single-instance scenarios).
    export WASIT__BOOKINGS__HOLDS_PER_ADDRESS_PER_HOUR=0 WASIT__BOOKINGS__MAX_LIVE_HOLDS=0
    exec scripts/cluster up ) > "$OUT/cluster-up.log" 2>&1 || { tail -n 30 "$OUT/cluster-up.log" >&2; die "scripts/cluster up failed"; }
  local haproxy direct primary replica admin_pw admin customer provider unit offers="$OUT/cluster-offers.txt" d
  haproxy=$(cluster_env WASIT_CLUSTER_URL)
  direct="http://127.0.0.1:$(cluster_env WASIT_CLUSTER_SERVE1_PORT)"
  primary=$(cluster_env WASIT_CLUSTER_PRIMARY_URL); replica=$(cluster_env WASIT_CLUSTER_REPLICA_URL)
  admin_pw=$(cat "$BENCH_CLUSTER_DIR/demo-admin-password")
  admin=$(api -X POST "$haproxy/v1/auth/login" -d "{\"email\":\"admin@wasit.local\",\"password\":\"$admin_pw\"}" | json_field "['access_token']")
  customer=$(api -X POST "$haproxy/v1/auth/register" -d "{\"email\":\"bench-$(date +%s)@wasit.local\",\"password\":\"bench customer password\",\"full_name\":\"Bench\"}" | json_field "['access_token']")
  # A 10,000-room hotel in a city of its own, open for 30 nights, and one offer a night.
  local city="benchcluster-$(head -c 6 /dev/urandom | base64 | tr -dc 'a-z' | head -c 6)x"
  provider=$(api -X POST "$haproxy/v1/providers" -H "authorization: Bearer $admin" \
    -d "{\"kind\":\"hotel\",\"name_ar\":\"فندق\",\"name_en\":\"Bench cluster\",\"city\":\"$city\",\"adapter\":\"local\"}" | json_field "['id']")
  unit=$(api -X POST "$haproxy/v1/providers/$provider/units" -H "authorization: Bearer $admin" \
    -d '{"kind":"room_type","name_ar":"غرفة","name_en":"Room","max_guests":2,"rooms":10000,"nightly_price":"300.00"}' | json_field "['id']")
  api -X POST "$haproxy/v1/providers/$provider/units/$unit/availability" -H "authorization: Bearer $admin" \
    -d "{\"from\":\"$(day 1)\",\"to\":\"$(day 31)\"}" >/dev/null
  sleep 1   # the instances search the replica: let it replay the new hotel
  : > "$offers"
  for d in $(seq 1 30); do
    curl -fsS "$haproxy/v1/search?kind=hotel&city=$city&check_in=$(day "$d")&check_out=$(day $((d + 1)))&guests=2" |
      json_field "['offers'][0]['offer_id']" >> "$offers"
  done
  export OFFERS_FILE="$offers" TOKEN="$customer"   # read by book.lua

  # A third instance on the primary itself: no PgBouncer, no replica (database.replica_url unset).
  local bare="http://127.0.0.1:$((base + 6))"
  ( for v in $(compgen -e | grep '^WASIT__'); do unset "$v"; done
    export WASIT_ENV=development WASIT_CONFIG_DIR="$BENCH_CLUSTER_DIR/config" WASIT__LOG__FILTER=warn
    export WASIT__AUTH__JWT_SECRET="$(cat "$BENCH_CLUSTER_DIR/jwt-secret")" WASIT__DATABASE__URL="$primary"
    export WASIT__SERVER__PORT=$((base + 6)) WASIT__EMAIL__FILE_DIR="$BENCH_CLUSTER_DIR/mail"
    export WASIT__BOOKINGS__HOLDS_PER_ADDRESS_PER_HOUR=0 WASIT__BOOKINGS__MAX_LIVE_HOLDS=0
    exec "$bin" serve ) > "$OUT/cluster-bare.log" 2>&1 & extra_pid=$!; pids+=("$extra_pid")
  for _ in $(seq 1 100); do curl -fs "$bare/health/ready" >/dev/null && break; sleep 0.1; done

  cluster_wrk book_direct 16 "$direct" -s scripts/bench.d/book.lua
  settle_cluster_queue "$primary"
  : > "$OUT/cluster-lag.txt"
  sample_replica_lag "$primary" "$direct" "$admin" "$OUT/cluster-lag.txt" & sampler=$!
  cluster_wrk book_haproxy 16 "$haproxy" -s scripts/bench.d/book.lua
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  record cluster_lag "$(python3 scripts/bench.d/report.py lag "$OUT/cluster-lag.txt")"
  settle_cluster_queue "$primary"
  cluster_wrk book_bare 16 "$bare" -s scripts/bench.d/book.lua
  record cluster_holds "$(psql "$primary" -XAtqc "SELECT count(*) || ' ' || (SELECT count(*) FROM inventory_cells c WHERE c.unit_id = '$unit'
      AND c.reserved <> (SELECT count(*) FROM bookings b WHERE b.unit_id = c.unit_id AND b.status = 'held'
                         AND b.starts_at < c.ends_at AND b.ends_at > c.starts_at)) FROM bookings WHERE unit_id = '$unit'")"
  settle_cluster_queue "$primary"

  # Searches: instance 1 reads them from the replica, the third instance from the primary,
  # each over a direct connection.
  local c0 c1 r0 r1
  c0=$(commits "$primary"); r0=$(commits "$replica")
  SEARCH_CITY=jeddah cluster_wrk search_replica 32 "$direct" -s scripts/bench.d/search_distinct.lua
  c1=$(commits "$primary"); r1=$(commits "$replica")
  record cluster_search_replica_tx "$((r1 - r0)) $((c1 - c0))"
  c0=$(commits "$primary"); r0=$(commits "$replica")
  SEARCH_CITY=jeddah cluster_wrk search_primary 32 "$bare" -s scripts/bench.d/search_distinct.lua
  c1=$(commits "$primary"); r1=$(commits "$replica")
  record cluster_search_primary_tx "$((r1 - r0)) $((c1 - c0))"
  kill "$extra_pid"; wait "$extra_pid" 2>/dev/null || true
  stop_bench_cluster
}

# Called by scripts/bench's cleanup too, so a failed run leaves no cluster behind.
stop_bench_cluster() {
  [ -n "${BENCH_CLUSTER_DIR:-}" ] || return 0
  WASIT_CLUSTER_DIR="$BENCH_CLUSTER_DIR" scripts/cluster down >> "$OUT/cluster-down.log" 2>&1 || true
  BENCH_CLUSTER_DIR=
}
