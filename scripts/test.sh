#!/usr/bin/env bash
# Runs the whole test suite. The compatibility tests compare FlashDB with a real Redis 7,
# so redis-server must be installed; on Debian/Ubuntu this script installs it if missing,
# and redis-py (from PyPI) likewise.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found: installing Debian's redis-server (needed by the compatibility tests)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
# The Sentinel test runs redis-py's Sentinel client against a group, as users do.
if ! python3 -c 'import redis' >/dev/null 2>&1; then
  echo "redis-py not found: installing it from PyPI (needed by the Sentinel client test)" >&2
  python3 -m pip install --quiet --disable-pip-version-check redis
fi
# The Sentinel tests also run ioredis's client, which needs Node.js and the package's
# locked dependencies (from npm). Debian's npm conflicts with a Node.js that bundles its
# own (NodeSource's), so nothing is installed when both commands are there.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Node.js not found: installing Debian's nodejs and npm (needed by the ioredis client test)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
IOREDIS_DIR=crates/flashdb-server/tests/clients/ioredis
if [ ! -d "$IOREDIS_DIR/node_modules/ioredis" ]; then
  npm ci --prefix "$IOREDIS_DIR" --no-audit --no-fund --silent
fi
# The BullMQ test runs BullMQ's queue and worker (their Lua scripts) against FlashDB.
BULLMQ_DIR=crates/flashdb-server/tests/clients/bullmq
if [ ! -d "$BULLMQ_DIR/node_modules/bullmq" ]; then
  npm ci --prefix "$BULLMQ_DIR" --no-audit --no-fund --silent
fi
# The dashboard tests drive the web dashboard in headless Chromium and Firefox (Debian's)
# through puppeteer-core (from npm).
if ! command -v chromium >/dev/null 2>&1 || ! command -v firefox-esr >/dev/null 2>&1; then
  echo "Chromium or Firefox not found: installing Debian's (needed by the dashboard tests)" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium firefox-esr >/dev/null
fi
DASHBOARD_DIR=crates/flashdb-server/tests/clients/dashboard
if [ ! -d "$DASHBOARD_DIR/node_modules/puppeteer-core" ]; then
  npm ci --prefix "$DASHBOARD_DIR" --no-audit --no-fund --silent
fi
exec cargo test --workspace --all-targets
