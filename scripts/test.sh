#!/usr/bin/env bash
# Runs the whole test suite. The compatibility tests compare FlashDB with a real Redis 7,
# so redis-server must be installed; on Debian/Ubuntu this script installs it if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found: installing Debian's redis-server (needed by the compatibility tests)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
exec cargo test --workspace --all-targets
