//! JavaScript bindings (wasm-bindgen) over micropower-core; filled by the JS issue.
//!
//! A skeleton for now: it only proves the crate links against the core facade.

pub use micropower_core::api::normalize_serial;
