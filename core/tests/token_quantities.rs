//! What a token can carry decides what is sold (domain.md §6): for every token scheme and every OpenPAYGO
//! time divider, the energy or days on the tokens a payment makes equal the energy or days its allocation
//! booked, exactly, and money is still conserved (§5.4).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use chrono::NaiveDate;
use micropower_core::api::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

fn tzs() -> Currency {
    Currency::parse("TZS").unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// How the device's tokens are made, and so what one token can carry.
#[derive(Debug, Clone)]
enum Scheme {
    /// OpenPAYGO tokens made by the core: units of 1/divider.
    OpenPaygo { divider: u32, extended: bool, restricted: bool },
    /// An external vendor that states no resolution: the rule's own step decides.
    External,
    /// An external vendor that states its resolution.
    ExternalStated(Decimal),
}

impl Scheme {
    /// The resolution the host passes in the snapshot (host-server/src/snapshot.rs does the same).
    fn resolution(&self) -> Option<Resolution> {
        match self {
            Scheme::OpenPaygo { divider, .. } => Some(Resolution::per_divider(*divider)),
            Scheme::External => None,
            Scheme::ExternalStated(step) => Some(Resolution::decimal(*step)),
        }
    }
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        3 => (1u32..=255, any::<bool>(), any::<bool>())
            .prop_map(|(divider, extended, restricted)| Scheme::OpenPaygo { divider, extended, restricted }),
        1 => Just(Scheme::External),
        1 => prop::sample::select(vec![Decimal::new(1, 1), Decimal::new(25, 2), Decimal::ONE, Decimal::new(5, 1)])
            .prop_map(Scheme::ExternalStated),
    ]
}

/// The kind of device and its billing, before the scheme's resolution is put in.
#[derive(Debug, Clone)]
enum Sold {
    Meter(Tariff),
    Installments(InstallmentPlan),
    Eaas(EaasPlan),
}

fn sold() -> impl Strategy<Value = Sold> {
    let steps = vec![Decimal::new(1, 2), Decimal::new(1, 1), Decimal::new(5, 1), Decimal::ONE, Decimal::new(3, 2)];
    prop_oneof![
        (50i64..50_000, 0i64..100, prop::sample::select(steps), 0i64..2_000, prop::option::of(1i64..2_000)).prop_map(
            |(price, fee, step, minimum, access)| Sold::Meter(Tariff {
                id: None,
                currency: tzs(),
                price_per_kwh: Decimal::from(price),
                fees: vec![FeeComponent { name: "levy".into(), price_per_kwh: Decimal::from(fee) }],
                access_rate: access.map(|amount| AccessRate { amount: Decimal::from(amount), period_days: 7 }),
                minimum_purchase: Decimal::from(minimum),
                energy_step_kwh: step,
            })
        ),
        (
            10_000i64..1_000_000,
            1u32..12,
            prop_oneof![Just(Period::Weekly), Just(Period::Monthly), (1u32..40).prop_map(Period::EveryDays)]
        )
            .prop_map(|(total, count, period)| {
                let terms = InstallmentTerms {
                    total_cost: Decimal::from(total),
                    down_payment: Decimal::ZERO,
                    installments: count,
                    period,
                    start_date: day("2026-01-01"),
                    minimum_payment: None,
                };
                Sold::Installments(create_installment_plan("plan", tzs(), &terms, true).unwrap())
            }),
        (20i64..5_000, 0i64..1_000).prop_map(|(price, minimum)| Sold::Eaas(EaasPlan {
            id: "eaas".into(),
            currency: tzs(),
            price_per_day: Decimal::from(price),
            minimum_payable: Decimal::from(minimum),
        })),
    ]
}

fn snapshot(sold: &Sold, scheme: &Scheme, credit: Decimal) -> AccountSnapshot {
    let (kind, billing) = match sold.clone() {
        Sold::Meter(tariff) => (
            DeviceKind::Meter,
            Billing::Meter { tariff, access_rate: AccessRateState::default(), token_resolution: scheme.resolution() },
        ),
        Sold::Installments(plan) => (
            DeviceKind::SolarHomeSystem,
            Billing::Installments { plan, day_resolution: scheme.resolution().unwrap_or_default() },
        ),
        Sold::Eaas(plan) => (
            DeviceKind::SolarHomeSystem,
            Billing::Eaas { plan, day_resolution: scheme.resolution().unwrap_or_default() },
        ),
    };
    AccountSnapshot {
        device: DeviceAccount {
            serial: "DEV1".into(),
            kind,
            registered_on: day("2026-01-01"),
            owner: Some(Owner { id: "C1".into(), name: "Amina".into(), surname: "Juma".into() }),
        },
        billing,
        customer_plans: Vec::new(),
        credit_balance: credit,
    }
}

/// The energy or days the allocation booked: the quantity of its energy or EaaS line, or for an
/// installment plan (whose lines pay installments) the days of use its token request names.
fn booked(allocation: &Allocation) -> Option<Decimal> {
    let quantities: Vec<Decimal> = allocation.lines.iter().filter_map(|l| l.quantity).collect();
    match (quantities.as_slice(), &allocation.token) {
        ([q], _) => Some(*q),
        ([], Some(t)) if t.unit == TokenUnit::Days => Some(t.quantity),
        ([], _) => None,
        (more, _) => panic!("several quantity lines: {more:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Σ token values = the booked quantity (OpenPAYGO, every divider, standard and extended), the request
    /// names exactly that quantity (every scheme), it sits on the token's grid, and money is conserved.
    #[test]
    fn tokens_carry_exactly_what_was_booked(
        sold in sold(), scheme in scheme(), amount in 1i64..60_000, credit in 0i64..1_000,
        key in any::<[u8; 16]>(), count in 0u32..300, on in 0u64..120,
    ) {
        let snapshot = snapshot(&sold, &scheme, Decimal::from(credit));
        let payment = Payment {
            serial: "DEV1".into(),
            amount: Decimal::from(amount),
            currency: tzs(),
            received_on: day("2026-01-01") + chrono::Days::new(on),
        };
        let allocation = allocate_payment(Some(&snapshot), &payment).unwrap();

        let lines: Decimal = allocation.lines.iter().map(|l| l.amount).sum();
        prop_assert_eq!(lines + allocation.credit_added - allocation.credit_used, payment.amount);
        prop_assert!(allocation.credit_balance >= Decimal::ZERO);

        let Some(request) = allocation.token.clone() else {
            prop_assert!(booked(&allocation).is_none(), "a quantity was booked without a token");
            return Ok(());
        };
        if request.unit == TokenUnit::Unlock {
            return Ok(());
        }
        let quantity = booked(&allocation).unwrap();
        prop_assert_eq!(request.quantity, quantity);
        prop_assert!(quantity > Decimal::ZERO);
        if let Some(resolution) = scheme.resolution() {
            let step = resolution.step("r").unwrap();
            prop_assert!((quantity / step).fract().is_zero(), "{} is not a multiple of {}", quantity, step);
        }
        if let Sold::Meter(tariff) = &sold {
            prop_assert!((quantity / tariff.energy_step_kwh).fract().is_zero());
        }

        if let Scheme::OpenPaygo { divider, extended, restricted } = scheme {
            let device = OpenPaygoDevice {
                secret_key: key.iter().map(|b| format!("{b:02x}")).collect(),
                starting_code: None,
                count,
                time_divider: divider,
                restricted_digits: restricted,
                extended,
            };
            let issued = tokens_for_request(&device, &request).unwrap();
            prop_assert!(!issued.tokens.is_empty());
            let on_tokens: Decimal = issued.tokens.iter().map(|t| t.value).sum();
            prop_assert_eq!(on_tokens, quantity, "tokens {:?}", issued.tokens);
        }
    }
}

/// The case of issue 14: OpenPAYGO meter, divider 1, 500/kWh, pay 700 ⇒ 1 kWh for 500, 200 to credit, and
/// one token of 1 kWh.
#[test]
fn openpaygo_meter_keeps_what_a_token_cannot_carry() {
    let tariff = Tariff {
        id: None,
        currency: tzs(),
        price_per_kwh: Decimal::from(500),
        fees: Vec::new(),
        access_rate: None,
        minimum_purchase: Decimal::ZERO,
        energy_step_kwh: Decimal::new(1, 2),
    };
    let scheme = Scheme::OpenPaygo { divider: 1, extended: false, restricted: false };
    let snapshot = snapshot(&Sold::Meter(tariff), &scheme, Decimal::ZERO);
    let payment =
        Payment { serial: "DEV1".into(), amount: Decimal::from(700), currency: tzs(), received_on: day("2026-02-01") };
    let allocation = allocate_payment(Some(&snapshot), &payment).unwrap();
    assert_eq!(allocation.lines.len(), 1);
    assert_eq!((allocation.lines[0].amount, allocation.lines[0].quantity), (Decimal::from(500), Some(Decimal::ONE)));
    assert_eq!((allocation.credit_added, allocation.credit_balance), (Decimal::from(200), Decimal::from(200)));
    let request = allocation.token.unwrap();
    let device = OpenPaygoDevice {
        secret_key: "a29ab82edc5fbbc41ec9530f6dac86b1".into(),
        starting_code: Some(123_456_789),
        count: 0,
        time_divider: 1,
        restricted_digits: false,
        extended: false,
    };
    let issued = tokens_for_request(&device, &request).unwrap();
    assert_eq!(issued.tokens.iter().map(|t| t.value).collect::<Vec<_>>(), vec![Decimal::ONE]);
}
