//! Mobile bindings (uniffi) over micropower-core; filled by the mobile issue.
//!
//! A skeleton for now: it only proves the crate links against the core facade.

pub use micropower_core::api::normalize_serial;
