//! The micropower server: it owns the data and asks the core (`micropower-core`) for every decision.
//!
//! [`engine`] runs the core, inside wasmtime or natively. The HTTP API, storage and the rest arrive next to it.

pub mod engine;
