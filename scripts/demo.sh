#!/usr/bin/env bash
# Runs the edgeserve demo: edgeserved serving the bundled example models over TLS on
# localhost:8443 with a fresh development certificate; it prints a curl command to paste.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --quiet --workspace --bins
exec target/debug/edgeserved --demo
