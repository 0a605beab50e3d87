#!/usr/bin/env bash
# The README's run command: the server with the embedded SQLite default (./data/micropower.db), listening on
# 127.0.0.1:8080. Adds the WebAssembly targets the server's build needs when they are missing, builds the
# server, then replaces this shell with it (exec: the process id stays the same, so SIGTERM or Ctrl-C reach
# the server itself and it shuts down cleanly). Arguments go to the server (e.g. --demo for a small
# realistic dataset); settings are environment variables (README, "Settings").
#
#   MICROPOWER_RUN_PROFILE=release (default)  an optimised build: cargo build --release -p micropower-server
#   MICROPOWER_RUN_PROFILE=dev                a debug build, for tests: the very build of the test command's
#       Rust tests (`cargo test --workspace --all-targets --no-run`), so after them it compiles nothing.
#       `cargo run -p micropower-server` or `cargo build -p ...` in debug would not reuse it: with fewer
#       packages selected, cargo unifies other features (no dev-dependencies, no other members), and 151 of
#       483 units, wasmtime and cranelift among them, would be compiled a second time (cargo --unit-graph).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
# ... and serves the dashboard, which runs the core in the browser (bindings-js for wasm32-unknown-unknown).
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
case "${MICROPOWER_RUN_PROFILE:-release}" in
    release)
        cargo build --release --locked -p micropower-server --bin micropower-server
        server="$CARGO_TARGET_DIR/release/micropower-server"
        ;;
    dev | debug)
        cargo test --workspace --all-targets --locked --no-run
        server="$CARGO_TARGET_DIR/debug/micropower-server"
        ;;
    *)
        echo "run.sh: MICROPOWER_RUN_PROFILE is release or dev, not ${MICROPOWER_RUN_PROFILE}" >&2
        exit 2
        ;;
esac
exec "$server" "$@"
