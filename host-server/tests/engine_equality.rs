//! Every case of every shared vector (`tests/vectors/*.json`) through both engines: the wasm engine and the
//! native engine give identical results (output, or refusal with the same code, variant, message and
//! details), and each equals the vector's expectation. Each case runs twice: by name and JSON text, as the
//! shared vectors are written, and typed, as the server calls the core (`dyn Engine::call` with the
//! function's argument struct).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::LazyLock;

use micropower_core::calls::{self, CoreFn, Visitor};
use micropower_core::json;
use micropower_server::engine::{Engine, EngineError, NativeEngine, WasmConfig, WasmEngine};
use serde_json::Value;

/// Compiling the guest takes a few seconds of CPU: once per test binary.
static WASM: LazyLock<WasmEngine> = LazyLock::new(|| WasmEngine::new(WasmConfig::default()).expect("wasm engine"));

fn vector_files() -> Vec<PathBuf> {
    // Read at run time (cargo sets it): a test binary built in another clone sharing the target
    // directory, and found fresh here, would otherwise look in that clone.
    let dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()))
            .join("../tests/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn both_engines_agree_with_every_vector() {
    let wasm = &*WASM;
    let native = NativeEngine;
    let (mut cases, mut refusals) = (0, 0);
    let mut most_fuel = (0, String::new());
    let mut failures = Vec::new();
    let mut functions = Vec::new();
    for file in vector_files() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let function = doc["function"].as_str().expect("function").to_owned();
        for case in doc["cases"].as_array().expect("cases") {
            cases += 1;
            let name = format!("{function} / {}", case["name"].as_str().unwrap_or("?"));
            let input = case["input"].to_string();
            let (from_wasm, fuel) = wasm.call_metered(&function, &input);
            if fuel > most_fuel.0 {
                most_fuel = (fuel, name.clone());
            }
            let from_wasm = from_wasm.map(|text| serde_json::from_str::<Value>(&text).unwrap());
            let from_native = native.call_text(&function, &input).map(|text| serde_json::from_str(&text).unwrap());
            if from_wasm != from_native {
                failures.push(format!("{name}: engines differ\n  wasm:   {from_wasm:?}\n  native: {from_native:?}"));
                continue;
            }
            let typed = Typed { input: &case["input"], wasm, native: &native };
            if let Some((typed_wasm, typed_native)) = calls::dispatch(&function, typed).flatten() {
                if typed_wasm != from_wasm || typed_native != from_wasm {
                    failures.push(format!(
                        "{name}: typed calls differ from text calls\n  wasm: {typed_wasm:?}\n  native: {typed_native:?}"
                    ));
                    continue;
                }
            }
            match (case.get("output"), case.get("error").and_then(Value::as_str), &from_wasm) {
                (Some(want), None, Ok(got)) if got == want => {}
                (None, Some(code), Err(EngineError::Core(got))) if got.code() == code => refusals += 1,
                (want, code, got) => {
                    failures.push(format!("{name}: want {want:?} / error {code:?}, got {got:?}"));
                }
            }
        }
        functions.push(function);
    }
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
    let untested: Vec<_> = json::FUNCTIONS.iter().filter(|f| !functions.iter().any(|g| g == *f)).collect();
    assert!(untested.is_empty(), "functions without vectors: {untested:?}");
    assert!(cases > 100, "only {cases} vector cases found");
    eprintln!("{cases} vector cases ({refusals} refusals) identical on the wasm and native engines");
    eprintln!("most fuel: {} ({})", most_fuel.0, most_fuel.1);
    // The default budget stops runaways, not real work: keep a wide margin over the costliest vector.
    assert!(
        most_fuel.0.saturating_mul(20) < wasm.config().fuel,
        "{} uses {} fuel: within 20x of the budget {}",
        most_fuel.1,
        most_fuel.0,
        wasm.config().fuel
    );
}

/// A case called as the server calls the core: its argument struct through `dyn Engine::call`, on both
/// engines, outputs written back as JSON. `None` when the input does not read as the argument struct (a
/// refusal of shape, which only the text path can receive).
struct Typed<'a> {
    input: &'a Value,
    wasm: &'a dyn Engine,
    native: &'a dyn Engine,
}

type Both = (Result<Value, EngineError>, Result<Value, EngineError>);

impl Visitor for Typed<'_> {
    type Output = Option<Both>;
    fn visit<F: CoreFn>(self) -> Option<Both> {
        let args = F::deserialize(self.input).ok()?;
        let as_json = |out: F::Output| serde_json::to_value(out).unwrap();
        Some((self.wasm.call(args.clone()).map(as_json), self.native.call(args).map(as_json)))
    }
}

/// Refusals that are not in the vectors: bad JSON shapes and unknown functions refuse alike on both engines.
#[test]
fn both_engines_refuse_alike_outside_the_vectors() {
    let wasm = &*WASM;
    let inputs = [
        ("no_such_function", serde_json::json!({})),
        ("round_money", serde_json::json!({"amount": "1.005"})),
        ("round_money", serde_json::json!([1, 2, 3])),
        ("normalize_serial", serde_json::json!({"raw": "  ab-12 ", "extra": true})),
        ("normalize_serial", serde_json::json!({"raw": "é".repeat(100)})),
    ];
    for (function, input) in inputs {
        let input = input.to_string();
        let from_wasm = wasm.call_text(function, &input);
        assert_eq!(from_wasm, NativeEngine.call_text(function, &input), "{function} {input}");
        assert!(matches!(from_wasm, Err(EngineError::Core(_))), "{function} {input}: {from_wasm:?}");
    }
}

#[test]
fn engine_is_chosen_by_name() {
    assert_eq!(micropower_server::engine::new("native".parse().unwrap(), None).unwrap().name(), "native");
    assert!("python".parse::<micropower_server::engine::EngineKind>().is_err());
    assert_eq!(WASM.name(), "wasm");
}

/// A payment's two calls take the wasm engine's typed route (WIT records, no JSON text); every other
/// function goes as text. The agreement of both routes with the vectors is the first test's.
#[test]
fn the_payment_path_crosses_as_records_and_the_rest_as_text() {
    let wasm: &dyn Engine = &*WASM;
    let doc: Value = serde_json::from_str(include_str!("../../tests/vectors/allocate_payment.json")).unwrap();
    let mut allocate =
        Some(serde_json::from_value::<calls::AllocatePayment>(doc["cases"][0]["input"].clone()).unwrap());
    assert!(matches!(wasm.call_record(&mut allocate), Some(Ok(_))));
    assert!(allocate.is_none(), "the route took the arguments");
    let doc: Value = serde_json::from_str(include_str!("../../tests/vectors/validate_payment.json")).unwrap();
    let mut validate =
        Some(serde_json::from_value::<calls::ValidatePayment>(doc["cases"][0]["input"].clone()).unwrap());
    assert!(wasm.call_record(&mut validate).is_some());
    assert!(validate.is_none(), "the route took the validation's arguments");
    let mut serial = Some(calls::NormalizeSerial { raw: "mtr-1".into() });
    let normalized = wasm.call_record(&mut serial).unwrap().unwrap().downcast::<String>().unwrap();
    assert_eq!(*normalized, "MTR1");
    let mut round = Some(calls::RoundMoney { amount: "1.005".parse().unwrap(), currency: "KES".into() });
    assert!(wasm.call_record(&mut round).is_none());
    assert!(round.is_some(), "arguments without a typed route stay for the text path");
    let mut serial = Some(calls::NormalizeSerial { raw: "mtr-1".into() });
    assert!(NativeEngine.call_record(&mut serial).is_none(), "the native engine needs no route: it is typed");
}
