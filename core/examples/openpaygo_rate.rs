//! Prints how many standard OpenPAYGO tokens per second the core mints at a device count of about 100:
//! `cargo run --release -p micropower-core --example openpaygo_rate [seconds]`. Used by
//! `tests/openpaygo/bench_compare.sh`, which measures the Python reference on the same work.

use std::hint::black_box;
use std::time::{Duration, Instant};

use micropower_core::openpaygo::{openpaygo_generate, OpenPaygoKind};
use rust_decimal::Decimal;

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let budget = Duration::from_secs_f64(seconds);
    let value = Some(Decimal::from(30));
    let mint = |count| {
        openpaygo_generate(
            "a29ab82edc5fbbc41ec9530f6dac86b1",
            Some(123_456_789),
            count,
            OpenPaygoKind::AddTime,
            value,
            1,
            false,
            false,
        )
    };
    // The same token as the reference's (bench_compare.sh checks it on that side), so both time one work.
    match mint(99) {
        Ok(token) if token.code == "838995819" && token.count == 100 => {}
        other => {
            eprintln!("unexpected token {other:?}");
            std::process::exit(1);
        }
    }
    let start = Instant::now();
    let mut tokens: u64 = 0;
    let mut failures: u64 = 0;
    // Checking the clock every 1000 tokens keeps its cost out of the figure.
    while start.elapsed() < budget {
        for _ in 0..1000 {
            // An add time token after count 99: a walk of 100 hash steps.
            match mint(black_box(99)) {
                Ok(token) => {
                    black_box(token);
                }
                Err(_) => failures += 1,
            }
        }
        tokens += 1000;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("rust tokens/s: {:.0} ({tokens} tokens in {elapsed:.2} s, {failures} errors)", tokens as f64 / elapsed);
}
