#!/usr/bin/env bash
# Streams, FlashDB against Redis 7 side by side (issue 19): XADD and XRANGE throughput
# with redis-benchmark (50 clients, no persistence on either side, each server pinned to
# one core, median of RUNS alternating runs), and the memory 1,000,000 entries of three
# small fields take in each.
#
#   scripts/bench-streams.sh            RUNS=5 REQUESTS=300000 scripts/bench-streams.sh
set -euo pipefail
# The commands hold `*` (XADD's id): no globbing when they are split into words.
set -f
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-200000}
ENTRIES=${ENTRIES:-1000000}
FP=17530
RP=17531

bench_setup

start_memory_pair $FP $RP

one() { # port command...
  local port=$1; shift
  taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -n "$REQUESTS" -c 50 --csv "$@" \
    | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2 }'
}
# A stream of 10,000 entries for the reads.
awk 'BEGIN { for (i = 1; i <= 10000; i++) printf "XADD r %d-1 field1 value%d field2 %d field3 x\n", i, i, i }' \
  > "$WORK/r.txt"
for port in $FP $RP; do redis-cli -p $port < "$WORK/r.txt" >/dev/null; done

echo "== redis-benchmark, 50 clients, $REQUESTS requests, no persistence (median of $RUNS alternating runs)"
printf "%-34s %12s %12s %7s\n" test flashdb_rps redis_rps ratio
for t in "XADD * (3 fields)|XADD w * field1 value1 field2 value2 field3 value3" \
         "XADD MAXLEN ~ 1000|XADD t MAXLEN ~ 1000 * field1 value1" \
         "XRANGE COUNT 10|XRANGE r - + COUNT 10" \
         "XREVRANGE COUNT 10|XREVRANGE r + - COUNT 10" \
         "XLEN|XLEN r"; do
  name=${t%%|*}; cmd=${t#*|}
  f=(); r=()
  for _ in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    f+=("$(one $FP $cmd)"); r+=("$(one $RP $cmd)")
  done
  fm=$(printf '%s\n' "${f[@]}" | median); rm_=$(printf '%s\n' "${r[@]}" | median)
  printf "%-34s %12s %12s %7s\n" "$name" "$fm" "$rm_" "$(ratio "$fm" "$rm_")"
done

echo "== memory of $ENTRIES entries of three small fields (used_memory difference)"
awk -v n="$ENTRIES" 'BEGIN { for (i = 1; i <= n; i++) printf "XADD m %d-1 name user%d age %d city c%d\r\n", i, i, i % 90, i % 500 }' \
  > "$WORK/m.txt"
for port in $FP $RP; do
  before=$(used_memory $port)
  redis-cli -p $port --pipe < "$WORK/m.txt" >/dev/null
  after=$(used_memory $port)
  printf "%-8s %12s bytes  (%s per entry)\n" "$([ $port = $FP ] && echo flashdb || echo redis)" \
    "$((after - before))" "$(awk -v d=$((after - before)) -v n="$ENTRIES" 'BEGIN {printf "%.1f", d / n}')"
done
