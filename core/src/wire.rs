//! Wire forms shared by every binding: decimals travel as canonical decimal strings.
//!
//! Canonical means normalised (`"1.4"`, `"1000"`, never `"1.40"` or `"1E3"`), so two languages that produce
//! the same number produce the same text, and the shared vectors can compare outputs exactly.

/// A number as the wire may carry it: a decimal string, or a JSON integer. Binary floats match neither, on
/// purpose: money never travels as a float.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum NumberText {
    Str(String),
    Int(i64),
}

/// A bare decimal that travels as its canonical string: the output of the functions that answer one number
/// (`round_money`, `unit_price`, `eaas_price`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Dec(#[serde(with = "dec")] pub rust_decimal::Decimal);

/// `#[serde(with = "crate::wire::dec")]` for `Decimal` fields: reads a decimal string (or an integer), writes
/// the canonical string.
pub mod dec {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the canonical decimal string.
    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.normalize().to_string())
    }

    /// Reads a decimal string or an integer; refuses floats.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        match super::NumberText::deserialize(d)? {
            super::NumberText::Str(s) => parse(&s).map_err(serde::de::Error::custom),
            super::NumberText::Int(i) => Ok(Decimal::from(i)),
        }
    }

    /// Parses a plain decimal string ("12.50", "-3", "1000"); exponents and spaces are refused.
    pub fn parse(text: &str) -> Result<Decimal, String> {
        let ok = !text.is_empty()
            && text.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            && text.chars().any(|c| c.is_ascii_digit());
        if !ok {
            return Err(format!("{text:?} is not a decimal number"));
        }
        text.parse::<Decimal>().map_err(|e| format!("{text:?} is not a decimal number: {e}"))
    }
}

/// `#[serde(with = "crate::wire::dec_opt", default)]` for `Option<Decimal>` fields.
pub mod dec_opt {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the canonical decimal string.
    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => super::dec::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Reads a decimal string or an integer; refuses floats.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::dec")] Decimal);
        Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(v)| v))
    }
}
