//! Differential test against the OpenPAYGO reference (`openpaygo` 0.6.3).
//!
//! `tests/openpaygo/differential.sh` has the reference write thousands of random cases as JSON lines and
//! runs this test with `OPENPAYGO_CASES` pointing at them; without it the test is skipped. Each line is a
//! shared-vector case plus a `function`: every field of its `output` must equal ours (a decode output lists
//! only what the reference decides, not the device state), or we must fail with its `error`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use micropower_core::json;
use serde_json::Value;

#[test]
fn same_tokens_as_the_reference() {
    let Ok(path) = std::env::var("OPENPAYGO_CASES") else {
        eprintln!("openpaygo differential skipped: set OPENPAYGO_CASES (tests/openpaygo/differential.sh does)");
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let (mut passed, mut failures) = (0, Vec::new());
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}:{}: {e}", number + 1));
        let function = case["function"].as_str().unwrap();
        let got = json::call(function, &case["input"]);
        let verdict = match (case.get("output"), case.get("error").and_then(Value::as_str), &got) {
            (Some(want), None, Ok(out)) if contains(out, want) => None,
            (None, Some(code), Err(e)) if e.code() == code => None,
            (_, _, Ok(out)) => Some(format!("got {out}")),
            (_, _, Err(e)) => Some(format!("got error {} ({e})", e.code())),
        };
        match verdict {
            None => passed += 1,
            Some(why) => failures.push(format!("{path}:{}: {}: {why}\n    case: {line}", number + 1, case["name"])),
        }
    }
    for failure in failures.iter().take(20) {
        eprintln!("{failure}");
    }
    eprintln!("openpaygo differential: {passed} passed, {} failed", failures.len());
    assert!(failures.is_empty(), "{} cases differ from the reference", failures.len());
    assert!(passed > 0, "{path} holds no case");
}

/// Every field of `want` (recursively for objects) is in `got` with the same value.
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(got), Value::Object(want)) => {
            want.iter().all(|(key, w)| got.get(key).is_some_and(|g| contains(g, w)))
        }
        _ => got == want,
    }
}
