//! Runs every shared vector in `tests/vectors/` through the JSON facade, and again as a host holding types
//! would: the argument struct of [`micropower_core::calls`] written back to text, called by text, and the
//! output read into the function's output type and written again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use micropower_core::calls::{self, CoreFn, Visitor};
use micropower_core::{json, CoreError};
use serde_json::Value;

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
fn every_vector_case_passes() {
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut functions = BTreeSet::new();
    let mut codes = BTreeSet::new();
    for file in vector_files() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let function = doc["function"].as_str().unwrap_or_else(|| panic!("{}: no function", file.display()));
        functions.insert(function.to_owned());
        for case in doc["cases"].as_array().unwrap_or_else(|| panic!("{}: no cases", file.display())) {
            cases += 1;
            let name = case["name"].as_str().unwrap_or("?");
            let got = json::call(function, &case["input"]);
            let typed = calls::dispatch(function, Typed(&case["input"])).unwrap_or_else(|| got.clone());
            if typed != got {
                failures.push(format!("{} / {name}: typed call gave {}", file.display(), describe(&typed)));
            }
            let verdict = match (case.get("output"), case.get("error").and_then(Value::as_str), &got) {
                (Some(want), None, Ok(out)) if out == want => None,
                (None, Some(code), Err(e)) if e.code() == code => {
                    codes.insert(code.to_owned());
                    None
                }
                (Some(want), None, _) => Some(format!("want {want}, got {}", describe(&got))),
                (None, Some(code), _) => Some(format!("want error {code}, got {}", describe(&got))),
                _ => Some("a case needs exactly one of `output` and `error`".to_owned()),
            };
            if let Some(why) = verdict {
                failures.push(format!("{} / {name}: {why}", file.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {cases} vector cases failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{cases} vector cases passed over {} functions", functions.len());
    let untested: Vec<_> = json::FUNCTIONS.iter().filter(|f| !functions.contains(**f)).collect();
    assert!(untested.is_empty(), "functions without vectors: {untested:?}");
    let unexercised: Vec<_> = CoreError::ALL_CODES.iter().filter(|c| !codes.contains(**c)).collect();
    assert!(unexercised.is_empty(), "error codes without a vector: {unexercised:?}");
}

/// The call as a host holding types makes it (the server's engines). Input the argument struct refuses is
/// the facade's refusal, the same either way.
struct Typed<'a>(&'a Value);

impl Visitor for Typed<'_> {
    type Output = Result<Value, CoreError>;
    fn visit<F: CoreFn>(self) -> Self::Output {
        let Ok(args) = F::deserialize(self.0) else { return json::call(F::NAME, self.0) };
        let text = serde_json::to_string(&args).expect("an argument struct writes as JSON");
        let output = json::call_text(F::NAME, &text)?;
        let output: F::Output = serde_json::from_str(&output)
            .unwrap_or_else(|e| panic!("{}: the output does not read back as its type: {e}\n{output}", F::NAME));
        Ok(serde_json::to_value(output).expect("an output writes as JSON"))
    }
}

fn describe(result: &Result<Value, CoreError>) -> String {
    match result {
        Ok(v) => v.to_string(),
        Err(e) => format!("error {} ({e})", e.code()),
    }
}
