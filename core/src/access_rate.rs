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
    /// The account after accrual.
    pub state: AccessRateState,
    /// Periods charged by this call.
    pub new_periods: u32,
    #[serde(with = "crate::wire::dec")]
    /// What this call added to the debt.
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

/// The days the fees of a meter registered on `registered_on` fall due, up to `to` (included): fee k on
/// registration + k periods, the days [`accrue`] charges them. A statement lists them, so a host never works
/// the dates out itself. At most `limit` dates (the earliest); a rate of 0 days is refused.
pub fn fee_due_dates(
    rate: &AccessRate,
    registered_on: NaiveDate,
    to: NaiveDate,
    limit: usize,
) -> CoreResult<Vec<NaiveDate>> {
    let due = periods_due(registered_on, rate.period_days, to)?;
    let mut dates = Vec::new();
    for k in 1..=due {
        if dates.len() >= limit {
            break;
        }
        let days = u64::from(k).saturating_mul(u64::from(rate.period_days));
        let day = registered_on.checked_add_days(chrono::Days::new(days)).ok_or_else(|| CoreError::DateOutOfRange {
            reason: "an access-rate fee falls due after the calendar".into(),
        })?;
        dates.push(day);
    }
    Ok(dates)
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

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn fees_fall_due_on_the_days_accrual_charges_them() {
        let rate = AccessRate { amount: dec!(300), period_days: 30 };
        let dates = fee_due_dates(&rate, day("2026-01-01"), day("2026-03-02"), 100).unwrap();
        assert_eq!(dates, [day("2026-01-31"), day("2026-03-02")]);
        // Each date is the first on which accrual charges one more period.
        for (k, date) in (1u32..).zip(&dates) {
            assert_eq!(periods_due(day("2026-01-01"), 30, *date), Ok(k));
            assert_eq!(periods_due(day("2026-01-01"), 30, date.pred_opt().unwrap()), Ok(k - 1));
        }
        assert_eq!(fee_due_dates(&rate, day("2026-01-01"), day("2027-01-01"), 3).map(|d| d.len()), Ok(3));
        assert!(fee_due_dates(&AccessRate { period_days: 0, ..rate }, day("2026-01-01"), day("2026-03-02"), 9).is_err());
    }
}
