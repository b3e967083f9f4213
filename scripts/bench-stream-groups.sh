#!/usr/bin/env bash
# A stream consumer group as a work queue, FlashDB against Redis 7 side by side
# (issue 19): 50 producers XADD, 50 consumers XREADGROUP a batch of up to 10 and XACK
# it (flashdb-benchmark -w stream), no persistence on either side, each server pinned to
# one core; and, on FlashDB, its own queue type under the same load (-w queue). Median
# of RUNS alternating runs of DURATION seconds; the figure is messages acknowledged per
# second.
#
#   scripts/bench-stream-groups.sh        RUNS=5 DURATION=10 scripts/bench-stream-groups.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
FP=17540
RP=17541

bench_setup --bin flashdb-benchmark
FB=$PWD/target/release/flashdb-benchmark

start_memory_pair $FP $RP

acked() { # port workload run
  taskset -c "$LOAD_CPU" "$FB" -p "$1" -w "$2" -t 1 -c 100 -P 10 -d 64 -D "$DURATION" \
      --key-prefix "bench:$2:$3:" --json --quiet \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); c=r["commands"]; print(int(c.get("messages",{}).get("count",0)/r["elapsed_s"]))'
}
f=(); r=(); q=()
for i in $(seq 1 "$RUNS"); do
  f+=("$(acked $FP stream "$i")"); r+=("$(acked $RP stream "$i")"); q+=("$(acked $FP queue "$i")")
done
fm=$(printf '%s\n' "${f[@]}" | median); rm_=$(printf '%s\n' "${r[@]}" | median)
qm=$(printf '%s\n' "${q[@]}" | median)
echo "== 50 producers, 50 consumers (batches of up to 10), ${DURATION}s runs, median of $RUNS"
printf "%-40s %12s\n" "stream group, FlashDB (acked/s)" "$fm"
printf "%-40s %12s\n" "stream group, Redis (acked/s)" "$rm_"
printf "%-40s %12s\n" "ratio" "$(ratio "$fm" "$rm_")"
printf "%-40s %12s\n" "FlashDB queue type (acked/s)" "$qm"
