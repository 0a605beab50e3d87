//! What a payment decision asks of a device: the token request (domain.md §6).
//!
//! The allocation decides *what* the customer bought (kWh, days, or a permanent unlock); turning that into
//! the text a customer types is the job of the device's token scheme: OpenPAYGO locally
//! ([`crate::openpaygo`]) or the manufacturer's own system for `external` manufacturers, through the host.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

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
