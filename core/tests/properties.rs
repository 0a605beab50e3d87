//! Invariants of the core, checked over generated inputs: money is conserved by every allocation, schedules
//! sum to the financed amount, nothing goes negative, accrual is idempotent, and no input makes the core panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use chrono::{Datelike, NaiveDate};
use micropower_core::api::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn tzs() -> Currency {
    Currency::parse("TZS").unwrap()
}

/// Whole shillings up to ten million: realistic money.
fn money() -> impl Strategy<Value = Decimal> {
    (0i64..10_000_000).prop_map(Decimal::from)
}

fn positive_money() -> impl Strategy<Value = Decimal> {
    (1i64..10_000_000).prop_map(Decimal::from)
}

/// Any decimal at all: huge, tiny, negative, 28 decimal places.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28)
        .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale))
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (2020i32..2040, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| NaiveDate::from_ymd_opt(y, m, 28).unwrap())
    })
}

/// Any date chrono can represent, calendar edges included.
fn any_date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        Just(NaiveDate::MIN),
        Just(NaiveDate::MAX),
        (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce())
            .prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap()),
    ]
}

fn period() -> impl Strategy<Value = Period> {
    prop_oneof![Just(Period::Weekly), Just(Period::Monthly), (1u32..60).prop_map(Period::EveryDays)]
}

fn any_period() -> impl Strategy<Value = Period> {
    prop_oneof![Just(Period::Weekly), Just(Period::Monthly), any::<u32>().prop_map(Period::EveryDays)]
}

/// A plan with some installments partly or fully paid.
fn plan(id: &'static str) -> impl Strategy<Value = InstallmentPlan> {
    (positive_money(), 1u32..24, period(), date(), prop::collection::vec(0u8..=100, 24)).prop_map(
        move |(total, count, period, start, paid_pct)| {
            let terms = InstallmentTerms {
                total_cost: total + Decimal::from(count),
                down_payment: Decimal::ZERO,
                installments: count,
                period,
                start_date: start,
                minimum_payment: None,
            };
            let mut plan = InstallmentPlan::create(id, tzs(), &terms, true).unwrap();
            for (inst, pct) in plan.installments.iter_mut().zip(paid_pct) {
                inst.paid = (inst.amount * Decimal::from(pct) / Decimal::from(100)).floor();
            }
            plan
        },
    )
}

fn tariff() -> impl Strategy<Value = Tariff> {
    (1i64..100_000, 0i64..1_000, prop::option::of((1i64..5_000, 1u32..31)), 0i64..5_000, 0usize..4).prop_map(
        |(price, fee, access, minimum, step)| Tariff {
            id: None,
            currency: tzs(),
            price_per_kwh: Decimal::from(price),
            fees: vec![FeeComponent { name: "fee".into(), price_per_kwh: Decimal::from(fee) }],
            access_rate: access.map(|(amount, period_days)| AccessRate { amount: Decimal::from(amount), period_days }),
            minimum_purchase: Decimal::from(minimum),
            energy_step_kwh: [Decimal::new(1, 2), Decimal::new(1, 1), Decimal::ONE, Decimal::new(5, 1)][step],
        },
    )
}

/// A token's resolution: whole units, a vendor's decimal, or an OpenPAYGO divider.
fn resolution() -> impl Strategy<Value = Resolution> {
    prop_oneof![
        Just(Resolution::ONE),
        prop::sample::select(vec![Decimal::new(25, 2), Decimal::new(5, 1), Decimal::new(1, 1)])
            .prop_map(Resolution::decimal),
        (1u32..=255).prop_map(Resolution::per_divider),
    ]
}

fn billing() -> impl Strategy<Value = Billing> {
    prop_oneof![
        (tariff(), 0u32..10, money(), prop::option::of(resolution())).prop_map(
            |(tariff, accrued_periods, debt, token_resolution)| Billing::Meter {
                tariff,
                access_rate: AccessRateState { accrued_periods, debt },
                token_resolution,
            }
        ),
        (plan("device-plan"), resolution())
            .prop_map(|(plan, day_resolution)| Billing::Installments { plan, day_resolution }),
        (1i64..10_000, 0i64..5_000, resolution()).prop_map(|(price, minimum, day_resolution)| Billing::Eaas {
            plan: EaasPlan {
                id: "eaas".into(),
                currency: tzs(),
                price_per_day: Decimal::from(price),
                minimum_payable: Decimal::from(minimum),
            },
            day_resolution,
        }),
    ]
}

fn snapshot() -> impl Strategy<Value = AccountSnapshot> {
    (billing(), prop::collection::vec(plan("tv"), 0..4), money(), date()).prop_map(
        |(billing, mut customer_plans, credit_balance, registered_on)| {
            for (n, plan) in customer_plans.iter_mut().enumerate() {
                plan.id = format!("tv{n}");
            }
            let kind = match billing {
                Billing::Meter { .. } => DeviceKind::Meter,
                _ => DeviceKind::SolarHomeSystem,
            };
            AccountSnapshot {
                device: DeviceAccount {
                    serial: "DEV1".into(),
                    kind,
                    registered_on,
                    owner: Some(Owner { id: "C1".into(), name: "Amina".into(), surname: "Juma".into() }),
                },
                billing,
                customer_plans,
                credit_balance,
            }
        },
    )
}

fn paid_total(plans: &[InstallmentPlan]) -> Decimal {
    plans.iter().map(|p| p.paid().unwrap()).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Σ lines + credit added − credit used = amount, for every allocation; balances never negative; what the
    /// lines say was paid on installments is exactly what the plans gained.
    #[test]
    fn allocation_conserves_money(snapshot in snapshot(), amount in positive_money(), on in date()) {
        let payment = Payment { serial: "dev-1".into(), amount, currency: tzs(), received_on: on };
        let decision = allocate_payment(Some(&snapshot), &payment).unwrap();
        let lines: Decimal = decision.lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(lines + decision.credit_added - decision.credit_used, amount);
        prop_assert_eq!(decision.credit_balance, snapshot.credit_balance - decision.credit_used + decision.credit_added);
        prop_assert!(decision.credit_used >= Decimal::ZERO && decision.credit_added >= Decimal::ZERO);
        prop_assert!(decision.credit_balance >= Decimal::ZERO);
        prop_assert!(decision.lines.iter().all(|l| l.amount > Decimal::ZERO));
        if let Some(access) = decision.access_rate {
            prop_assert!(access.debt >= Decimal::ZERO);
        }
        for plan in &decision.plans {
            prop_assert!(plan.installments.iter().all(|i| i.paid <= i.amount && i.paid >= Decimal::ZERO));
        }
        let installment_lines: Decimal =
            decision.lines.iter().filter(|l| l.kind == AllocationKind::Installment).map(|l| l.amount).sum();
        let before: Vec<InstallmentPlan> = snapshot.customer_plans.iter().chain(match &snapshot.billing {
            Billing::Installments { plan, .. } => Some(plan),
            _ => None,
        }).filter(|p| decision.plans.iter().any(|d| d.id == p.id)).cloned().collect();
        prop_assert_eq!(paid_total(&decision.plans) - paid_total(&before), installment_lines);
        prop_assert_eq!(decision.token.as_ref().map(|t| t.serial.as_str()), decision.token.as_ref().map(|_| "DEV1"));
    }

    /// A validation never disagrees with itself: accepted amounts are at least the minimum, and the preview is
    /// exactly the allocation.
    #[test]
    fn validation_preview_is_the_allocation(snapshot in snapshot(), amount in positive_money(), on in date()) {
        let request = ValidationRequest {
            serial: "DEV1".into(), amount, currency: tzs(), received_on: on, channel: Channel::Provider,
        };
        match validate_payment(Some(&snapshot), &request) {
            Ok(v) => {
                prop_assert!(amount >= v.minimum_amount);
                let payment = Payment { serial: "DEV1".into(), amount, currency: tzs(), received_on: on };
                prop_assert_eq!(v.preview, allocate_payment(Some(&snapshot), &payment).unwrap());
            }
            Err(CoreError::AmountBelowMinimum { minimum_amount, .. }) => prop_assert!(amount < minimum_amount),
            Err(e) => prop_assert!(false, "unexpected refusal {e}"),
        }
    }

    /// Schedules sum to the financed amount; only the last installment differs; due dates increase.
    #[test]
    fn schedule_sums_to_financed(total in positive_money(), dp_pct in 0u8..=100, count in 1u32..=120, period in period(), start in date(), kes in any::<bool>()) {
        let currency = Currency::parse(if kes { "KES" } else { "TZS" }).unwrap();
        let total = if kes { total / Decimal::from(100) } else { total };
        let down_payment = currency.floor(total * Decimal::from(dp_pct) / Decimal::from(100));
        let terms = InstallmentTerms { total_cost: total, down_payment, installments: count, period, start_date: start, minimum_payment: None };
        let schedule = installment_schedule(&terms, &currency).unwrap();
        prop_assert_eq!(schedule.len(), count as usize);
        prop_assert_eq!(schedule.iter().map(|s| s.amount).sum::<Decimal>(), total - down_payment);
        prop_assert!(schedule.iter().all(|s| s.amount >= Decimal::ZERO));
        prop_assert!(schedule.windows(2).all(|w| w[0].due_date < w[1].due_date));
        let base = schedule[0].amount;
        prop_assert!(schedule[..schedule.len() - 1].iter().all(|s| s.amount == base));
    }

    /// Editing a total keeps what was paid and makes the plan sum to the new total.
    #[test]
    fn edits_keep_paid_and_reach_the_new_total(plan in plan("p"), extra in money(), count in prop::option::of(1u32..12)) {
        let paid = plan.paid().unwrap();
        let edit = TotalEdit { total_cost: paid + extra, installments: count, period: None };
        match edit_plan_total(&plan, &edit) {
            Ok(edited) => {
                prop_assert_eq!(edited.paid().unwrap(), paid);
                prop_assert_eq!(edited.total().unwrap(), paid + extra);
                prop_assert!(edited.installments.iter().all(|i| i.paid <= i.amount));
            }
            Err(CoreError::NoUntouchedInstallments) => prop_assert!(plan.installments.iter().all(|i| i.touched())),
            Err(e) => prop_assert!(false, "unexpected refusal {e}"),
        }
    }

    /// Accruing twice with the same date is accruing once; catching up late equals accruing on the way.
    #[test]
    fn accrual_is_idempotent_and_catches_up(amount in positive_money(), period in 1u32..60, registered in date(), mid in 0i64..400, late in 0i64..400) {
        let rate = AccessRate { amount, period_days: period };
        let mid_day = registered + chrono::Days::new(mid as u64);
        let late_day = mid_day + chrono::Days::new(late as u64);
        let once = accrue_access_rate(&rate, registered, &AccessRateState::default(), late_day).unwrap();
        let twice = accrue_access_rate(&rate, registered, &once.state, late_day).unwrap();
        prop_assert_eq!(once.state, twice.state);
        prop_assert_eq!(twice.new_periods, 0);
        let stepwise = accrue_access_rate(&rate, registered, &AccessRateState::default(), mid_day).unwrap();
        let stepwise = accrue_access_rate(&rate, registered, &stepwise.state, late_day).unwrap();
        prop_assert_eq!(stepwise.state, once.state);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// No input makes allocation or validation panic: any decimals, any dates, inconsistent snapshots.
    #[test]
    fn allocation_never_panics(
        mut snapshot in snapshot(), amount in any_decimal(), credit in any_decimal(), on in any_date(),
        registered in any_date(), price in any_decimal(), paid in any_decimal(), number in any::<u32>(),
        period in any_period(), serial in ".{0,40}",
    ) {
        snapshot.credit_balance = credit;
        snapshot.device.registered_on = registered;
        match &mut snapshot.billing {
            Billing::Meter { tariff, access_rate, token_resolution } => {
                tariff.price_per_kwh = price;
                access_rate.debt = paid;
                *token_resolution = Some(Resolution::new(amount, number));
            }
            Billing::Installments { plan, day_resolution } => {
                plan.period = period;
                *day_resolution = Resolution::new(price, number);
                if let Some(i) = plan.installments.first_mut() {
                    i.paid = paid;
                    i.number = number;
                }
            }
            Billing::Eaas { plan, day_resolution } => {
                plan.price_per_day = price;
                *day_resolution = Resolution::new(paid, number);
            }
        }
        for s in [serial.as_str(), "DEV1"] {
            let payment = Payment { serial: s.into(), amount, currency: tzs(), received_on: on };
            let _ = allocate_payment(Some(&snapshot), &payment);
            let request = ValidationRequest {
                serial: s.into(), amount, currency: tzs(), received_on: on, channel: Channel::Operator,
            };
            let _ = validate_payment(Some(&snapshot), &request);
        }
    }

    /// No input makes the schedule, plan edits, tariffs or accrual panic.
    #[test]
    fn plans_and_tariffs_never_panic(
        total in any_decimal(), dp in any_decimal(), count in any::<u32>(), period in any_period(), start in any_date(),
        amount in any_decimal(), number in any::<u32>(), price in any_decimal(), step in any_decimal(),
        periods in any::<u32>(), now in any_date(),
    ) {
        let terms = InstallmentTerms { total_cost: total, down_payment: dp, installments: count % 2_000, period, start_date: start, minimum_payment: None };
        let _ = installment_schedule(&terms, &tzs());
        if let Ok(plan) = create_installment_plan("p", tzs(), &terms, false) {
            let _ = edit_plan_total(&plan, &TotalEdit { total_cost: amount, installments: Some(count % 2_000), period: Some(period) });
            let _ = edit_plan_total(&plan, &TotalEdit { total_cost: amount, installments: None, period: None });
            let _ = edit_installment(&plan, number % 5, amount);
            let _ = allocate_plan_payment(&plan, dp, amount, &tzs());
        }
        let tariff = Tariff {
            id: None, currency: tzs(), price_per_kwh: price, fees: vec![FeeComponent { name: "f".into(), price_per_kwh: dp }],
            access_rate: Some(AccessRate { amount, period_days: periods }), minimum_purchase: total, energy_step_kwh: step,
        };
        let _ = energy_for_money(&tariff, amount);
        let _ = unit_price(&tariff);
        let _ = accrue_access_rate(&AccessRate { amount, period_days: periods }, start, &AccessRateState { accrued_periods: count, debt: dp }, now);
        let _ = eaas_price(&EaasPlan { id: "e".into(), currency: tzs(), price_per_day: price, minimum_payable: dp }, amount);
    }

    /// Registry functions take any text without panicking.
    #[test]
    fn registry_never_panics(raw in ".{0,64}", region in prop::option::of("[A-Za-z]{0,3}")) {
        let _ = normalize_serial(&raw);
        let _ = normalize_phone(&raw, region.as_deref());
    }
}

/// A rate from 0 to 1 in thousandths.
fn rate() -> impl Strategy<Value = Decimal> {
    (0i64..=1000).prop_map(|r| Decimal::new(r, 3))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// An agent's sale books exactly the amount paid; its commission is never negative nor above the amount
    /// times the larger rate (rounded); the balance moves by the amount; the ceiling is the only refusal.
    #[test]
    fn agent_sale_books_the_amount_and_a_bounded_commission(
        snapshot in snapshot(), amount in positive_money(), on in date(), balance in money(), ceiling in money(),
        energy_rate in rate(), appliance_rate in rate(),
    ) {
        let payment = Payment { serial: "dev-1".into(), amount, currency: tzs(), received_on: on };
        let allocation = allocate_payment(Some(&snapshot), &payment).unwrap();
        let terms = AgentTerms {
            currency: tzs(), commission: CommissionRates { energy_rate, appliance_rate }, risk_ceiling: ceiling,
        };
        match agent_sale(&terms, balance, &allocation) {
            Ok(entry) => {
                prop_assert!(balance + amount <= ceiling);
                prop_assert_eq!(entry.balance, balance + amount);
                prop_assert_eq!(entry.lines.len(), 2);
                prop_assert_eq!((entry.lines[0].kind, entry.lines[0].amount), (AgentLineKind::Sale, amount));
                let commission = entry.lines[1].amount;
                prop_assert_eq!(entry.lines[1].kind, AgentLineKind::Commission);
                prop_assert!(commission >= Decimal::ZERO);
                prop_assert!(commission <= tzs().round(amount * energy_rate.max(appliance_rate)));
            }
            Err(CoreError::RiskCeilingExceeded { .. }) => prop_assert!(balance + amount > ceiling),
            Err(e) => prop_assert!(false, "unexpected refusal {e}"),
        }
    }

    /// Agents' functions take any decimals without panicking.
    #[test]
    fn agents_never_panic(
        balance in any_decimal(), amount in any_decimal(), ceiling in any_decimal(), er in any_decimal(),
        ar in any_decimal(), used in any_decimal(),
    ) {
        let terms = AgentTerms { currency: tzs(), commission: CommissionRates { energy_rate: er, appliance_rate: ar }, risk_ceiling: ceiling };
        let _ = agent_terms(&terms);
        let _ = agent_handover(&terms, balance, amount, &tzs());
        let line = AllocationLine { kind: AllocationKind::Energy, amount, plan_id: None, installment: None, quantity: None };
        let mut allocation = allocate_plan_payment(
            &create_installment_plan("p", tzs(), &InstallmentTerms {
                total_cost: Decimal::from(100), down_payment: Decimal::ZERO, installments: 1, period: Period::Weekly,
                start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), minimum_payment: None,
            }, true).unwrap(), Decimal::ZERO, Decimal::from(10), &tzs(),
        ).unwrap();
        allocation.amount = amount;
        allocation.credit_used = used;
        allocation.lines = vec![line.clone(), AllocationLine { kind: AllocationKind::Installment, ..line }];
        let _ = agent_sale(&terms, balance, &allocation);
    }
}
