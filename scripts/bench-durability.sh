#!/usr/bin/env bash
# Durability benchmarks, FlashDB against Redis 7 side by side:
#  1. SET throughput with appendfsync always / everysec on both, and FlashDB unpersisted,
#     by redis-benchmark and by flashdb-benchmark
#  2. restart time with 1M keys: FlashDB from the log alone and from snapshot + log,
#     Redis from its AOF and from its RDB
#  3. clients' GET p99 latency while a snapshot of 1M keys is written, against without
#
# Servers are pinned to core 0 and load generators to core 1 (SERVER_CPU / LOAD_CPU).
#   scripts/bench-durability.sh            RUNS=5 KEYS=1000000 scripts/bench-durability.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-200000}
KEYS=${KEYS:-1000000}
FP=17400 # FlashDB port
RP=17401 # Redis port
FLASH_PORT=$FP REDIS_PORT=$RP # for alternate

cargo build --release --bin flashdb --bin flashdb-benchmark >&2
BIN=$PWD/target/release/flashdb
FB=$PWD/target/release/flashdb-benchmark
CLIENTS=50
WORK=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT

# SET requests per second with 50 clients and 3-byte values, by either load generator.
# Both are reported: at these rates redis-benchmark keeps its own core about 90% busy
# (it sleeps and is woken for every burst of replies), so its figures say as much about
# the load generator as about the server; flashdb-benchmark leaves its core half idle.
set_rps() { # port tool
  case $2 in
    redis-benchmark)
      taskset -c "$LOAD_CPU" redis-benchmark -p "$1" -t set -n "$REQUESTS" -c "$CLIENTS" -r 100000 -d 3 --csv \
        | awk -F'","' 'NR==2 {print $2}' ;;
    flashdb-benchmark) fbench "$1" 1:0 1 3 ;;
  esac
}
TOOLS=(redis-benchmark flashdb-benchmark)

echo "== SET throughput, $CLIENTS clients, 3-byte values (median of $RUNS alternating runs)"
declare -A ALWAYS
for policy in always everysec; do
  start_flash $FP "$WORK/f-$policy" --appendfsync "$policy"; wait_up $FP
  start_redis $RP "$WORK/r-$policy" --appendonly yes --appendfsync "$policy"; wait_up $RP
  for tool in "${TOOLS[@]}"; do
    alternate set_rps "$tool"
    echo "appendfsync $policy, $tool: flashdb $FM  redis $RM  ratio $(ratio "$FM" "$RM")"
    [ "$policy" = always ] && ALWAYS[$tool]=$FM
  done
  stop "$FPID"; stop "$RPID"
done
start_flash $FP "$WORK/f-off" --persistence off; wait_up $FP
for tool in "${TOOLS[@]}"; do
  o=(); for _ in $(seq 1 "$RUNS"); do o+=("$(set_rps $FP "$tool")"); done
  om=$(printf '%s\n' "${o[@]}" | median)
  echo "flashdb --persistence off, $tool: $om  (always / off = $(ratio "${ALWAYS[$tool]}" "$om"))"
done
stop "$FPID"

echo "== restart time with $KEYS keys (key:N -> 3-byte value)"
gen() { awk -v n="$KEYS" 'BEGIN { for (i = 0; i < n; i++) printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$3\r\nabc\r\n", length("key:" i), i }'; }
gen > "$WORK/load.resp"
# Runs a start command and sets ELAPSED to the milliseconds until the server answers PONG.
# (Not in a $( ) subshell: the server's pid must be recorded in this shell.)
timed_start() { # port start-command...
  local port=$1; shift
  local t0; t0=$(date +%s%N)
  "$@"
  wait_up "$port"
  ELAPSED=$(( ($(date +%s%N) - t0) / 1000000 ))
}
# FlashDB from the log alone (no snapshot: threshold 0 and SIGKILL, so no shutdown snapshot)
start_flash $FP "$WORK/f-restart" --snapshot-threshold 0; wait_up $FP
redis-cli -p $FP --pipe < "$WORK/load.resp" >/dev/null
[ "$(redis-cli -p $FP dbsize)" = "$KEYS" ] || { echo "load failed" >&2; exit 1; }
stop "$FPID"
timed_start $FP start_flash $FP "$WORK/f-restart" --snapshot-threshold 0; flog=$ELAPSED
[ "$(redis-cli -p $FP dbsize)" = "$KEYS" ] || { echo "log recovery lost keys" >&2; exit 1; }
# FlashDB from a snapshot (plus an empty log tail)
redis-cli -p $FP save >/dev/null; stop "$FPID"
timed_start $FP start_flash $FP "$WORK/f-restart" --snapshot-threshold 0; fsnap=$ELAPSED
fkeys=$(redis-cli -p $FP dbsize); stop "$FPID"
# Redis from its AOF, then from its RDB
start_redis $RP "$WORK/r-restart" --appendonly yes --appendfsync everysec; wait_up $RP
redis-cli -p $RP --pipe < "$WORK/load.resp" >/dev/null
redis-cli -p $RP bgrewriteaof >/dev/null; sleep 2
redis-cli -p $RP save >/dev/null
stop "$RPID"
timed_start $RP start_redis $RP "$WORK/r-restart" --appendonly yes; raof=$ELAPSED
stop "$RPID"
timed_start $RP start_redis $RP "$WORK/r-restart" --appendonly no --dbfilename dump.rdb; rrdb=$ELAPSED
rkeys=$(redis-cli -p $RP dbsize); stop "$RPID"
echo "flashdb log only: ${flog} ms; flashdb snapshot + log: ${fsnap} ms ($fkeys keys)"
echo "redis AOF: ${raof} ms; redis RDB: ${rrdb} ms ($rkeys keys)"

echo "== GET p99 (ms) with $KEYS keys, 50 clients: without / during snapshots"
start_flash $FP "$WORK/f-restart" --snapshot-threshold 0; wait_up $FP
p99() { taskset -c "$LOAD_CPU" redis-benchmark -p $FP -t get -n 300000 -c 50 -r "$KEYS" --csv | awk -F'","' 'NR==2 {print $7}'; }
base=$(p99)
# One redis-cli process for all 40 BGSAVEs: starting a process per command would take
# milliseconds of the load generator's core and show up as the server's latency.
redis-cli -p $FP -r 40 -i 0.05 bgsave >/dev/null 2>&1 &
SAVER=$!
during=$(p99)
# Under load a snapshot of 1M keys takes longer than the run: show that one was running.
inprog=$(redis-cli -p $FP info persistence | awk -F: '/rdb_bgsave_in_progress/ {print $2}' | tr -d '\r')
wait "$SAVER"
snaps=$(redis-cli -p $FP info persistence | awk -F: '/flashdb_snapshots/ {print $2}' | tr -d '\r')
echo "p99 without snapshot: $base ms; during snapshots: $during ms ($snaps snapshots finished during the run; one in progress at its end: $inprog)"
stop "$FPID"
