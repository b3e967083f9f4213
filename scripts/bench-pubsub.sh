#!/usr/bin/env bash
# PUBLISH throughput, FlashDB against Redis 7 side by side (issue 5's measurement): 50
# publishing clients (redis-benchmark) to one channel with 1 and with 100 subscribers
# (examples/bench_subscribers.rs, one process reading for all of them, on the load
# generator's core), no persistence, median of RUNS alternating runs.
#
#   scripts/bench-pubsub.sh                RUNS=5 REQUESTS=500000 scripts/bench-pubsub.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-200000}
FP=17520
RP=17521

bench_setup --example bench_subscribers
SUBSCRIBERS=$PWD/target/release/examples/bench_subscribers
SUBS=()
trap 'for p in "${SUBS[@]}"; do kill "$p" 2>/dev/null || true; done; bench_cleanup; rm -rf "$WORK"' EXIT

start_memory_pair $FP $RP

subscribe() { # port count
  taskset -c "$LOAD_CPU" "$SUBSCRIBERS" "$1" "$2" bench &
  SUBS+=($!)
  # Wait until every subscription is registered.
  until [ "$(redis-cli -p "$1" pubsub numsub bench | tail -1)" = "$2" ]; do sleep 0.05; done
}
unsubscribe() {
  for p in "${SUBS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${SUBS[@]}" 2>/dev/null || true
  SUBS=()
}

echo "== PUBLISH, 50 clients, $REQUESTS requests, 5-byte messages (median of $RUNS alternating runs)"
printf "%-18s %12s %12s %7s\n" subscribers flashdb_rps redis_rps ratio
for n in 1 100; do
  : > "$WORK/f"; : > "$WORK/r"
  for i in $(seq 1 "$RUNS"); do
    for side in f r; do
      port=$([ $side = f ] && echo $FP || echo $RP)
      subscribe "$port" "$n"
      taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -n "$REQUESTS" -c 50 --csv PUBLISH bench hello \
        | awk -F'","' 'NR > 1 { print $2 }' >> "$WORK/$side"
      unsubscribe
    done
  done
  fm=$(median < "$WORK/f"); rm_=$(median < "$WORK/r")
  printf "%-18s %12s %12s %7s\n" "$n" "$fm" "$rm_" "$(ratio "$fm" "$rm_")"
done
