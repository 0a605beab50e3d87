//! The fields of a [`CoreError`] as one JSON object: the `details` of a refusal on every server path.
//!
//! This file is compiled twice: into the guest (`micropower-guest`), and into the server's native engine
//! (`#[path]` module), so both engines give byte-identical details for the same refusal.

use micropower_core::CoreError;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// The variant's fields, by their Rust names; decimals as canonical strings (as on every wire).
pub fn details(error: &CoreError) -> Value {
    match error {
        CoreError::InvalidInput { field, reason } => json!({ "field": field, "reason": reason }),
        CoreError::InvalidAmount { amount, reason } => json!({ "amount": dec(amount), "reason": reason }),
        CoreError::UnknownCurrency { code } => json!({ "code": code }),
        CoreError::InvalidSerial { raw, reason } => json!({ "raw": raw, "reason": reason }),
        CoreError::InvalidPhone { raw, reason } => json!({ "raw": raw, "reason": reason }),
        CoreError::InvalidGeoPoint { reason } => json!({ "reason": reason }),
        CoreError::DateOutOfRange { reason } => json!({ "reason": reason }),
        CoreError::NotFound { entity, id } => json!({ "entity": entity, "id": id }),
        CoreError::ForeignParent { entity, id, parent, parent_id } => {
            json!({ "entity": entity, "id": id, "parent": parent, "parent_id": parent_id })
        }
        CoreError::DuplicateSerial { serial } => json!({ "serial": serial }),
        CoreError::KindMismatch { kind, reason } => json!({ "kind": kind, "reason": reason }),
        CoreError::UnknownSerial { serial } => json!({ "serial": serial }),
        CoreError::DeviceUnassigned { serial } => json!({ "serial": serial }),
        CoreError::CurrencyMismatch { expected, actual } => json!({ "expected": expected, "actual": actual }),
        CoreError::AmountBelowMinimum { amount, minimum_amount } => {
            json!({ "amount": dec(amount), "minimum_amount": dec(minimum_amount) })
        }
        CoreError::TotalBelowPaid { paid } => json!({ "paid": dec(paid) }),
        CoreError::NoUntouchedInstallments => json!({}),
        CoreError::InstallmentTouched { number } => json!({ "number": number }),
        CoreError::InvalidSecretKey { reason } => json!({ "reason": reason }),
        CoreError::InvalidTokenValue { value, reason } => json!({ "value": value, "reason": reason }),
        CoreError::InvalidTokenCount { count, reason } => json!({ "count": count, "reason": reason }),
        CoreError::TokenRejected { reason } => json!({ "reason": reason }),
    }
}

fn dec(value: &Decimal) -> String {
    value.normalize().to_string()
}
