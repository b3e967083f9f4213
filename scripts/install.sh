#!/usr/bin/env bash
# Installs flashdb, flashdb-cli and flashdb-benchmark (release builds, exactly the locked
# dependencies) into PREFIX/bin: by default ~/.cargo/bin, which rustup puts on the PATH.
#
#   scripts/install.sh            # into ~/.cargo/bin
#   scripts/install.sh /usr/local # into /usr/local/bin (needs write access there)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-${CARGO_HOME:-$HOME/.cargo}}
for crate in flashdb-server flashdb-cli flashdb-benchmark; do
  cargo install --locked --quiet --force --root "$prefix" --path "crates/$crate"
done
echo "installed into $prefix/bin: flashdb flashdb-cli flashdb-benchmark"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "note: $prefix/bin is not on your PATH; add it, e.g. export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
"$prefix/bin/flashdb" --version
