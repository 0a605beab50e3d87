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
