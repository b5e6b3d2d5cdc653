#!/usr/bin/env bash
# Supply-chain checks with cargo-deny, by the policy in deny.toml: licences, bans (duplicate
# versions warn, wildcard versions fail) and sources (crates.io only) always; RustSec advisories
# when the advisory database can be fetched. The database is a git repository on GitHub, which
# some build machines cannot reach: then this says so, loudly, and says how to run the check
# elsewhere; it never skips it silently. EDGESERVE_REQUIRE_ADVISORIES=1 makes an unreachable
# database a failure. cargo-deny itself comes from scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo deny --locked check --hide-inclusion-graph licenses bans sources

db="https://github.com/rustsec/advisory-db"
err="$(mktemp)"
trap 'rm -f "$err"' EXIT
if timeout 30 git ls-remote --exit-code "$db" HEAD >/dev/null 2>"$err"; then
    cargo deny --locked check --hide-inclusion-graph advisories
else
    why="$(tail -n1 "$err" 2>/dev/null || true)"
    echo "==================================================================================" >&2
    echo "cargo deny: ADVISORIES NOT CHECKED: the RustSec database $db" >&2
    echo "cannot be fetched from this machine (${why:-git ls-remote timed out after 30 s})." >&2
    echo "Licences, bans and sources were checked. Run 'cargo deny check advisories' where" >&2
    echo "GitHub is reachable (or see deny.toml for a run against a local copy)." >&2
    echo "==================================================================================" >&2
    if [ "${EDGESERVE_REQUIRE_ADVISORIES:-0}" = 1 ]; then
        exit 1
    fi
fi
