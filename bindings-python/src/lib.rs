//! Python bindings (pyo3) over micropower-core; filled by the Python issue.
//!
//! A skeleton for now: it only proves the crate links against the core facade.

pub use micropower_core::api::normalize_serial;
