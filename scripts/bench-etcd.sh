#!/usr/bin/env bash
# The etcd side of the replication comparison (docs/performance.md): a 3-member etcd
# cluster on this machine, each member on its own data directory, loaded with etcd's own
# `etcdctl check perf` (etcd speaks gRPC, which no load generator here shares with
# FlashDB). Needs Debian's etcd-server and etcd-client.
#
#   LOAD=l scripts/bench-etcd.sh      # s, m, l or xl (50 to 1,000 clients)
set -euo pipefail
LOAD=${LOAD:-l}
command -v etcd >/dev/null && command -v etcdctl >/dev/null || {
  echo "needs etcd and etcdctl: apt-get install etcd-server etcd-client" >&2; exit 2; }
WORK=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
CLUSTER="e1=http://127.0.0.1:23801,e2=http://127.0.0.1:23802,e3=http://127.0.0.1:23803"
for i in 1 2 3; do
  etcd --name "e$i" --data-dir "$WORK/e$i" \
    --listen-peer-urls "http://127.0.0.1:2380$i" --initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
    --listen-client-urls "http://127.0.0.1:2379$i" --advertise-client-urls "http://127.0.0.1:2379$i" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --log-level error >"$WORK/e$i.log" 2>&1 &
  PIDS+=("$!")
done
ENDPOINTS=http://127.0.0.1:23791,http://127.0.0.1:23792,http://127.0.0.1:23793
for _ in $(seq 1 100); do
  ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" check perf --load="$LOAD"
