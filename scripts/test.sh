#!/usr/bin/env bash
# The project's one test command: every check, every language that has landed so far.
# It installs what it needs and skips what is already there; it runs from any clone. It closes on a table of
# each step's seconds and on each step's "N passed, N failed" line and their total.
#
# Time on a new machine (no ~/.cache, no ~/.cargo/registry; 2 cores): 69 minutes before these cuts, for a
# CI limit of 90 and a goal under 45; 44 minutes (2,639 s) after them, measured with scripts/cold-run.sh
# (fresh clone, empty HOME and CARGO_HOME) on 2026-12-06, with another build sharing the cores for about
# 8 of the lint step's minutes: lint 1,122 s, Rust tests 1,050, Python 203, JS 153 (wasm-bindgen-cli built
# from source), mobile 51, differential 41, run command 5, fuzz 0 (stamps current), the rest 13. A change to
# what a fuzz target reads makes its smoke run there (up to about 10 minutes more when every target is stale),
# so stamp the targets a change touches (`scripts/fuzz.sh 30 --stamp`). What went, and why it proves no less:
#   - The fuzz smoke (nightly toolchain, cargo-fuzz built from source, an AddressSanitizer release build of
#     core and server, 9 targets x 30 s: the largest step after the Rust build) runs only for targets whose
#     inputs changed since their stamp in fuzz/stamps.txt, which `scripts/fuzz.sh <seconds> --write` (or
#     `--stamp`) records after a passing run; and two targets at a time. Unchanged inputs were fuzzed by the
#     run that wrote the stamp. After changing what a target reads, run it and commit the stamps.
#   - Dependencies in the dev profile carry line tables instead of full debug info (Cargo.toml): about 30%
#     less CPU for the tests' dependency build, half the size for every binary to link.
#   - One build of the workspace for every step: the Rust tests' `cargo test --workspace --all-targets
#     --no-run` also gives the server of the run-command, Python, mobile and browser steps, the mobile
#     cdylib, the OpenPAYGO differential's test binary, and (same selection plus `--bin uniffi-bindgen`: one
#     unit more) the binding generator (scripts/lib/test-build.sh). The `-p` builds those steps made before
#     unified other features and compiled the core's dependencies again (63 units for the differential, 92
#     for mobile); a `-p micropower-server` build would compile wasmtime again (151 units).
#   - The npm package's wasm (a fat-LTO build of the core) is the one the server's build script makes for
#     the dashboard, same command and target directory: built once, not twice.
#   - The Python wheel installed into a fresh venv and tested there is built in the dev profile from what
#     `maturin develop` compiled (a link), not by a second, optimised build with LTO. Same package and
#     install; build-wheel.sh still makes release wheels by default.
#   - wasm-bindgen-cli (for the npm package) is installed unoptimised: 138 s of CPU to build, 1.7 s a run.
# Clippy's check of the dependencies and the tests' build of them remain two passes over them (a check's
# metadata cannot be linked).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# A persistent target directory outside the clone keeps repeated runs (and CI) incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Property tests draw from a fixed seed here, so a red run is the change's fault and replays exactly. To
# explore further, give another seed and more cases: PROPTEST_RNG_SEED=7 PROPTEST_CASES=20000 cargo test.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261128}"

step() { printf '\n==> %s\n' "$*"; }

# Each step's name, seconds and closing count line, printed at exit (also when a step fails).
step_names=()
step_seconds=()
step_counts=()
step_started=""
run_started="$(date +%s)"
outputs="$(mktemp -d)"
begin() {  # begin <name>: ends the step before, starts this one
    finish
    step "$1"
    step_names+=("$1")
    step_started="$(date +%s)"
}
finish() {  # finish [count line]: records the current step's seconds
    [ -n "$step_started" ] || return 0
    step_seconds+=("$(($(date +%s) - step_started))")
    step_counts+=("${1:-}")
    step_started=""
}
summary() {
    local status=$? i passed=0 failed=0 n f
    [ -n "$step_started" ] && finish "(failed)"
    printf '\n==> seconds per step\n'
    for i in "${!step_names[@]}"; do
        printf '%-48s %6s  %s\n' "${step_names[$i]}" "${step_seconds[$i]:-}" "${step_counts[$i]:-}"
    done
    printf '%-48s %6s\n' "total" "$(($(date +%s) - run_started))"
    if [ "$status" -eq 0 ]; then
        step "all checks passed"
        for i in "${!step_names[@]}"; do
            [[ "${step_counts[$i]:-}" =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]] || continue
            echo "${step_counts[$i]}"
            n="${BASH_REMATCH[1]}"; f="${BASH_REMATCH[2]}"
            passed=$((passed + n)); failed=$((failed + f))
        done
        echo "total: ${passed} passed, ${failed} failed"
    fi
    rm -rf "$outputs"
}
trap summary EXIT
# The last "<what>: N passed, N failed" line of a step's output in file $1.
count_line() { grep -E '^[A-Za-z][A-Za-z -]*: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1 || true; }

begin "toolchain"
for component in rustfmt clippy; do
    rustup component list --installed | grep -q "^$component" || rustup component add "$component"
done
# The server embeds the core built as a WebAssembly component (host-server/build.rs).
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
# ... and serves the dashboard, which runs the core in the browser (bindings-js for wasm32-unknown-unknown).
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# ... optimised by binaryen's wasm-opt, in the server's build and the npm build alike: the npm package
# binaryen of bindings-js's lock (binaryen built to WebAssembly, run by node; Debian's binaryen 108 breaks
# wasm-bindgen's externref table), installed before the first cargo build so the server's build script finds
# it in bindings-js/node_modules (host-server/README.md). scripts/test.d/40-js.sh does the same, a no-op then.
lock_key="$(sha256sum bindings-js/package-lock.json | cut -c1-16)"
if [ "$(cat bindings-js/node_modules/.micropower-ci 2>/dev/null)" != "$lock_key" ]; then
    (cd bindings-js && npm ci --no-audit --no-fund >/dev/null)
    echo "$lock_key" >bindings-js/node_modules/.micropower-ci
fi
rustc --version
echo "wasm-opt: $(bindings-js/node_modules/.bin/wasm-opt --version)"

begin "PostgreSQL 15 for the server's tests (started when stopped; a password for the postgres user over TCP)"
if ! command -v pg_ctlcluster >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
fi
if ! pg_lsclusters -h 2>/dev/null | grep -q '^15 *main.*online'; then
    # After an unclean stop, recovery can outlast pg_ctl's own wait; the readiness loop below decides.
    pg_ctlcluster 15 main start || echo "pg_ctlcluster did not report a start yet; waiting for PostgreSQL"
fi
for _ in $(seq 1 300); do
    su postgres -c "pg_isready -q" && break
    sleep 1
done
su postgres -c "pg_isready" || { echo "PostgreSQL did not become ready" >&2; exit 1; }
su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
# Each test run creates throwaway databases (mp_test_<pid>_<n>); drop what earlier runs left behind.
su postgres -c "psql -Atc \"SELECT datname FROM pg_database WHERE datname LIKE 'mp\\_%'\"" |
    while read -r db; do su postgres -c "dropdb --if-exists '$db'"; done
export MICROPOWER_TEST_POSTGRES_URL="${MICROPOWER_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"

begin "format"
cargo fmt --all -- --check

begin "lint (clippy -D warnings; the core denies unwrap/expect/panic/indexing)"
cargo clippy --workspace --all-targets --locked -- -D warnings

begin "no floating point in the core's money and energy code"
if grep -rn -E '\bf(32|64)\b' core/src; then
    echo "floating point found in core/src" >&2
    exit 1
fi

begin "Rust tests: unit, doc, shared vectors, property tests, benchmarks as smoke tests"
log="$outputs/rust.log"
cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
cargo test --workspace --doc --locked 2>&1 | tee -a "$log"
# Sum every runner's "test result" line so the run closes on one plain count.
read -r rust_passed rust_failed < <(awk '/^test result:/ {
    for (i = 2; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) }
} END { print p + 0, f + 0 }' "$log")
finish "rust: ${rust_passed} passed, ${rust_failed} failed"

for extra in scripts/test.d/*.sh; do
    [ -e "$extra" ] || continue
    name="$(basename "$extra")"
    begin "$name"
    bash "$extra" 2>&1 | tee "$outputs/$name.log"
    finish "$(count_line "$outputs/$name.log")"
done
