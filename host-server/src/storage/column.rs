//! Typed columns. Money, days and kinds are stored as text (exact on SQLite and PostgreSQL alike, which
//! sqlx's `Any` driver reads only as text, integers, floats and bytes), and the core's records as their JSON.
//! A row struct names the typed form of such a column with `#[sqlx(try_from = "Text<T>")]`: the text is
//! parsed when the row is read, so no string money or kind travels past the storage layer, and an unreadable
//! value is a decode error of its column.

use chrono::NaiveDate;
use micropower_core::api::{Currency, Customer, DeviceKind, EaasPlan, InstallmentPlan, Period, Tariff, TokenScheme};
use rust_decimal::Decimal;
use sqlx::any::AnyTypeInfo;
use sqlx::error::BoxDynError;
use sqlx::{Any, Decode, Type};

use crate::payments::{LineKind, PaymentAnswer, PaymentStatus, QuantityUnit, TokenKind, TokenStatus};

/// A column stored as text, read as `T`.
pub struct Text<T>(T);

/// How a typed value is read from its stored text (`None` for SQL NULL).
pub trait FromText: Sized {
    fn from_text(text: Option<String>) -> Result<Self, BoxDynError>;
}

/// A nullable column is `None` for NULL, else the value's own reading.
impl<T: FromText> FromText for Option<T> {
    fn from_text(text: Option<String>) -> Result<Self, BoxDynError> {
        text.map(|t| T::from_text(Some(t))).transpose()
    }
}

impl<'r, T: FromText> Decode<'r, Any> for Text<T> {
    fn decode(value: <Any as sqlx::Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        T::from_text(<Option<String> as Decode<'r, Any>>::decode(value)?).map(Text)
    }
}

impl<T> Type<Any> for Text<T> {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

fn present(text: Option<String>) -> Result<String, BoxDynError> {
    text.ok_or_else(|| "NULL where a value is required".into())
}

/// `FromText` for each type, and the `From` conversions `#[sqlx(try_from)]` uses. One impl per type, not a
/// generic `impl<T> From<Text<T>> for T`: the orphan rule allows a foreign type (`Decimal`) only when it is
/// named.
macro_rules! text_columns {
    (parsed: $($parsed:ty),* ; named: $($named:ty),* ; json: $($json:ty),* $(,)?) => {
        $(
            impl FromText for $parsed {
                fn from_text(text: Option<String>) -> Result<Self, BoxDynError> {
                    let text = present(text)?;
                    text.parse().map_err(|e| format!("{text:?} is not a {}: {e}", stringify!($parsed)).into())
                }
            }
        )*
        $(
            impl FromText for $named {
                fn from_text(text: Option<String>) -> Result<Self, BoxDynError> {
                    use serde::de::IntoDeserializer;
                    let text = present(text)?;
                    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = text.as_str().into_deserializer();
                    Ok(<$named as serde::Deserialize>::deserialize(de)?)
                }
            }
        )*
        $(
            impl FromText for $json {
                fn from_text(text: Option<String>) -> Result<Self, BoxDynError> {
                    Ok(serde_json::from_str(&present(text)?)?)
                }
            }
        )*
        $(text_columns!(@from $parsed);)*
        $(text_columns!(@from $named);)*
        $(text_columns!(@from $json);)*
    };
    (@from $ty:ty) => {
        impl From<Text<$ty>> for $ty {
            fn from(Text(value): Text<$ty>) -> Self {
                value
            }
        }
        impl From<Text<Option<$ty>>> for Option<$ty> {
            fn from(Text(value): Text<Option<$ty>>) -> Self {
                value
            }
        }
    };
}

text_columns! {
    parsed: Decimal, NaiveDate, Currency, Period, DeviceKind, TokenKind, QuantityUnit, TokenStatus, LineKind,
        PaymentStatus;
    named: TokenScheme, crate::repo::PlanKind, crate::storage::payments::UnmatchedStatus, crate::providers::Kind,
        crate::providers::store::ConflictStatus, crate::storage::tokens::TokenCause, crate::storage::appliance_types::ApplianceKind,
        crate::storage::reconciliations::LineStatus, crate::storage::reconciliations::Outcome,
        crate::providers::statement::Format, crate::storage::opening_balances::Kind,
        micropower_core::api::AgentLineKind;
    json: Customer, Vec<DeviceKind>, InstallmentPlan, EaasPlan, Tariff, PaymentAnswer, crate::repo::OpenPaygoSettings, serde_json::Value,
        crate::storage::appliance_types::DefaultTerms, Vec<crate::storage::reconciliations::NotOnStatement>,
}
