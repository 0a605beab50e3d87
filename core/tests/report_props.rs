//! Invariants of the reports over generated records: no input makes a report panic, debt-aging buckets and
//! the access-rate line add up to what is outstanding, the access-rate line is the accrual of every meter up
//! to the report's day, revenue equals the in-window lines of the report's currency, PAR is monotone in its
//! threshold, collection never exceeds what was due, and every report folded in page by page (`so_far`) equals
//! the report of all records at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use chrono::{Datelike, NaiveDate, Weekday};
use micropower_core::access_rate::{accrue, AccessRateState};
use micropower_core::allocation::{AllocationKind, AllocationLine};
use micropower_core::calls::{self, CoreFn};
use micropower_core::money::Currency;
use micropower_core::registry::{DeviceKind, Hierarchy, Location};
use micropower_core::report::*;
use micropower_core::tariff::AccessRate;
use micropower_core::{json, MAX_AMOUNT};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["TZS", "KES", "USD"]).prop_map(|c| Currency::parse(c).unwrap())
}

fn tzs() -> Currency {
    Currency::parse("TZS").unwrap()
}

/// Whole shillings up to a million, or cents: realistic money.
fn money() -> impl Strategy<Value = Decimal> + Clone {
    (0i64..1_000_000, 0u32..=2).prop_map(|(units, scale)| Decimal::new(units, scale))
}

/// Any decimal at all: huge, tiny, negative, 28 decimal places, and the edges of the accepted range.
fn any_decimal() -> impl Strategy<Value = Decimal> + Clone {
    prop_oneof![
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        Just(MAX_AMOUNT),
        Just(Decimal::NEGATIVE_ONE),
        Just(Decimal::ZERO),
        money(),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28)
            .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale)),
    ]
}

/// Dates around the operator's present.
fn date() -> impl Strategy<Value = NaiveDate> + Clone {
    (0i64..800).prop_map(|d| NaiveDate::from_ymd_opt(2025, 6, 1).unwrap() + chrono::Days::new(d as u64))
}

/// Any date chrono can represent, calendar edges included.
fn any_date() -> impl Strategy<Value = NaiveDate> + Clone {
    prop_oneof![
        Just(NaiveDate::MIN),
        Just(NaiveDate::MAX),
        date(),
        (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce())
            .prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap()),
    ]
}

fn kind() -> impl Strategy<Value = AllocationKind> {
    prop::sample::select(vec![
        AllocationKind::Installment,
        AllocationKind::AccessRate,
        AllocationKind::Energy,
        AllocationKind::Eaas,
    ])
}

fn location() -> impl Strategy<Value = Location> {
    (0u8..2, 0u8..3, 0u8..4).prop_map(|(c, a, v)| Location {
        cluster_id: format!("C{c}"),
        area_id: format!("A{c}{a}"),
        village_id: format!("V{c}{a}{v}"),
    })
}

fn device_kind() -> impl Strategy<Value = DeviceKind> {
    prop::sample::select(vec![DeviceKind::Meter, DeviceKind::SolarHomeSystem, DeviceKind::EBike])
}

fn payments(
    amount: impl Strategy<Value = Decimal> + Clone,
    day: impl Strategy<Value = NaiveDate> + Clone,
) -> impl Strategy<Value = Vec<PaymentRecord>> {
    let line = (kind(), amount.clone(), prop::option::of(amount)).prop_map(|(kind, amount, quantity)| AllocationLine {
        kind,
        amount,
        plan_id: None,
        installment: None,
        // The core always gives an energy line its kWh; other kinds may or may not carry a quantity.
        quantity: if kind == AllocationKind::Energy { quantity.or(Some(Decimal::ONE)) } else { quantity },
    });
    let payment = (day, currency(), prop::option::of(device_kind()), location(), prop::collection::vec(line, 0..4))
        .prop_map(|(received_on, currency, device_kind, location, lines)| PaymentRecord {
            payment_id: "p".into(),
            received_on,
            currency,
            device_kind,
            location,
            lines,
        });
    prop::collection::vec(payment, 0..40)
}

fn installments(
    amount: impl Strategy<Value = Decimal> + Clone,
    day: impl Strategy<Value = NaiveDate> + Clone,
) -> impl Strategy<Value = Vec<InstallmentRecord>> {
    let record = (0u8..8, currency(), 0u32..12, day, amount.clone(), amount).prop_map(
        |(plan, currency, number, due_date, amount, paid)| InstallmentRecord {
            plan_id: format!("plan-{plan}"),
            customer_id: format!("c{plan}"),
            currency,
            // Plans 3 and 7 have no location (an export without one): the groups' `unlocated`.
            location: (plan % 4 != 3).then(|| Location {
                cluster_id: format!("C{}", plan % 2),
                area_id: format!("A{}", plan % 3),
                village_id: format!("V{plan}"),
            }),
            number,
            due_date,
            amount,
            paid,
        },
    );
    prop::collection::vec(record, 0..60)
}

/// Meters' access-rate accounts as a host stores them: accrued up to some earlier day, partly paid.
fn access_rates(
    amount: impl Strategy<Value = Decimal> + Clone,
    day: impl Strategy<Value = NaiveDate> + Clone,
) -> impl Strategy<Value = Vec<AccessRateRecord>> {
    let record = (0u8..8, currency(), day, amount.clone(), 1u32..40, 0u32..30, amount).prop_map(
        |(meter, currency, registered_on, fee, period_days, accrued_periods, debt)| AccessRateRecord {
            serial: format!("MTR{meter}"),
            customer_id: Some(format!("c{meter}")),
            currency,
            location: None,
            registered_on,
            rate: AccessRate { amount: fee, period_days },
            state: AccessRateState { accrued_periods, debt },
        },
    );
    prop::collection::vec(record, 0..20)
}

/// A positive fee: the records the server writes (the core refuses a zero access rate).
fn fee() -> impl Strategy<Value = Decimal> + Clone {
    (1i64..100_000).prop_map(Decimal::from)
}

fn unit() -> impl Strategy<Value = PeriodUnit> {
    prop::sample::select(vec![PeriodUnit::Day, PeriodUnit::Week, PeriodUnit::Month])
}

fn group_by() -> impl Strategy<Value = GroupBy> {
    prop::sample::select(vec![GroupBy::Cluster, GroupBy::Area, GroupBy::Village, GroupBy::Kind, GroupBy::None])
}

fn window() -> impl Strategy<Value = (NaiveDate, NaiveDate)> {
    (date(), 0u64..400).prop_map(|(from, len)| (from, from + chrono::Days::new(len)))
}

fn remaining(r: &InstallmentRecord) -> Decimal {
    r.amount - r.paid.min(r.amount)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_report_panics_on_any_input(
        pays in payments(any_decimal(), any_date()),
        insts in installments(any_decimal(), any_date()),
        meters in access_rates(any_decimal(), any_date()),
        cur in currency(),
        from in any_date(),
        to in any_date(),
        as_of in any_date(),
        days in any::<u32>(),
        unit in unit(),
        by in group_by(),
        with_currency in any::<bool>(),
    ) {
        let _ = revenue_report(&pays, &cur, from, to, unit, by, &Hierarchy::default());
        let _ = debt_aging_by(&insts, &meters, &cur, as_of, by, &Hierarchy::default());
        let _ = collection_rate_by(&insts, &cur, from, to, by, &Hierarchy::default());
        let _ = energy_sold(&pays, with_currency.then_some(&cur), from, to, unit);
        let _ = debt_aging(&insts, &meters, &cur, as_of);
        let _ = portfolio_at_risk(&insts, &meters, &cur, as_of, days);
        let _ = par_30_60_90(&insts, &meters, &cur, as_of);
        let _ = collection_rate(&insts, &cur, from, to);
    }

    #[test]
    fn no_report_panics_through_the_json_facade(
        pays in payments(any_decimal(), any_date()),
        insts in installments(any_decimal(), any_date()),
        meters in access_rates(any_decimal(), any_date()),
        from in any_date(),
        to in any_date(),
        days in any::<i64>(),
        currency in prop::sample::select(vec!["TZS", "kes", "XYZ", ""]),
        unit in prop::sample::select(vec!["day", "week", "month", "year"]),
        by in prop::sample::select(vec!["cluster", "area", "village", "kind", "none", "planet"]),
    ) {
        let p = serde_json::to_value(&pays).unwrap();
        let i = serde_json::to_value(&insts).unwrap();
        let m = serde_json::to_value(&meters).unwrap();
        let calls = [
            ("revenue_report", json!({"payments": p, "currency": currency, "from": from, "to": to, "group_by": unit, "by": by})),
            ("energy_sold", json!({"payments": p, "currency": currency, "from": from, "to": to, "group_by": unit})),
            ("energy_sold", json!({"payments": p, "from": from, "to": to, "group_by": unit})),
            ("debt_aging", json!({"installments": i, "currency": currency, "as_of": to})),
            ("debt_aging", json!({"installments": i, "access_rates": m, "currency": currency, "as_of": to})),
            ("debt_aging", json!({"installments": i, "access_rates": m, "currency": currency, "as_of": to, "by": by})),
            ("portfolio_at_risk", json!({"installments": i, "currency": currency, "as_of": to, "days": days, "by": by})),
            ("collection_rate", json!({"installments": i, "currency": currency, "from": from, "to": to, "by": by})),
            ("portfolio_at_risk", json!({"installments": i, "currency": currency, "as_of": to, "days": days})),
            ("portfolio_at_risk", json!({"installments": i, "access_rates": m, "currency": currency, "as_of": to, "days": days})),
            ("par_30_60_90", json!({"installments": i, "currency": currency, "as_of": from})),
            ("par_30_60_90", json!({"installments": i, "access_rates": m, "currency": currency, "as_of": from})),
            ("collection_rate", json!({"installments": i, "currency": currency, "from": from, "to": to})),
            ("collection_rate", json!({"installments": "not a list", "currency": currency})),
        ];
        for (function, input) in calls {
            let _ = json::call(function, &input);
        }
    }

    #[test]
    fn debt_aging_buckets_add_up_to_what_is_outstanding(
        insts in installments(money(), date()),
        meters in access_rates(fee(), date()),
        as_of in date(),
    ) {
        let aging = debt_aging(&insts, &meters, &tzs(), as_of).unwrap();
        let buckets = [aging.current, aging.days_1_30, aging.days_31_60, aging.days_61_90, aging.days_over_90];
        prop_assert_eq!(buckets.iter().map(|b| b.amount).sum::<Decimal>() + aging.access_rate.amount, aging.outstanding);
        prop_assert_eq!(buckets.iter().map(|b| b.installments).sum::<u64>(), aging.installments);
        let ours: Vec<_> = insts.iter().filter(|r| r.currency == tzs() && remaining(r) > Decimal::ZERO).collect();
        prop_assert_eq!(aging.outstanding - aging.access_rate.amount, ours.iter().map(|r| remaining(r)).sum::<Decimal>());
        prop_assert_eq!(aging.installments, ours.len() as u64);
        let overdue: Decimal = ours.iter().filter(|r| r.due_date < as_of).map(|r| remaining(r)).sum();
        prop_assert_eq!(aging.outstanding - aging.access_rate.amount - aging.current.amount, overdue);
        // The access-rate line is every meter's account accrued up to the report's day, as a payment that
        // day would accrue it; the records themselves are not touched.
        let before = meters.clone();
        let owed: Vec<Decimal> = meters
            .iter()
            .filter(|m| m.currency == tzs())
            .map(|m| accrue(&m.rate, m.registered_on, &m.state, as_of).unwrap().state.debt)
            .filter(|d| !d.is_zero())
            .collect();
        prop_assert_eq!(aging.access_rate.amount, owed.iter().copied().sum::<Decimal>());
        prop_assert_eq!(aging.access_rate.meters, owed.len() as u64);
        prop_assert_eq!(before, meters);
    }

    #[test]
    fn revenue_equals_the_in_window_lines_of_its_currency(
        pays in payments(money(), date()),
        (from, to) in window(),
        unit in unit(),
        by in group_by(),
    ) {
        let report = revenue_report(&pays, &tzs(), from, to, unit, by, &Hierarchy::default()).unwrap();
        let counted = pays.iter().filter(|p| p.currency == tzs() && from <= p.received_on && p.received_on <= to);
        let expected: Decimal = counted.flat_map(|p| p.lines.iter().map(|l| l.amount)).sum();
        prop_assert_eq!(report.total, expected);
        prop_assert_eq!(report.rows.iter().map(|r| r.total).sum::<Decimal>(), expected);
        let k = report.by_kind;
        prop_assert_eq!(k.installment + k.access_rate + k.energy + k.eaas, expected);
        for pair in report.rows.windows(2) {
            prop_assert!((pair[0].period_start, &pair[0].group) < (pair[1].period_start, &pair[1].group));
        }
        for row in &report.rows {
            let b = row.by_kind;
            prop_assert_eq!(b.installment + b.access_rate + b.energy + b.eaas, row.total);
            prop_assert_eq!(row.group.is_none(), by == GroupBy::None);
            match unit {
                PeriodUnit::Day => prop_assert!(from <= row.period_start),
                PeriodUnit::Week => prop_assert_eq!(row.period_start.weekday(), Weekday::Mon),
                PeriodUnit::Month => prop_assert_eq!(row.period_start.day(), 1),
            }
            prop_assert!(row.period_start <= to);
        }
    }

    #[test]
    fn energy_sold_equals_the_in_window_energy_lines(
        pays in payments(money(), date()),
        (from, to) in window(),
        unit in unit(),
    ) {
        let in_window = |p: &&PaymentRecord| from <= p.received_on && p.received_on <= to;
        let energy = |p: &PaymentRecord| {
            p.lines.iter().filter(|l| l.kind == AllocationKind::Energy).map(|l| (l.quantity.unwrap(), l.amount)).collect::<Vec<_>>()
        };
        let all = energy_sold(&pays, None, from, to, unit).unwrap();
        let kwh: Decimal = pays.iter().filter(in_window).flat_map(energy).map(|(q, _)| q).sum();
        prop_assert_eq!(all.kwh, kwh);
        prop_assert_eq!(all.amount, None);
        prop_assert_eq!(all.rows.iter().map(|r| r.kwh).sum::<Decimal>(), kwh);

        let ours = energy_sold(&pays, Some(&tzs()), from, to, unit).unwrap();
        let lines: Vec<_> = pays.iter().filter(in_window).filter(|p| p.currency == tzs()).flat_map(energy).collect();
        prop_assert_eq!(ours.kwh, lines.iter().map(|(q, _)| *q).sum::<Decimal>());
        prop_assert_eq!(ours.amount, Some(lines.iter().map(|(_, a)| *a).sum::<Decimal>()));
    }

    #[test]
    fn par_is_a_share_of_outstanding_and_shrinks_as_the_threshold_grows(
        insts in installments(money(), date()),
        meters in access_rates(fee(), date()),
        as_of in date(),
        days in 1u32..400,
    ) {
        let par = par_30_60_90(&insts, &meters, &tzs(), as_of).unwrap();
        let aging = debt_aging(&insts, &meters, &tzs(), as_of).unwrap();
        for p in [par.par30, par.par60, par.par90] {
            prop_assert!(p.at_risk <= p.outstanding);
            prop_assert!(Decimal::ZERO <= p.ratio && p.ratio <= Decimal::ONE);
            prop_assert_eq!(p.outstanding, aging.outstanding);
        }
        prop_assert!(par.par30.at_risk >= par.par60.at_risk && par.par60.at_risk >= par.par90.at_risk);
        // Every installment more than 90 days late puts its whole plan at risk, so PAR90 holds at least them.
        prop_assert!(par.par90.at_risk >= aging.days_over_90.amount);
        prop_assert_eq!(portfolio_at_risk(&insts, &meters, &tzs(), as_of, 60).unwrap(), par.par60);
        let one = portfolio_at_risk(&insts, &meters, &tzs(), as_of, days).unwrap();
        prop_assert!(one.at_risk <= one.outstanding);
    }

    #[test]
    fn collection_never_exceeds_what_was_due(
        insts in installments(money(), date()),
        (from, to) in window(),
    ) {
        let c = collection_rate(&insts, &tzs(), from, to).unwrap();
        prop_assert!(c.collected <= c.due);
        prop_assert_eq!(c.rate.is_none(), c.due.is_zero());
        if let Some(rate) = c.rate {
            prop_assert!(Decimal::ZERO <= rate && rate <= Decimal::ONE);
        }
    }

    #[test]
    fn payment_reports_folded_page_by_page_equal_one_call(
        pays in payments(money(), date()),
        (from, to) in window(),
        unit in unit(),
        by in group_by(),
        page in 1usize..12,
        with_currency in any::<bool>(),
    ) {
        let currency = "TZS".to_owned();
        let revenue = |payments: &[PaymentRecord], so_far| calls::RevenueReport {
            payments: payments.to_vec(), currency: currency.clone(), from, to, group_by: unit, by, so_far,
            names: Hierarchy::default(),
        }.call().unwrap();
        let energy = |payments: &[PaymentRecord], so_far| calls::EnergySold {
            payments: payments.to_vec(), currency: with_currency.then(|| currency.clone()), from, to, group_by: unit, so_far,
        }.call().unwrap();
        let (mut r, mut e) = (None, None);
        for chunk in pays.chunks(page) {
            r = Some(revenue(chunk, r));
            e = Some(energy(chunk, e));
        }
        prop_assert_eq!(r.unwrap_or_else(|| revenue(&[], None)), revenue(&pays, None));
        prop_assert_eq!(e.unwrap_or_else(|| energy(&[], None)), energy(&pays, None));
    }

    #[test]
    fn debt_reports_folded_plan_by_plan_equal_one_call(
        insts in installments(money(), date()),
        meters in access_rates(fee(), date()),
        as_of in date(),
        (from, to) in window(),
        days in 1u32..400,
        plans_per_page in 1u8..5,
        by in prop::sample::select(vec![GroupBy::None, GroupBy::Cluster, GroupBy::Area, GroupBy::Village]),
    ) {
        let names = Hierarchy::default();
        let currency = "TZS".to_owned();
        // Pages hold whole plans, as the server reads them: PAR is decided per plan.
        let mut pages: Vec<Vec<InstallmentRecord>> = Vec::new();
        for plan in 0u8..8 {
            let of_plan = insts.iter().filter(|r| r.plan_id == format!("plan-{plan}")).cloned();
            if plan % plans_per_page == 0 || pages.is_empty() {
                pages.push(Vec::new());
            }
            pages.last_mut().unwrap().extend(of_plan);
        }
        let (mut aging, mut par, mut summary, mut rate) = (None, None, None, None);
        // Meters come after the installments, in pages of their own.
        let meter_pages = meters.chunks(3).map(|m| (Vec::new(), m.to_vec()));
        for (installments, access_rates) in pages.into_iter().map(|i| (i, Vec::new())).chain(meter_pages) {
            aging = Some(calls::DebtAging {
                installments: installments.clone(), access_rates: access_rates.clone(), currency: currency.clone(), as_of, so_far: aging,
                by, names: names.clone(),
            }.call().unwrap());
            par = Some(calls::PortfolioAtRisk {
                installments: installments.clone(), access_rates: access_rates.clone(), currency: currency.clone(), as_of, days, so_far: par,
                by, names: names.clone(),
            }.call().unwrap());
            summary = Some(calls::Par306090 {
                installments: installments.clone(), access_rates, currency: currency.clone(), as_of, so_far: summary,
                by, names: names.clone(),
            }.call().unwrap());
            rate = Some(calls::CollectionRate {
                installments, currency: currency.clone(), from, to, so_far: rate, by, names: names.clone(),
            }.call().unwrap());
        }
        let aging = aging.unwrap();
        prop_assert_eq!(&aging, &debt_aging_by(&insts, &meters, &tzs(), as_of, by, &names).unwrap());
        prop_assert_eq!(aging.total, debt_aging(&insts, &meters, &tzs(), as_of).unwrap());
        // Every group is the ungrouped rule over its records: the groups add up to the whole.
        if by != GroupBy::None {
            prop_assert_eq!(aging.groups.iter().map(|g| g.report.outstanding).sum::<Decimal>(), aging.total.outstanding);
        }
        prop_assert_eq!(par, Some(portfolio_at_risk_by(&insts, &meters, &tzs(), as_of, days, by, &names).unwrap()));
        prop_assert_eq!(summary, Some(par_30_60_90_by(&insts, &meters, &tzs(), as_of, by, &names).unwrap()));
        let rate = rate.unwrap();
        prop_assert_eq!(rate.total, collection_rate(&insts, &tzs(), from, to).unwrap());
        prop_assert_eq!(rate, collection_rate_by(&insts, &tzs(), from, to, by, &names).unwrap());
    }
}
