# bench/lib.sh - shell helpers the bench scripts source (run.sh, search.sh,
# ingest.sh, summary.sh): finding the port of a server started with --port
# 0, reading the key=value result lines of the bench programs, and
# recording them for the summary table.

# server_port LOG PID [TRIES]: the port the server announces in LOG
# ("listening on http://ADDR:PORT/fhir"), polled every 20 ms up to TRIES
# times (default 500, 10 s); empty when the server exits or is slower.
server_port() {
  local log=$1 pid=$2 tries=${3:-500} port=
  for _ in $(seq 1 "$tries"); do
    port=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\)\/fhir.*/\1/p' "$log")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  echo "$port"
}

# field LINE KEY: the value of KEY= in a line of key=value pairs.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# emit NAME LINE: records a result line as "name=NAME LINE" in
# $BENCH_ROWS, the file bench/summary.sh reads (nothing when unset, as
# when a script runs alone).
emit() {
  [ -n "${BENCH_ROWS:-}" ] || return 0
  echo "name=$1 $2" >>"$BENCH_ROWS"
}

# durability: the server's --durability for every write workload, and
# the raw SQLite limit's (BENCH_DURABILITY, default full).
durability() { echo "${BENCH_DURABILITY:-full}"; }
