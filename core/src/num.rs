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

/// The smallest positive decimal that is a multiple of both `a` and `b` (both > 0): the finest grid on which
/// two resolutions agree (a tariff's 0.01 kWh and a token's 0.25 kWh give 0.25; 0.04 and 0.06 give 0.12).
pub(crate) fn common_step(field: &str, a: Decimal, b: Decimal) -> CoreResult<Decimal> {
    let too_fine = || CoreError::invalid(field, "the resolutions have no common multiple the core can represent");
    if a <= Decimal::ZERO || b <= Decimal::ZERO {
        return Err(CoreError::invalid(field, "must be greater than zero"));
    }
    let scale = a.scale().max(b.scale());
    let mantissa = |d: Decimal| -> CoreResult<u128> {
        let up = pow10(scale - d.scale()).ok_or_else(too_fine)?;
        u128::try_from(d.mantissa()).ok().and_then(|m| m.checked_mul(up)).ok_or_else(too_fine)
    };
    let (x, y) = (mantissa(a)?, mantissa(b)?);
    let lcm = (x / gcd(x, y)).checked_mul(y).ok_or_else(too_fine)?;
    let lcm = i128::try_from(lcm).map_err(|_| too_fine())?;
    Decimal::try_from_i128_with_scale(lcm, scale).map(|d| d.normalize()).map_err(|_| too_fine())
}

/// Greatest common divisor (Euclid); `gcd(x, 0) = x`.
pub(crate) fn gcd(mut x: u128, mut y: u128) -> u128 {
    while y != 0 {
        (x, y) = (y, x % y);
    }
    x
}

/// 10^exp, when it fits.
pub(crate) fn pow10(exp: u32) -> Option<u128> {
    10u128.checked_pow(exp)
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

    #[test]
    fn common_steps() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(common_step("s", d("0.01"), d("1")), Ok(d("1")));
        assert_eq!(common_step("s", d("0.01"), d("0.25")), Ok(d("0.25")));
        assert_eq!(common_step("s", d("0.04"), d("0.06")), Ok(d("0.12")));
        assert_eq!(common_step("s", d("0.3"), d("0.5")), Ok(d("1.5")));
        assert_eq!(common_step("s", d("2"), d("2.00")), Ok(d("2")));
        assert!(common_step("s", d("0"), d("1")).is_err());
        assert!(common_step("s", Decimal::MAX, Decimal::MAX - Decimal::ONE).is_err());
    }
}
