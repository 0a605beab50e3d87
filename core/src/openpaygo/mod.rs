//! OpenPAYGO Token: generation and the device-side acceptance rules (see
//! `shared/reference/openpaygo-token.md` in the design documents). Filled by the OpenPAYGO issue.

use serde::{Deserialize, Serialize};

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
