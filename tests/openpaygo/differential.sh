#!/usr/bin/env bash
# Differential test of the core's OpenPAYGO tokens against the reference (openpaygo 0.6.3 on PyPI).
#
# Has the reference write random cases (differential.py: every kind, restricted/extended, counts up to 300,
# dividers 1-255 with fractional and half-way values, derived and explicit starting codes, decoding and
# tokens for requests; the inputs the reference mishandles are listed there with what the core must do
# instead), then runs core/tests/openpaygo_differential.rs on them. Prints one line on success, e.g.
#     openpaygo differential: 4778 passed, 0 failed
# and the differences (exit 1) otherwise.
#
# Idempotent: the venv is made once, and the cases are cached under ~/.cache/micropower keyed by the
# generator's source, the number of cases and the seed.
#   OPENPAYGO_DIFF_CASES (default 3000)  random generate cases (plus ~45% decode and 10% request cases)
#   OPENPAYGO_DIFF_SEED  (default 20240611)
# Uses cargo's usual CARGO_TARGET_DIR and the workspace's test build (the test command's).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
# shellcheck source=tests/openpaygo/venv.sh
. "$here/venv.sh"
openpaygo_venv

n="${OPENPAYGO_DIFF_CASES:-3000}"
seed="${OPENPAYGO_DIFF_SEED:-20240611}"
key="$(cat "$here/differential.py" "$here/reference.py" | sha256sum | cut -c1-16)-$n-$seed"
cache="$HOME/.cache/micropower/openpaygo-differential"
cases="$cache/cases-$key.jsonl"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

if [ ! -s "$cases" ]; then
    mkdir -p "$cache"
    find "$cache" -name 'cases-*.jsonl' ! -name "cases-$key.jsonl" -delete
    if ! "$OPENPAYGO_PYTHON" "$here/differential.py" "$cases" --cases "$n" --seed "$seed" >"$log" 2>&1; then
        cat "$log" >&2
        echo "openpaygo differential: the reference failed to write the cases" >&2
        exit 1
    fi
fi

# The test binary of the workspace's test build (scripts/lib/test-build.sh): after the test command's Rust
# tests, nothing to compile; `cargo test -p micropower-core --test ...` would compile 63 units again.
# shellcheck source=scripts/lib/test-build.sh
. "$root/scripts/lib/test-build.sh"
status=0
exe="$(cd "$root" && test_build_executable openpaygo_differential 2>"$log")" || status=$?
if [ "$status" -eq 0 ]; then
    # In the package's folder, as cargo test runs it.
    (cd "$root/core" && OPENPAYGO_CASES="$cases" "$exe" --nocapture) >"$log" 2>&1 || status=$?
fi
summary="$(grep -E '^openpaygo differential: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)"
if [ "$status" -ne 0 ] || [ -z "$summary" ]; then
    cat "$log" >&2
    echo "${summary:-openpaygo differential: did not run (cargo exit $status)}"
    exit 1
fi
echo "$summary"
