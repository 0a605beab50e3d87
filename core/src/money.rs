//! Money: exact decimals, ISO 4217 currencies and their minor units, the rounding rules.
//!
//! Every amount is a [`Decimal`]; there is no floating point anywhere in money or energy. An amount is
//! rounded to its currency's minor unit whenever it is stored or paid out.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};

/// An ISO 4217 currency, known to the core, written as its upper-case three-letter code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

/// Currencies that mobile money settles in whole units although ISO 4217 lists cents: mobile-money
/// operators in Tanzania never move fractions of a shilling, so a token must never be priced in them.
const WHOLE_UNIT_OVERRIDES: &[&str] = &["TZS"];

impl Currency {
    /// Parses a three-letter ISO 4217 code (case-insensitive, surrounding spaces ignored).
    pub fn parse(code: &str) -> CoreResult<Self> {
        let upper = code.trim().to_ascii_uppercase();
        iso_currency::Currency::from_code(&upper)
            .map(Currency)
            .ok_or(CoreError::UnknownCurrency { currency: code.to_owned() })
    }

    /// The three-letter code, e.g. `"TZS"`.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point that an amount in this currency may carry
    /// (TZS, UGX, XOF: 0; KES, NGN, USD: 2). Currencies without a minor unit in ISO 4217
    /// (precious metals, testing codes) count as 0.
    pub fn minor_units(&self) -> u32 {
        if WHOLE_UNIT_OVERRIDES.contains(&self.code()) {
            return 0;
        }
        self.0.exponent().map(u32::from).unwrap_or(0)
    }

    /// Rounds half away from zero ("half up" for positive amounts) to the minor unit.
    pub fn round(&self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(self.minor_units(), RoundingStrategy::MidpointAwayFromZero).normalize()
    }

    /// Rounds toward negative infinity to the minor unit (never gives more than `amount`).
    pub fn floor(&self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(self.minor_units(), RoundingStrategy::ToNegativeInfinity).normalize()
    }

    /// The smallest positive amount of this currency (1 for TZS, 0.01 for KES).
    pub fn minor_unit(&self) -> Decimal {
        Decimal::new(1, self.minor_units())
    }

    /// Errors unless `other` is this currency: two currencies never meet.
    pub fn expect_same(&self, other: &Currency) -> CoreResult<()> {
        if self == other {
            Ok(())
        } else {
            Err(CoreError::CurrencyMismatch { expected: self.code().to_owned(), actual: other.code().to_owned() })
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = CoreError;
    fn from_str(s: &str) -> CoreResult<Self> {
        Self::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Currency::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An amount with its currency, the unit in which money enters the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// The amount, in the currency's units.
    pub amount: Decimal,
    /// ISO 4217 currency.
    pub currency: Currency,
}

/// Checks that a payment amount is positive and fits its currency's minor unit.
pub(crate) fn check_payment_amount(amount: Decimal, currency: &Currency) -> CoreResult<()> {
    if amount <= Decimal::ZERO {
        return Err(CoreError::InvalidAmount { amount, reason: "a payment must be positive".into() });
    }
    check_minor_units(amount, currency)
}

/// Checks that an amount has no more decimals than its currency allows.
pub(crate) fn check_minor_units(amount: Decimal, currency: &Currency) -> CoreResult<()> {
    if amount.normalize().scale() > currency.minor_units() {
        return Err(CoreError::InvalidAmount {
            amount,
            reason: format!("{currency} has {} decimal places", currency.minor_units()),
        });
    }
    Ok(())
}

/// Checks that an amount is zero or positive and fits its currency.
pub(crate) fn check_non_negative(field: &str, amount: Decimal, currency: &Currency) -> CoreResult<()> {
    if amount < Decimal::ZERO {
        return Err(CoreError::invalid(field, "must not be negative"));
    }
    check_minor_units(amount, currency)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn minor_units_follow_the_spec() {
        for (code, units) in [("TZS", 0), ("UGX", 0), ("XOF", 0), ("KES", 2), ("NGN", 2), ("USD", 2)] {
            assert_eq!(Currency::parse(code).map(|c| c.minor_units()), Ok(units), "{code}");
        }
    }

    #[test]
    fn rounding_is_half_up_and_floor_never_rounds_up() {
        let kes = Currency::parse("kes").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(kes.round(dec!(1.005)), dec!(1.01));
        assert_eq!(kes.floor(dec!(1.009)), dec!(1.00));
        assert!(Currency::parse("XYZ").is_err());
    }
}
