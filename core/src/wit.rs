//! The payment path's types as the WIT records of `host-server/wit/micropower.wit`, so that a payment can
//! cross the wasm boundary field by field instead of as JSON text.
//!
//! Both sides of that boundary have their own generated copy of the records (wit-bindgen in the guest,
//! wasmtime's `bindgen!` in the server), identical in names and fields. [`wit_records!`](crate::wit_records)
//! writes the conversions once, for whichever copy it is given. Going in, every value is checked as the JSON
//! reader checks it (a known currency, a decimal scale of at most 28, a date in range, a divider from 1), so
//! a record can carry nothing that JSON text could not.

pub use chrono::NaiveDate;
pub use rust_decimal::Decimal;

use crate::error::{CoreError, CoreResult};

/// A decimal as `(high, low, scale)`: the mantissa is `high × 2^64 + low`, the value mantissa × 10^-scale.
pub fn decimal_parts(value: Decimal) -> (i64, u64, u8) {
    let mantissa = value.mantissa();
    // A `Decimal`'s mantissa has 96 bits, so its upper half always fits an i64; the scale is at most 28.
    let high = i64::try_from(mantissa >> 64).unwrap_or(0);
    let low = u64::try_from(mantissa & i128::from(u64::MAX)).unwrap_or(0);
    let scale = u8::try_from(value.scale()).unwrap_or(0);
    (high, low, scale)
}

/// The decimal of [`decimal_parts`]; `field` names it when the parts are not one.
pub fn decimal_from_parts(high: i64, low: u64, scale: u8, field: &str) -> CoreResult<Decimal> {
    let mantissa = (i128::from(high) << 64) | i128::from(low);
    Decimal::try_from_i128_with_scale(mantissa, u32::from(scale))
        .map_err(|e| CoreError::invalid(field, format!("not a decimal (mantissa {mantissa}, scale {scale}): {e}")))
}

/// A day as days since 0001-01-01, which is day 1.
pub fn day_number(date: NaiveDate) -> i32 {
    use chrono::Datelike;
    date.num_days_from_ce()
}

/// The day of [`day_number`]; `field` names it when it is out of range.
pub fn day_from_number(days: i32, field: &str) -> CoreResult<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days)
        .ok_or_else(|| CoreError::invalid(field, format!("day {days} after 0000-12-31 is out of range")))
}

/// Writes `From<core type> for wit::Record` and `TryFrom<wit::Record> for core type` for every record of
/// the payment path, for the generated bindings module named `$wit` (visible where the macro is called).
/// The conversions live in a module `wit_records` beside it; they are trait impls, so nothing needs to be
/// imported to use them.
#[macro_export]
macro_rules! wit_records {
    ($wit:ident) => {
        #[allow(clippy::useless_conversion, unreachable_pub, dead_code)]
        mod wit_records {
            use super::$wit as w;
            use $crate::api as c;
            use $crate::wit::{day_from_number, day_number, decimal_from_parts, decimal_parts, Decimal};
            use $crate::CoreError;

            type Checked<T> = Result<T, CoreError>;

            fn dec(value: Decimal) -> w::Decimal {
                let (high, low, scale) = decimal_parts(value);
                w::Decimal { high, low, scale }
            }

            fn from_dec(value: w::Decimal, field: &str) -> Checked<Decimal> {
                decimal_from_parts(value.high, value.low, value.scale, field)
            }

            fn from_dec_opt(value: Option<w::Decimal>, field: &str) -> Checked<Option<Decimal>> {
                value.map(|v| from_dec(v, field)).transpose()
            }

            fn many<A, B: TryFrom<A, Error = CoreError>>(items: Vec<A>) -> Checked<Vec<B>> {
                items.into_iter().map(B::try_from).collect()
            }

            impl From<c::Payment> for w::Payment {
                fn from(p: c::Payment) -> Self {
                    w::Payment {
                        serial: p.serial,
                        amount: dec(p.amount),
                        currency: p.currency.code().to_owned(),
                        received_on: day_number(p.received_on),
                    }
                }
            }

            impl TryFrom<w::Payment> for c::Payment {
                type Error = CoreError;
                fn try_from(p: w::Payment) -> Checked<Self> {
                    Ok(c::Payment {
                        serial: p.serial,
                        amount: from_dec(p.amount, "payment.amount")?,
                        currency: c::Currency::parse(&p.currency)?,
                        received_on: day_from_number(p.received_on, "payment.received_on")?,
                    })
                }
            }

            impl From<c::Owner> for w::Owner {
                fn from(o: c::Owner) -> Self {
                    w::Owner { id: o.id, name: o.name, surname: o.surname }
                }
            }

            impl From<w::Owner> for c::Owner {
                fn from(o: w::Owner) -> Self {
                    c::Owner { id: o.id, name: o.name, surname: o.surname }
                }
            }

            $crate::wit_cases!(DeviceKind: Meter, SolarHomeSystem, EBike);

            impl From<c::DeviceAccount> for w::DeviceAccount {
                fn from(d: c::DeviceAccount) -> Self {
                    w::DeviceAccount {
                        serial: d.serial,
                        kind: d.kind.into(),
                        registered_on: day_number(d.registered_on),
                        owner: d.owner.map(Into::into),
                    }
                }
            }

            impl TryFrom<w::DeviceAccount> for c::DeviceAccount {
                type Error = CoreError;
                fn try_from(d: w::DeviceAccount) -> Checked<Self> {
                    Ok(c::DeviceAccount {
                        serial: d.serial,
                        kind: d.kind.into(),
                        registered_on: day_from_number(d.registered_on, "device.registered_on")?,
                        owner: d.owner.map(Into::into),
                    })
                }
            }

            impl From<c::FeeComponent> for w::FeeComponent {
                fn from(f: c::FeeComponent) -> Self {
                    w::FeeComponent { name: f.name, price_per_kwh: dec(f.price_per_kwh) }
                }
            }

            impl TryFrom<w::FeeComponent> for c::FeeComponent {
                type Error = CoreError;
                fn try_from(f: w::FeeComponent) -> Checked<Self> {
                    Ok(c::FeeComponent { name: f.name, price_per_kwh: from_dec(f.price_per_kwh, "fee.price_per_kwh")? })
                }
            }

            impl From<c::AccessRate> for w::AccessRate {
                fn from(a: c::AccessRate) -> Self {
                    w::AccessRate { amount: dec(a.amount), period_days: a.period_days }
                }
            }

            impl TryFrom<w::AccessRate> for c::AccessRate {
                type Error = CoreError;
                fn try_from(a: w::AccessRate) -> Checked<Self> {
                    Ok(c::AccessRate { amount: from_dec(a.amount, "access_rate.amount")?, period_days: a.period_days })
                }
            }

            impl From<c::Tariff> for w::Tariff {
                fn from(t: c::Tariff) -> Self {
                    w::Tariff {
                        id: t.id,
                        currency: t.currency.code().to_owned(),
                        price_per_kwh: dec(t.price_per_kwh),
                        fees: t.fees.into_iter().map(Into::into).collect(),
                        access_rate: t.access_rate.map(Into::into),
                        minimum_purchase: dec(t.minimum_purchase),
                        energy_step_kwh: dec(t.energy_step_kwh),
                    }
                }
            }

            impl TryFrom<w::Tariff> for c::Tariff {
                type Error = CoreError;
                fn try_from(t: w::Tariff) -> Checked<Self> {
                    Ok(c::Tariff {
                        id: t.id,
                        currency: c::Currency::parse(&t.currency)?,
                        price_per_kwh: from_dec(t.price_per_kwh, "tariff.price_per_kwh")?,
                        fees: many(t.fees)?,
                        access_rate: t.access_rate.map(c::AccessRate::try_from).transpose()?,
                        minimum_purchase: from_dec(t.minimum_purchase, "tariff.minimum_purchase")?,
                        energy_step_kwh: from_dec(t.energy_step_kwh, "tariff.energy_step_kwh")?,
                    })
                }
            }

            impl From<c::AccessRateState> for w::AccessRateState {
                fn from(a: c::AccessRateState) -> Self {
                    w::AccessRateState { accrued_periods: a.accrued_periods, debt: dec(a.debt) }
                }
            }

            impl TryFrom<w::AccessRateState> for c::AccessRateState {
                type Error = CoreError;
                fn try_from(a: w::AccessRateState) -> Checked<Self> {
                    Ok(c::AccessRateState {
                        accrued_periods: a.accrued_periods,
                        debt: from_dec(a.debt, "access_rate.debt")?,
                    })
                }
            }

            impl From<c::Resolution> for w::Resolution {
                fn from(r: c::Resolution) -> Self {
                    w::Resolution { numerator: dec(r.numerator()), denominator: r.denominator() }
                }
            }

            impl TryFrom<w::Resolution> for c::Resolution {
                type Error = CoreError;
                fn try_from(r: w::Resolution) -> Checked<Self> {
                    // As the wire's "<decimal>/<n>": the divider is a whole number from 1.
                    if r.denominator == 0 {
                        return Err(CoreError::InvalidInput {
                            field: "resolution".to_owned(),
                            reason: "the divider must be a whole number from 1".to_owned(),
                        });
                    }
                    Ok(c::Resolution::new(from_dec(r.numerator, "resolution")?, r.denominator))
                }
            }

            impl From<c::Period> for w::Period {
                fn from(p: c::Period) -> Self {
                    match p {
                        c::Period::Weekly => w::Period::Weekly,
                        c::Period::Monthly => w::Period::Monthly,
                        c::Period::EveryDays(n) => w::Period::EveryDays(n),
                    }
                }
            }

            impl From<w::Period> for c::Period {
                fn from(p: w::Period) -> Self {
                    match p {
                        w::Period::Weekly => c::Period::Weekly,
                        w::Period::Monthly => c::Period::Monthly,
                        w::Period::EveryDays(n) => c::Period::EveryDays(n),
                    }
                }
            }

            impl From<c::Installment> for w::Installment {
                fn from(i: c::Installment) -> Self {
                    w::Installment {
                        number: i.number,
                        due_date: day_number(i.due_date),
                        amount: dec(i.amount),
                        paid: dec(i.paid),
                    }
                }
            }

            impl TryFrom<w::Installment> for c::Installment {
                type Error = CoreError;
                fn try_from(i: w::Installment) -> Checked<Self> {
                    Ok(c::Installment {
                        number: i.number,
                        due_date: day_from_number(i.due_date, "installment.due_date")?,
                        amount: from_dec(i.amount, "installment.amount")?,
                        paid: from_dec(i.paid, "installment.paid")?,
                    })
                }
            }

            impl From<c::InstallmentPlan> for w::InstallmentPlan {
                fn from(p: c::InstallmentPlan) -> Self {
                    w::InstallmentPlan {
                        id: p.id,
                        currency: p.currency.code().to_owned(),
                        period: p.period.into(),
                        start_date: day_number(p.start_date),
                        installments: p.installments.into_iter().map(Into::into).collect(),
                        minimum_payment: p.minimum_payment.map(dec),
                    }
                }
            }

            impl TryFrom<w::InstallmentPlan> for c::InstallmentPlan {
                type Error = CoreError;
                fn try_from(p: w::InstallmentPlan) -> Checked<Self> {
                    Ok(c::InstallmentPlan {
                        id: p.id,
                        currency: c::Currency::parse(&p.currency)?,
                        period: p.period.into(),
                        start_date: day_from_number(p.start_date, "plan.start_date")?,
                        installments: many(p.installments)?,
                        minimum_payment: from_dec_opt(p.minimum_payment, "plan.minimum_payment")?,
                    })
                }
            }

            impl From<c::EaasPlan> for w::EaasPlan {
                fn from(p: c::EaasPlan) -> Self {
                    w::EaasPlan {
                        id: p.id,
                        currency: p.currency.code().to_owned(),
                        price_per_day: dec(p.price_per_day),
                        minimum_payable: dec(p.minimum_payable),
                    }
                }
            }

            impl TryFrom<w::EaasPlan> for c::EaasPlan {
                type Error = CoreError;
                fn try_from(p: w::EaasPlan) -> Checked<Self> {
                    Ok(c::EaasPlan {
                        id: p.id,
                        currency: c::Currency::parse(&p.currency)?,
                        price_per_day: from_dec(p.price_per_day, "plan.price_per_day")?,
                        minimum_payable: from_dec(p.minimum_payable, "plan.minimum_payable")?,
                    })
                }
            }

            impl From<c::Billing> for w::Billing {
                fn from(b: c::Billing) -> Self {
                    match b {
                        c::Billing::Meter { tariff, access_rate, token_resolution } => {
                            w::Billing::Meter(w::MeterBilling {
                                tariff: tariff.into(),
                                access_rate: access_rate.into(),
                                token_resolution: token_resolution.map(Into::into),
                            })
                        }
                        c::Billing::Installments { plan, day_resolution } => {
                            w::Billing::Installments(w::InstallmentsBilling {
                                plan: plan.into(),
                                day_resolution: day_resolution.into(),
                            })
                        }
                        c::Billing::Eaas { plan, day_resolution } => w::Billing::Eaas(w::EaasBilling {
                            plan: plan.into(),
                            day_resolution: day_resolution.into(),
                        }),
                    }
                }
            }

            impl TryFrom<w::Billing> for c::Billing {
                type Error = CoreError;
                fn try_from(b: w::Billing) -> Checked<Self> {
                    Ok(match b {
                        w::Billing::Meter(m) => c::Billing::Meter {
                            tariff: m.tariff.try_into()?,
                            access_rate: m.access_rate.try_into()?,
                            token_resolution: m.token_resolution.map(c::Resolution::try_from).transpose()?,
                        },
                        w::Billing::Installments(i) => c::Billing::Installments {
                            plan: i.plan.try_into()?,
                            day_resolution: i.day_resolution.try_into()?,
                        },
                        w::Billing::Eaas(e) => {
                            c::Billing::Eaas { plan: e.plan.try_into()?, day_resolution: e.day_resolution.try_into()? }
                        }
                    })
                }
            }

            impl From<c::AccountSnapshot> for w::AccountSnapshot {
                fn from(s: c::AccountSnapshot) -> Self {
                    w::AccountSnapshot {
                        device: s.device.into(),
                        billing: s.billing.into(),
                        customer_plans: s.customer_plans.into_iter().map(Into::into).collect(),
                        credit_balance: dec(s.credit_balance),
                    }
                }
            }

            impl TryFrom<w::AccountSnapshot> for c::AccountSnapshot {
                type Error = CoreError;
                fn try_from(s: w::AccountSnapshot) -> Checked<Self> {
                    Ok(c::AccountSnapshot {
                        device: s.device.try_into()?,
                        billing: s.billing.try_into()?,
                        customer_plans: many(s.customer_plans)?,
                        credit_balance: from_dec(s.credit_balance, "snapshot.credit_balance")?,
                    })
                }
            }

            $crate::wit_cases!(AllocationKind: Installment, AccessRate, Energy, Eaas);

            impl From<c::AllocationLine> for w::AllocationLine {
                fn from(l: c::AllocationLine) -> Self {
                    w::AllocationLine {
                        kind: l.kind.into(),
                        amount: dec(l.amount),
                        plan_id: l.plan_id,
                        installment: l.installment,
                        quantity: l.quantity.map(dec),
                    }
                }
            }

            impl TryFrom<w::AllocationLine> for c::AllocationLine {
                type Error = CoreError;
                fn try_from(l: w::AllocationLine) -> Checked<Self> {
                    Ok(c::AllocationLine {
                        kind: l.kind.into(),
                        amount: from_dec(l.amount, "line.amount")?,
                        plan_id: l.plan_id,
                        installment: l.installment,
                        quantity: from_dec_opt(l.quantity, "line.quantity")?,
                    })
                }
            }

            $crate::wit_cases!(TokenUnit: Kwh, Days, Unlock);

            impl From<c::TokenRequest> for w::TokenRequest {
                fn from(t: c::TokenRequest) -> Self {
                    w::TokenRequest { serial: t.serial, unit: t.unit.into(), quantity: dec(t.quantity) }
                }
            }

            impl TryFrom<w::TokenRequest> for c::TokenRequest {
                type Error = CoreError;
                fn try_from(t: w::TokenRequest) -> Checked<Self> {
                    Ok(c::TokenRequest {
                        serial: t.serial,
                        unit: t.unit.into(),
                        quantity: from_dec(t.quantity, "token.quantity")?,
                    })
                }
            }

            $crate::wit_cases!(NoTokenReason:
                NothingLeftAfterDebt, BelowMinimumPurchase, BelowOneUnit, BelowMinimumPayable, PlanAlreadyPaid, NoDevice
            );

            impl From<c::Allocation> for w::Allocation {
                fn from(a: c::Allocation) -> Self {
                    w::Allocation {
                        serial: a.serial,
                        currency: a.currency.code().to_owned(),
                        amount: dec(a.amount),
                        lines: a.lines.into_iter().map(Into::into).collect(),
                        credit_used: dec(a.credit_used),
                        credit_added: dec(a.credit_added),
                        credit_balance: dec(a.credit_balance),
                        access_rate: a.access_rate.map(Into::into),
                        plans: a.plans.into_iter().map(Into::into).collect(),
                        token: a.token.map(Into::into),
                        no_token_reason: a.no_token_reason.map(Into::into),
                    }
                }
            }

            impl TryFrom<w::Allocation> for c::Allocation {
                type Error = CoreError;
                fn try_from(a: w::Allocation) -> Checked<Self> {
                    Ok(c::Allocation {
                        serial: a.serial,
                        currency: c::Currency::parse(&a.currency)?,
                        amount: from_dec(a.amount, "allocation.amount")?,
                        lines: many(a.lines)?,
                        credit_used: from_dec(a.credit_used, "allocation.credit_used")?,
                        credit_added: from_dec(a.credit_added, "allocation.credit_added")?,
                        credit_balance: from_dec(a.credit_balance, "allocation.credit_balance")?,
                        access_rate: a.access_rate.map(c::AccessRateState::try_from).transpose()?,
                        plans: many(a.plans)?,
                        token: a.token.map(c::TokenRequest::try_from).transpose()?,
                        no_token_reason: a.no_token_reason.map(Into::into),
                    })
                }
            }

            $crate::wit_cases!(Channel: Provider, Operator);

            impl From<c::ValidationRequest> for w::ValidationRequest {
                fn from(r: c::ValidationRequest) -> Self {
                    w::ValidationRequest {
                        serial: r.serial,
                        amount: dec(r.amount),
                        currency: r.currency.code().to_owned(),
                        received_on: day_number(r.received_on),
                        channel: r.channel.into(),
                    }
                }
            }

            impl TryFrom<w::ValidationRequest> for c::ValidationRequest {
                type Error = CoreError;
                fn try_from(r: w::ValidationRequest) -> Checked<Self> {
                    Ok(c::ValidationRequest {
                        serial: r.serial,
                        amount: from_dec(r.amount, "request.amount")?,
                        currency: c::Currency::parse(&r.currency)?,
                        received_on: day_from_number(r.received_on, "request.received_on")?,
                        channel: r.channel.into(),
                    })
                }
            }

            impl From<c::Validation> for w::Validation {
                fn from(v: c::Validation) -> Self {
                    w::Validation {
                        accepted: v.accepted,
                        customer_name: v.customer_name,
                        minimum_amount: dec(v.minimum_amount),
                        preview: v.preview.into(),
                    }
                }
            }

            impl TryFrom<w::Validation> for c::Validation {
                type Error = CoreError;
                fn try_from(v: w::Validation) -> Checked<Self> {
                    Ok(c::Validation {
                        accepted: v.accepted,
                        customer_name: v.customer_name,
                        minimum_amount: from_dec(v.minimum_amount, "validation.minimum_amount")?,
                        preview: v.preview.try_into()?,
                    })
                }
            }
        }
    };
}

/// For [`wit_records!`](crate::wit_records): `From` both ways between a core enum and its WIT enum of the
/// same name and cases.
#[doc(hidden)]
#[macro_export]
macro_rules! wit_cases {
    ($name:ident: $($case:ident),+) => {
        impl From<c::$name> for w::$name {
            fn from(value: c::$name) -> Self {
                match value {
                    $(c::$name::$case => w::$name::$case,)+
                }
            }
        }

        impl From<w::$name> for c::$name {
            fn from(value: w::$name) -> Self {
                match value {
                    $(w::$name::$case => c::$name::$case,)+
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_sign_scale_and_all_96_bits() {
        for text in ["0", "1.40", "-0.005", "79228162514264337593543950335", "-7.9228162514264337593543950335"] {
            let value: Decimal = text.parse().unwrap_or_default();
            let (high, low, scale) = decimal_parts(value);
            let back = decimal_from_parts(high, low, scale, "x");
            assert_eq!(back.map(|d| d.to_string()), Ok(value.to_string()), "{text}");
        }
    }

    #[test]
    fn parts_that_are_no_decimal_are_refused_by_field() {
        let refused = decimal_from_parts(0, 1, 29, "amount");
        assert!(matches!(refused, Err(CoreError::InvalidInput { field, .. }) if field == "amount"));
        assert!(decimal_from_parts(i64::MAX, 0, 0, "amount").is_err());
    }

    #[test]
    fn days_count_from_the_first_of_january_of_year_one() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap_or_default();
        assert_eq!(day_from_number(day_number(day), "d"), Ok(day));
        assert_eq!(day_from_number(1, "d").map(|d| d.to_string()), Ok("0001-01-01".to_owned()));
        assert!(day_from_number(i32::MAX, "d").is_err());
    }
}
