#!/usr/bin/env bash
# The issue-18 benchmark on this machine: builds the release binaries, then bench/run.py measures
# the compute floor, the do-nothing HTTPS server and edgeserve (seed JSON, OIP JSON, OIP binary;
# batching off and on; the CNN example), server CPU per request, idle RSS, start to ready and the
# stripped binary size; prints ratios and writes bench/results/latest.json.
#   bash bench/run.sh            # about 6 minutes of load after the build
#   bash bench/run.sh --quick    # a smoke run, under a minute of load
# BIN_DIR=path skips the builds and uses the binaries there (the dist binary's size is read from
# target/dist/edgeserved, or DIST_BIN, when it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN_DIR:-}" ]; then
    cargo build --quiet --release -p edgeserve-daemon -p edgeserve-tests --bins
    BIN_DIR="${CARGO_TARGET_DIR:-target}/release"
    # The size boxes get: the dist profile (fat LTO, one codegen unit, stripped; ~30 min here).
    cargo build --quiet --profile dist -p edgeserve-daemon --bin edgeserved
fi
for tool in openssl strip python3; do
    command -v "$tool" >/dev/null || { echo "bench/run.sh needs $tool (bash scripts/deps.sh)" >&2; exit 2; }
done
exec python3 bench/run.py "$BIN_DIR" "$@"
