#!/usr/bin/env bash
# bench/search.sh - the search part of `make bench`: p50/p99 latency of the
# issues' searches (Task filters and sorts, then _include, _revinclude
# :iterate over 1,000-Task trees and _has) over keep-alive HTTP, 1 client
# then 16, against a generated clinic of BENCH_TASKS Tasks (default 100000;
# the issues' targets are stated for 1000000).
#
#   bench/search.sh SERVER LOADGEN GEN CACHEDIR [SEARCH_SQL [LIMIT_HTTP]]
#
# The database comes from bench/gen.c and is cached in CACHEDIR, keyed by
# task count, seed (BENCH_SEED, default 1) and a hash of bench/gen.c and
# bench/clinic.{c,h}, so a rerun skips generation (delete
# CACHEDIR/search-* after a change to the index schema). Each query runs
# BENCH_SEARCH_SECONDS (default 3) per client count, after BENCH_WARMUP s
# (default 0.5) untimed; a request is given up after BENCH_TIMEOUT s
# (default 60), and 16 clients are skipped when 1 client failed or had a
# p50 over BENCH_SLOW_MS (default 2000). Every request says Prefer:
# handling=strict, so a parameter the server does not support yet (_has,
# today) is a 400, counted in the errors column, rather than a fast answer
# to another question. Where gen wrote an "#expect" line for a query, each answer's
# entries and total are checked against the data (WRONG otherwise).
# Then, on the same server, 64 keep-alive connections for
# BENCH_RSS_SECONDS (default 5) take every path of the file and reads of
# Tasks in turn: the server's peak RSS (VmHWM, over the whole run) is
# reported with 64 connections open. Right after each query's 1-client
# run, with the server idle, its limits are measured for the same
# BENCH_SEARCH_SECONDS: with SEARCH_SQL (bench/search_sql) its best-order
# SQL on the same database file, in-process; with LIMIT_HTTP
# (bench/limit_http, started beside the server) the HTTP floor, CivetWeb
# with the server's options returning a fixed body over one keep-alive
# connection as large as the query's mean answer (loadgen's bytes=); the
# floor for 1.5 KB is measured once before the queries.
#
# The limit of a search (bench/summary.sh) is its best-order SQL p99 plus
# the p99 of the floor of its answer's size, both from this run: an answer
# over HTTP cannot come faster than its SQL plus one round trip carrying
# its bytes. For a query whose SQL takes microseconds the SQL alone would
# measure the round trip, not the server's work; for the 1,000-Task tree
# (1.4 MB) moving the bytes takes about as long as its SQL. The same sum
# applies to every query.
# Prints one table, plus load time, database size and stored JSON bytes;
# also appends it to bench/results/history.txt, and every result line to
# $BENCH_ROWS for bench/summary.sh.
set -euo pipefail
server=$1 loadgen=$2 gen=$3 cache=$4 search_sql=${5:-} limit_http=${6:-}
tasks=${BENCH_TASKS:-100000}
seed=${BENCH_SEED:-1}
secs=${BENCH_SEARCH_SECONDS:-3}
cd "$(dirname "$0")/.." # gen reads profiles/definitions
. bench/lib.sh
mkdir -p "$cache" bench/results

key="search-$tasks-s$seed-$(cat bench/gen.c bench/clinic.c bench/clinic.h | sha1sum | cut -c1-8)"
db="$cache/$key.db"
if [ ! -s "$cache/$key.gen" ] || [ ! -s "$db" ]; then
  # Older data for the same size and seed is stale now.
  rm -f "$cache/search-$tasks-s$seed-"*
  echo "search bench: generating $tasks Tasks (seed $seed) into $db" >&2
  rm -f "$db.tmp" "$db.tmp-wal" "$db.tmp-shm"
  "$gen" --db "$db.tmp" --tasks "$tasks" --seed "$seed" \
    --urls "$cache/$key.urls" >"$cache/$key.gen.tmp"
  mv "$db.tmp" "$db"
  mv "$cache/$key.gen.tmp" "$cache/$key.gen"
fi
genline=$(cat "$cache/$key.gen")

dir=$(mktemp -d /tmp/fhir-search-bench-XXXXXX)
pid=
rss_kb=0
stop_server() {
  [ -n "$pid" ] || return 0
  local kb
  kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
  [ "${kb:-0}" -gt "$rss_kb" ] && rss_kb=$kb
  # SIGTERM waits for requests in flight; a runaway query gets SIGKILL
  # after 5 s (the server only reads here).
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 250); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
fpid= # the HTTP floor's (bench/limit_http)
stop_floor() {
  [ -n "$fpid" ] || return 0
  kill "$fpid" 2>/dev/null || true
  wait "$fpid" 2>/dev/null || true
  fpid=
}
cleanup() { stop_server; stop_floor; rm -rf "$dir"; }
trap cleanup EXIT

start_server() {
  "$server" --port 0 --db "$db" --quiet 2>"$dir/server.log" &
  pid=$!
  # up to 15 min: a database from an older schema is reindexed first
  port=$(server_port "$dir/server.log" "$pid" 45000)
  [ -n "$port" ] || { cat "$dir/server.log"; exit 1; }
  url="http://127.0.0.1:$port/fhir"
}

slow_ms=${BENCH_SLOW_MS:-2000}
timeout=${BENCH_TIMEOUT:-60}
warmup=${BENCH_WARMUP:-0.5}

# target LABEL: the p50 and p99 limits of a query in ms ("-": none), as
# its issue states them.
target() {
  case $1 in
  *_revinclude* | *_include=*) echo "10 -" ;;
  *_has:*) echo "50 -" ;;
  *) echo "5 25" ;;
  esac
}

# expected LABEL: gen's "entries=LO-HI total=T" for LABEL, or nothing.
expected() {
  awk -F'\t' -v l="$1" '$1 == "#expect" && $2 == l { print $3 }' "$cache/$key.urls"
}

# fits LINE EXPECT: whether a loadgen line's mean entries per answer lie in
# EXPECT's range and its total (when the server gave one) is EXPECT's.
fits() {
  local e t got
  e=$(field "$2" entries) t=$(field "$2" total) got=$(field "$1" total)
  awk -v a="$(field "$1" entries)" -v lo="${e%-*}" -v hi="${e#*-}" \
    'BEGIN { exit !(a >= lo && a <= hi) }' || return 1
  [ "$got" = "-" ] || [ -z "$t" ] || [ "$got" = "$t" ]
}

# Each query on its own: 1 client, then 16 unless 1 client was already
# slower than BENCH_SLOW_MS at p50 (16 would only queue behind it) or
# failed. A request over BENCH_TIMEOUT s is a timeout, and the server is
# restarted so the abandoned query does not slow the next ones; an HTTP
# error (a 400 for what the server does not support) needs no restart.
# The limits are measured beside the server (idle meanwhile) and each
# query's right after its own 1-client run, so a limit and the figure it
# judges come from the same minute on this shared machine: the HTTP floor
# (bench/limit_http, CivetWeb with the server's options returning a fixed
# body, 1 client) for 1.5 KB once, then per query for a body the size of
# its mean answer (moving the answer's bytes is part of the floor: a
# 1,000-Task tree is 1.4 MB), and the query's best-order SQL.
fport=
if [ -n "$limit_http" ]; then
  "$limit_http" --db "$db" 2>"$dir/floor.log" &
  fpid=$!
  fport=$(server_port "$dir/floor.log" "$fpid")
fi
if [ -n "$fport" ]; then
  printf 'floor\tfixed-1.5k\n' >"$dir/floor.urls"
  emit search_floor "$("$loadgen" --url "http://127.0.0.1:$fport/fhir" \
    --mode urls --file "$dir/floor.urls" --conns 1 --seconds "$secs" \
    --warmup "$warmup" 2>>"$dir/loadgen.err" || true)"
fi
# limits_of LABEL LINE: the limits of the query of $dir/group.urls, whose
# 1-client loadgen line is LINE.
limits_of() {
  local b
  if [ -n "$search_sql" ]; then
    "$search_sql" --db "$db" --urls "$dir/group.urls" --seconds "$secs" \
      --warmup "$warmup" 2>>"$dir/loadgen.err" |
      while IFS= read -r line; do emit sql "$line"; done || true
  fi
  b=$(field "$2" bytes)
  if [ -n "$fport" ] && [ -n "$b" ] && [ "$b" -ge 64 ] 2>/dev/null; then
    printf '%s\tfixed/%s\n' "$1" "$b" >"$dir/sized.urls"
    emit search_floor_sized "$("$loadgen" --url "http://127.0.0.1:$fport/fhir" \
      --mode urls --file "$dir/sized.urls" --conns 1 --seconds "$secs" \
      --warmup "$warmup" 2>>"$dir/loadgen.err" || true)"
  fi
}

start_server
: >"$dir/rows"
: >"$dir/notes"
grep -v '^#' "$cache/$key.urls" | cut -f1 | awk '!seen[$0]++' >"$dir/labels"
while IFS= read -r label; do
  awk -F'\t' -v l="$label" '$1 == l' "$cache/$key.urls" >"$dir/group.urls"
  for c in 1 16; do
    out=$("$loadgen" --url "$url" --mode urls --file "$dir/group.urls" \
      --conns "$c" --seconds "$secs" --warmup "$warmup" --timeout "$timeout" \
      --header "Prefer: handling=strict" 2>"$dir/loadgen.err" || true)
    [ -n "$out" ] || out="requests=0 errors=1 timeouts=0 bad_status=0 label=$label"
    echo "clients=$c $out" >>"$dir/rows"
    emit search "clients=$c $out"
    [ "$c" = 1 ] && limits_of "$label" "$out"
    if [ "$(field "$out" errors)" != 0 ]; then
      bad=$(field "$out" bad_status)
      if [ "$(field "$out" timeouts)" = 0 ] && [ "${bad:-0}" != 0 ]; then
        diag=$(sed -n 's/.*"diagnostics":"\([^"]*\)".*/\1/p' "$dir/loadgen.err" | head -1)
        echo "$label: HTTP $bad: ${diag:-$(head -c 300 "$dir/loadgen.err")}" >>"$dir/notes"
        [ "$c" = 1 ] && echo "clients=16 skipped=errors label=$label" >>"$dir/rows"
        [ "$c" = 1 ] && emit search "clients=16 skipped=errors label=$label"
        break
      fi
      stop_server
      start_server
      [ "$c" = 1 ] && echo "clients=16 skipped=timeout label=$label" >>"$dir/rows"
      [ "$c" = 1 ] && emit search "clients=16 skipped=timeout label=$label"
      break
    fi
    if [ "$c" = 1 ] && awk -v a="$(field "$out" p50_ms)" -v s="$slow_ms" 'BEGIN { exit !(a > s) }'; then
      echo "clients=16 skipped=slow label=$label" >>"$dir/rows"
      emit search "clients=16 skipped=slow label=$label"
      break
    fi
  done
done <"$dir/labels"

# 64 connections open at once, searching and reading: the peak RSS.
conns64=${BENCH_RSS_CONNS:-64}
{
  grep -v '^#' "$cache/$key.urls" | cut -f2 | sed 's/^/mixed\t/'
  ntask=$(field "$genline" tasks)
  for i in $(seq 1 512); do
    printf 'mixed\tTask/task-%07d\n' $((1 + (i * 7919) % ntask))
  done
} >"$dir/mixed.urls"
mixed=$("$loadgen" --url "$url" --mode urls --file "$dir/mixed.urls" \
  --conns "$conns64" --seconds "${BENCH_RSS_SECONDS:-5}" --timeout "$timeout" \
  2>>"$dir/loadgen.err" || true)
emit search_mixed "$mixed"
stop_server
stop_floor
emit search_rss "rss_kb=$rss_kb conns=$conns64 tasks=$(field "$genline" tasks)"
emit search_gen "$genline"
mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
{
  echo "# fhir-server search bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(field "$genline" tasks) Tasks (seed $seed), ${secs}s per query and client count after ${warmup}s warm-up; $(grep -vc '^#' "$cache/$key.urls") paths, X = ids drawn from the data, ROOT = roots of $(field "$genline" trees) trees of 1000 Tasks"
  printf '%7s %8s %8s %8s %11s %9s %6s %7s  %s\n' clients "p50 ms" "p99 ms" "req/s" hits errors target verdict query
  miss=0 rows=0 failed=0 wrong=0
  while IFS= read -r line; do
    label=$(field "$line" label)
    c=$(field "$line" clients) p50=$(field "$line" p50_ms) p99=$(field "$line" p99_ms)
    rps=$(field "$line" rps) hits=$(field "$line" total) errs=$(field "$line" errors)
    read -r t50 t99 <<<"$(target "$label")"
    exp=$(expected "$label")
    # What gen's check is about (entries) is shown rather than total.
    if [ "$hits" = "-" ] || [ -n "$exp" ]; then
      hits="$(field "$line" entries)/page"
    fi
    rows=$((rows + 1))
    verdict=ok
    if [ "$(field "$line" skipped)" = errors ]; then
      p50=- p99=- rps=- hits="(errors)" errs=- verdict=SKIP
    elif [ -n "$(field "$line" skipped)" ]; then
      p50=- p99=- rps=- hits="($(field "$line" skipped))" errs=-
      verdict=MISS miss=$((miss + 1))
      [ "$(field "$line" skipped)" = timeout ] && verdict=SKIP
    elif [ "$errs" != 0 ] && [ "$(field "$line" timeouts)" = 0 ] && [ "$(field "$line" bad_status)" != 0 ]; then
      p50=- p99=- rps=- hits=- errs="$errs($(field "$line" bad_status))"
      verdict=ERROR failed=$((failed + 1))
    elif [ "$errs" != 0 ]; then
      p50=">${timeout}000" p99=- hits=- errs="$errs(t/o)" verdict=TIMEOUT miss=$((miss + 1))
    elif [ -n "$exp" ] && ! fits "$line" "$exp"; then
      verdict=WRONG wrong=$((wrong + 1))
      echo "$label: $c clients: expected $exp, answers had entries=$(field "$line" entries) total=$(field "$line" total)" >>"$dir/notes"
    elif awk -v a="$p50" -v b="$p99" -v x="$t50" -v y="$t99" \
      'BEGIN { exit !(a > x || (y != "-" && b > y)) }'; then
      verdict=MISS miss=$((miss + 1))
    fi
    printf '%7s %8s %8s %8s %11s %9s %6s %7s  %s\n' "$c" "$p50" "$p99" "$rps" "$hits" "$errs" "$t50/$t99" "$verdict" "$label"
  done <"$dir/rows"
  dbb=$(field "$genline" db_bytes) jb=$(field "$genline" json_bytes)
  echo "targets (p50/p99 ms): 5/25, _include and _revinclude 10/-, _has 50/- (p99 shown): $miss of $rows rows miss, $failed answer errors, $wrong WRONG (entries or total not what the data holds); 16 clients skipped when 1 client has p50 > $slow_ms ms, errors, or timed out after $timeout s"
  sed 's/^/  note: /' "$dir/notes"
  echo "load: $(field "$genline" resources) resources ($(field "$genline" tasks) Tasks, $(field "$genline" patients) Patients, $(field "$genline" servicerequests) ServiceRequests, $(field "$genline" practitioners) Practitioners) in $(field "$genline" load_s) s = $(field "$genline" rps) resources/s (srv_bulk, batch 10000)"
  echo "database: $(mib "$dbb") ($dbb bytes); JSON stored: $(mib "$jb") ($jb bytes); disk/JSON ratio $(field "$genline" ratio) (target <= 3); server peak RSS $((rss_kb / 1024)) MiB (with $conns64 connections reading and searching for the last ${BENCH_RSS_SECONDS:-5}s: $(field "$mixed" rps) req/s, $(field "$mixed" errors) errors)"
} | tee -a bench/results/history.txt
