#!/usr/bin/env bash
# SET and GET over TLS (issue 21), FlashDB against Redis 7 over TLS side by side: both
# with the same certificate (made here with openssl), no client certificates, 50 clients,
# random keys, no persistence, each server pinned to one core, median of RUNS
# alternating runs; pipelined runs get 10 times the requests.
#
#   scripts/bench-tls.sh            RUNS=5 REQUESTS=300000 scripts/bench-tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh

RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-200000}
FP=17570
RP=17571
FT=17572
RT=17573

bench_setup

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$WORK/server.key" -out "$WORK/server.csr" -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$WORK/san.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" \
  -CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/server.crt" 2>/dev/null
TLS=(--tls-cert-file "$WORK/server.crt" --tls-key-file "$WORK/server.key" --tls-auth-clients no)

start_flash $FP "$WORK/flash" --persistence off --tls-port $FT "${TLS[@]}"; wait_up $FP
start_redis $RP "$WORK/redis" --appendonly no --tls-port $RT "${TLS[@]}"; wait_up $RP

one() { # tls-port pipeline test
  local n=$REQUESTS; [ "$2" -gt 1 ] && n=$((REQUESTS * 10))
  taskset -c "$LOAD_CPU" redis-benchmark -p "$1" --tls --cacert "$WORK/ca.crt" -n "$n" -c 50 \
      -P "$2" -r 100000 -t "$3" --csv \
    | awk -F'","' 'NR > 1 { gsub(/"/, "", $2); print $2 }'
}

echo "== redis-benchmark over TLS, 50 clients, $REQUESTS requests (10 times that pipelined), no persistence (median of $RUNS alternating runs)"
printf "%-8s %-8s %12s %12s %7s\n" test pipeline flashdb_rps redis_rps ratio
for pipeline in ${PIPELINES:-1 16}; do
  for test in set get; do
    f=(); r=()
    for _ in $(seq 1 "$RUNS"); do
      f+=("$(one $FT "$pipeline" $test)"); r+=("$(one $RT "$pipeline" $test)")
    done
    fm=$(printf '%s\n' "${f[@]}" | median); rm_=$(printf '%s\n' "${r[@]}" | median)
    printf "%-8s %-8s %12s %12s %7s\n" "$test" "$pipeline" "$fm" "$rm_" "$(ratio "$fm" "$rm_")"
  done
done
