#!/usr/bin/env bash
# bench/run.sh - the `make bench` workloads: Task creates/s and reads/s
# over keep-alive HTTP with 32 concurrent loopback connections, and the
# server's peak RSS. Bounded in time (BENCH_SECONDS per workload, default
# 10). Prints one table; also appends it to bench/results/history.txt.
set -euo pipefail
server=$1 loadgen=$2
. "$(dirname "$0")/lib.sh"
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-32}
dir=$(mktemp -d /tmp/fhir-bench-XXXXXX)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT

"$server" --port 0 --db "$dir/bench.db" --quiet 2>"$dir/server.log" &
pid=$!
port=$(server_port "$dir/server.log" "$pid")
[ -n "$port" ] || { cat "$dir/server.log"; exit 1; }
url="http://127.0.0.1:$port/fhir"

create=$("$loadgen" --url "$url" --mode create --conns "$conns" --seconds "$secs")
read=$("$loadgen" --url "$url" --mode read --conns "$conns" --seconds "$secs" --seed 2000)
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
tasks=$(sqlite3 "$dir/bench.db" "SELECT count(*) FROM resource" 2>/dev/null || echo "?")
kill $pid; wait $pid 2>/dev/null || true
dbsize=$(du -b "$dir/bench.db" | cut -f1)

{
  echo "# fhir-server bench $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, ${secs}s per workload, $conns keep-alive connections"
  printf '%-26s %12s %10s %10s %8s\n' workload "req/s" "p50 ms" "p99 ms" errors
  printf '%-26s %12s %10s %10s %8s\n' "create Task (POST)" "$(field "$create" rps)" "$(field "$create" p50_ms)" "$(field "$create" p99_ms)" "$(field "$create" errors)"
  printf '%-26s %12s %10s %10s %8s\n' "read Task (GET by id)" "$(field "$read" rps)" "$(field "$read" p50_ms)" "$(field "$read" p99_ms)" "$(field "$read" errors)"
  echo "server peak RSS: $((rss_kb / 1024)) MiB; resources stored: $tasks; database: $((dbsize / 1024 / 1024)) MiB (before checkpoint of WAL)"
} | tee -a bench/results/history.txt
