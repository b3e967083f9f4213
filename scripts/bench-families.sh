#!/usr/bin/env bash
# Bitmaps, HyperLogLog, geo and SORT, FlashDB against Redis 7 side by side (issue 20's
# measurements): redis-benchmark with 50 clients and no persistence on either side,
# each server pinned to one core, median of RUNS alternating runs.
#
#   scripts/bench-families.sh            RUNS=5 REQUESTS=200000 scripts/bench-families.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-100000}
FP=17510
RP=17511

bench_setup

start_memory_pair $FP $RP

# redis-benchmark writes __rand_int__ with leading zeros, which no offset may have: the
# bit commands take it in the key (bitmaps of 125 bytes) and a fixed offset.
# The data the read benchmarks work on, identical on both servers: a 1 Mbit bitmap with
# every third bit set, an HLL of 100,000 elements, 100,000 positions around Sicily, and
# a list of 1,000 random numbers.
awk 'BEGIN {
  srand(7)
  for (i = 0; i < 1000000; i += 3) printf "SETBIT bits %d 1\n", i
  for (i = 0; i < 100000; i += 100) {
    printf "PFADD hll"; for (j = i; j < i + 100; j++) printf " e%d", j; printf "\n"
  }
  for (i = 0; i < 100000; i++) printf "GEOADD geo %.6f %.6f p%d\n", 12 + rand() * 4, 36.5 + rand() * 2, i
  printf "RPUSH list"; for (i = 0; i < 1000; i++) printf " %d", int(rand() * 1000000); printf "\n"
}' > "$WORK/load.txt"
for port in $FP $RP; do redis-cli -p $port < "$WORK/load.txt" >/dev/null; done

TESTS=(
  "SETBIT|SETBIT bits:__rand_int__ 999 1"
  "GETBIT|GETBIT bits:__rand_int__ 999"
  "BITCOUNT 125 KB|BITCOUNT bits"
  "PFADD|PFADD hll2 __rand_int__"
  "PFCOUNT (cached)|PFCOUNT hll"
  "PFCOUNT 2 keys|PFCOUNT hll hll2"
  "GEOADD|GEOADD geo2 13.361389 38.115556 __rand_int__"
  "GEOSEARCH 5 km COUNT 10|GEOSEARCH geo FROMLONLAT 14 37.5 BYRADIUS 5 km ASC COUNT 10"
  "GEOSEARCH 2 km all|GEOSEARCH geo FROMLONLAT 14 37.5 BYRADIUS 2 km"
  "SORT 1,000 numbers|SORT list"
)
one() { # port command...
  local port=$1; shift
  taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -n "$REQUESTS" -c 50 -r 1000000 --csv "$@" \
    | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2 }'
}
echo "== redis-benchmark, 50 clients, $REQUESTS requests, no persistence (median of $RUNS alternating runs)"
printf "%-26s %12s %12s %7s\n" test flashdb_rps redis_rps ratio
for t in "${TESTS[@]}"; do
  name=${t%%|*}; cmd=${t#*|}
  f=(); r=()
  for _ in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    f+=("$(one $FP $cmd)"); r+=("$(one $RP $cmd)")
  done
  fm=$(printf '%s\n' "${f[@]}" | median); rm_=$(printf '%s\n' "${r[@]}" | median)
  printf "%-26s %12s %12s %7s\n" "$name" "$fm" "$rm_" "$(ratio "$fm" "$rm_")"
done
