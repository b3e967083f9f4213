#!/usr/bin/env bash
# Work queues, FlashDB against Redis 7 side by side (issue 6's measurement): PRODUCERS
# producers and CONSUMERS consumers, every write fsynced before its reply on both sides
# (FlashDB --appendfsync always; Redis appendonly yes, appendfsync always). FlashDB runs
# QADD + QRESERVE + QACK, one message per request and then with consumers reserving and
# acknowledging 10 at a time; Redis the reliable-queue pattern LPUSH + BLMOVE + LREM. Prints
# the median of RUNS alternating runs of messages acknowledged per second. The load
# generator is examples/bench_queue.rs.
#
#   scripts/bench-queue.sh          RUNS=5 MESSAGES=100000 scripts/bench-queue.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
MESSAGES=${MESSAGES:-50000}
PRODUCERS=${PRODUCERS:-50}
CONSUMERS=${CONSUMERS:-50}
FP=17520
RP=17521

cargo build --release --bin flashdb --example bench_queue >&2
BIN=$PWD/target/release/flashdb
LOAD=$PWD/target/release/examples/bench_queue
WORK=$(mktemp -d -p "${BENCH_DIR:-$PWD/target}")
trap 'bench_cleanup; rm -rf "$WORK"' EXIT

start_flash $FP "$WORK/flash" --appendfsync always; wait_up $FP
start_redis $RP "$WORK/redis" --appendonly yes --appendfsync always; wait_up $RP

for i in $(seq 1 "$RUNS"); do
  for side in f1 f10 r; do
    case $side in
      f1) port=$FP; mode=flashdb; batch=1 ;;
      f10) port=$FP; mode=flashdb; batch=10 ;;
      r) port=$RP; mode=redis; batch=1 ;;
    esac
    redis-cli -p "$port" del jobs processing >/dev/null
    taskset -c "$LOAD_CPU" "$LOAD" "$mode" "$port" "$PRODUCERS" "$CONSUMERS" "$MESSAGES" "$batch" >> "$WORK/$side"
  done
done
f1=$(median < "$WORK/f1")
f10=$(median < "$WORK/f10")
rm_=$(median < "$WORK/r")
echo "== $PRODUCERS producers + $CONSUMERS consumers, $MESSAGES messages, fsync before every reply on both sides (median of $RUNS alternating runs)"
printf "%-52s %12s %12s %7s\n" test flashdb_msg/s redis_msg/s ratio
printf "%-52s %12s %12s %7s\n" "QADD+QRESERVE+QACK vs LPUSH+BLMOVE+LREM" "$f1" "$rm_" "$(ratio "$f1" "$rm_")"
printf "%-52s %12s %12s %7s\n" "QADD+QRESERVE COUNT 10+QACK of 10 vs the same" "$f10" "$rm_" "$(ratio "$f10" "$rm_")"
