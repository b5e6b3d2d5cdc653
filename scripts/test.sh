#!/usr/bin/env bash
# Runs the whole edgeserve test suite: formatting, lints, unit tests, the end-to-end tests that
# start the real binaries, and the image boot test under qemu. Installs what it needs first.
# Exits non-zero on any failure. Needs root (package and image tests build root filesystems).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --all --check
cargo build --workspace --bins --examples
cargo clippy --workspace --all-targets -- -D warnings
# API documentation: every public item documented (missing_docs), no broken intra-doc links.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
# Supply chain (deny.toml): licences, bans, sources; RustSec advisories where the database can be
# fetched (scripts/deny.sh says so when it cannot).
bash scripts/deny.sh
cargo test --workspace
# The flashable image: build it, boot it under qemu, score through a forwarded port.
bash images/boot-test.sh
# Power cuts of that image (kill -9 of qemu during acknowledged writes): 5 here (~55-75 s each
# under TCG); README: Reliability runs 30 with `bash images/power-cut.sh 30`.
bash images/power-cut.sh 5 --no-build
