//! Criterion benchmarks for the reports over a large installment book: debt aging over 1,000,000
//! installments must take well under a second (target ≤ 1 s), and PAR and collection rate ride along for
//! comparison. Figures and the command are in BENCHMARKS-reports.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use chrono::{Days, NaiveDate};
use criterion::{criterion_group, criterion_main, Criterion};
use micropower_core::money::Currency;
use micropower_core::report::{collection_rate, debt_aging, par_30_60_90, InstallmentRecord};
use rust_decimal::Decimal;

const INSTALLMENTS: usize = 1_000_000;
const PER_PLAN: usize = 5;

/// 200,000 five-installment plans, weekly, started over two years; one plan in twenty is in KES so the
/// currency filter does real work; payments thin out for later installments, so every aging bucket fills.
/// A fixed linear congruential sequence makes the book the same on every run.
fn book() -> Vec<InstallmentRecord> {
    let tzs = Currency::parse("TZS").unwrap();
    let kes = Currency::parse("KES").unwrap();
    let first = NaiveDate::from_ymd_opt(2024, 7, 1).unwrap();
    let mut seed: u64 = 0x5eed;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let mut records = Vec::with_capacity(INSTALLMENTS);
    for plan in 0..INSTALLMENTS / PER_PLAN {
        let currency = if plan % 20 == 0 { kes } else { tzs };
        let start = first + Days::new(next() % 730);
        let amount = Decimal::from(1_000 + (next() % 50) * 1_000);
        for number in 1..=PER_PLAN as u32 {
            let paid = match next() % (number as u64 + 2) {
                0 => Decimal::ZERO,
                1 => amount / Decimal::TWO,
                _ => amount,
            };
            records.push(InstallmentRecord {
                plan_id: format!("plan-{plan}"),
                customer_id: format!("c-{plan}"),
                currency,
                location: None,
                number,
                due_date: start + Days::new(7 * u64::from(number)),
                amount,
                paid,
            });
        }
    }
    records
}

fn reports(c: &mut Criterion) {
    let book = book();
    let tzs = Currency::parse("TZS").unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();

    c.bench_function("debt_aging over 1,000,000 installments", |b| {
        b.iter(|| debt_aging(black_box(&book), &[], &tzs, black_box(as_of)).unwrap())
    });
    c.bench_function("par_30_60_90 over 1,000,000 installments (200,000 plans)", |b| {
        b.iter(|| par_30_60_90(black_box(&book), &[], &tzs, black_box(as_of)).unwrap())
    });
    c.bench_function("collection_rate over 1,000,000 installments", |b| {
        b.iter(|| collection_rate(black_box(&book), &tzs, black_box(from), black_box(to)).unwrap())
    });
}

criterion_group!(benches, reports);
criterion_main!(benches);
