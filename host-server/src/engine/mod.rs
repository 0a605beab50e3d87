//! The core engine: the one way the server asks the core for a decision. Replaced by the engine work
//! (wasmtime component + native); this placeholder keeps the native path so the server builds meanwhile.

use serde_json::Value;

/// A core decision refused, or the engine failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The core refused: `code` is the snake_case error code, `details` its fields.
    #[error("{message}")]
    Core { code: String, variant: String, message: String, details: Value },
    /// The engine itself failed (trap, limit, bad output).
    #[error("core engine failure: {0}")]
    Internal(String),
}

/// Calls core functions by name with JSON arguments.
pub trait Engine: Send + Sync {
    /// Calls `function` with its argument object.
    fn call(&self, function: &str, input: &Value) -> Result<Value, EngineError>;
    /// `"native"` or `"wasm"`.
    fn name(&self) -> &'static str;
}

/// The core called directly.
pub struct NativeEngine;

impl Engine for NativeEngine {
    fn call(&self, function: &str, input: &Value) -> Result<Value, EngineError> {
        micropower_core::json::call(function, input).map_err(|e| EngineError::Core {
            code: e.code().to_owned(),
            variant: e.variant_name().to_owned(),
            message: e.to_string(),
            details: e.details(),
        })
    }

    fn name(&self) -> &'static str {
        "native"
    }
}
