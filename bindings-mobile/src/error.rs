//! The one error type of the mobile bindings: the core's [`CoreError`] with the same variant names.
//!
//! Kotlin sees `MicropowerException.UnknownSerial`, Swift `MicropowerError.UnknownSerial`. Every variant
//! carries the same three fields:
//! - `code`: the snake_case code every wire uses (`"unknown_serial"`),
//! - `reason`: the human text (the core's message; named `reason` because a Kotlin exception field named
//!   `message` would hide `Throwable.message` and does not compile),
//! - `details`: the variant's fields as a JSON object (`CoreError::details`), e.g. `minimum_amount` for
//!   `AmountBelowMinimum`: the same details the HTTP error body carries.
//!
//! The mapping is one `match` generated from the list below; it is exhaustive, so a variant added to the
//! core does not compile here until it is listed (and the test checks every `CoreError::ALL_CODES`).

use micropower_core::CoreError;

macro_rules! mirror_core_error {
    ($($(#[doc = $doc:literal])* $variant:ident,)*) => {
        /// A refusal of the core, with the core's variant name. See the module docs for the fields.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
        pub enum MicropowerError {
            $(
                $(#[doc = $doc])*
                #[error("{reason}")]
                $variant {
                    /// The snake_case code of the variant (`UnknownSerial` → `"unknown_serial"`).
                    code: String,
                    /// The human text.
                    reason: String,
                    /// The variant's fields, with `code` and `message`, as a JSON object.
                    details: String,
                },
            )*
        }

        impl From<CoreError> for MicropowerError {
            fn from(error: CoreError) -> Self {
                let code = error.code().to_owned();
                let reason = error.to_string();
                let details = error.details().to_string();
                match error {
                    $(CoreError::$variant { .. } => Self::$variant { code, reason, details },)*
                }
            }
        }

        impl MicropowerError {
            /// The variant's name, as the core writes it (`"UnknownSerial"`).
            pub fn variant_name(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => stringify!($variant),)*
                }
            }

            /// The snake_case code.
            pub fn code(&self) -> &str {
                match self {
                    $(Self::$variant { code, .. } => code,)*
                }
            }

            /// The human text.
            pub fn reason(&self) -> &str {
                match self {
                    $(Self::$variant { reason, .. } => reason,)*
                }
            }

            /// The variant's fields as a JSON object.
            pub fn details(&self) -> &str {
                match self {
                    $(Self::$variant { details, .. } => details,)*
                }
            }
        }
    };
}

mirror_core_error! {
    /// A field is missing, empty, out of range or malformed (`details.field` names it).
    InvalidInput,
    /// An amount is zero, negative, or has more decimals than its currency allows.
    InvalidAmount,
    /// Not an ISO 4217 currency code the core knows.
    UnknownCurrency,
    /// A serial that is not 1–32 of `A-Z0-9` after normalisation.
    InvalidSerial,
    /// A phone number that is not a valid number.
    InvalidPhone,
    /// Latitude or longitude out of range.
    InvalidGeoPoint,
    /// A date computation left the calendar.
    DateOutOfRange,
    /// A named record is not known.
    NotFound,
    /// A record under the wrong parent.
    ForeignParent,
    /// Another device already uses this serial.
    DuplicateSerial,
    /// The device kind does not fit the tariff, plan or manufacturer.
    KindMismatch,
    /// No device carries this serial.
    UnknownSerial,
    /// The device has no owner.
    DeviceUnassigned,
    /// Two currencies met; the core never converts.
    CurrencyMismatch,
    /// Below the least amount this device accepts (`details.minimum_amount`).
    AmountBelowMinimum,
    /// A plan's new total below what was already paid.
    TotalBelowPaid,
    /// Every installment has payments; give a new count and period.
    NoUntouchedInstallments,
    /// An installment with payments cannot be changed.
    InstallmentTouched,
    /// An OpenPAYGO key that is not 32 hexadecimal characters.
    InvalidSecretKey,
    /// A token value that a token cannot carry.
    InvalidTokenValue,
    /// A token count that cannot be used.
    InvalidTokenCount,
    /// A token the device would not accept.
    TokenRejected,
    /// A field agent's sale that would take its cash above its risk ceiling.
    RiskCeilingExceeded,
}

/// A conversion of the bindings' input (text that should be a decimal, a date, a currency…) that failed:
/// reported as the core reports a malformed field.
pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidInput { field: field.into(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    /// One error of each code, built from the code alone.
    fn sample(code: &str) -> CoreError {
        let s = || "x".to_owned();
        match code {
            "invalid_input" => CoreError::InvalidInput { field: s(), reason: s() },
            "invalid_amount" => CoreError::InvalidAmount { amount: Decimal::ONE, reason: s() },
            "unknown_currency" => CoreError::UnknownCurrency { currency: s() },
            "invalid_serial" => CoreError::InvalidSerial { raw: s(), reason: s() },
            "invalid_phone" => CoreError::InvalidPhone { raw: s(), reason: s() },
            "invalid_geo_point" => CoreError::InvalidGeoPoint { reason: s() },
            "date_out_of_range" => CoreError::DateOutOfRange { reason: s() },
            "not_found" => CoreError::NotFound { entity: s(), id: s() },
            "foreign_parent" => CoreError::ForeignParent { entity: s(), id: s(), parent: s(), parent_id: s() },
            "duplicate_serial" => CoreError::DuplicateSerial { serial: s() },
            "kind_mismatch" => CoreError::KindMismatch { kind: s(), reason: s() },
            "unknown_serial" => CoreError::UnknownSerial { serial: s() },
            "device_unassigned" => CoreError::DeviceUnassigned { serial: s() },
            "currency_mismatch" => CoreError::CurrencyMismatch { expected: s(), actual: s() },
            "amount_below_minimum" => {
                CoreError::AmountBelowMinimum { amount: Decimal::ONE, minimum_amount: Decimal::TEN }
            }
            "total_below_paid" => CoreError::TotalBelowPaid { paid: Decimal::ONE },
            "no_untouched_installments" => CoreError::NoUntouchedInstallments,
            "installment_touched" => CoreError::InstallmentTouched { number: 1 },
            "invalid_secret_key" => CoreError::InvalidSecretKey { reason: s() },
            "invalid_token_value" => CoreError::InvalidTokenValue { value: s(), reason: s() },
            "invalid_token_count" => CoreError::InvalidTokenCount { count: 1, reason: s() },
            "token_rejected" => CoreError::TokenRejected { reason: s() },
            "risk_ceiling_exceeded" => CoreError::RiskCeilingExceeded {
                balance: Decimal::ONE,
                amount: Decimal::ONE,
                risk_ceiling: Decimal::ONE,
            },
            other => panic!("no sample for the core's error code {other:?}: add it here and to the list"),
        }
    }

    #[test]
    fn every_core_code_maps_to_the_variant_of_the_same_name() {
        for code in CoreError::ALL_CODES {
            let core = sample(code);
            assert_eq!(core.code(), *code);
            let mapped = MicropowerError::from(core.clone());
            assert_eq!(mapped.variant_name(), core.variant_name(), "{code}");
            assert_eq!(mapped.code(), *code);
            assert_eq!(mapped.reason(), core.to_string());
            assert_eq!(mapped.to_string(), core.to_string());
            let details: serde_json::Value = serde_json::from_str(mapped.details()).unwrap();
            assert_eq!(details, core.details());
        }
    }

    #[test]
    fn details_carry_the_minimum_amount() {
        let e = MicropowerError::from(CoreError::AmountBelowMinimum {
            amount: Decimal::ONE,
            minimum_amount: Decimal::new(500, 0),
        });
        let MicropowerError::AmountBelowMinimum { code, details, .. } = e else { panic!("wrong variant") };
        assert_eq!(code, "amount_below_minimum");
        let details: serde_json::Value = serde_json::from_str(&details).unwrap();
        assert_eq!(details["minimum_amount"], "500");
    }
}
