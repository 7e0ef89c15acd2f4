#!/usr/bin/env bash
# bench/ingest.sh - the ingest part of `make bench` (alone: `make
# bench-ingest`): resources per second taken in as transaction Bundles of
# BENCH_ENTRIES entries (default 1000: Patients, ServiceRequests and Tasks
# linked by urn:uuid, built by bench/ingest.c from gen.c's clinic), with 1
# client and with 4, and the same resources sent as single POSTs, 1 client
# and 4. Each of the four runs on a fresh server with an empty database.
#
#   bench/ingest.sh SERVER INGEST
#
# Bounds: BENCH_INGEST_BUNDLES Bundles (default 20, the same data for
# both ways) or BENCH_INGEST_SECONDS s (default 30) for transactions,
# BENCH_POST_SECONDS s (default 10) for POSTs, whichever comes first.
# Checks the issue's targets: transaction ingest into an empty database
# >= 8000 resources/s with 1 client, and a transaction's cost per entry
# (1 / its resources/s) at most 1/5 of a single POST's, i.e. POST
# resources/s / transaction resources/s <= 0.2 (1 client; 4 clients
# shown too). Prints one table; also appends it to
# bench/results/history.txt, and each run's line to $BENCH_ROWS for
# bench/summary.sh. The server runs with --durability $BENCH_DURABILITY
# (default full).
#
# Before each transaction workload, bench/limit_sql.c (beside INGEST)
# inserts the same clinic resources raw, 1000 per transaction, into a
# fresh file: the limit the summary holds that workload against. On a
# shared 2-core machine a limit measured minutes apart moves by a third,
# so each pair is measured back to back.
set -euo pipefail
server=$1 ingest=$2
limit=$(dirname "$ingest")/limit_sql
entries=${BENCH_ENTRIES:-1000}
bundles=${BENCH_INGEST_BUNDLES:-20}
tx_secs=${BENCH_INGEST_SECONDS:-30}
post_secs=${BENCH_POST_SECONDS:-10}
cd "$(dirname "$0")/.."
. bench/lib.sh
mkdir -p bench/results
# About 1.3 KB an entry: room for 3 KB (the default limit is 8 MiB).
max_body=$((entries * 3072 + 1048576))
max_entries=$((entries > 10000 ? entries : 10000))

dir=$(mktemp -d /tmp/fhir-ingest-bench-XXXXXX)
pid=
stop_server() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
trap 'stop_server; rm -rf "$dir"' EXIT

# raw_before NAME: the raw limit for workload NAME, appended to
# $dir/rows as "name=raw_NAME ..." and emitted as lim_clinic_NAME.
raw_before() {
  [ -x "$limit" ] || return 0
  rm -f "$dir/raw.db" "$dir/raw.db-wal" "$dir/raw.db-shm"
  local out
  out=$("$limit" --db "$dir/raw.db" --source clinic --batch "$entries" \
    --count $((entries * bundles)) --durability "$(durability)" || true)
  rm -f "$dir/raw.db" "$dir/raw.db-wal" "$dir/raw.db-shm"
  [ -n "$out" ] || return 0
  echo "name=raw_$1 $out" >>"$dir/rows"
  emit "lim_clinic_$1" "$out"
}

# run NAME MODE CLIENTS SECONDS: one workload on a fresh server; appends
# "name=NAME <ingest's line> stored=N rss_kb=N" to $dir/rows.
run() {
  local name=$1 mode=$2 clients=$3 secs=$4 port= out stored rss
  rm -f "$dir/ingest.db" "$dir/ingest.db-wal" "$dir/ingest.db-shm"
  "$server" --port 0 --db "$dir/ingest.db" --quiet --max-body "$max_body" \
    --durability "$(durability)" \
    --max-bundle-entries "$max_entries" 2>"$dir/server.log" &
  pid=$!
  port=$(server_port "$dir/server.log" "$pid")
  [ -n "$port" ] || { cat "$dir/server.log"; exit 1; }
  out=$("$ingest" --url "http://127.0.0.1:$port/fhir" --mode "$mode" \
    --clients "$clients" --entries "$entries" --bundles "$bundles" \
    --seconds "$secs" 2>>"$dir/ingest.err" || true)
  [ -n "$out" ] || out="resources=0 errors=1"
  rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  stored=$(sqlite3 "$dir/ingest.db" "SELECT count(*) FROM resource" 2>/dev/null || echo "?")
  stop_server
  echo "name=$name $out stored=$stored rss_kb=${rss:-0}" >>"$dir/rows"
  emit "ingest_$name" "$out stored=$stored rss_kb=${rss:-0}"
}

: >"$dir/rows"
raw_before tx1
run tx1 tx 1 "$tx_secs"
raw_before tx4
run tx4 tx 4 "$tx_secs"
run post1 post 1 "$post_secs"
run post4 post 4 "$post_secs"

row() { grep "^name=$1 " "$dir/rows"; }
rps() { field "$(row "$1")" rps; }
# ratio POST TX: POST resources/s over transaction resources/s.
ratio() {
  awk -v p="$(rps "$1")" -v t="$(rps "$2")" \
    'BEGIN { if (t > 0) printf "%.3f", p / t; else print "-" }'
}
verdict() { awk -v a="$1" -v b="$2" -v op="$3" \
  'BEGIN { ok = op == "ge" ? a >= b : (a != "-" && a <= b); print ok ? "PASS" : "MISS" }'; }

tx1=$(row tx1)
# The mix of a Bundle, on average over the Bundles built.
each() { awk -v n="$(field "$tx1" "$1")" -v b="$bundles" 'BEGIN { printf "%.0f", n / b }'; }
{
  echo "# fhir-server ingest bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, a fresh empty database per workload; transaction Bundles of $entries entries ($(each patients) Patients, $(each servicerequests) ServiceRequests, $(each tasks) Tasks; $(field "$tx1" bundle_kb) KB), up to $bundles Bundles or ${tx_secs}s; POSTs of the same resources for up to ${post_secs}s; p50/p99 per Bundle for transactions, per request for POSTs"
  printf '%-26s %12s %10s %10s %8s %8s %8s\n' workload "resources/s" "p50 ms" "p99 ms" errors stored "RSS MiB"
  for r in "tx1:transaction, 1 client" "tx4:transaction, 4 clients" \
    "post1:POST each, 1 client" "post4:POST each, 4 clients"; do
    line=$(row "${r%%:*}")
    printf '%-26s %12s %10s %10s %8s %8s %8s\n' "${r#*:}" "$(field "$line" rps)" \
      "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" "$(field "$line" errors)" \
      "$(field "$line" stored)" "$(($(field "$line" rss_kb) / 1024))"
  done
  echo "target transaction ingest >= 8000 resources/s (1 client): $(rps tx1) $(verdict "$(rps tx1)" 8000 ge)"
  for n in tx1 tx4; do
    [ -n "$(row "raw_$n")" ] || continue
    echo "raw SQLite just before $n (the same resources, 1000 per transaction): $(rps "raw_$n") resources/s; $n / raw $(ratio "$n" "raw_$n") (target >= 0.6) $(verdict "$(ratio "$n" "raw_$n")" 0.6 ge)"
  done
  echo "target cost per entry in a transaction <= 1/5 of a POST's (POST resources/s / transaction resources/s <= 0.2): 1 client $(ratio post1 tx1) $(verdict "$(ratio post1 tx1)" 0.2 le); 4 clients $(ratio post4 tx4) $(verdict "$(ratio post4 tx4)" 0.2 le)"
} | tee -a bench/results/history.txt
if [ -s "$dir/ingest.err" ]; then
  grep -v '^ingest: .* built in' "$dir/ingest.err" >&2 || true
fi
