#!/usr/bin/env bash
# The cost of ACL checks (issue 21): SET and GET through redis-benchmark as the default
# user and as a user with 10 key patterns (the matching one last) and category rules,
# on FlashDB and, for reference, on Redis 7; each server pinned to one core, 50 clients,
# random keys, no persistence, median of RUNS alternating runs. The figure that matters
# is restricted/default on FlashDB (goal >= 0.97). Then the cost of a rate limit that is
# never reached: FlashDB's default user against a user with every permission and
# `ratelimit=1000000000` (goal >= 0.97).
#
#   scripts/bench-acl.sh            RUNS=7 REQUESTS=500000 PIPELINES=16 scripts/bench-acl.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-5}
REQUESTS=${REQUESTS:-300000}
FP=17550
RP=17551

bench_setup

start_memory_pair $FP $RP
RULES=(on '>apppw' '~a:*' '~b:*' '~c:*' '~d:*' '~e:*' '~f:*' '~g:*' '~h:*' '~i:*' '~key:*'
       '+@read' '+@write' '+@connection' '-@dangerous' '-@admin')
for port in $FP $RP; do
  redis-cli -p $port acl setuser app "${RULES[@]}" >/dev/null
done

one() { # port pipeline test [user args...]
  local port=$1 pipeline=$2 test=$3; shift 3
  # Pipelined runs get 10 times the requests, to last as long as the others.
  local n=$REQUESTS; [ "$pipeline" -gt 1 ] && n=$((REQUESTS * 10))
  taskset -c "$LOAD_CPU" redis-benchmark -p "$port" -n "$n" -c 50 -P "$pipeline" \
      -r 100000 -t "$test" --csv "$@" \
    | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2 }'
}

echo "== redis-benchmark, 50 clients, $REQUESTS requests (10 times that pipelined), no persistence (median of $RUNS alternating runs)"
printf "%-14s %-8s %12s %12s %7s %12s %12s %7s\n" test pipeline flash_default flash_app ratio redis_default redis_app ratio
for pipeline in ${PIPELINES:-1 16}; do
  for test in set get; do
    fd=(); fa=(); rd=(); ra=()
    for _ in $(seq 1 "$RUNS"); do
      fd+=("$(one $FP $pipeline $test)")
      fa+=("$(one $FP $pipeline $test --user app -a apppw)")
      rd+=("$(one $RP $pipeline $test)")
      ra+=("$(one $RP $pipeline $test --user app -a apppw)")
    done
    m() { printf '%s\n' "$@" | median; }
    FD=$(m "${fd[@]}"); FA=$(m "${fa[@]}"); RD=$(m "${rd[@]}"); RA=$(m "${ra[@]}")
    printf "%-14s %-8s %12s %12s %7s %12s %12s %7s\n" "$test" "$pipeline" \
      "$FD" "$FA" "$(ratio "$FA" "$FD")" "$RD" "$RA" "$(ratio "$RA" "$RD")"
  done
done

redis-cli -p $FP acl setuser lim on '>limpw' '~*' '&*' '+@all' 'ratelimit=1000000000' >/dev/null
echo
echo "== a rate limit that is not reached (FlashDB only)"
printf "%-14s %-8s %12s %12s %7s\n" test pipeline flash_default flash_limited ratio
for pipeline in ${PIPELINES:-1 16}; do
  for test in set get; do
    fd=(); fl=()
    for _ in $(seq 1 "$RUNS"); do
      fd+=("$(one $FP $pipeline $test)")
      fl+=("$(one $FP $pipeline $test --user lim -a limpw)")
    done
    FD=$(printf '%s\n' "${fd[@]}" | median); FL=$(printf '%s\n' "${fl[@]}" | median)
    printf "%-14s %-8s %12s %12s %7s\n" "$test" "$pipeline" "$FD" "$FL" "$(ratio "$FL" "$FD")"
  done
done
