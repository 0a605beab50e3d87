//! The JSON facade: every public function of [`crate::api`] by name, with its arguments as one JSON object.
//!
//! The shared vectors (`tests/vectors/*.json`) are written against these names and argument objects, and
//! hosts that speak JSON (the WebAssembly guest) call through here. Each arm is a conversion plus one call.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{CoreError, CoreResult};
use crate::openpaygo;

/// Calls the core function `function` with the named arguments in `input`; returns its output as JSON.
pub fn call(function: &str, input: &Value) -> CoreResult<Value> {
    match function {
        // --- OpenPAYGO (filled by the OpenPAYGO issue) ---
        "openpaygo_generate" => run(input, |a: OpenPaygoGenerateArgs| {
            openpaygo::openpaygo_generate(
                &a.secret_key,
                a.starting_code,
                a.count,
                a.kind,
                a.value,
                a.time_divider,
                a.restricted_digits,
                a.extended,
            )
        }),
        "openpaygo_decode" => run(input, |a: OpenPaygoDecodeArgs| {
            openpaygo::openpaygo_decode(
                &a.secret_key,
                a.starting_code,
                &a.token,
                &a.state,
                a.time_divider,
                a.restricted_digits,
                a.extended,
            )
        }),
        "openpaygo_tokens_for_request" => {
            run(input, |a: OpenPaygoTokensForRequestArgs| openpaygo::tokens_for_request(&a.device, &a.request))
        }
        // --- end OpenPAYGO ---
        _ => Err(CoreError::NotFound { entity: "function".into(), id: function.to_owned() }),
    }
}

/// Every function name [`call`] knows, for bindings and runners that check their coverage.
pub const FUNCTIONS: &[&str] = &[
    // --- OpenPAYGO ---
    "openpaygo_generate",
    "openpaygo_decode",
    "openpaygo_tokens_for_request",
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

// --- OpenPAYGO arguments ---

fn one() -> u32 {
    1
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenPaygoGenerateArgs {
    secret_key: String,
    #[serde(default)]
    starting_code: Option<u32>,
    count: u32,
    kind: openpaygo::OpenPaygoKind,
    #[serde(default, with = "crate::wire::dec_opt")]
    value: Option<rust_decimal::Decimal>,
    #[serde(default = "one")]
    time_divider: u32,
    #[serde(default)]
    restricted_digits: bool,
    #[serde(default)]
    extended: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenPaygoDecodeArgs {
    secret_key: String,
    #[serde(default)]
    starting_code: Option<u32>,
    token: String,
    #[serde(default)]
    state: openpaygo::DecoderState,
    #[serde(default = "one")]
    time_divider: u32,
    #[serde(default)]
    restricted_digits: bool,
    #[serde(default)]
    extended: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenPaygoTokensForRequestArgs {
    device: openpaygo::OpenPaygoDevice,
    request: crate::token::TokenRequest,
}

// --- end OpenPAYGO arguments ---
