//! Access-rate accrual (domain.md §3): a fixed fee every `period_days` on a meter.
//!
//! The first fee falls due one period after the device's registration date, each later one a period after
//! that. Accrual is a pure function of (registration date, rate, state, now): a late call catches up every
//! missed period at once, and a second call with the same `now` changes nothing. MPM never accrued it.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::num;
use crate::tariff::AccessRate;

/// A meter's access-rate account, as stored by the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRateState {
    /// How many periods have been charged since registration.
    #[serde(default)]
    pub accrued_periods: u32,
    /// What is charged and not yet paid.
    #[serde(with = "crate::wire::dec", default)]
    pub debt: Decimal,
}

/// The state after accrual and what this call added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accrual {
    pub state: AccessRateState,
    pub new_periods: u32,
    #[serde(with = "crate::wire::dec")]
    pub new_debt: Decimal,
}

/// How many periods have fallen due on `now` for a device registered on `registered_on`.
pub fn periods_due(registered_on: NaiveDate, period_days: u32, now: NaiveDate) -> CoreResult<u32> {
    if period_days == 0 {
        return Err(CoreError::invalid("period_days", "must be at least 1"));
    }
    let days = now.signed_duration_since(registered_on).num_days();
    if days <= 0 {
        return Ok(0);
    }
    // Dates span at most ~190 million days, so the count always fits in u32 for period ≥ 1.
    u32::try_from(days / i64::from(period_days))
        .map_err(|_| CoreError::DateOutOfRange { reason: "too many access-rate periods".into() })
}

/// Charges every period that has fallen due by `now` and was not charged yet. Idempotent.
pub fn accrue(
    rate: &AccessRate,
    registered_on: NaiveDate,
    state: &AccessRateState,
    now: NaiveDate,
) -> CoreResult<Accrual> {
    num::check_range("access_rate.amount", rate.amount, true)?;
    num::check_range("debt", state.debt, false)?;
    let due = periods_due(registered_on, rate.period_days, now)?;
    let new_periods = due.saturating_sub(state.accrued_periods);
    let new_debt = num::mul(rate.amount, Decimal::from(new_periods))?;
    let debt = num::add(state.debt, new_debt)?;
    Ok(Accrual {
        state: AccessRateState { accrued_periods: state.accrued_periods.max(due), debt: debt.normalize() },
        new_periods,
        new_debt: new_debt.normalize(),
    })
}
