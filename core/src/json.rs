//! The JSON facade: every public core function by name, with its arguments as one JSON object.
//!
//! The shared vectors (`tests/vectors/*.json`) are written against these names and argument objects, and
//! hosts that speak JSON (the WebAssembly guest, the bindings) call through here. The functions, their
//! argument objects and outputs are the table of [`crate::calls`]; this file only reads and writes JSON.

use serde::Serialize;
use serde_json::Value;

use crate::calls::{self, CoreFn, Visitor};
use crate::error::{CoreError, CoreResult};

pub use crate::calls::FUNCTIONS;

/// Calls the core function `function` with the named arguments in `input`; returns its output as JSON.
pub fn call(function: &str, input: &Value) -> CoreResult<Value> {
    struct FromValue<'a>(&'a Value);
    impl Visitor for FromValue<'_> {
        type Output = CoreResult<Value>;
        fn visit<F: CoreFn>(self) -> CoreResult<Value> {
            let args = F::deserialize(self.0).map_err(|e| CoreError::invalid("input", e.to_string()))?;
            serde_json::to_value(args.call()?).map_err(|e| CoreError::invalid("output", e.to_string()))
        }
    }
    calls::dispatch(function, FromValue(input)).unwrap_or_else(|| Err(unknown(function)))
}

/// [`call`] from JSON text to JSON text, with no [`Value`] in between: the argument object is read straight
/// into the function's argument struct and the output written straight to text. For hosts that hold text
/// anyway (the WebAssembly guest, Python, Kotlin/Swift, Node), this is the cheaper way in.
pub fn call_text(function: &str, input: &str) -> CoreResult<String> {
    struct FromText<'a>(&'a str);
    impl Visitor for FromText<'_> {
        type Output = CoreResult<String>;
        fn visit<F: CoreFn>(self) -> CoreResult<String> {
            call_text_as::<F>(self.0)
        }
    }
    calls::dispatch(function, FromText(input)).unwrap_or_else(|| Err(unknown(function)))
}

/// [`call_text`] of the function `F`, for a host that dispatches by name itself (the browser's first-page
/// module keeps only some functions, so the others are never compiled into it).
pub fn call_text_as<F: CoreFn>(input: &str) -> CoreResult<String> {
    let args: F = serde_json::from_str(input).map_err(|e| CoreError::invalid("input", e.to_string()))?;
    to_text(&args.call()?)
}

/// A function's output as JSON text.
pub fn to_text<T: Serialize>(output: &T) -> CoreResult<String> {
    serde_json::to_string(output).map_err(|e| CoreError::invalid("output", e.to_string()))
}

/// The refusal of a name that is no core function.
pub fn unknown(function: &str) -> CoreError {
    CoreError::NotFound { entity: "function".into(), id: function.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_value_calls_agree_and_unknown_names_are_not_found() {
        let input = serde_json::json!({"amount": "1234.567", "currency": "KES"});
        let by_value = call("round_money", &input);
        let by_text = call_text("round_money", &input.to_string());
        assert_eq!(by_value, Ok(Value::String("1234.57".into())));
        assert_eq!(by_text.as_deref(), Ok("\"1234.57\""));
        let missing = call_text("no_such_function", "{}").map_err(|e| e.code());
        assert_eq!(missing, Err("not_found"));
        let garbage = call_text("round_money", "{").map_err(|e| e.code());
        assert_eq!(garbage, Err("invalid_input"));
    }
}
