//! OpenPAYGO Token: the numeric codes a customer types on a pay-as-you-go device's keypad to add days of
//! use, set them, unlock the device for good, or resynchronise its counter (see
//! `shared/reference/openpaygo-token.md` in the design documents).
//!
//! Codes are identical to those of the reference implementation (the `openpaygo` 0.6.3 Python package),
//! which is what the devices' firmware decodes; `tests/openpaygo/differential.sh` checks it on thousands of
//! random cases. Where the reference accepts an input that a device could not honour (a negative value, a
//! count beyond the device's 16-bit counter) the core refuses it with a typed error instead; where the
//! reference's code would be read by the device at another count, the core mints at the next count of the
//! same kind (see `unambiguous.rs`).
//!
//! - [`openpaygo_generate`] mints one token for a given count.
//! - [`openpaygo_decode`] applies a device's acceptance rules to a token, for round trips and for an
//!   operator checking a token a customer reports.
//! - [`tokens_for_request`] turns what a payment bought ([`crate::token::TokenRequest`]) into the tokens to
//!   send, splitting values too large for one token.

mod codec;
mod decode;
mod generate;
mod issue;
mod unambiguous;

use serde::{Deserialize, Serialize};

pub use decode::{openpaygo_decode, DecodedToken, DecoderState};
pub use generate::{openpaygo_generate, OpenPaygoToken};
pub use issue::{tokens_for_request, IssuedToken, IssuedTokens};

/// The highest count a token can carry: devices keep their count in 16 bits (`uint16_t LastCount` in
/// the OpenPAYGO-HW decoder), so a token minted above it could never be accepted.
pub const MAX_COUNT: u32 = u16::MAX as u32;

/// The largest raw value (value × time divider) of one standard token; 996 and 997 are reserved and 998,
/// 999 mean disable PAYG and counter sync.
pub const MAX_STANDARD_VALUE: u32 = 995;

/// The largest raw value (value × time divider) of one extended token.
pub const MAX_EXTENDED_VALUE: u32 = 999_999;

/// What a token does to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenPaygoKind {
    /// Adds the value (days, or the device's own unit) to the credit left; minted at even counts.
    AddTime,
    /// Replaces the credit left by the value; minted at odd counts.
    SetTime,
    /// Unlocks the device for good: the plan is paid off. Carries no value; minted at odd counts.
    DisablePayg,
    /// Lets the device catch up with a count far ahead of its own (up to 100 instead of 64). Carries no
    /// value; minted at odd counts.
    CounterSync,
}

/// A device's OpenPAYGO settings and state, as registered and as persisted after every token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPaygoDevice {
    /// 16-byte secret key as 32 hexadecimal characters.
    pub secret_key: String,
    /// The 9-digit starting code; derived from the key when absent.
    #[serde(default)]
    pub starting_code: Option<u32>,
    /// The last count used for this device.
    #[serde(default)]
    pub count: u32,
    /// Raw value = value × divider (1–255).
    #[serde(default = "default_time_divider")]
    pub time_divider: u32,
    /// Keypads with the keys 1–4 only.
    #[serde(default)]
    pub restricted_digits: bool,
    /// Non-standard 12-digit tokens carrying values up to 999 999.
    #[serde(default)]
    pub extended: bool,
}

fn default_time_divider() -> u32 {
    1
}

/// Checks a device's OpenPAYGO settings at registration: a 16-byte hex key, a 9-digit starting code,
/// a time divider of 1–255.
pub fn check_device(device: &OpenPaygoDevice) -> crate::CoreResult<()> {
    let key = device.secret_key.trim();
    if key.len() != 32 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(crate::CoreError::InvalidSecretKey { reason: "expected 32 hexadecimal characters".into() });
    }
    if device.starting_code.is_some_and(|c| c > 999_999_999) {
        return Err(crate::CoreError::invalid("starting_code", "at most 9 digits"));
    }
    if !(1..=255).contains(&device.time_divider) {
        return Err(crate::CoreError::invalid("time_divider", "must be between 1 and 255"));
    }
    Ok(())
}
