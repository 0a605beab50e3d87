//! OpenPAYGO token throughput at a device count of about 100 (each token walks its hash chain from count 0,
//! so the cost grows with the count; 100 is a device a few years into daily top-ups).
//!
//! `cargo bench -p micropower-core --bench openpaygo`; `tests/openpaygo/bench_compare.sh` compares the
//! same work with the Python reference.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use micropower_core::openpaygo::{openpaygo_decode, openpaygo_generate, DecoderState, OpenPaygoKind};
use rust_decimal::Decimal;

const KEY: &str = "a29ab82edc5fbbc41ec9530f6dac86b1";

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("openpaygo");
    group.throughput(Throughput::Elements(1));
    group.bench_function("generate add time, count 99 -> 100", |b| {
        b.iter(|| {
            openpaygo_generate(
                black_box(KEY),
                Some(123_456_789),
                black_box(99),
                OpenPaygoKind::AddTime,
                Some(Decimal::from(30)),
                1,
                false,
                false,
            )
            .unwrap()
        })
    });
    group.bench_function("generate extended restricted, count 99 -> 100", |b| {
        b.iter(|| {
            openpaygo_generate(
                black_box(KEY),
                Some(123_456_789),
                black_box(99),
                OpenPaygoKind::AddTime,
                Some(Decimal::from(30)),
                1,
                true,
                true,
            )
            .unwrap()
        })
    });
    let token =
        openpaygo_generate(KEY, Some(123_456_789), 99, OpenPaygoKind::AddTime, Some(30.into()), 1, false, false)
            .unwrap();
    let state = DecoderState { last_count: 99, used_counts: vec![] };
    group.bench_function("decode add time at count 100", |b| {
        b.iter(|| openpaygo_decode(black_box(KEY), Some(123_456_789), black_box(&token.code), &state, 1, false, false))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
