#!/usr/bin/env bash
# Builds the npm package `micropower` into bindings-js/pkg/ (git-ignored):
#   pkg/web/   ES module for browsers and bundlers (`init()` then the functions), wasm-bindgen --target web
#   pkg/node/  CommonJS for Node.js (loads the wasm synchronously), wasm-bindgen --target nodejs
#   pkg/package.json, README.md, LICENSE: `exports` picks the build by condition ("node" or "browser"/default)
# Tools: the wasm32-unknown-unknown target, wasm-bindgen-cli at exactly the `wasm-bindgen` crate's version
# (WASM_BINDGEN, or on PATH), and wasm-opt from the npm package binaryen (node_modules, after `npm ci`).
# No wasm-pack. scripts/test.d/40-js.sh installs the tools and calls this script.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"

version="$(grep -E '^wasm-bindgen = "=' "$root/Cargo.toml" | sed -E 's/.*"=([0-9.]+)".*/\1/')"
bindgen="${WASM_BINDGEN:-wasm-bindgen}"
have="$("$bindgen" --version | awk '{print $2}')"
if [ "$have" != "$version" ]; then
    echo "build.sh: $bindgen is $have; the wasm-bindgen crate is $version (they must match)" >&2
    exit 1
fi
wasm_opt="$here/node_modules/.bin/wasm-opt"
[ -x "$wasm_opt" ] || { echo "build.sh: $wasm_opt missing: run npm ci in bindings-js" >&2; exit 1; }

# The very build the server's build script makes for the dashboard (host-server/build/dashboard.rs): same
# command, same target directory, and the outer build's flags removed as it removes them, so whichever of
# the two runs second finds the module built (a fat-LTO build of the core, minutes on a new machine).
wasm_target_dir="${MICROPOWER_GUEST_TARGET_DIR:+$(dirname "$MICROPOWER_GUEST_TARGET_DIR")/dashboard-wasm}"
wasm_target_dir="${wasm_target_dir:-$CARGO_TARGET_DIR/dashboard-wasm}"
env -u CARGO_ENCODED_RUSTFLAGS -u RUSTFLAGS -u RUSTC_WORKSPACE_WRAPPER -u RUSTC_WRAPPER -u CARGO_BUILD_TARGET \
    -u CARGO_BUILD_BUILD_DIR \
    cargo build -q --locked --profile wasm-release --package micropower-js --target wasm32-unknown-unknown \
    --target-dir "$wasm_target_dir"
wasm="$wasm_target_dir/wasm32-unknown-unknown/wasm-release/micropower_js.wasm"

pkg="$here/pkg"
rm -rf "$pkg"
mkdir -p "$pkg"
"$bindgen" --target web --out-dir "$pkg/web" --out-name micropower "$wasm"
"$bindgen" --target nodejs --out-dir "$pkg/node" --out-name micropower "$wasm"
# Both targets emit the same module: optimise it once (and check that it is the same).
cmp -s "$pkg/web/micropower_bg.wasm" "$pkg/node/micropower_bg.wasm" \
    || { echo "build.sh: the web and node wasm differ; optimise both" >&2; exit 1; }
"$wasm_opt" -Os --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$pkg/web/micropower_bg.wasm" -o "$pkg/web/micropower_bg.wasm"
cp "$pkg/web/micropower_bg.wasm" "$pkg/node/micropower_bg.wasm"
# The raw wasm exports (InitOutput, *_bg.wasm.d.ts) are typed `any` by wasm-bindgen (externref); the public
# types have no `any`, so they become `unknown` (what an externref is to a caller).
sed -E -i 's/\bany\b/unknown/g' "$pkg"/web/*.d.ts "$pkg"/node/*.d.ts
# The node build is CommonJS inside a package that may be read as ES modules.
echo '{"type": "commonjs"}' >"$pkg/node/package.json"
echo '{"type": "module"}' >"$pkg/web/package.json"

crate_version="$(grep -m1 -E '^version = ' "$root/Cargo.toml" | sed -E 's/.*"(.*)".*/\1/')"
sed "s/@VERSION@/$crate_version/" "$here/npm/package.json" >"$pkg/package.json"
cp "$here/npm/README.md" "$pkg/README.md"
cp "$root/LICENSE" "$pkg/LICENSE" 2>/dev/null || true
echo "$pkg"
