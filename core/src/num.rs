//! Checked decimal arithmetic.
//!
//! `Decimal`'s operators panic on overflow; the core must never panic, so every computation on values that
//! come from outside goes through these helpers and turns an overflow into a typed error.

use rust_decimal::Decimal;

use crate::error::{CoreError, CoreResult};

/// The largest amount (money, energy, price) the core accepts from outside. Far above any real payment,
/// far enough below `Decimal::MAX` that sums and products of a few such values cannot overflow.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA764_0000, 0x0DE0_B6B3, 0, false, 0); // 10^18

fn overflow() -> CoreError {
    CoreError::InvalidAmount { amount: Decimal::ZERO, reason: "arithmetic overflow: amounts too large".into() }
}

pub(crate) fn add(a: Decimal, b: Decimal) -> CoreResult<Decimal> {
    a.checked_add(b).ok_or_else(overflow)
}

pub(crate) fn sub(a: Decimal, b: Decimal) -> CoreResult<Decimal> {
    a.checked_sub(b).ok_or_else(overflow)
}

pub(crate) fn mul(a: Decimal, b: Decimal) -> CoreResult<Decimal> {
    a.checked_mul(b).ok_or_else(overflow)
}

/// Division; the divisor must be checked non-zero by the caller's validation, but a zero still gives an
/// error rather than a panic.
pub(crate) fn div(a: Decimal, b: Decimal) -> CoreResult<Decimal> {
    a.checked_div(b).ok_or_else(overflow)
}

pub(crate) fn sum<I: IntoIterator<Item = Decimal>>(items: I) -> CoreResult<Decimal> {
    items.into_iter().try_fold(Decimal::ZERO, add)
}

/// Errors unless `0 <= value <= MAX_AMOUNT` (or `0 < value` when `positive`).
pub(crate) fn check_range(field: &str, value: Decimal, positive: bool) -> CoreResult<()> {
    if positive && value <= Decimal::ZERO {
        return Err(CoreError::invalid(field, "must be greater than zero"));
    }
    if value < Decimal::ZERO {
        return Err(CoreError::invalid(field, "must not be negative"));
    }
    if value > MAX_AMOUNT {
        return Err(CoreError::invalid(field, "is larger than 10^18"));
    }
    Ok(())
}

/// Rounds `value` down to a multiple of `step` (step > 0).
pub(crate) fn floor_to_step(value: Decimal, step: Decimal) -> CoreResult<Decimal> {
    mul(div(value, step)?.floor(), step)
}

/// Rounds `value` up to a multiple of `step` (step > 0).
pub(crate) fn ceil_to_step(value: Decimal, step: Decimal) -> CoreResult<Decimal> {
    mul(div(value, step)?.ceil(), step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_amount_is_ten_to_the_eighteen() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000_000_000_i64));
    }

    #[test]
    fn overflow_is_an_error() {
        assert!(mul(Decimal::MAX, Decimal::TWO).is_err());
        assert!(div(Decimal::ONE, Decimal::ZERO).is_err());
    }
}
