#!/usr/bin/env bash
# Data structures, FlashDB against Redis 7 side by side (issue 4's measurements):
#  1. redis-benchmark -t lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,
#     50 clients, no persistence on either side, median of RUNS alternating runs
#  2. bytes per element of a 1M-element hash, set, sorted set and list (INFO memory's
#     used_memory and the process RSS, each measured as growth over the empty server)
#
#   scripts/bench-collections.sh           RUNS=5 REQUESTS=500000 scripts/bench-collections.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-300000}
ELEMENTS=${ELEMENTS:-1000000}
TESTS=${TESTS:-lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100}
FP=17500
RP=17501

bench_setup

start_memory_pair $FP $RP

# One run of every test against one server; prints "test rps" lines. Each run starts
# from an empty server, as redis-benchmark's own tests assume.
run() { # port
  redis-cli -p "$1" flushall >/dev/null
  taskset -c "$LOAD_CPU" redis-benchmark -p "$1" -t "$TESTS" -n "$REQUESTS" -c 50 -r 100000 --csv \
    | awk -F'","' 'NR > 1 { gsub(/"/, "", $1); print $1 "\t" $2 }'
}
for i in $(seq 1 "$RUNS"); do
  run $FP > "$WORK/f.$i"
  run $RP > "$WORK/r.$i"
done
echo "== redis-benchmark, 50 clients, $REQUESTS requests, no persistence (median of $RUNS alternating runs)"
printf "%-34s %12s %12s %7s\n" test flashdb_rps redis_rps ratio
cut -f1 "$WORK/f.1" | while read -r t; do
  fm=$(cat "$WORK"/f.* | awk -F'\t' -v t="$t" '$1 == t {print $2}' | median)
  rm_=$(cat "$WORK"/r.* | awk -F'\t' -v t="$t" '$1 == t {print $2}' | median)
  printf "%-34s %12s %12s %7s\n" "$t" "$fm" "$rm_" "$(ratio "$fm" "$rm_")"
done

# RESP commands that build one collection of $ELEMENTS elements, 1,000 per command, with
# members "member:N" (8-15 bytes) and, for hashes, 3-byte values.
gen() { # type
  awk -v n="$ELEMENTS" -v t="$1" 'BEGIN {
    cmd["hash"] = "HSET"; cmd["set"] = "SADD"; cmd["zset"] = "ZADD"; cmd["list"] = "RPUSH"
    per = (t == "hash" || t == "zset") ? 2 : 1
    for (i = 0; i < n; i += 1000) {
      m = (n - i < 1000) ? n - i : 1000
      printf "*%d\r\n$%d\r\n%s\r\n$1\r\nk\r\n", 2 + m * per, length(cmd[t]), cmd[t]
      for (j = i; j < i + m; j++) {
        s = "member:" j
        if (t == "zset") { sc = j % 1000003; printf "$%d\r\n%d\r\n", length(sc ""), sc }
        printf "$%d\r\n%s\r\n", length(s), s
        if (t == "hash") printf "$3\r\nabc\r\n"
      }
    }
  }'
}
echo "== memory of one $ELEMENTS-element collection (growth over the empty server)"
printf "%-6s %22s %22s %22s %22s\n" type flashdb_used_B/elem redis_used_B/elem flashdb_rss_B/elem redis_rss_B/elem
for t in hash set zset list; do
  gen "$t" > "$WORK/load.resp"
  line=$(printf "%-6s" "$t")
  for side in flash redis; do
    # A fresh server per measurement, so allocator state from earlier runs does not count.
    if [ $side = flash ]; then stop "$FPID"; start_flash $FP "$WORK/flash-$t" --persistence off; port=$FP; pid=$FPID
    else stop "$RPID"; start_redis $RP "$WORK/redis-$t" --appendonly no; port=$RP; pid=$RPID; fi
    wait_up $port
    u0=$(used_memory $port); r0=$(rss $pid)
    redis-cli -p $port --pipe < "$WORK/load.resp" >/dev/null
    n=$(case $t in
      hash) redis-cli -p $port hlen k ;; set) redis-cli -p $port scard k ;;
      zset) redis-cli -p $port zcard k ;; list) redis-cli -p $port llen k ;; esac)
    [ "$n" = "$ELEMENTS" ] || { echo "$side $t holds $n elements, not $ELEMENTS" >&2; exit 1; }
    u1=$(used_memory $port); r1=$(rss $pid)
    eval "${side}_used=\$(( (u1 - u0) / n ))"; eval "${side}_rss=\$(( (r1 - r0) / n ))"
  done
  printf "%s %22s %22s %22s %22s\n" "$line" "$flash_used" "$redis_used" "$flash_rss" "$redis_rss"
done
