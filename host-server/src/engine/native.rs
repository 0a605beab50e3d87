//! The core linked into the server: typed calls run it directly, text calls go through
//! `micropower_core::json::call_text`.

use super::{Engine, EngineError};

/// The core in-process.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeEngine;

impl Engine for NativeEngine {
    fn call_text(&self, function: &str, input: &str) -> Result<String, EngineError> {
        micropower_core::json::call_text(function, input).map_err(EngineError::Core)
    }

    fn name(&self) -> &'static str {
        "native"
    }

    fn is_native(&self) -> bool {
        true
    }
}
