#!/usr/bin/env bash
# Lua scripting, FlashDB against Redis 7 side by side (issue 19): EVALSHA of a small
# rate-limiter script (INCR + PEXPIRE + compare) and of a script that increments 10 keys,
# with redis-benchmark (50 clients, random keys, no persistence on either side, each
# server pinned to one core, median of RUNS alternating runs).
#
#   scripts/bench-scripting.sh            RUNS=5 REQUESTS=300000 scripts/bench-scripting.sh
set -euo pipefail
set -f
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-200000}
PIPELINE=${PIPELINE:-1}
FP=17540
RP=17541

bench_setup

start_memory_pair $FP $RP

LIMITER="local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return 0 end
return 1"
TEN="for i = 1, #KEYS do redis.call('INCR', KEYS[i]) end
return #KEYS"
for port in $FP $RP; do
  L=$(redis-cli -p $port script load "$LIMITER")
  T=$(redis-cli -p $port script load "$TEN")
done
keys10=""
for i in $(seq 1 10); do keys10="$keys10 k$i:__rand_int__"; done

one() { # port command...
  local port=$1; shift
  taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -n "$REQUESTS" -c 50 -P "$PIPELINE" -r 100000 --csv "$@" \
    | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2 }'
}

echo "== redis-benchmark, 50 clients, pipeline $PIPELINE, $REQUESTS requests, no persistence (median of $RUNS alternating runs)"
printf "%-34s %12s %12s %7s\n" test flashdb_rps redis_rps ratio
for t in "EVALSHA rate limiter|EVALSHA $L 1 rl:__rand_int__ 100 60000" \
         "EVALSHA 10 keys|EVALSHA $T 10$keys10"; do
  name=${t%%|*}; cmd=${t#*|}
  f=(); r=()
  for _ in $(seq 1 "$RUNS"); do
    # shellcheck disable=SC2086
    f+=("$(one $FP $cmd)"); r+=("$(one $RP $cmd)")
  done
  fm=$(printf '%s\n' "${f[@]}" | median); rm_=$(printf '%s\n' "${r[@]}" | median)
  printf "%-34s %12s %12s %7s\n" "$name" "$fm" "$rm_" "$(ratio "$fm" "$rm_")"
done
