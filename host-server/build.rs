//! Builds the guest component (`host-server/guest`, target `wasm32-wasip2`) and puts it in `OUT_DIR`, where
//! `src/engine/wasm.rs` embeds it with `include_bytes!`; then the dashboard's copy of the JS package
//! (`build/dashboard.rs`: `bindings-js` for `wasm32-unknown-unknown`, wasm-bindgen's web glue), which
//! `src/web.rs` embeds with the files of `web/`.
//!
//! The guest is built by a nested `cargo build --release` with its own target directory (next to the outer
//! one), so it never waits on the outer build's lock and stays incremental between runs. It installs
//! nothing: a missing `wasm32-wasip2` target is a clear error telling the command to run.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[cfg(feature = "dashboard")]
#[path = "build/dashboard.rs"]
mod dashboard;

const TARGET: &str = "wasm32-wasip2";
const GUEST: &str = "micropower-guest";
const ARTIFACT: &str = "micropower_guest.wasm";

fn main() -> ExitCode {
    match build() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // `cargo::error` shows the message as the build's error, without a backtrace or stderr dump.
            for line in message.lines() {
                println!("cargo::error={line}");
            }
            ExitCode::FAILURE
        }
    }
}

fn build() -> Result<(), String> {
    let manifest_dir = PathBuf::from(var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir.parent().ok_or("host-server has no parent directory")?.to_path_buf();
    let out_dir = PathBuf::from(var("OUT_DIR")?);
    // `sqlx::migrate!` embeds migrations/ at compile time but cannot tell cargo to watch it.
    println!("cargo::rerun-if-changed={}", manifest_dir.join("migrations").display());
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Both are default features; the fuzz crate turns them off, since it needs the server's parsers only.
    if env::var_os("CARGO_FEATURE_WASM_ENGINE").is_some() {
        build_guest(&root, &out_dir, &cargo, &rustc)?;
    }
    #[cfg(feature = "dashboard")]
    dashboard::build(&root, &out_dir, &cargo, &rustc)?;
    Ok(())
}

fn build_guest(root: &Path, out_dir: &Path, cargo: &str, rustc: &str) -> Result<(), String> {
    for path in ["core/src", "core/Cargo.toml", "host-server/guest", "host-server/wit", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo::rerun-if-env-changed=MICROPOWER_GUEST_TARGET_DIR");
    check_target_installed(rustc)?;

    let target_dir = guest_target_dir(out_dir);
    let mut command = nested_cargo(cargo, root);
    command.args(["build", "--release", "--package", GUEST, "--target", TARGET, "--target-dir"]).arg(&target_dir);
    let status = command.status().map_err(|e| format!("could not run {cargo}: {e}"))?;
    if !status.success() {
        return Err(format!("building the guest component ({GUEST}, {TARGET}) failed: {status}"));
    }

    let built = target_dir.join(TARGET).join("release").join(ARTIFACT);
    let dest = out_dir.join(ARTIFACT);
    std::fs::copy(&built, &dest).map_err(|e| format!("copying {} to {}: {e}", built.display(), dest.display()))?;
    Ok(())
}

/// A nested cargo command without the outer build's settings: no host RUSTFLAGS, no clippy-driver wrapper
/// (clippy sets RUSTC_WORKSPACE_WRAPPER), no outer target or target directory. The jobserver
/// (CARGO_MAKEFLAGS) is kept, so the nested build shares the outer build's job slots.
fn nested_cargo(cargo: &str, root: &Path) -> Command {
    let mut command = Command::new(cargo);
    command.current_dir(root);
    for name in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_BUILD_DIR",
    ] {
        command.env_remove(name);
    }
    command
}

fn var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|e| format!("{name}: {e}"))
}

/// Fails with the command to run when the standard library for `wasm32-wasip2` is not installed.
fn check_target_installed(rustc: &str) -> Result<(), String> {
    check_target(rustc, TARGET, "the server embeds the core built for it")
}

/// Fails with the command to run when the standard library for `target` is not installed.
fn check_target(rustc: &str, target: &str, why: &str) -> Result<(), String> {
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .map_err(|e| format!("could not run {rustc}: {e}"))?;
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && !libdir.is_empty() && Path::new(&libdir).is_dir() {
        Ok(())
    } else {
        Err(format!("the Rust target {target} is not installed; {why}.\nRun: rustup target add {target}"))
    }
}

/// `MICROPOWER_GUEST_TARGET_DIR` if set; else `guest/` in the outer target directory (`OUT_DIR` is
/// `<target>/<profile>/build/<package>-<hash>/out`), so dev, release and clippy share one guest build; else
/// a directory inside `OUT_DIR`.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    if let Ok(dir) = env::var("MICROPOWER_GUEST_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let mut up = out_dir.ancestors();
    match (up.nth(2), up.nth(1)) {
        (Some(build), Some(target)) if build.file_name().is_some_and(|name| name == "build") => target.join("guest"),
        _ => out_dir.join("guest-target"),
    }
}
