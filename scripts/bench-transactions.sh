#!/usr/bin/env bash
# Transactions, FlashDB against Redis 7 side by side (issue 5's measurement): MULTI, 10
# INCRs of random keys, EXEC, 50 clients, no persistence on either side, median of RUNS
# alternating runs. The load generator is examples/bench_multi.rs (redis-benchmark cannot
# send transactions).
#
#   scripts/bench-transactions.sh          RUNS=5 TXS=200000 scripts/bench-transactions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
TXS=${TXS:-100000}
CLIENTS=${CLIENTS:-50}
FP=17510
RP=17511

bench_setup --example bench_multi
LOAD=$PWD/target/release/examples/bench_multi

start_memory_pair $FP $RP

for i in $(seq 1 "$RUNS"); do
  for side in f r; do
    port=$([ $side = f ] && echo $FP || echo $RP)
    redis-cli -p "$port" flushall >/dev/null
    taskset -c "$LOAD_CPU" "$LOAD" "$port" "$CLIENTS" "$TXS" 10 >> "$WORK/$side"
  done
done
fm=$(median < "$WORK/f")
rm_=$(median < "$WORK/r")
echo "== MULTI + 10 INCR + EXEC, $CLIENTS clients, $TXS transactions, no persistence (median of $RUNS alternating runs)"
printf "%-28s %14s %14s %7s\n" test flashdb_tx/s redis_tx/s ratio
printf "%-28s %14s %14s %7s\n" "MULTI/10xINCR/EXEC" "$fm" "$rm_" "$(ratio "$fm" "$rm_")"
