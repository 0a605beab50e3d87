//! What every fuzz target checks: the core answers any input with an output or a typed refusal, never a
//! panic, and its outputs are plain JSON again. The inputs are JSON texts, seeded from `tests/vectors`
//! (`scripts/fuzz.sh` writes the seeds), so libFuzzer mutates realistic snapshots rather than random bytes.

use serde_json::Value;

/// Calls `function` with `data` read as its JSON argument object. Text that is not JSON is skipped: the
/// JSON parser is not what is under test, the core's handling of any well-formed input is.
pub fn call_with_json(function: &str, data: &[u8]) {
    let Ok(input) = serde_json::from_slice::<Value>(data) else { return };
    check(function, &input);
}

/// `<function name>\n<JSON argument object>`: any function of the core by name.
pub fn call_any(data: &[u8]) {
    let Some(split) = data.iter().position(|b| *b == b'\n') else { return };
    let (name, rest) = data.split_at(split);
    let Ok(name) = std::str::from_utf8(name) else { return };
    if !micropower_core::json::FUNCTIONS.contains(&name) {
        return;
    }
    call_with_json(name, rest.get(1..).unwrap_or_default());
}

fn check(function: &str, input: &Value) {
    match micropower_core::json::call(function, input) {
        Ok(output) => {
            // An output must survive the wire: printed and read back unchanged.
            let text = serde_json::to_string(&output).expect("outputs print as JSON");
            let back: Value = serde_json::from_str(&text).expect("printed outputs read back");
            assert_eq!(back, output, "{function}: output changed over the wire");
        }
        Err(refusal) => {
            // Every refusal has a stable code from the published list.
            assert!(micropower_core::CoreError::ALL_CODES.contains(&refusal.code()), "{function}: unknown code");
        }
    }
}
