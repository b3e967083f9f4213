#!/usr/bin/env bash
# Side-by-side throughput of FlashDB and Redis 7 with redis-benchmark, then with
# flashdb-benchmark.
#
# Each server in turn is pinned to core 0 and redis-benchmark to core 1; runs alternate
# between the two servers, and the median of RUNS runs is reported with the ratio
# FlashDB / Redis. Neither server persists anything (FlashDB runs with --persistence off,
# Redis with --save "" --appendonly no); scripts/bench-durability.sh compares them with
# persistence on.
#
#   scripts/bench-vs-redis.sh                 # defaults below
#   RUNS=5 REQUESTS=500000 scripts/bench-vs-redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-300000}
CLIENTS=${CLIENTS:-50}
FLASH_PORT=${FLASH_PORT:-16379}
REDIS_PORT=${REDIS_PORT:-16380}

command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server redis-tools)" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark is needed (apt-get install redis-tools)" >&2; exit 1; }

cargo build --release --bin flashdb --bin flashdb-benchmark >&2
BIN=$PWD/target/release/flashdb
FB=$PWD/target/release/flashdb-benchmark
DATA=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$DATA"' EXIT

start_flash "$FLASH_PORT" "$DATA/flashdb" --persistence off; FLASH_PID=$FPID
start_redis "$REDIS_PORT" "$DATA/redis" --appendonly no; REDIS_PID=$RPID
wait_up "$FLASH_PORT"; wait_up "$REDIS_PORT"

# One redis-benchmark run; prints one column of its CSV (in Redis 7's output, 2 is
# requests per second and 7 the p99 latency in ms).
rb_csv() { # column port test pipeline datasize
  taskset -c "$LOAD_CPU" redis-benchmark -p "$2" -t "$3" -P "$4" -d "$5" -n "$REQUESTS" -c "$CLIENTS" -r 100000 --csv \
    | awk -F'","' -v col="$1" 'NR==2 {print $col}'
}
bench() { rb_csv 2 "$@"; }     # port test pipeline datasize: requests per second
bench_p99() { rb_csv 7 "$@"; } # port test pipeline datasize: p99 latency (ms)

row() { # label pipeline size: one line of the table, from FM and RM
  printf "%-10s %-5s %-6s %14s %14s %8s\n" "$1" "$2" "$3" "$FM" "$RM" "$(ratio "$FM" "$RM")"
}


printf "%-10s %-5s %-6s %14s %14s %8s\n" test pipe size flashdb_rps redis_rps ratio
for size in 3 1024; do
  for pipe in 1 16; do
    for t in set get; do
      alternate bench "$t" "$pipe" "$size"
      row "$t" "$pipe" "$size"
    done
  done
done

echo
echo "flashdb-benchmark, $CLIENTS connections:"
printf "%-10s %-5s %-6s %14s %14s %8s\n" test pipe size flashdb_rps redis_rps ratio
for size in 3 1024; do
  for pipe in 1 16; do
    for mix in "set 1:0" "get 0:1" "mix1:10 1:10"; do
      name=${mix% *}; ratio_arg=${mix#* }
      alternate fbench "$ratio_arg" "$pipe" "$size"
      row "$name" "$pipe" "$size"
    done
  done
done

alternate bench_p99 get 1 3
printf "GET p99 latency (ms), pipeline 1: flashdb %s redis %s\n" "$FM" "$RM"

# Memory holding 1M small string keys (key:000000000000 -> 3-byte value), on fresh
# servers: memory freed by the runs above may stay in either allocator's pools.
stop "$FLASH_PID"; stop "$REDIS_PID"
rm -rf "$DATA"/flashdb "$DATA"/redis
start_flash "$FLASH_PORT" "$DATA/flashdb" --persistence off; FLASH_PID=$FPID
start_redis "$REDIS_PORT" "$DATA/redis" --appendonly no; REDIS_PID=$RPID
wait_up "$FLASH_PORT"; wait_up "$REDIS_PORT"
for port in $FLASH_PORT $REDIS_PORT; do
  taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -t set -n 4000000 -r 1000000 -d 3 -c 50 -P 64 -q >/dev/null
done
fk=$(redis-cli -p $FLASH_PORT dbsize); rk=$(redis-cli -p $REDIS_PORT dbsize)
frss=$(rss $FLASH_PID); rrss=$(rss $REDIS_PID)
printf "RSS with ~1M keys: flashdb %s keys %s bytes (%s B/key), redis %s keys %s bytes (%s B/key), ratio %s\n" \
  "$fk" "$frss" "$((frss / fk))" "$rk" "$rrss" "$((rrss / rk))" "$(ratio "$frss" "$rrss")"
