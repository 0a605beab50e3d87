//! `uniffi-bindgen`, pinned to the uniffi version of `micropower-mobile` (the generator and the scaffolding
//! must be the same version). Usage:
//!
//! ```sh
//! cargo run -p uniffi-bindgen -- generate --no-format \
//!     --library "$CARGO_TARGET_DIR/debug/libmicropower_mobile.so" --language kotlin --out-dir out/kotlin
//! ```

fn main() {
    uniffi::uniffi_bindgen_main()
}
