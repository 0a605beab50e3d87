//! Criterion benchmarks for the hot paths of the core: one meter payment against a customer with ten open
//! installments, and a 120-installment schedule. Figures and the command are in BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion};
use micropower_core::api::*;
use rust_decimal::Decimal;

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A meter whose owner has a ten-installment TV plan, all open, half of them overdue on the payment day,
/// and an access-rate fee to accrue.
fn meter_with_ten_open_installments() -> (AccountSnapshot, Payment) {
    let tzs = Currency::parse("TZS").unwrap();
    let terms = InstallmentTerms {
        total_cost: Decimal::from(100_000),
        down_payment: Decimal::ZERO,
        installments: 10,
        period: Period::Weekly,
        start_date: day(2026, 1, 1),
        minimum_payment: None,
    };
    let tv = create_installment_plan("tv", tzs, &terms, true).unwrap();
    let snapshot = AccountSnapshot {
        device: DeviceAccount {
            serial: "MTR0001".into(),
            kind: DeviceKind::Meter,
            registered_on: day(2026, 1, 1),
            owner: Some(Owner { id: "c1".into(), name: "Amina".into(), surname: "Juma".into() }),
        },
        billing: Billing::Meter {
            tariff: Tariff {
                id: None,
                currency: tzs,
                price_per_kwh: Decimal::from(450),
                fees: vec![FeeComponent { name: "levy".into(), price_per_kwh: Decimal::from(50) }],
                access_rate: Some(AccessRate { amount: Decimal::from(300), period_days: 7 }),
                minimum_purchase: Decimal::from(500),
                energy_step_kwh: Decimal::new(1, 2),
            },
            access_rate: AccessRateState::default(),
            token_resolution: None,
        },
        customer_plans: vec![tv],
        credit_balance: Decimal::from(7),
    };
    let payment = Payment {
        serial: "mtr-0001".into(),
        amount: Decimal::from(70_000),
        currency: tzs,
        received_on: day(2026, 2, 8),
    };
    (snapshot, payment)
}

fn allocation(c: &mut Criterion) {
    let (snapshot, payment) = meter_with_ten_open_installments();
    let decision = allocate_payment(Some(&snapshot), &payment).unwrap();
    assert!(decision.lines.len() >= 6, "the benchmark must pay several installments and buy energy");
    c.bench_function("allocate_payment/meter_10_open_installments", |b| {
        b.iter(|| allocate_payment(black_box(Some(&snapshot)), black_box(&payment)))
    });
}

fn schedule(c: &mut Criterion) {
    let tzs = Currency::parse("TZS").unwrap();
    let terms = InstallmentTerms {
        total_cost: Decimal::from(1_234_567),
        down_payment: Decimal::from(100_000),
        installments: 120,
        period: Period::Monthly,
        start_date: day(2026, 1, 31),
        minimum_payment: None,
    };
    c.bench_function("installment_schedule/120_monthly", |b| {
        b.iter(|| installment_schedule(black_box(&terms), black_box(&tzs)))
    });
}

criterion_group!(benches, allocation, schedule);
criterion_main!(benches);
