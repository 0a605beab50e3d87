//! Native allocation previews per second, the figure the Node build is compared with (BENCHMARKS.md):
//! `allocate_payment` on the first case of `tests/vectors/allocate_payment.json`, three ways — through
//! `json::call` from a JSON argument object (issue 20's yardstick), through `json::call_text` from its text
//! (what the JS binding runs inside the wasm), and through the typed facade with the records already read.
//!
//! `cargo run --release -p micropower-js --example bench_native [seconds per round] [rounds]`

use std::time::{Duration, Instant};

use micropower_core::api::{self, AccountSnapshot, Payment};
use micropower_core::json;
use serde_json::Value;

fn median_rate(seconds: f64, rounds: usize, mut f: impl FnMut()) -> (f64, Vec<u64>) {
    for _ in 0..2000 {
        f();
    }
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs_f64(seconds) {
            for _ in 0..500 {
                f();
            }
            n += 500;
        }
        rates.push(n as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates.get(rates.len() / 2).copied().unwrap_or_default();
    (median, rates.iter().map(|r| r.round() as u64).collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2.0);
    let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let root = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let path = std::path::Path::new(&root).join("../tests/vectors/allocate_payment.json");
    let vector: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let case = vector.pointer("/cases/0").ok_or("no case")?;
    let input = case.get("input").ok_or("no input")?.clone();

    let (json_rate, json_rounds) = median_rate(seconds, rounds, || {
        std::hint::black_box(json::call("allocate_payment", std::hint::black_box(&input)).ok());
    });
    // What the JS binding itself runs: text in, text out.
    let text = input.to_string();
    let (text_rate, text_rounds) = median_rate(seconds, rounds, || {
        std::hint::black_box(json::call_text("allocate_payment", std::hint::black_box(&text)).ok());
    });
    let snapshot: AccountSnapshot = serde_json::from_value(input.get("snapshot").ok_or("no snapshot")?.clone())?;
    let payment: Payment = serde_json::from_value(input.get("payment").ok_or("no payment")?.clone())?;
    let (typed_rate, typed_rounds) = median_rate(seconds, rounds, || {
        std::hint::black_box(api::allocate_payment(Some(std::hint::black_box(&snapshot)), &payment).ok());
    });
    println!(
        "{}",
        serde_json::json!({
            "case": case.get("name"),
            "json_call_per_second": json_rate.round() as u64, "json_call_us": (1e6 / json_rate * 100.0).round() / 100.0,
            "json_rounds": json_rounds,
            "call_text_us": (1e6 / text_rate * 100.0).round() / 100.0, "call_text_rounds": text_rounds,
            "typed_per_second": typed_rate.round() as u64, "typed_us": (1e6 / typed_rate * 100.0).round() / 100.0,
            "typed_rounds": typed_rounds,
        })
    );
    Ok(())
}
