//! The dashboard's copy of the JS package: `bindings-js` built for `wasm32-unknown-unknown` by a nested
//! `cargo build --profile wasm-release` (its own target directory, next to the guest's), then wasm-bindgen's
//! web (ES module) glue made by `wasm-bindgen-cli-support` — the library of `wasm-bindgen-cli`, pinned to
//! the `wasm-bindgen` crate's exact version in the root Cargo.toml. Output: `OUT_DIR/dashboard/micropower.js`
//! and `micropower_bg.wasm`, embedded by `src/web.rs`. No npm and no wasm-opt here: the npm package
//! (`bindings-js/build.sh`) optimises its wasm; the server serves this one gzip-compressed (`src/web.rs`).

use std::path::{Path, PathBuf};

const TARGET: &str = "wasm32-unknown-unknown";
const PACKAGE: &str = "micropower-js";
const PROFILE: &str = "wasm-release";
const ARTIFACT: &str = "micropower_js.wasm";

pub fn build(root: &Path, out_dir: &Path, cargo: &str, rustc: &str) -> Result<(), String> {
    for path in ["bindings-js/src", "bindings-js/Cargo.toml"] {
        println!("cargo::rerun-if-changed={}", root.join(path).display());
    }
    super::check_target(rustc, TARGET, "the server's dashboard runs the core in the browser, built for it")?;

    let target_dir = target_dir(out_dir);
    let status = super::nested_cargo(cargo, root)
        .args(["build", "--locked", "--profile", PROFILE, "--package", PACKAGE, "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        .status()
        .map_err(|e| format!("could not run {cargo}: {e}"))?;
    if !status.success() {
        return Err(format!("building the dashboard's wasm ({PACKAGE}, {TARGET}) failed: {status}"));
    }

    let wasm = target_dir.join(TARGET).join(PROFILE).join(ARTIFACT);
    let dest = out_dir.join("dashboard");
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&wasm)
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e}"))?
        .typescript(false)
        .out_name("micropower");
    bindgen.generate(&dest).map_err(|e| format!("wasm-bindgen on {}: {e:#}", wasm.display()))?;
    Ok(())
}

/// `dashboard-wasm/` next to the guest's target directory (both inside the outer target directory).
fn target_dir(out_dir: &Path) -> PathBuf {
    let guest = super::guest_target_dir(out_dir);
    guest.parent().map_or_else(|| out_dir.join("dashboard-wasm"), |parent| parent.join("dashboard-wasm"))
}
