#!/usr/bin/env bash
# Runs the replication fault test (crates/flashdb-server/tests/chaos.rs) for a long
# schedule on an optimized build: three nodes, each in a network namespace of its own
# (run as root), clients on registers, lists and queues, and a nemesis that kills,
# pauses and partitions nodes, hands leadership over and changes membership, one fault
# at a time. Histories are checked for linearizability, for lost, duplicated or
# reordered list elements and for lost or twice-acknowledged queue messages at the end.
#
#   scripts/chaos.sh --minutes 30
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=5
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (use --minutes N)" >&2; exit 2 ;;
  esac
done
case "$minutes" in
  ''|*[!0-9]*) echo "--minutes takes a whole number, got '$minutes'" >&2; exit 2 ;;
esac
FLASHDB_CHAOS_SECS=$((minutes * 60)) exec cargo test --release -p flashdb-server --test chaos -- --nocapture
