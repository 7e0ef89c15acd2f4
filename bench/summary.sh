#!/usr/bin/env bash
# bench/summary.sh - the one table of a `make bench` run: each server
# figure next to the limit measured in the same run, the ratio
# server/limit and the issue's target for it, PASS or MISS.
#
#   bench/summary.sh ROWS
#
# ROWS is the file bench/run.sh collects: one "name=NAME key=value ..."
# line per measurement (lib.sh's emit). Prints the table to stdout and
# appends it to bench/results/history.txt; writes the table and every
# measurement as JSON to bench/results/bench-<UTC time>.json and copies
# it to bench/results/latest.json. A figure whose measurement did not run
# (BENCH_PHASES) is left out.
set -euo pipefail
set -f # labels hold '?'
rows=$1
cd "$(dirname "$0")/.."
. bench/lib.sh
mkdir -p bench/results

# get NAME KEY [MATCH]: KEY of the first row NAME (containing MATCH).
get() {
  local line
  line=$(grep -F "name=$1 " "$rows" | grep -F -- "${3:-}" | head -1 || true)
  [ -n "$line" ] && field "$line" "$2" || true
}
have() { grep -q "^name=$1 " "$rows"; }
run=$(grep '^name=run ' "$rows" | head -1)
when=$(field "$run" time)
tasks=$(field "$run" tasks)

# ratio A B [SCALE]: A/B to 2 places, "-" when either is missing or B is 0.
ratio() {
  awk -v a="${1:--}" -v b="${2:--}" 'BEGIN {
    if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-";
    else printf "%.2f", a / b }'
}
# verdict RATIO TARGET: PASS or MISS for a target like ">= 1.5" / "<= 2".
verdict() {
  awk -v r="$1" -v t="$2" 'BEGIN {
    if (r == "-" || t == "-") { print "-"; exit }
    split(t, p, " ");
    ok = p[1] == ">=" ? r + 0 >= p[2] + 0 : r + 0 <= p[2] + 0;
    print ok ? "PASS" : "MISS" }'
}
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

table=$(mktemp /tmp/fhir-bench-summary-XXXXXX)
json=$(mktemp /tmp/fhir-bench-json-XXXXXX)
trap 'rm -f "$table" "$json"' EXIT
: >"$json"
# out SERVER LIMIT TARGET FIGURE LIMIT_IS [VERDICT [JSON]]: one row of
# the table; JSON, when given, is more "key": value pairs for its object.
out() {
  local r v
  r=$(ratio "$1" "$2")
  v=${6:-$(verdict "$r" "$3")}
  printf '%10s %10s %7s %7s %8s  %s [%s]\n' "${1:--}" "${2:--}" "$r" \
    "$(echo "$3" | tr -d ' ')" "$v" "$4" "$5" >>"$table"
  [ -s "$json" ] && echo "," >>"$json"
  printf '    {"figure": %s, "server": %s, "limit": %s, "limit_is": %s, "ratio": %s, "target": %s, "verdict": %s%s}' \
    "$(jstr "$4")" "$(jstr "${1:--}")" "$(jstr "${2:--}")" "$(jstr "$5")" \
    "$(jstr "$r")" "$(jstr "$3")" "$(jstr "$v")" "${7:+, $7}" >>"$json"
}
# ms NAME [MORE]: " (p50 x ms, p99 y ms[; MORE])" of row NAME, if it ran.
ms() {
  have "$1" || return 0
  echo " (p50 $(get "$1" p50_ms) ms, p99 $(get "$1" p99_ms) ms${2:+; $2})"
}

c=$(field "$run" conns)
raw1="raw SQLite, 1 Task per transaction"
if have srv_create || have lim_sql1; then
  out "$(get srv_create rps)" "$(get lim_sql1 rps)" ">= 1.5" \
    "creates/s, $c connections$(ms srv_create)" "$raw1"
fi
if have srv_read || have lim_read; then
  out "$(get srv_read rps)" "$(get lim_read rps)" ">= 0.8" \
    "reads/s, $c connections$(ms srv_read)" \
    "CivetWeb handler, one SQLite read by id"
  out "$(get srv_read rps)" "$(get lim_fixed rps)" "-" \
    "reads/s, $c connections" "CivetWeb handler, fixed 1.5 KB body"
fi
if have srv_update || have lim_sql1; then
  out "$(get srv_update rps)" "$(get lim_sql1 rps)" "-" \
    "conditional updates/s (If-Match), $c connections$(ms srv_update "412s: $(get srv_update precond_failed), errors: $(get srv_update errors)")" \
    "$raw1"
fi
if have lim_fixed1; then
  out "-" "$(get lim_fixed1 p99_ms)" "-" \
    "HTTP round trip p99 ms, 1 client (p50 $(get lim_fixed1 p50_ms))" \
    "CivetWeb handler, fixed 1.5 KB body"
fi
if have lim_sql1000; then
  out "-" "$(get lim_sql1000 rps)" "-" "Task inserts/s in batches" \
    "raw SQLite, 1000 Tasks per transaction"
fi
for n in 1 4; do
  # The raw run just before the workload (bench/ingest.sh), else the
  # limits phase's.
  lim=lim_clinic1000 paired=""
  if have "lim_clinic_tx$n"; then
    lim="lim_clinic_tx$n" paired=", run just before"
  fi
  if have "ingest_tx$n" || have "$lim"; then
    out "$(get "ingest_tx$n" rps)" "$(get "$lim" rps)" ">= 0.6" \
      "ingest resources/s, transaction Bundles of 1000, $n client(s)" \
      "raw SQLite, the same clinic resources 1000 per transaction$paired"
  fi
done
# Searches: the server's p99 with 1 client against its limit, the
# best-order SQL's p99 plus the HTTP floor's for a body the size of the
# query's mean answer (bench/search.sh: a search over HTTP cannot beat its
# SQL plus one round trip carrying its bytes).
floor=$(get search_floor p99_ms)
if have search_floor; then
  out "-" "$floor" "-" \
    "HTTP floor p99 ms, 1 client, search phase (p50 $(get search_floor p50_ms))" \
    "CivetWeb handler, fixed 1.5 KB body"
fi
{ grep '^name=sql ' "$rows" || true; } | while IFS= read -r line; do
  label=$(field "$line" label)
  srv=$(grep -F "name=search clients=1 " "$rows" | grep -F " label=$label" | tail -1 || true)
  s99=$(field "$srv" p99_ms) s50=$(field "$srv" p50_ms)
  [ "$(field "$srv" errors)" = 0 ] || s99=-
  q99=$(field "$line" p99_ms)
  # The floor of an answer of this query's size when measured, else the
  # 1.5 KB one.
  sized=$(grep -F "name=search_floor_sized " "$rows" | grep -F " label=$label" | tail -1 || true)
  f99=$(field "$sized" p99_ms) fsz=$(field "$sized" bytes)
  if [ -n "$f99" ] && [ "$(field "$sized" errors)" = 0 ]; then
    fname="floor p99 $f99 for ${fsz} bytes"
  else
    f99=$floor fname="floor p99 ${floor:--}" fsz=
  fi
  lim=$(awk -v a="${q99:--}" -v b="${f99:--}" 'BEGIN {
    if (a == "-" || b == "-" || a == "" || b == "") print "-";
    else printf "%.3f", a + b }')
  out "${s99:--}" "$lim" "<= 2" \
    "search p99 ms, 1 client (p50 $s50; SQL p99 ${q99:--} + $fname): $label" \
    "best-order SQL in-process + HTTP floor of the answer's size" "" \
    "\"sql_p99\": $(jstr "${q99:--}"), \"floor_p99\": $(jstr "${f99:--}"), \"floor_bytes\": $(jstr "${fsz:--}")"
done
if have search_rss; then
  mib=$(($(get search_rss rss_kb) / 1024))
  v=
  [ "${tasks:-0}" -ge 1000000 ] || v="(report)"
  out "$mib" 128 "<= 1" \
    "peak RSS MiB, searches then $(get search_rss conns) keep-alive connections reading and searching, $(get search_rss tasks) Tasks" \
    "128 MiB" "$v"
fi
if have srv_rss; then
  out "$(($(get srv_rss rss_kb) / 1024))" 128 "-" \
    "peak RSS MiB, creates, reads and updates over $c connections" "128 MiB"
fi
# disk NAME PER WHAT: disk against JSON bytes of row NAME, and disk
# bytes per its PER count (tasks or versions), WHAT describing it.
disk() {
  have "$1" || return 0
  out "$(get "$1" db_bytes)" "$(get "$1" json_bytes)" "<= 3" \
    "disk bytes, $3" "JSON bytes stored"
  out "$(awk -v b="$(get "$1" db_bytes)" -v t="$(get "$1" "$2")" \
    'BEGIN { if (t > 0) printf "%.0f", b / t; else print "-" }')" "-" "-" \
    "database bytes per ${2%s}, $3" "-"
}
disk search_gen tasks "generated clinic of $(get search_gen tasks) Tasks, \
$(get search_gen resources) resources (all counted per Task)"
disk srv_disk versions "server after creates and updates: \
$(get srv_disk tasks) Tasks, $(get srv_disk versions) versions, checkpointed"

{
  echo "# fhir-server bench summary $when: $(field "$run" cores) cores, durability $(field "$run" durability), $(field "$run" seconds)s per workload, $c connections, search at $tasks Tasks; phases $(field "$run" phases)"
  printf '%10s %10s %7s %7s %8s  %s\n' server limit ratio target verdict "figure [limit]"
  cat "$table"
  pass=$(grep -c ' PASS  ' "$table" || true)
  miss=$(grep -c ' MISS  ' "$table" || true)
  echo "targets: $pass PASS, $miss MISS (ratio = server / limit; verdicts only where the issue sets a target)"
} | tee -a bench/results/history.txt

out_json=bench/results/bench-$when.json
{
  echo "{"
  echo "  \"time\": $(jstr "$when"),"
  for k in cores durability seconds conns tasks phases; do
    echo "  \"$k\": $(jstr "$(field "$run" "$k")"),"
  done
  echo "  \"table\": ["
  cat "$json"
  echo
  echo "  ],"
  echo "  \"measurements\": ["
  n=0
  while IFS= read -r line; do
    [ $n -gt 0 ] && echo ","
    n=$((n + 1))
    printf '    {'
    first=1
    for kv in $line; do
      [ $first = 1 ] || printf ', '
      first=0
      printf '%s: %s' "$(jstr "${kv%%=*}")" "$(jstr "${kv#*=}")"
    done
    printf '}'
  done <"$rows"
  echo
  echo "  ]"
  echo "}"
} >"$out_json"
cp "$out_json" bench/results/latest.json
echo "bench: JSON in $out_json" >&2
