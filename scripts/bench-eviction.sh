#!/usr/bin/env bash
# Writes under maxmemory, FlashDB against Redis 7 side by side (issue 20): both servers
# at the same limit and policy, no persistence on either side, each pinned to one core,
# filled past the limit first so that every measured write evicts. redis-benchmark SET
# of 256-byte values over 10 million random keys with 50 clients; median of RUNS
# alternating runs per policy. Also reports how many keys each holds at the limit.
#
#   scripts/bench-eviction.sh           RUNS=5 REQUESTS=500000 scripts/bench-eviction.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-300000}
LIMIT=${LIMIT:-64mb}
FP=17520
RP=17521

bench_setup

VALUE=$(head -c 256 /dev/zero | tr '\0' v)
one() { # port
  taskset -c "$LOAD_CPU" redis-benchmark -p "$1" -n "$REQUESTS" -c 50 -r 10000000 --csv \
      SET key:__rand_int__ "$VALUE" \
    | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2 }'
}
stat() { # port field
  redis-cli -p "$1" info all | awk -F: -v f="$2" '$1 == f {print $2}' | tr -d '\r'
}
echo "== SET of 256 B values under maxmemory $LIMIT, 50 clients, $REQUESTS requests per run, no persistence"
printf "%-16s %12s %12s %7s %12s %12s %10s %10s\n" policy flashdb_rps redis_rps ratio \
  flashdb_keys redis_keys flash_rss redis_rss
for policy in allkeys-lru allkeys-lfu allkeys-random; do
  start_flash $FP "$WORK/flash-$policy" --persistence off --maxmemory "$LIMIT" --maxmemory-policy "$policy"
  wait_up $FP
  start_redis $RP "$WORK/redis-$policy" --appendonly no --maxmemory "$LIMIT" --maxmemory-policy "$policy"
  wait_up $RP
  for port in $FP $RP; do
    until [ "$(stat $port evicted_keys)" -gt 0 ]; do REQUESTS=100000 one $port >/dev/null; done
  done
  f=(); r=()
  for _ in $(seq 1 "$RUNS"); do f+=("$(one $FP)"); r+=("$(one $RP)"); done
  fm=$(printf '%s\n' "${f[@]}" | median); rm_=$(printf '%s\n' "${r[@]}" | median)
  printf "%-16s %12s %12s %7s %12s %12s %9sM %9sM\n" "$policy" "$fm" "$rm_" "$(ratio "$fm" "$rm_")" \
    "$(redis-cli -p $FP dbsize)" "$(redis-cli -p $RP dbsize)" \
    "$(( $(rss "$FPID") >> 20 ))" "$(( $(rss "$RPID") >> 20 ))"
  stop "$FPID"; stop "$RPID"
done
