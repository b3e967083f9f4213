#!/usr/bin/env bash
# The server's CPU while idle, with no dashboard open and then with one dashboard open
# (headless Chromium on the overview page, whose charts take one sample a second), each
# over SECONDS seconds: CPU seconds the server used (utime + stime, /proc/PID/stat) over
# the wall-clock seconds, in percent of one core. docs/performance.md quotes it.
#
#   SECONDS_EACH=60 scripts/bench-dashboard-idle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-lib.sh
SECONDS_EACH=${SECONDS_EACH:-60}
BIN=${BIN:-target/release/flashdb}
[ -x "$BIN" ] || cargo build --release --bin flashdb
DIR=crates/flashdb-server/tests/clients/dashboard
[ -d "$DIR/node_modules/puppeteer-core" ] || npm ci --prefix "$DIR" --no-audit --no-fund --silent
WORK=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$WORK"' EXIT
PORT=17650
HTTP=17651
"$BIN" --port "$PORT" --http-port "$HTTP" --dir "$WORK/data" --log-level warn >/dev/null 2>&1 &
PID=$!; PIDS+=("$PID")
wait_up "$PORT"
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
measure() { # label, then the command to run meanwhile (or "sleep")
  local label=$1; shift
  local t0 c0 t1 c1
  c0=$(ticks); t0=$(date +%s%N)
  "$@"
  c1=$(ticks); t1=$(date +%s%N)
  awk -v c=$((c1 - c0)) -v hz="$HZ" -v ns=$((t1 - t0)) -v l="$label" \
    'BEGIN { printf "%s: %.2f%% of one core (%.2f CPU s over %.1f s)\n", l, 100 * (c / hz) / (ns / 1e9), c / hz, ns / 1e9 }'
}
measure "idle, no dashboard" sleep "$SECONDS_EACH"
measure "idle, one dashboard open" node "$DIR/hold_open.js" "http://127.0.0.1:$HTTP" "$SECONDS_EACH"
