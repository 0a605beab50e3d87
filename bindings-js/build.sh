#!/usr/bin/env bash
# Builds the npm package `micropower` into bindings-js/pkg/ (git-ignored), two modules:
#   micropower  the first-page module: the functions a page shows devices, plans and payment previews with
#               (FIRST_PAGE in src/lib.rs), no phone-number metadata; built for size (browsers only)
#   full        every core function, phone rules included; built for speed (browsers, and all of Node.js)
#   pkg/web/    ES modules for browsers and bundlers (`init()` then the functions), wasm-bindgen --target web
#   pkg/node/   CommonJS for Node.js (loads the wasm synchronously), wasm-bindgen --target nodejs: the full
#               module only (size does not matter there)
#   pkg/package.json, README.md, LICENSE: `exports` "." and "./full", by condition ("node" or "browser")
# Tools: the wasm32-unknown-unknown target, wasm-bindgen-cli at exactly the `wasm-bindgen` crate's version
# (WASM_BINDGEN, or on PATH), and binaryen's wasm-opt (MICROPOWER_WASM_OPT, else the npm package binaryen in
# node_modules, after `npm ci`): the very tool and flags the server's build script uses for the dashboard.
# No wasm-pack.
# scripts/test.d/40-js.sh installs the tools and calls this script.
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
wasm_opt="${MICROPOWER_WASM_OPT:-$here/node_modules/.bin/wasm-opt}"
[ -x "$wasm_opt" ] || { echo "build.sh: $wasm_opt missing: run npm ci in bindings-js" >&2; exit 1; }
# host-server/build/dashboard.rs passes the same flags (WASM_OPT_FEATURES and MODULES there): the features
# rustc enables for wasm32-unknown-unknown, and -Oz for the first-page module, -O3 and SIMD for the full one.
wasm_opt_features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
    --enable-mutable-globals --enable-reference-types --enable-multivalue)

# The very builds the server's build script makes for the dashboard (host-server/build/dashboard.rs): same
# commands in the same order, same target directory, and the outer build's flags removed as it removes them,
# so whichever of the two runs second finds the modules built (fat-LTO builds of the core, minutes on a new
# machine).
wasm_target_dir="${MICROPOWER_GUEST_TARGET_DIR:+$(dirname "$MICROPOWER_GUEST_TARGET_DIR")/dashboard-wasm}"
wasm_target_dir="${wasm_target_dir:-$CARGO_TARGET_DIR/dashboard-wasm}"
# The first-page module has its own profile, so its build never shares an output file with the full
# module's (a path crate's cdylib has no hash in its file name: one profile, two feature sets, one file).
# The full module is built with WebAssembly SIMD (every engine since 2023: Node 16.4, Chrome 91, Firefox 89,
# Safari 16.4): the core's JSON reading vectorises, about a sixth off a Node preview (BENCHMARKS.md). The
# first-page module is built for size and left without.
build_module() {  # build_module <profile> <rustflags for wasm32> [cargo feature flag]
    env -u CARGO_ENCODED_RUSTFLAGS -u RUSTFLAGS -u RUSTC_WORKSPACE_WRAPPER -u RUSTC_WRAPPER \
        -u CARGO_BUILD_TARGET -u CARGO_BUILD_BUILD_DIR CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$2" \
        cargo build -q --locked --profile "$1" --package micropower-js --target wasm32-unknown-unknown \
        --target-dir "$wasm_target_dir" "${@:3}"
}
build_module wasm-light "" --no-default-features
build_module wasm-release "-C target-feature=+simd128"
built="$wasm_target_dir/wasm32-unknown-unknown"

pkg="$here/pkg"
rm -rf "$pkg"
mkdir -p "$pkg"
optimise() {  # optimise <wasm file> <wasm-opt level> [more features]
    "$wasm_opt" "$2" "${wasm_opt_features[@]}" "${@:3}" "$1" -o "$1"
}
light="$built/wasm-light/micropower_js.wasm"
full="$built/wasm-release/micropower_js.wasm"
"$bindgen" --target web --out-dir "$pkg/web" --out-name micropower "$light"
optimise "$pkg/web/micropower_bg.wasm" -Oz
"$bindgen" --target web --out-dir "$pkg/web" --out-name full "$full"
"$bindgen" --target nodejs --out-dir "$pkg/node" --out-name full "$full"
# Both targets emit the same module: optimise it once (and check that it is the same).
cmp -s "$pkg/web/full_bg.wasm" "$pkg/node/full_bg.wasm" \
    || { echo "build.sh: the web and node wasm of the full module differ; optimise both" >&2; exit 1; }
optimise "$pkg/web/full_bg.wasm" -O3 --enable-simd
cp "$pkg/web/full_bg.wasm" "$pkg/node/full_bg.wasm"
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
