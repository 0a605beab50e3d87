//! Python bindings (pyo3) over `micropower-core`: the private native module `micropower._native`, which the
//! public Python package `micropower` (`python/micropower/`) wraps with `Decimal`, `datetime.date` and one
//! exception class per core error variant.
//!
//! A binding is conversions plus one call: [`native`] turns Python arguments into the core's wire form and
//! calls [`micropower_core::json::call`] or a core report; [`export`] reads the server's export (JSON Lines)
//! into the core's record types. No business rule lives here or in the Python package.

pub mod export;
mod native;
