#!/usr/bin/env bash
# Prints the path of the wheel (abi3, maturin build, release profile unless PROFILE says another) of this
# tree, building it only when its sources changed: the wheel is cached under ~/.cache/micropower/wheels-python/<key>/, the key a hash of
# the files that go into it (core, bindings-python, the Cargo manifests and lock). The release build is
# slow (thin LTO), so a second run with the same sources costs nothing.
#   MATURIN   the maturin to use (default: maturin on PATH)
#   PYTHON    the interpreter maturin builds for (default: python3)
#   PROFILE   the cargo profile (default: release). The test command builds its wheel with `dev`: the same
#             artifacts `maturin develop` just made, so the wheel costs a link instead of an optimised build.
# Uses cargo's CARGO_TARGET_DIR (default ~/.cache/micropower/target). Build output goes to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
maturin="${MATURIN:-maturin}"
python="${PYTHON:-python3}"
profile="${PROFILE:-release}"

key="$(find core/src core/Cargo.toml bindings-python/src bindings-python/python bindings-python/Cargo.toml \
        bindings-python/pyproject.toml bindings-python/README.md Cargo.toml Cargo.lock \
        -type f ! -name '*.so' ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)-$profile"
cache="$HOME/.cache/micropower/wheels-python"
dir="$cache/$key"

if ! ls "$dir"/micropower-*.whl >/dev/null 2>&1; then
    mkdir -p "$cache"
    rm -rf "$dir.tmp"
    "$maturin" build --profile "$profile" --manifest-path bindings-python/Cargo.toml -i "$python" \
        --out "$dir.tmp" >&2
    # Keep only the wheel of the current sources (one per profile).
    find "$cache" -mindepth 1 -maxdepth 1 -type d -name "*-$profile" ! -name "$key.tmp" -exec rm -rf {} +
    mv "$dir.tmp" "$dir"
fi
ls "$dir"/micropower-*.whl | head -n 1
