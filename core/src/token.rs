//! What a payment decision asks of a device: the token request (domain.md §6).
//!
//! The allocation decides *what* the customer bought (kWh, days, or a permanent unlock); turning that into
//! the text a customer types is the job of the device's token scheme: OpenPAYGO locally
//! ([`crate::openpaygo`]) or the manufacturer's own system for `external` manufacturers, through the host.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};

/// The unit of a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenUnit {
    /// Energy credit for a meter.
    Kwh,
    /// Days of use for an SHS or e-bike (possibly fractional, at the device's token resolution).
    Days,
    /// A permanent unlock: the plan is paid off (OpenPAYGO "disable PAYG").
    Unlock,
}

/// A request for one token for one device: always the device whose serial the payment carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    /// The device's canonical serial.
    pub serial: String,
    /// kWh, days, or unlock.
    pub unit: TokenUnit,
    /// kWh or days; zero for an unlock.
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
}

/// The smallest quantity a device's token can carry, in the token's unit (kWh or days) (domain.md §6).
///
/// On the wire a string: a decimal (`"1"`, `"0.1"`: a vendor's stated resolution) or a fraction
/// `"<decimal>/<n>"` (`"1/4"`, `"1/3"`: OpenPAYGO with time divider n, whose tokens count n-ths of a unit).
/// The fraction keeps a divider such as 3 exact where `0.333…` would not be; integers are read as decimals.
///
/// Quantities are decimals, so what can be sold is the decimal multiples of the resolution, whose grid
/// is [`Resolution::step`]: `"1/4"` sells quarter days, `"1/3"` whole days (a third is no finite decimal),
/// `"1/6"` half days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolution {
    numerator: Decimal,
    denominator: u32,
}

impl Default for Resolution {
    /// One whole unit.
    fn default() -> Self {
        Resolution::ONE
    }
}

impl Resolution {
    /// One whole unit (a whole day, a whole kWh).
    pub const ONE: Resolution = Resolution { numerator: Decimal::ONE, denominator: 1 };

    /// `numerator / denominator` of a unit; checked when used ([`Resolution::step`]).
    pub fn new(numerator: Decimal, denominator: u32) -> Self {
        Resolution { numerator, denominator }
    }

    /// The resolution's numerator (the decimal before `/`).
    pub fn numerator(&self) -> Decimal {
        self.numerator
    }

    /// The resolution's divider (1 for a decimal resolution).
    pub fn denominator(&self) -> u32 {
        self.denominator
    }

    /// A decimal resolution.
    pub fn decimal(value: Decimal) -> Self {
        Resolution { numerator: value, denominator: 1 }
    }

    /// `1/divider` of a unit: an OpenPAYGO device with this time divider.
    pub fn per_divider(divider: u32) -> Self {
        Resolution { numerator: Decimal::ONE, denominator: divider }
    }

    /// The grid of quantities a token can carry exactly: the smallest positive decimal that is a multiple
    /// of the resolution. `field` names the resolution in the error when it is not positive or too fine.
    pub fn step(&self, field: &str) -> CoreResult<Decimal> {
        crate::num::check_range(field, self.numerator, true)?;
        if self.denominator == 0 {
            return Err(CoreError::invalid(field, "the divider must be at least 1"));
        }
        let too_fine = || CoreError::invalid(field, "is finer than the core can represent");
        // numerator / denominator = p / (q · 10^k) with p, q coprime; the decimal multiples of p / q are
        // the multiples of p / t, t being the part of q made of 2s and 5s (a factor 3 never terminates).
        let p = u128::try_from(self.numerator.mantissa()).map_err(|_| too_fine())?;
        let common = crate::num::gcd(p, u128::from(self.denominator));
        let (p, mut m) = (p / common, u128::from(self.denominator) / common);
        let (mut twos, mut fives) = (0u32, 0u32);
        while m % 2 == 0 {
            m /= 2;
            twos += 1;
        }
        while m % 5 == 0 {
            m /= 5;
            fives += 1;
        }
        // p / t = p · (10^j / t) / 10^j with j = max(twos, fives).
        let j = twos.max(fives);
        let widen = crate::num::pow10(j)
            .zip(2u128.checked_pow(twos))
            .zip(5u128.checked_pow(fives))
            .map(|((ten, two), five)| ten / two / five)
            .ok_or_else(too_fine)?;
        let mantissa = p.checked_mul(widen).and_then(|v| i128::try_from(v).ok()).ok_or_else(too_fine)?;
        let scale = self.numerator.scale().checked_add(j).ok_or_else(too_fine)?;
        let step = Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| too_fine())?.normalize();
        crate::num::check_range(field, step, true)?;
        Ok(step)
    }

    fn parse(text: &str) -> Result<Self, String> {
        let (numerator, denominator) = match text.split_once('/') {
            None => (text, 1),
            Some((numerator, denominator)) => {
                // Digits only: u32's parser would also take a sign.
                let n = Some(denominator)
                    .filter(|d| d.chars().all(|c| c.is_ascii_digit()))
                    .and_then(|d| d.parse::<u32>().ok())
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| format!("{text:?}: the divider after '/' must be a whole number from 1"))?;
                (numerator, n)
            }
        };
        Ok(Resolution { numerator: crate::wire::dec::parse(numerator)?, denominator })
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.denominator {
            1 => write!(f, "{}", self.numerator.normalize()),
            n => write!(f, "{}/{n}", self.numerator.normalize()),
        }
    }
}

impl Serialize for Resolution {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Resolution {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match crate::wire::NumberText::deserialize(d)? {
            crate::wire::NumberText::Str(s) => Resolution::parse(&s).map_err(serde::de::Error::custom),
            crate::wire::NumberText::Int(i) => Ok(Resolution::decimal(Decimal::from(i))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(text: &str) -> CoreResult<Decimal> {
        Resolution::parse(text).map_err(|e| CoreError::invalid("r", e))?.step("r")
    }

    #[test]
    fn steps_are_the_decimal_multiples() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(step("1"), Ok(d("1")));
        assert_eq!(step("0.1"), Ok(d("0.1")));
        assert_eq!(step("1/4"), Ok(d("0.25")));
        assert_eq!(step("1/3"), Ok(d("1")));
        assert_eq!(step("1/6"), Ok(d("0.5")));
        assert_eq!(step("1/255"), Ok(d("0.2")));
        assert_eq!(step("1/128"), Ok(d("0.0078125")));
        assert_eq!(step("0.5/3"), Ok(d("0.5")));
        assert_eq!(step("2/4"), Ok(d("0.5")));
        assert_eq!(step("0.3/9"), Ok(d("0.1")));
        for divider in 1..=255u32 {
            let s = Resolution::per_divider(divider).step("r").unwrap();
            assert!((s * Decimal::from(divider)).fract().is_zero(), "1/{divider}: {s}");
        }
    }

    #[test]
    fn bad_resolutions_are_refused() {
        assert!(Resolution::parse("1/0").is_err());
        assert!(Resolution::parse("1/").is_err());
        assert!(Resolution::parse("1/-2").is_err());
        assert!(Resolution::parse("x").is_err());
        assert!(step("0").is_err());
        assert!(step("-1").is_err());
        assert_eq!(step("1/4294967295"), Ok(Decimal::new(2, 1))); // 5 × 858993459: fifths
        assert!(step("1/2147483648").is_err()); // 2^31: beyond 28 decimal places
    }

    #[test]
    fn wire_form_round_trips() {
        for text in ["1", "0.25", "1/3", "0.5/7"] {
            let r: Resolution = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(text));
        }
        let r: Resolution = serde_json::from_value(serde_json::json!(2)).unwrap();
        assert_eq!(r, Resolution::decimal(Decimal::TWO));
    }
}
