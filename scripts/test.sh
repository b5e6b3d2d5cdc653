#!/usr/bin/env bash
# Runs the whole edgeserve test suite: formatting, lints, unit tests, and the end-to-end tests
# that start the real binaries. Installs what it needs first. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all --check
cargo build --workspace --bins --examples
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
