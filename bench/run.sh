#!/usr/bin/env bash
# bench/run.sh - `make bench` (and `make bench-limits`): the server's
# figures next to the machine's limits, measured in the same run, and one
# summary table of the ratios (bench/summary.sh).
#
#   bench/run.sh SERVER BENCHDIR
#
# BENCHDIR holds the bench programs (loadgen, gen, ingest, limit_sql,
# limit_http, search_sql) and the search bench's cached databases.
# BENCH_PHASES picks what runs, in this order (default all; make
# bench-limits: "limits"):
#
#   limits  raw SQLite (bench/limit_sql.c): the create workload's Task
#           bodies with their index rows, 1 per transaction for
#           BENCH_SECONDS, and 1000 per transaction (20,000 Tasks); the
#           ingest bench's clinic resources 1000 per transaction (20,000).
#   server  a fresh server: Task creates/s, then reads/s of 2,000 of the
#           Tasks created, then conditional updates/s (PUT with If-Match)
#           of 2,048 of them, each over BENCH_CONNS (32) keep-alive
#           connections for BENCH_SECONDS (10); peak RSS; then, stopped
#           and checkpointed, its disk and JSON bytes.
#   limits  (again, HTTP) CivetWeb with the server's options
#           (bench/limit_http.c) on the server's database (or the raw
#           batch's, without the server phase): a fixed 1.5 KB body and
#           one SQLite read by id, the same ids and connections as the
#           server's reads; the fixed body with 1 client for 3 s (the
#           round trip under every search's latency).
#   group   creates/s with 1, 8 and 32 connections, each on a fresh
#           server with group commit and again with --no-group-commit
#           (BENCH_GROUP_SECONDS each, default 5): what sharing a commit
#           buys (issue 6).
#   ingest  bench/ingest.sh: transaction Bundles of 1000 entries.
#   search  bench/search.sh at BENCH_TASKS Tasks (default 100000), its
#           64-connection peak RSS, bench/search_sql.c's best-order SQL
#           for each query on the same file, and the HTTP floor (a
#           fixed body of bench/limit_http.c, 1 client, 1.5 KB and the
#           size of each query's mean answer): a search's limit is its
#           SQL p99 plus the p99 of the floor of its answer's size.
#
# Every write runs at BENCH_DURABILITY (full, the default, or normal): the
# server's --durability and the raw SQLite synchronous setting. Each
# program's result line goes to a rows file; bench/summary.sh turns it
# into the table (stdout and bench/results/history.txt) and JSON
# (bench/results/bench-<UTC time>.json and latest.json); the rows are kept
# in bench/results/latest-rows.txt (`bench/summary.sh` reprints them). The detail
# tables of ingest.sh and search.sh are printed as they finish.
set -euo pipefail
server=$1 bin=$2
cd "$(dirname "$0")/.."
. bench/lib.sh
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-32}
phases=${BENCH_PHASES:-limits server group ingest search}
dur=$(durability)
mkdir -p bench/results
dir=$(mktemp -d /tmp/fhir-bench-XXXXXX)
export BENCH_ROWS=$dir/rows
: >"$BENCH_ROWS"
pid=
stop() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
trap 'stop; rm -rf "$dir"' EXIT
has() { case " $phases " in *" $1 "*) return 0 ;; esac; return 1; }
# start PROGRAM ARGS...: runs it in the background; sets pid and url.
start() {
  "$@" 2>"$dir/server.log" &
  pid=$!
  local port
  port=$(server_port "$dir/server.log" "$pid")
  [ -n "$port" ] || { cat "$dir/server.log" >&2; exit 1; }
  url="http://127.0.0.1:$port/fhir"
}
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
lg() { "$bin/loadgen" --url "$url" --conns "$conns" --seconds "$secs" "$@" \
  2>>"$dir/loadgen.err" || true; }
ids() { sqlite3 "$1" "SELECT id FROM resource WHERE type = (SELECT code \
  FROM rtype WHERE name = 'Task') ORDER BY $2 LIMIT $3" >"$4"; }

emit run "time=$(date -u +%Y%m%dT%H%M%SZ) cores=$(nproc) durability=$dur \
seconds=$secs conns=$conns tasks=${BENCH_TASKS:-100000} \
phases=$(echo "$phases" | tr ' ' ,)"

if has limits; then
  echo "bench: raw SQLite limits ($dur)" >&2
  raw() { "$bin/limit_sql" --durability "$dur" --seconds "$secs" "$@"; }
  emit lim_sql1 "$(raw --db "$dir/raw1.db" --source tasks --batch 1)"
  emit lim_sql1000 "$(raw --db "$dir/rawb.db" --source tasks --batch 1000 \
    --count 20000)"
  emit lim_clinic1000 "$(raw --db "$dir/rawc.db" --source clinic \
    --batch 1000 --count 20000)"
  rm -f "$dir"/raw1.db* "$dir"/rawc.db*
fi

readdb=$dir/rawb.db
if has server; then
  echo "bench: server creates, reads, conditional updates" >&2
  db=$dir/server.db
  start "$server" --port 0 --db "$db" --quiet --durability "$dur"
  emit srv_create "$(lg --mode create)"
  ids "$db" "random()" 2000 "$dir/read.ids"
  ids "$db" rid 2048 "$dir/update.ids"
  emit srv_read "$(lg --mode read --ids "$dir/read.ids")"
  emit srv_update "$(lg --mode update --ids "$dir/update.ids")"
  emit srv_rss "rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)"
  stop
  # Disk once the WAL is folded in, against every version's JSON.
  sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  emit srv_disk "tasks=$(sqlite3 "$db" "SELECT count(*) FROM resource") \
versions=$(sqlite3 "$db" "SELECT count(*) FROM history") \
db_bytes=$(($(size "$db") + $(size "$db-wal"))) \
json_bytes=$(sqlite3 "$db" "SELECT sum(length(body)) FROM history")"
  readdb=$db
elif has limits; then
  ids "$readdb" "random()" 2000 "$dir/read.ids"
fi

if has limits; then
  echo "bench: CivetWeb limits" >&2
  start "$bin/limit_http" --db "$readdb"
  printf 'fixed\tfixed-1.5k\n' >"$dir/fixed.urls"
  emit lim_fixed "$(lg --mode urls --file "$dir/fixed.urls")"
  # One client: the HTTP round trip under every search's latency.
  emit lim_fixed1 "$("$bin/loadgen" --url "$url" --conns 1 --seconds 3 \
    --mode urls --file "$dir/fixed.urls" || true)"
  emit lim_read "$(lg --mode read --ids "$dir/read.ids")"
  stop
fi
rm -f "$dir"/rawb.db* "$dir"/server.db*

if has group; then
  echo "bench: creates/s with and without group commit" >&2
  gsecs=${BENCH_GROUP_SECONDS:-5}
  {
    echo "# group commit $(date -u +%Y-%m-%dT%H:%M:%SZ): Task creates/s, durability $dur, ${gsecs}s each, fresh server per cell"
    printf '%-8s %22s %22s %8s\n' clients "group commit (p50 ms)" "one commit each (p50)" ratio
    for c in 1 8 32; do
      line=""
      for mode in on off; do
        rm -f "$dir"/group.db*
        flag=""
        [ "$mode" = off ] && flag=--no-group-commit
        start "$server" --port 0 --db "$dir/group.db" --quiet \
          --durability "$dur" $flag
        out=$("$bin/loadgen" --url "$url" --conns "$c" --seconds "$gsecs" \
          --mode create 2>>"$dir/loadgen.err" || true)
        stop
        emit "group_${mode}_$c" "$out"
        line="$line $(field "$out" rps) $(field "$out" p50_ms)"
      done
      set -- $line
      printf '%-8s %13s (%6s) %13s (%6s) %8s\n' "$c" "$1" "$2" "$3" "$4" \
        "$(awk -v a="$1" -v b="$3" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
    done
  } | tee -a bench/results/history.txt
  rm -f "$dir"/group.db*
fi
if has ingest; then
  bench/ingest.sh "$server" "$bin/ingest"
fi
if has search; then
  BENCH_TASKS=${BENCH_TASKS:-100000} bench/search.sh "$server" \
    "$bin/loadgen" "$bin/gen" "$bin" "$bin/search_sql" "$bin/limit_http"
fi
if [ -s "$dir/loadgen.err" ]; then
  head -5 "$dir/loadgen.err" >&2
fi
cp "$BENCH_ROWS" bench/results/latest-rows.txt
bench/summary.sh bench/results/latest-rows.txt
