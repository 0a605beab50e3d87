//! The dashboard's files, ready to serve: `web/*` and the two modules of the JS package, each optimised,
//! content-hashed and compressed once here instead of on every request.
//!
//! 1. `bindings-js` for `wasm32-unknown-unknown`, twice, by nested `cargo build`s with their own target
//!    directory (next to the guest's): the first-page module (`--no-default-features`, profile `wasm-light`:
//!    the preview functions only, no phone-number metadata) and the full module (profile `wasm-release`: every
//!    function). Same commands, order and directory as `bindings-js/build.sh`, so the npm build and this one
//!    build each module once.
//! 2. wasm-bindgen's web (ES module) glue, by `wasm-bindgen-cli-support` — the library of `wasm-bindgen-cli`,
//!    pinned to the `wasm-bindgen` crate's exact version in the root Cargo.toml.
//! 3. binaryen's `wasm-opt` with the npm build's flags, the same tool `bindings-js/build.sh` runs:
//!    `MICROPOWER_WASM_OPT`, else `bindings-js/node_modules/.bin/wasm-opt` (the npm package binaryen, which
//!    the test command installs before its first cargo build). This build runs no npm: without the tool it
//!    warns and serves the modules unoptimised. Not the `wasm-opt` crate: it compiles binaryen's C++ from
//!    source, minutes of every cold build on every machine and CI run (host-server/README.md); not a
//!    `wasm-opt` on PATH: Debian's (binaryen 108) breaks wasm-bindgen's externref table.
//! 4. File names with a content hash for the modules (`/pkg/micropower.<hash>.js`), which `app.js` imports:
//!    its references are rewritten here, so a cached module is never stale and never asked for again.
//! 5. gzip (level 9) and brotli (quality 11) of every file, kept where smaller than the file.
//!
//! Output: `OUT_DIR/dashboard/files.rs`, the table `src/web.rs` includes (paths, types, ETags, bodies).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

const TARGET: &str = "wasm32-unknown-unknown";
const PACKAGE: &str = "micropower-js";
const ARTIFACT: &str = "micropower_js.wasm";
/// One module of the JS package.
struct Module {
    name: &'static str,
    profile: &'static str,
    cargo_flags: &'static [&'static str],
    /// `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS` of its build.
    rustflags: &'static str,
    /// wasm-opt's level, and the features beyond [`WASM_OPT_FEATURES`] the module uses.
    wasm_opt: &'static [&'static str],
}

/// Built in this order, with the commands, flags and levels of bindings-js/build.sh: the first-page module
/// for size, the full one for speed (SIMD: its JSON reading vectorises).
const MODULES: &[Module] = &[
    Module {
        name: "micropower",
        profile: "wasm-light",
        cargo_flags: &["--no-default-features"],
        rustflags: "",
        wasm_opt: &["-Oz"],
    },
    Module {
        name: "full",
        profile: "wasm-release",
        cargo_flags: &[],
        rustflags: "-C target-feature=+simd128",
        wasm_opt: &["-O3", "--enable-simd"],
    },
];
/// The features rustc enables for this target, which `bindings-js/build.sh` passes to wasm-opt too.
const WASM_OPT_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];
/// `(URL path, file under web/, content type)` of the files written by hand.
const WEB: &[(&str, &str, &str)] = &[
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/app.js", "app.js", "text/javascript; charset=utf-8"),
    ("/app.css", "app.css", "text/css; charset=utf-8"),
    // The icon the page links to, and the same at the path browsers ask for by default (else a 404 in
    // every console).
    ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ("/favicon.ico", "favicon.ico", "image/x-icon"),
    ("/vendor/chart.umd.min.js", "vendor/chart.umd.min.js", "text/javascript; charset=utf-8"),
];

struct Served {
    path: String,
    content_type: &'static str,
    immutable: bool,
    body: Vec<u8>,
}

pub fn build(root: &Path, out_dir: &Path, cargo: &str, rustc: &str) -> Result<(), String> {
    for path in ["bindings-js/src", "bindings-js/Cargo.toml", "core/src", "core/Cargo.toml", "host-server/web"] {
        println!("cargo::rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo::rerun-if-env-changed=MICROPOWER_WASM_OPT");
    super::check_target(rustc, TARGET, "the server's dashboard runs the core in the browser, built for it")?;
    let wasm_opt = find_wasm_opt(root);
    match &wasm_opt {
        Some(tool) => println!("cargo::rerun-if-changed={}", tool.display()),
        None => println!(
            "cargo::warning=wasm-opt not found (npm ci in bindings-js, or set MICROPOWER_WASM_OPT): the \
             dashboard's wasm is served unoptimised"
        ),
    }

    let target_dir = target_dir(out_dir);
    let generated = out_dir.join("dashboard-glue");
    let mut served = Vec::new();
    let mut renames = Vec::new();
    for Module { name, profile, cargo_flags, rustflags, wasm_opt: level } in MODULES {
        let status = super::nested_cargo(cargo, root)
            .args(["build", "--locked", "--profile", *profile, "--package", PACKAGE, "--target", TARGET])
            .arg("--target-dir")
            .arg(&target_dir)
            .args(*cargo_flags)
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", rustflags)
            .status()
            .map_err(|e| format!("could not run {cargo}: {e}"))?;
        if !status.success() {
            return Err(format!("building the dashboard's {name} module ({PACKAGE}, {TARGET}) failed: {status}"));
        }
        let wasm = target_dir.join(TARGET).join(profile).join(ARTIFACT);
        let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
        // Without the name section even when no wasm-opt runs: half the module's bytes, of use to no page.
        bindgen
            .input_path(&wasm)
            .web(true)
            .map_err(|e| format!("wasm-bindgen: {e}"))?
            .typescript(false)
            .remove_name_section(true)
            .remove_producers_section(true)
            .out_name(name);
        bindgen.generate(&generated).map_err(|e| format!("wasm-bindgen on {}: {e:#}", wasm.display()))?;
        let module = generated.join(format!("{name}_bg.wasm"));
        if let Some(tool) = &wasm_opt {
            optimise(tool, level, &module)?;
        }
        for (file, extension, content_type) in [
            (format!("{name}.js"), "js", "text/javascript; charset=utf-8"),
            (format!("{name}_bg.wasm"), "wasm", "application/wasm"),
        ] {
            let body = read(&generated.join(&file))?;
            let stem = file.trim_end_matches(format!(".{extension}").as_str()).to_owned();
            let hashed = format!("/pkg/{stem}.{}.{extension}", short_hash(&body, 16));
            renames.push((format!("\"/pkg/{file}\""), format!("\"{hashed}\"")));
            served.push(Served { path: hashed, content_type, immutable: true, body });
        }
    }

    let web = root.join("host-server/web");
    for (path, file, content_type) in WEB {
        let mut body = read(&web.join(file))?;
        if *file == "app.js" {
            body = rewrite(body, &renames)?;
        }
        served.push(Served { path: (*path).to_owned(), content_type, immutable: false, body });
    }
    write_table(&out_dir.join("dashboard"), &served)
}

/// `MICROPOWER_WASM_OPT`, else the npm build's (`bindings-js/node_modules/.bin/wasm-opt`) when installed.
fn find_wasm_opt(root: &Path) -> Option<PathBuf> {
    if let Some(tool) = std::env::var_os("MICROPOWER_WASM_OPT") {
        return Some(PathBuf::from(tool));
    }
    let npm = root.join("bindings-js/node_modules/.bin/wasm-opt");
    npm.is_file().then_some(npm)
}

fn optimise(tool: &Path, level: &[&str], module: &Path) -> Result<(), String> {
    let status = Command::new(tool)
        .args(WASM_OPT_FEATURES)
        .args(level)
        .arg(module)
        .arg("-o")
        .arg(module)
        .status()
        .map_err(|e| format!("could not run {}: {e}", tool.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} on {} failed: {status}", tool.display(), module.display()))
    }
}

/// `app.js` with each module path replaced by its hashed name; every path must be there exactly once, so a
/// renamed import fails the build instead of a page load.
fn rewrite(body: Vec<u8>, renames: &[(String, String)]) -> Result<Vec<u8>, String> {
    let mut text = String::from_utf8(body).map_err(|e| format!("web/app.js is not UTF-8: {e}"))?;
    for (from, to) in renames {
        let found = text.matches(from.as_str()).count();
        if found != 1 {
            return Err(format!("web/app.js must name {from} exactly once (found {found})"));
        }
        text = text.replace(from.as_str(), to);
    }
    Ok(text.into_bytes())
}

/// Writes each body and its compressed forms into `dir`, and `dir/files.rs`: the table `src/web.rs` includes.
fn write_table(dir: &Path, served: &[Served]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut table = String::from("// Written by host-server/build/dashboard.rs.\n&[\n");
    for (i, file) in served.iter().enumerate() {
        let raw = dir.join(format!("{i}"));
        write(&raw, &file.body)?;
        let gzip = compressed(dir, &format!("{i}.gz"), &file.body, gzip(&file.body)?)?;
        let brotli = compressed(dir, &format!("{i}.br"), &file.body, brotli(&file.body)?)?;
        let etag = format!("W/\"{}\"", short_hash(&file.body, 20));
        let _ = writeln!(
            table,
            "    DashboardFile {{ path: {:?}, content_type: {:?}, immutable: {}, etag: {:?}, identity: \
             include_bytes!({:?}), gzip: {}, brotli: {} }},",
            file.path,
            file.content_type,
            file.immutable,
            etag,
            raw.display().to_string(),
            gzip,
            brotli,
        );
    }
    table.push_str("]\n");
    write(&dir.join("files.rs"), table.as_bytes())
}

/// `Some(include_bytes!(…))` of the compressed body when it is smaller than the body, else `None`.
fn compressed(dir: &Path, name: &str, body: &[u8], packed: Vec<u8>) -> Result<String, String> {
    if packed.len() >= body.len() {
        return Ok("None".to_owned());
    }
    let path = dir.join(name);
    write(&path, &packed)?;
    Ok(format!("Some(include_bytes!({:?}))", path.display().to_string()))
}

fn gzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).and_then(|()| encoder.finish()).map_err(|e| format!("gzip: {e}"))
}

fn brotli(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
    let mut reader = body;
    brotli::BrotliCompress(&mut reader, &mut out, &params).map_err(|e| format!("brotli: {e}"))?;
    Ok(out)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

fn write(path: &Path, body: &[u8]) -> Result<(), String> {
    std::fs::write(path, body).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The first `digits` hex digits of the body's SHA-256.
fn short_hash(body: &[u8], digits: usize) -> String {
    let mut hex = Sha256::digest(body).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    hex.truncate(digits);
    hex
}

/// `dashboard-wasm/` next to the guest's target directory (both inside the outer target directory).
fn target_dir(out_dir: &Path) -> PathBuf {
    let guest = super::guest_target_dir(out_dir);
    guest.parent().map_or_else(|| out_dir.join("dashboard-wasm"), |parent| parent.join("dashboard-wasm"))
}
