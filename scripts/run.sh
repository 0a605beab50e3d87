#!/usr/bin/env bash
# The README's run command: the server with the embedded SQLite default (./data/micropower.db), listening on
# 127.0.0.1:8080. Adds the WebAssembly target the server's build needs when it is missing. Arguments go to
# the server (e.g. --demo for a small realistic dataset).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
# ... and serves the dashboard, which runs the core in the browser (bindings-js for wasm32-unknown-unknown).
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
exec cargo run --release --locked -p micropower-server -- "$@"
