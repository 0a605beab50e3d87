#!/usr/bin/env bash
# The JavaScript package (bindings-js, npm `micropower`) and the dashboard:
#   1. tools: the wasm32-unknown-unknown target; wasm-bindgen-cli at exactly the `wasm-bindgen` crate's version,
#      installed once into ~/.cache/micropower/tools/; `npm ci` in bindings-js (binaryen's wasm-opt, which the
#      server's build uses too, TypeScript, playwright-core, Chart.js) when package-lock.json changed
#   2. bindings-js/build.sh: both modules (first-page and full), web (ES module) and Node, in bindings-js/pkg/
#   3. Node's test runner: every shared vector (typed functions and callCore), errors, the web build, no `any`
#   4. tsc --noEmit over a small consumer of the published typings
#   5. the browser test: Playwright (playwright-core + Debian's chromium, installed with apt when missing)
#      against a micropower-server started by the test, when the server serves the dashboard
# Idempotent; exits non-zero on any failure, including a run that found no test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cache="$HOME/.cache/micropower"
js="$root/bindings-js"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

quiet() {  # runs a command, showing its output only when it fails
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "failed: $*" >&2
        return 1
    fi
}

rustup target list --installed | grep -qx wasm32-unknown-unknown || quiet rustup target add wasm32-unknown-unknown

version="$(grep -E '^wasm-bindgen = "=' Cargo.toml | sed -E 's/.*"=([0-9.]+)".*/\1/')"
tools="$cache/tools/wasm-bindgen-cli-$version"
export WASM_BINDGEN="$tools/bin/wasm-bindgen"
if [ ! -x "$WASM_BINDGEN" ]; then
    echo "js: cargo install wasm-bindgen-cli $version into $tools"
    # --locked first; the CLI's own lock file has named versions the registry no longer offers (webpki-roots
    # 1.0.11 in 0.2.130), so without it the version is still exact, only its dependencies are resolved anew.
    # --debug: an unoptimised build takes a fraction of the release build's minutes on a new machine, and
    # costs seconds where it runs (twice per package build, on a 3 MB module).
    if ! CARGO_TARGET_DIR="$cache/tools/wasm-bindgen-cli-build" quiet cargo install wasm-bindgen-cli \
        --version "=$version" --locked --debug --root "$tools"; then
        CARGO_TARGET_DIR="$cache/tools/wasm-bindgen-cli-build" quiet cargo install wasm-bindgen-cli \
            --version "=$version" --debug --root "$tools"
    fi
fi
echo "js: $("$WASM_BINDGEN" --version)"

lock_key="$(sha256sum "$js/package-lock.json" | cut -c1-16)"
if [ "$(cat "$js/node_modules/.micropower-ci" 2>/dev/null)" != "$lock_key" ]; then
    echo "js: npm ci"
    (cd "$js" && quiet npm ci --no-audit --no-fund)
    echo "$lock_key" >"$js/node_modules/.micropower-ci"
fi

echo "js: build the package (bindings-js/build.sh)"
quiet bash "$js/build.sh"
# Tests and the consumer import the package by its name.
ln -sfn ../pkg "$js/node_modules/micropower"
for module in micropower full; do
    raw="$(stat -c %s "$js/pkg/web/${module}_bg.wasm")"
    gz="$(gzip -9c "$js/pkg/web/${module}_bg.wasm" | wc -c)"
    echo "js: ${module}_bg.wasm after wasm-opt: $raw bytes raw, $gz bytes gzip -9"
done

passed=0
failed=0
tally() {  # adds the "# pass N" / "# fail N" lines of a node --test run in $log
    passed=$((passed + $(awk '/^# pass /{print $3}' "$log" | tail -1)))
    failed=$((failed + $(awk '/^# fail /{print $3}' "$log" | tail -1)))
}

echo "js: node --test (every shared vector through the Node build, errors, web build, typings)"
status=0
(cd "$js" && node --test --test-reporter=tap tests/*.test.mjs) >"$log" 2>&1 || status=$?
grep -E '^not ok|^# (tests|pass|fail)' "$log" || true
if [ "$status" -ne 0 ]; then
    cat "$log" >&2
    exit 1
fi
tally
[ "$passed" -gt 0 ] || { echo "js: no test ran" >&2; exit 1; }

echo "js: tsc --noEmit (a consumer of the published typings)"
(cd "$js" && quiet node_modules/.bin/tsc --noEmit -p tests/types)

if [ -f "$js/tests/browser/dashboard.test.mjs" ] && [ -d host-server/web ]; then
    if [ ! -x /usr/bin/chromium ]; then
        echo "js: apt-get install chromium"
        quiet apt-get update -qq
        DEBIAN_FRONTEND=noninteractive quiet apt-get install -y -qq chromium
    fi
    # The server binary of the very build scripts/test.sh's Rust tests make (same command and flags, so a
    # no-op after them); its build script builds the dashboard's wasm and glue and embeds host-server/web.
    echo "js: micropower-server (with the dashboard embedded by its build)"
    quiet cargo test -q --workspace --all-targets --locked --no-run
    export MICROPOWER_SERVER_BIN="$CARGO_TARGET_DIR/debug/micropower-server"
    echo "js: browser test (Playwright + Debian chromium against a server started by the test)"
    status=0
    (cd "$js" && node --test --test-reporter=tap tests/browser/) >"$log" 2>&1 || status=$?
    grep -E '^not ok|^# (tests|pass|fail)' "$log" || true
    if [ "$status" -ne 0 ]; then
        cat "$log" >&2
        exit 1
    fi
    tally
    echo "js: screenshots: $js/test-results/dashboard.png, dashboard-preview.png, dashboard-import.png"
fi

echo "js: ${passed} passed, ${failed} failed"
