//! The core linked into the server: `micropower_core::json::call`, nothing around it.

use serde_json::Value;

use super::{Engine, EngineError};

/// Calls `micropower_core::json::call` in-process.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeEngine;

impl Engine for NativeEngine {
    fn call(&self, function: &str, input: &Value) -> Result<Value, EngineError> {
        micropower_core::json::call(function, input).map_err(|e| EngineError::from_core(&e))
    }

    fn name(&self) -> &'static str {
        "native"
    }
}
