#!/usr/bin/env bash
# Side-by-side throughput of FlashDB and Redis 7 with redis-benchmark.
#
# Each server in turn is pinned to core 0 and redis-benchmark to core 1; runs alternate
# between the two servers, and the median of RUNS runs is reported with the ratio
# FlashDB / Redis. Neither server persists anything (FlashDB has no log yet; Redis runs
# with --save "" --appendonly no).
#
#   scripts/bench-vs-redis.sh                 # defaults below
#   RUNS=5 REQUESTS=500000 scripts/bench-vs-redis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-300000}
CLIENTS=${CLIENTS:-50}
FLASH_PORT=${FLASH_PORT:-16379}
REDIS_PORT=${REDIS_PORT:-16380}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server redis-tools)" >&2; exit 1; }
command -v redis-benchmark >/dev/null || { echo "redis-benchmark is needed (apt-get install redis-tools)" >&2; exit 1; }

cargo build --release --bin flashdb >&2
BIN=target/release/flashdb
DATA=$(mktemp -d)
trap 'kill $FLASH_PID $REDIS_PID 2>/dev/null || true; rm -rf "$DATA"' EXIT

taskset -c "$SERVER_CPU" "$BIN" --port "$FLASH_PORT" --dir "$DATA/flashdb" --log-level warn >/dev/null &
FLASH_PID=$!
taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --save "" --appendonly no --dir "$DATA" >/dev/null &
REDIS_PID=$!
for port in $FLASH_PORT $REDIS_PORT; do
  for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

# One redis-benchmark run; prints requests per second.
bench() { # port test pipeline datasize
  taskset -c "$LOAD_CPU" redis-benchmark -p "$1" -t "$2" -P "$3" -d "$4" -n "$REQUESTS" -c "$CLIENTS" -r 100000 --csv \
    | awk -F'","' 'NR==2 {print $2}'
}

# p99 latency (ms) of one run, from redis-benchmark's CSV (column 7 in Redis 7's output).
bench_p99() { # port test pipeline datasize
  taskset -c "$LOAD_CPU" redis-benchmark -p "$1" -t "$2" -P "$3" -d "$4" -n "$REQUESTS" -c "$CLIENTS" -r 100000 --csv \
    | awk -F'","' 'NR==2 {print $7}'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf "%-10s %-5s %-6s %14s %14s %8s\n" test pipe size flashdb_rps redis_rps ratio
for size in 3 1024; do
  for pipe in 1 16; do
    for t in set get; do
      f=(); r=()
      for _ in $(seq 1 "$RUNS"); do
        f+=("$(bench $FLASH_PORT $t $pipe $size)")
        r+=("$(bench $REDIS_PORT $t $pipe $size)")
      done
      fm=$(printf '%s\n' "${f[@]}" | median)
      rm_=$(printf '%s\n' "${r[@]}" | median)
      ratio=$(awk -v a="$fm" -v b="$rm_" 'BEGIN {printf "%.2f", a / b}')
      printf "%-10s %-5s %-6s %14s %14s %8s\n" "$t" "$pipe" "$size" "$fm" "$rm_" "$ratio"
    done
  done
done

f=(); r=()
for _ in $(seq 1 "$RUNS"); do
  f+=("$(bench_p99 $FLASH_PORT get 1 3)")
  r+=("$(bench_p99 $REDIS_PORT get 1 3)")
done
printf "GET p99 latency (ms), pipeline 1: flashdb %s redis %s\n" \
  "$(printf '%s\n' "${f[@]}" | median)" "$(printf '%s\n' "${r[@]}" | median)"

# Memory holding 1M small string keys (key:000000000000 -> 3-byte value).
for port in $FLASH_PORT $REDIS_PORT; do redis-cli -p "$port" flushall >/dev/null; done
for port in $FLASH_PORT $REDIS_PORT; do
  taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -t set -n 4000000 -r 1000000 -d 3 -c 50 -P 64 -q >/dev/null
done
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
fk=$(redis-cli -p $FLASH_PORT dbsize); rk=$(redis-cli -p $REDIS_PORT dbsize)
frss=$(rss $FLASH_PID); rrss=$(rss $REDIS_PID)
printf "RSS with ~1M keys: flashdb %s keys %s bytes (%s B/key), redis %s keys %s bytes (%s B/key), ratio %s\n" \
  "$fk" "$frss" "$((frss / fk))" "$rk" "$rrss" "$((rrss / rk))" "$(awk -v a="$frss" -v b="$rrss" 'BEGIN {printf "%.2f", a / b}')"
