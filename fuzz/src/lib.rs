//! What the fuzz targets check.
//!
//! Core targets: the core answers any input with an output or a typed refusal, never a panic, and its
//! outputs are plain JSON again. The inputs are JSON texts, seeded from `tests/vectors` (`scripts/fuzz.sh`
//! writes the seeds), so libFuzzer mutates realistic snapshots rather than random bytes.
//!
//! Server targets (the provider hooks' parsers and signature checks, the API's JSON bodies): any bytes are
//! accepted or refused without a panic; an accepted body holds no NUL character; a refused one is a 400
//! naming its field. Seeds are the provider examples of the tests and the reference (`fuzz/seeds/`).

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

/// Whether any string or object key in `value` holds a NUL character.
pub fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// The first JSON value of `data`, whatever follows it: what a streaming parser of the server reads.
pub fn first_value(data: &[u8]) -> Option<Value> {
    serde_json::Deserializer::from_slice(data).into_iter::<Value>().next().and_then(Result::ok)
}

/// What every refusal of a body must be: 400 `invalid_input` naming a non-empty field, with a message, in
/// a body that prints as JSON.
pub fn check_refusal(error: &micropower_server::error::ApiError) {
    assert_eq!(error.status.as_u16(), 400, "{:?}", error.body);
    assert_eq!(error.code(), "invalid_input", "{:?}", error.body);
    let field = error.body.get("field").and_then(Value::as_str).unwrap_or_default();
    assert!(!field.is_empty(), "a refusal names its field: {:?}", error.body);
    assert!(error.body.get("message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()));
    assert!(serde_json::to_string(&error.body).is_ok());
}

/// Checks a successful parse of `data`: it is UTF-8 text, and holds no NUL character (PostgreSQL cannot store
/// one; the server refuses it at the parse, everywhere). When the text does not read as a plain JSON value
/// (a number beyond f64 in a field the type ignores), it must not spell the escape at all.
pub fn check_accepted(data: &[u8]) {
    assert!(std::str::from_utf8(data).is_ok(), "an accepted body is UTF-8");
    match first_value(data) {
        Some(value) => assert!(!holds_nul(&value), "a body holding a NUL character was accepted"),
        None => assert!(!data.windows(6).any(|w| w == b"\\u0000"), "an unreadable body spelling \\u0000 was accepted"),
    }
}

/// `<header>\n<body>`: a signature header (when it is text, as an HTTP header value must be) and the raw body.
pub fn header_and_body(data: &[u8]) -> (Option<&str>, &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(split) => {
            let (header, rest) = data.split_at(split);
            (std::str::from_utf8(header).ok(), rest.get(1..).unwrap_or_default())
        }
        None => (None, data),
    }
}
