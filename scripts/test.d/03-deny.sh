#!/usr/bin/env bash
# Supply chain (deny.toml): licences, banned crates, sources, and RustSec's advisories, with cargo-deny.
# The advisory database is a git repository on GitHub, which this machine kind does not reach: the check
# uses a fresh copy when it can fetch one, else the copy already in CARGO_HOME (its date is printed), else it
# says loudly that advisories were not checked. A copy can be seeded from any clone of
# https://github.com/RustSec/advisory-db:
#   git clone <clone> "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

version=0.20.2
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $version" ]; then
    cargo install --locked cargo-deny --version "$version"
fi

# The offline checks read every crate of Cargo.lock, those of other platforms (r-efi, atomic-polyfill) too,
# which no build of this machine downloads: a new machine has them only after this fetch.
cargo fetch --locked --quiet

db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
checks=(licenses bans sources)
passed=0
if timeout 60 cargo deny fetch db >/dev/null 2>&1; then
    echo "deny: advisory database fetched"
    cargo deny --locked check advisories
    passed=$((passed + 1))
elif [ -d "$db/.git" ]; then
    echo "deny: advisory database unreachable; checking against the copy of $(git -C "$db" log -1 --format=%cs)"
    cargo deny --offline --locked check advisories
    passed=$((passed + 1))
else
    echo "deny: ADVISORIES NOT CHECKED: the advisory database is unreachable and no copy is in $db" >&2
fi
for check in "${checks[@]}"; do
    cargo deny --offline --locked check "$check"
    passed=$((passed + 1))
done
echo "deny: ${passed} passed, 0 failed"
