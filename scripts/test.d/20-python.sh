#!/usr/bin/env bash
# The Python package (bindings-python): builds it, runs its tests, builds a wheel and installs it
# into a fresh virtual environment where the tests run again without any optional dependency.
#
#   1. The development venv ~/.cache/micropower/venv-python (made once) with pinned maturin and pytest, the
#      optional pandas / tqdm / matplotlib, and the OpenPAYGO reference; `maturin develop` only when the
#      Rust sources changed since the last run in this clone.
#   2. pytest: every shared vector through the typed API, the exceptions, the export -> Dataset -> reports,
#      the example, the OpenPAYGO differential (the reference's cases, made with tests/openpaygo/venv.sh, and
#      a live comparison), and the live-server round trip once the server routes /v1/export.
#   3. The wheel (bindings-python/build-wheel.sh, cached by a hash of its sources), installed with pip into a
#      new venv with pytest only; the same tests and a small benchmark run against it. Built in the dev
#      profile: what `maturin develop` compiled, packed as a wheel, instead of a second, optimised build of
#      the core and pyo3 (minutes on a new machine); what is tested is the same package and its install.
# Idempotent; exits non-zero on any failure, including a pytest run that collected no test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

cache="$HOME/.cache/micropower"
venv="${MICROPOWER_PY_VENV:-$cache/venv-python}"
py="$venv/bin/python"
wheelhouse="$cache/wheelhouse-python"
tests="bindings-python/tests"
log="$(mktemp)"
fresh="$(mktemp -d)"
trap 'rm -rf "$log" "$fresh"' EXIT

# Pinned: the build and test tools, and the optional packages the tests exercise when present.
tools=(maturin==1.16.0 pytest==9.2.0)
optional=(pandas==3.1.1 tqdm==4.70.1 matplotlib==3.11.2 openpaygo==0.6.3)

quiet() {  # runs a command, showing its output only when it fails
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "failed: $*" >&2
        return 1
    fi
}

missing() {  # the pinned requirements not installed at their version in interpreter $1
    local python="$1"; shift
    "$python" - "$@" <<'PY'
import importlib.metadata as m, sys
for req in sys.argv[1:]:
    name, version = req.split("==")
    try:
        ok = m.version(name) == version
    except m.PackageNotFoundError:
        ok = False
    if not ok:
        print(req)
PY
}

echo "python: development venv $venv"
[ -x "$py" ] || quiet python3 -m venv "$venv"
mapfile -t need < <(missing "$py" "${tools[@]}" "${optional[@]}")
if [ "${#need[@]}" -gt 0 ]; then
    echo "python: installing ${need[*]}"
    quiet "$py" -m pip install -q "${need[@]}"
fi

# maturin develop (debug, editable) when the native sources changed, or in another clone.
dev_key="$( (echo "$root"; find core/src core/Cargo.toml bindings-python/src bindings-python/Cargo.toml \
    bindings-python/pyproject.toml Cargo.toml Cargo.lock -type f -print0 | sort -z | xargs -0 sha256sum) \
    | sha256sum | cut -c1-16)"
if [ "$(cat "$venv/.micropower-develop" 2>/dev/null)" != "$dev_key" ] \
    || ! (cd /tmp && "$py" -c "import micropower" 2>/dev/null); then
    echo "python: maturin develop"
    (cd bindings-python && quiet env VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop)
    echo "$dev_key" >"$venv/.micropower-develop"
fi

# The OpenPAYGO reference's cases, made in the reference's own venv (cached like differential.sh does).
# shellcheck source=tests/openpaygo/venv.sh
. tests/openpaygo/venv.sh
openpaygo_venv
n="${OPENPAYGO_DIFF_CASES:-3000}"
seed="${OPENPAYGO_DIFF_SEED:-20240611}"
op_key="$(cat tests/openpaygo/differential.py tests/openpaygo/reference.py | sha256sum | cut -c1-16)-$n-$seed"
cases="$cache/openpaygo-differential/cases-$op_key.jsonl"
if [ ! -s "$cases" ]; then
    mkdir -p "$(dirname "$cases")"
    quiet "$OPENPAYGO_PYTHON" tests/openpaygo/differential.py "$cases.tmp" --cases "$n" --seed "$seed"
    mv "$cases.tmp" "$cases"
fi
export MICROPOWER_OPENPAYGO_CASES="$cases"

# The live-server round trip needs the server's export endpoint. The server binary comes from the very build
# scripts/test.sh's Rust tests make (same command and flags, so a no-op after them; `cargo build -p` would
# resolve features differently and rebuild the server's dependencies).
if grep -q '"/export"' host-server/src/app.rs 2>/dev/null; then
    echo "python: micropower-server for the round trip"
    quiet cargo test -q --workspace --all-targets --locked --no-run
    export MICROPOWER_SERVER_BIN="$CARGO_TARGET_DIR/debug/micropower-server"
else
    echo "python: the server has no /v1/export yet: the round-trip test is skipped"
fi

total_passed=0
total_failed=0
run_pytest() {  # $1: python; $2: label. Fails on test failures and on "no tests collected" (exit 5).
    local python="$1" label="$2" status=0 summary
    (cd "$tests" && "$python" -m pytest -q -rs -p no:cacheprovider .) >"$log" 2>&1 || status=$?
    cat "$log"
    if [ "$status" -ne 0 ]; then
        echo "python ($label): pytest exited with $status" >&2
        return 1
    fi
    summary="$(tail -n 1 "$log")"
    total_passed=$((total_passed + $(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)))
    total_failed=$((total_failed + $(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)))
}

echo "python: pytest (development build, optional packages installed)"
run_pytest "$py" "development"

# The wheel, into a fresh venv with nothing but pytest (from a local wheelhouse after the first run).
echo "python: wheel (dev profile)"
wheel="$(MATURIN="$venv/bin/maturin" PYTHON="$py" PROFILE=dev bash bindings-python/build-wheel.sh 2>"$log")" \
    || { cat "$log" >&2; exit 1; }
echo "python: $wheel"
if ! ls "$wheelhouse"/pytest-9.2.0-*.whl >/dev/null 2>&1; then
    quiet "$py" -m pip download -q -d "$wheelhouse" pytest==9.2.0
fi
quiet python3 -m venv "$fresh/venv"
quiet "$fresh/venv/bin/python" -m pip install -q --no-index --find-links "$wheelhouse" pytest==9.2.0 "$wheel"
# The tests must import the installed wheel, not the sources.
(cd "$fresh" && "$fresh/venv/bin/python" -c "
import sys, micropower
assert micropower.__file__.startswith(sys.prefix), micropower.__file__
print('python: wheel installed:', micropower.__version__, micropower.__file__)")

echo "python: pytest (the wheel in a fresh venv, no optional package)"
run_pytest "$fresh/venv/bin/python" "wheel"

echo "python: benchmark smoke run (the wheel)"
(cd "$fresh" && quiet "$fresh/venv/bin/python" "$root/bindings-python/bench/bench.py" --installments 20000 \
    --payments 2000 --rounds 3 --sample 2000)
cat "$log"

echo "python: ${total_passed} passed, ${total_failed} failed"
