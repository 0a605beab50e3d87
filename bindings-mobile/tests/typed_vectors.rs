//! The shared vectors through the typed functions of the bindings (the Rust side of what the Kotlin tests
//! do on the JVM): the vector's arguments are read as the mirror records, the exported function is called,
//! and its records are written back as JSON and compared with the vector. This catches a mirror that drops
//! or renames a field of the core's types.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use micropower_mobile as m;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

type Outcome = Result<Value, m::MicropowerError>;

fn arg<T: DeserializeOwned>(input: &Value, name: &str) -> Option<T> {
    serde_json::from_value(input.get(name).cloned().unwrap_or(Value::Null)).ok()
}

fn out<T: Serialize>(result: Result<T, m::MicropowerError>) -> Outcome {
    result.map(|v| serde_json::to_value(v).unwrap())
}

/// Runs a case through the typed function, or `None` when its arguments cannot be typed (a float amount,
/// a negative count: the generic path refuses those, and the core's own vector test covers them).
fn typed(function: &str, a: &Value) -> Option<Outcome> {
    let s = |name: &str| a.get(name).and_then(Value::as_str).map(str::to_owned);
    let dec = |name: &str| match a.get(name) {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    };
    Some(match function {
        "normalize_serial" => out(m::normalize_serial(s("raw")?)),
        "normalize_phone" => out(m::normalize_phone(s("raw")?, s("region"))),
        "round_money" => out(m::round_money(dec("amount")?, s("currency")?)),
        "unit_price" => out(m::unit_price(arg(a, "tariff")?)),
        "energy_for_money" => out(m::energy_for_money(arg(a, "tariff")?, dec("net_amount")?)),
        "installment_schedule" => out(m::installment_schedule(arg(a, "terms")?, s("currency")?)),
        "eaas_price" => out(m::eaas_price(arg(a, "plan")?, dec("days")?)),
        "allocate_payment" => out(m::allocate_payment(arg(a, "snapshot")?, arg(a, "payment")?)),
        "validate_payment" => out(m::validate_payment(arg(a, "snapshot")?, arg(a, "request")?)),
        "openpaygo_generate" => out(m::openpaygo_generate(
            s("secret_key")?,
            arg(a, "starting_code")?,
            arg(a, "count")?,
            s("kind")?,
            match a.get("value") {
                None | Some(Value::Null) => None,
                Some(_) => Some(dec("value")?),
            },
            arg::<Option<u32>>(a, "time_divider")?.unwrap_or(1),
            arg::<Option<bool>>(a, "restricted_digits")?.unwrap_or(false),
            arg::<Option<bool>>(a, "extended")?.unwrap_or(false),
        )),
        "openpaygo_decode" => out(m::openpaygo_decode(
            s("secret_key")?,
            arg(a, "starting_code")?,
            s("token")?,
            arg::<Option<m::DecoderState>>(a, "state")?.unwrap_or_default(),
            arg::<Option<u32>>(a, "time_divider")?.unwrap_or(1),
            arg::<Option<bool>>(a, "restricted_digits")?.unwrap_or(false),
            arg::<Option<bool>>(a, "extended")?.unwrap_or(false),
        )),
        _ => return None,
    })
}

/// The core leaves absent options and empty touched-plan lists out of its JSON; the mirrors write them as
/// `null` and `[]`. Drops both before comparing.
fn strip(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, v)| !(v.is_null() || (k == "plans" && v.as_array().is_some_and(Vec::is_empty))))
                .map(|(k, v)| (k, strip(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip).collect()),
        other => other,
    }
}

#[test]
fn vectors_through_the_typed_functions() {
    // Read at run time (cargo sets it): a test binary built in another clone sharing the target
    // directory, and found fresh here, would otherwise look in that clone.
    let dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()))
            .join("../tests/vectors");
    let (mut ran, mut failures) = (0, Vec::new());
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let function = doc["function"].as_str().unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let Some(got) = typed(function, &case["input"]) else { continue };
            ran += 1;
            let ok = match (case.get("output"), case.get("error"), &got) {
                (Some(want), _, Ok(v)) => strip(v.clone()) == strip(want.clone()),
                (_, Some(code), Err(e)) => e.code() == code,
                _ => false,
            };
            if !ok {
                let got = match got {
                    Ok(v) => v.to_string(),
                    Err(e) => format!("{}: {e}", e.code()),
                };
                failures.push(format!("{function} / {}: got {got}", case["name"]));
            }
        }
    }
    assert!(failures.is_empty(), "{} typed cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(ran > 150, "only {ran} cases ran through typed functions");
    eprintln!("{ran} vector cases passed through the typed functions");
}

#[test]
fn the_generic_call_reaches_every_core_function() {
    let functions = m::core_functions();
    assert_eq!(functions.len(), micropower_core::json::FUNCTIONS.len());
    let out = m::call("normalize_serial".into(), json!({"raw": " shs-0001 "}).to_string()).unwrap();
    assert_eq!(out, "\"SHS0001\"");
    let e = m::call("nope".into(), "{}".into()).unwrap_err();
    assert_eq!((e.variant_name(), e.code()), ("NotFound", "not_found"));
    let e = m::call("normalize_serial".into(), "{".into()).unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert_eq!(m::error_codes().len(), micropower_core::CoreError::ALL_CODES.len());
}

#[test]
fn a_malformed_decimal_names_its_field() {
    let tariff = m::Tariff {
        id: None,
        currency: "TZS".into(),
        price_per_kwh: "5OO".into(),
        fees: vec![],
        access_rate: None,
        minimum_purchase: "0".into(),
        energy_step_kwh: None,
    };
    let e = m::energy_for_money(tariff, "1000".into()).unwrap_err();
    let details: Value = serde_json::from_str(e.details()).unwrap();
    assert_eq!((e.variant_name(), details["field"].as_str()), ("InvalidInput", Some("tariff.price_per_kwh")));
    let e = m::openpaygo_generate(
        "a29ab82edc5fbbc41ec9530f6dac86b1".into(),
        None,
        0,
        "add_days".into(),
        None,
        1,
        false,
        false,
    )
    .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
}
