//! The JSON facade: every public function of [`crate::api`] by name, with its arguments as one JSON object.
//!
//! The shared vectors (`tests/vectors/*.json`) are written against these names and argument objects, and
//! hosts that speak JSON (the WebAssembly guest) call through here. Each arm is a conversion plus one call.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{CoreError, CoreResult};

/// Calls the core function `function` with the named arguments in `input`; returns its output as JSON.
pub fn call(function: &str, input: &Value) -> CoreResult<Value> {
    match function {
        // --- OpenPAYGO (filled by the OpenPAYGO issue) ---
        // --- end OpenPAYGO ---
        _ => Err(CoreError::NotFound { entity: "function".into(), id: function.to_owned() }),
    }
}

/// Every function name [`call`] knows, for bindings and runners that check their coverage.
pub const FUNCTIONS: &[&str] = &[
    // --- OpenPAYGO ---
    // --- end OpenPAYGO ---
];

/// Deserialises the argument object, runs `f`, serialises its output.
fn run<A, R, F>(input: &Value, f: F) -> CoreResult<Value>
where
    A: DeserializeOwned,
    R: Serialize,
    F: FnOnce(A) -> CoreResult<R>,
{
    let args = A::deserialize(input).map_err(|e| CoreError::invalid("input", e.to_string()))?;
    let out = f(args)?;
    serde_json::to_value(out).map_err(|e| CoreError::invalid("output", e.to_string()))
}
