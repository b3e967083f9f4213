#!/usr/bin/env bash
# GET and PUT of one key over the HTTP API (wrk, 50 connections) against GET and SET over
# RESP (redis-benchmark, 50 clients), on one FlashDB server. Usage: scripts/bench-http.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
bin=target/release/flashdb
[ -x "$bin" ] || cargo build --release --bin flashdb
dir=$(mktemp -d)
out=$(mktemp)
"$bin" --port 0 --http-port 0 --dir "$dir" --persistence off --log-level warn >"$out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir" "$out"' EXIT
for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
resp=$(grep -o 'resp=[0-9.:]*' "$out" | cut -d: -f2)
http=$(grep -o 'http=[0-9.:]*' "$out" | cut -d: -f2)
curl -s -X PUT "localhost:$http/api/v1/key/bench" -d '{"value": "abc"}' >/dev/null
lua=$(mktemp --suffix .lua)
printf 'wrk.method = "PUT"\nwrk.body = "{\\"value\\": \\"abc\\"}"\nwrk.headers["Content-Type"] = "application/json"\n' >"$lua"
echo "HTTP GET /api/v1/key/bench:"
wrk -t1 -c50 -d"${secs}s" --latency "http://127.0.0.1:$http/api/v1/key/bench" | grep -E "Requests/sec|50%|99%"
echo "HTTP PUT /api/v1/key/bench:"
wrk -t1 -c50 -d"${secs}s" --latency -s "$lua" "http://127.0.0.1:$http/api/v1/key/bench" | grep -E "Requests/sec|50%|99%"
rm -f "$lua"
n=$((secs * 60000))
echo "RESP GET / SET (redis-benchmark -c 50 -P 1):"
redis-benchmark -p "$resp" -c 50 -n "$n" -t get,set -d 3 -q | tr "\r" "\n" | grep "requests per second"
