//! The one error type of the core.
//!
//! Variant names are a public contract: every binding (JS `name`, Python exception class, Kotlin exception
//! variant, WIT `variant`, HTTP `code`) shows the same names, and [`CoreError::code`] gives the snake_case
//! form used on every wire. Adding a variant is fine; renaming one breaks clients.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Everything the core can refuse, with enough detail for a person to fix the input.
// The fields of each variant are what its message prints; documenting each again would only repeat them.
#[allow(missing_docs)]
// Serialised as `{"code": "unknown_serial", "serial": …}`: the details every wire error shape carries; read back
// from the same shape (a `message` beside it is ignored), which is how a refusal crosses the wasm boundary typed.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CoreError {
    // --- input shape -------------------------------------------------------------------------------
    /// A field is missing, empty, out of range or malformed.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    /// An amount is zero, negative, or has more decimals than its currency allows where that matters.
    #[error("invalid amount {amount}: {reason}")]
    InvalidAmount { amount: Decimal, reason: String },

    /// The text is not a currency code the core knows (ISO 4217, three letters).
    #[error("unknown currency {currency:?}")]
    UnknownCurrency { currency: String },

    /// A serial is empty, longer than 32 characters, or holds characters other than A-Z and 0-9 after
    /// normalisation.
    #[error("invalid serial {raw:?}: {reason}")]
    InvalidSerial { raw: String, reason: String },

    /// A phone number that a phone-number library does not accept as a valid number.
    #[error("invalid phone number {raw:?}: {reason}")]
    InvalidPhone { raw: String, reason: String },

    /// Latitude outside [-90, 90] or longitude outside [-180, 180].
    #[error("invalid geo point: {reason}")]
    InvalidGeoPoint { reason: String },

    /// A date computation left the calendar (e.g. a schedule reaching past year 262143).
    #[error("date out of range: {reason}")]
    DateOutOfRange { reason: String },

    // --- registry ----------------------------------------------------------------------------------
    /// A village, area, cluster, customer, manufacturer, tariff or plan that the request names is not known.
    #[error("{entity} {id:?} not found")]
    NotFound { entity: String, id: String },

    /// A parent exists but is not the one the hierarchy requires (e.g. a village under another area).
    #[error("{entity} {id:?} does not belong to {parent} {parent_id:?}")]
    ForeignParent { entity: String, id: String, parent: String, parent_id: String },

    /// Another device already uses this serial (serials are unique across all device kinds).
    #[error("serial {serial} is already registered")]
    DuplicateSerial { serial: String },

    /// A meter without a tariff, an SHS or e-bike with a tariff or without a plan, or a manufacturer
    /// that does not make this kind of device.
    #[error("device kind {kind} cannot be registered this way: {reason}")]
    KindMismatch { kind: String, reason: String },

    // --- payments ----------------------------------------------------------------------------------
    /// No device carries this serial (after normalisation).
    #[error("no device with serial {serial}")]
    UnknownSerial { serial: String },

    /// The device exists but has no owner, so nobody's debt can be cleared.
    #[error("device {serial} has no owner")]
    DeviceUnassigned { serial: String },

    /// Two amounts of different currencies met. The core never converts.
    #[error("currency mismatch: expected {expected}, got {actual}")]
    CurrencyMismatch { expected: String, actual: String },

    /// The payment is below what this device accepts; `minimum_amount` is the least that would be accepted.
    #[error("amount {amount} is below the minimum {minimum_amount}")]
    AmountBelowMinimum { amount: Decimal, minimum_amount: Decimal },

    // --- plans -------------------------------------------------------------------------------------
    /// MPM's rule: a plan's new total may not be lower than what the customer already paid.
    #[error("new total cannot be lower than the amount already paid ({paid})")]
    TotalBelowPaid { paid: Decimal },

    /// The edit needs an installment that nothing has been paid on, and there is none.
    #[error("every installment is paid or partly paid; give a new count and period instead")]
    NoUntouchedInstallments,

    /// Installments that already received money cannot be changed.
    #[error("installment {number} has payments and cannot be changed")]
    InstallmentTouched { number: u32 },

    // --- tokens (OpenPAYGO) ------------------------------------------------------------------------
    /// An OpenPAYGO secret key that is not 32 hexadecimal characters (16 bytes).
    #[error("invalid secret key: {reason}")]
    InvalidSecretKey { reason: String },

    /// A token value that is negative, reserved (996, 997) or above what the token format can carry.
    #[error("invalid token value {value}: {reason}")]
    InvalidTokenValue { value: String, reason: String },

    /// A token count that cannot be used (overflow, or zero where a device never accepts it).
    #[error("invalid token count {count}: {reason}")]
    InvalidTokenCount { count: u64, reason: String },

    /// A token that the device would not accept (wrong key, replayed, out of the count window).
    #[error("token rejected: {reason}")]
    TokenRejected { reason: String },

    // --- agents ------------------------------------------------------------------------------------
    /// A field agent's sale that would take the cash the agent holds above its risk ceiling.
    #[error("the agent holds {balance}; a sale of {amount} would pass its risk ceiling {risk_ceiling}")]
    RiskCeilingExceeded { balance: Decimal, amount: Decimal, risk_ceiling: Decimal },
}

impl CoreError {
    /// The stable snake_case code every wire uses (`"unknown_serial"`, `"currency_mismatch"`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_input",
            Self::InvalidAmount { .. } => "invalid_amount",
            Self::UnknownCurrency { .. } => "unknown_currency",
            Self::InvalidSerial { .. } => "invalid_serial",
            Self::InvalidPhone { .. } => "invalid_phone",
            Self::InvalidGeoPoint { .. } => "invalid_geo_point",
            Self::DateOutOfRange { .. } => "date_out_of_range",
            Self::NotFound { .. } => "not_found",
            Self::ForeignParent { .. } => "foreign_parent",
            Self::DuplicateSerial { .. } => "duplicate_serial",
            Self::KindMismatch { .. } => "kind_mismatch",
            Self::UnknownSerial { .. } => "unknown_serial",
            Self::DeviceUnassigned { .. } => "device_unassigned",
            Self::CurrencyMismatch { .. } => "currency_mismatch",
            Self::AmountBelowMinimum { .. } => "amount_below_minimum",
            Self::TotalBelowPaid { .. } => "total_below_paid",
            Self::NoUntouchedInstallments => "no_untouched_installments",
            Self::InstallmentTouched { .. } => "installment_touched",
            Self::InvalidSecretKey { .. } => "invalid_secret_key",
            Self::InvalidTokenValue { .. } => "invalid_token_value",
            Self::InvalidTokenCount { .. } => "invalid_token_count",
            Self::TokenRejected { .. } => "token_rejected",
            Self::RiskCeilingExceeded { .. } => "risk_ceiling_exceeded",
        }
    }

    /// The variant's name as written in Rust (`"UnknownSerial"`): the JS `Error.name`, the Kotlin variant.
    pub fn variant_name(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "InvalidInput",
            Self::InvalidAmount { .. } => "InvalidAmount",
            Self::UnknownCurrency { .. } => "UnknownCurrency",
            Self::InvalidSerial { .. } => "InvalidSerial",
            Self::InvalidPhone { .. } => "InvalidPhone",
            Self::InvalidGeoPoint { .. } => "InvalidGeoPoint",
            Self::DateOutOfRange { .. } => "DateOutOfRange",
            Self::NotFound { .. } => "NotFound",
            Self::ForeignParent { .. } => "ForeignParent",
            Self::DuplicateSerial { .. } => "DuplicateSerial",
            Self::KindMismatch { .. } => "KindMismatch",
            Self::UnknownSerial { .. } => "UnknownSerial",
            Self::DeviceUnassigned { .. } => "DeviceUnassigned",
            Self::CurrencyMismatch { .. } => "CurrencyMismatch",
            Self::AmountBelowMinimum { .. } => "AmountBelowMinimum",
            Self::TotalBelowPaid { .. } => "TotalBelowPaid",
            Self::NoUntouchedInstallments => "NoUntouchedInstallments",
            Self::InstallmentTouched { .. } => "InstallmentTouched",
            Self::InvalidSecretKey { .. } => "InvalidSecretKey",
            Self::InvalidTokenValue { .. } => "InvalidTokenValue",
            Self::InvalidTokenCount { .. } => "InvalidTokenCount",
            Self::TokenRejected { .. } => "TokenRejected",
            Self::RiskCeilingExceeded { .. } => "RiskCeilingExceeded",
        }
    }

    /// Every code, in declaration order; lets each language check that it maps all of them.
    pub const ALL_CODES: &'static [&'static str] = &[
        "invalid_input",
        "invalid_amount",
        "unknown_currency",
        "invalid_serial",
        "invalid_phone",
        "invalid_geo_point",
        "date_out_of_range",
        "not_found",
        "foreign_parent",
        "duplicate_serial",
        "kind_mismatch",
        "unknown_serial",
        "device_unassigned",
        "currency_mismatch",
        "amount_below_minimum",
        "total_below_paid",
        "no_untouched_installments",
        "installment_touched",
        "invalid_secret_key",
        "invalid_token_value",
        "invalid_token_count",
        "token_rejected",
        "risk_ceiling_exceeded",
    ];

    /// The variant's fields as a JSON object, with `code` and `message` added: the body of an HTTP error and
    /// the `details` of every binding's error.
    pub fn details(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({ "code": self.code() }));
        if let Some(map) = value.as_object_mut() {
            map.insert("message".into(), serde_json::Value::String(self.to_string()));
        }
        value
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field: field.to_owned(), reason: reason.into() }
    }

    pub(crate) fn not_found(entity: &str, id: &str) -> Self {
        Self::NotFound { entity: entity.to_owned(), id: id.to_owned() }
    }
}

/// Result alias used across the core.
pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_serialised_tag_and_the_list() {
        let samples = [
            CoreError::UnknownSerial { serial: "X1".into() },
            CoreError::NoUntouchedInstallments,
            CoreError::AmountBelowMinimum { amount: Decimal::ONE, minimum_amount: Decimal::TEN },
        ];
        for e in samples {
            let details = e.details();
            assert_eq!(details["code"], e.code());
            assert_eq!(details["message"], e.to_string());
            assert!(CoreError::ALL_CODES.contains(&e.code()));
        }
        let below = CoreError::AmountBelowMinimum { amount: Decimal::ONE, minimum_amount: Decimal::TEN }.details();
        assert_eq!(below["minimum_amount"], "10");
    }

    #[test]
    fn details_read_back_as_the_same_error() {
        let samples = [
            CoreError::UnknownSerial { serial: "X1".into() },
            CoreError::NoUntouchedInstallments,
            CoreError::AmountBelowMinimum { amount: "0.5".parse().unwrap_or_default(), minimum_amount: Decimal::TEN },
            CoreError::InvalidTokenCount { count: u64::MAX, reason: "overflow".into() },
        ];
        for e in samples {
            let back: Result<CoreError, _> = serde_json::from_value(e.details());
            assert_eq!(back.ok(), Some(e));
        }
    }
}
