#!/usr/bin/env bash
# The ledger's figures (docs/performance.md): SET under appendfsync always with the
# ledger on against off (two servers side by side, ROUNDS alternating rounds, medians),
# at pipeline 1 and 16; and verified reads (LEDGER GET: the value, its leaf and the
# inclusion proof) per second with the server pinned to one core. The disk the ledger
# keeps per million writes is measured on the ledger server's directory.
#
#   ROUNDS=5 REQUESTS=200000 scripts/bench-ledger.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
REQUESTS=${REQUESTS:-200000}
ROUNDS=${ROUNDS:-5}
BIN=${BIN:-target/release/flashdb}
[ -x "$BIN" ] || cargo build --release --bin flashdb
WORK=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT
OFF=17660
ON=17661
start_flash "$OFF" "$WORK/off" --appendfsync always
start_flash "$ON" "$WORK/on" --appendfsync always --ledger on
wait_up "$OFF"; wait_up "$ON"
set_rps() { # port pipeline
  taskset -c "$LOAD_CPU" redis-benchmark -p "$1" -t set -n "$REQUESTS" -c 50 -P "$2" -d 100 -r 100000 --csv 2>/dev/null \
    | awk -F'"' '/"SET"/ {print $4}'
}
for P in 1 16; do
  A=() B=()
  for r in $(seq 1 "$ROUNDS"); do
    A+=("$(set_rps "$OFF" "$P")"); B+=("$(set_rps "$ON" "$P")")
    echo "P$P round $r: off ${A[-1]}/s, on ${B[-1]}/s" >&2
  done
  MA=$(printf '%s\n' "${A[@]}" | median); MB=$(printf '%s\n' "${B[@]}" | median)
  echo "SET -P $P, appendfsync always: ledger off $MA/s, on $MB/s, on/off $(ratio "$MB" "$MA")"
done
# The ledger follows the log in the background: let it catch up, then count its disk.
redis-cli -p "$ON" ledger root >/dev/null
WRITES=$(redis-cli -p "$ON" ledger root | awk 'NR==2')
redis-cli -p "$ON" save >/dev/null
LOG_BYTES=$(du -sb "$WORK/on/archive" "$WORK/on"/wal-*.log 2>/dev/null | awk '{s+=$1} END {print s+0}')
TREE_BYTES=$(du -sb "$WORK/on/ledger" | awk '{print $1}')
awk -v w="$WRITES" -v l="$LOG_BYTES" -v t="$TREE_BYTES" 'BEGIN {
  printf "disk after %d writes of 100-byte values: log kept %.1f MB, leaf hashes %.1f MB: %.0f MB per million writes\n",
    w, l / 1e6, t / 1e6, (l + t) / w
}'
stop "$OFF"; stop "$ON"
# Verified reads on one core: the server pinned to SERVER_CPU, the load to LOAD_CPU.
V=17662
start_flash "$V" "$WORK/verified" --appendfsync everysec --ledger on
wait_up "$V"
taskset -c "$LOAD_CPU" redis-benchmark -p "$V" -t set -n 200000 -c 50 -P 16 -d 100 -r 10000 >/dev/null 2>&1
redis-cli -p "$V" ledger root >/dev/null
until [ "$(redis-cli -p "$V" ledger get key:000000000001 2>/dev/null | head -1)" = "value" ]; do sleep 0.1; done
for P in 1 16; do
  R=()
  for r in $(seq 1 "$ROUNDS"); do
    R+=("$(taskset -c "$LOAD_CPU" redis-benchmark -p "$V" -n "$REQUESTS" -c 50 -P "$P" -r 10000 --csv \
      LEDGER GET key:__rand_int__ 2>/dev/null | awk -F'"' 'NR==2 {print $4}')")
  done
  echo "verified reads (LEDGER GET) on one core, -P $P: $(printf '%s\n' "${R[@]}" | median)/s (median of $ROUNDS)"
done
