//! Minting one token.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::codec::Scheme;
use super::unambiguous::CountPicker;
use super::{OpenPaygoKind, MAX_COUNT};
use crate::error::{CoreError, CoreResult};

/// A token to give the customer, and the count to persist for the device with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPaygoToken {
    /// What the customer types: 9 digits (12 extended), or 15 digits 1–4 (20 extended) on a restricted
    /// keypad. Leading zeros are part of the code.
    pub code: String,
    /// The token's count: the device's new last count once this token is issued.
    pub count: u32,
}

/// Mints the token of `kind` that follows `count`, the device's last used count.
///
/// - `value` is the days (or the device's own unit) to add or set; it is required for add time and set
///   time. Disable PAYG and counter sync carry no value: `None` or zero is accepted, anything else is
///   refused, as the reference does.
/// - The raw value carried is `value × time_divider`, rounded half to even (0.625 × 4 → 2, 0.875 × 4 → 4);
///   at most 995 on a standard token (996 and 997 reserved), 999 999 on an extended one.
/// - The new count is the next even count above `count` for add time, the next odd one for the others;
///   it may not exceed [`MAX_COUNT`](super::MAX_COUNT). In the rare case (about one token in 7 000) where
///   the device could read that count's code at another count, the count after it of the same kind is
///   used instead; the reference does not check, and its token would be misread. When the value's codes
///   repeat for good (its hash chain has entered a short cycle, very rarely), the value is refused.
/// - `starting_code` is derived from the key when `None`, exactly as the reference does. `Some(0)` is an
///   explicit starting code of 0 (the reference would treat 0 as absent).
///
/// Errors: [`CoreError::InvalidSecretKey`], [`CoreError::InvalidTokenValue`] (negative, reserved, too
/// large, a value on a kind without one, or a value whose codes repeat at this count),
/// [`CoreError::InvalidTokenCount`], and [`CoreError::InvalidInput`] for a missing value, a starting code
/// above 999 999 999 or a time divider outside 1–255.
// The argument list is the shape every binding exposes under this name.
#[allow(clippy::too_many_arguments)]
pub fn openpaygo_generate(
    secret_key_hex: &str,
    starting_code: Option<u32>,
    count: u32,
    kind: OpenPaygoKind,
    value: Option<Decimal>,
    time_divider: u32,
    restricted_digits: bool,
    extended: bool,
) -> CoreResult<OpenPaygoToken> {
    let scheme = Scheme::new(secret_key_hex, starting_code, time_divider, restricted_digits, extended)?;
    let raw = scheme.raw_value(kind, value)?;
    let first = next_count(count, kind)?;
    let (new_count, code) =
        CountPicker::new(&scheme, raw).pick(first)?.ok_or_else(|| CoreError::InvalidTokenValue {
            value: value.unwrap_or_default().normalize().to_string(),
            reason: format!(
                "this value's codes repeat from count {first} on, so the device cannot tell its tokens apart"
            ),
        })?;
    Ok(OpenPaygoToken { code: scheme.format_code(code), count: new_count })
}

/// Add time uses even counts, every other kind odd ones, so the device can tell them apart.
pub(super) fn next_count(count: u32, kind: OpenPaygoKind) -> CoreResult<u32> {
    if count > MAX_COUNT {
        return Err(count_too_large(u64::from(count)));
    }
    let wants_even = kind == OpenPaygoKind::AddTime;
    let is_even = count.is_multiple_of(2);
    let step = if wants_even == is_even { 2 } else { 1 };
    let next = count + step;
    if next > MAX_COUNT {
        return Err(count_too_large(u64::from(next)));
    }
    Ok(next)
}

pub(super) fn count_too_large(count: u64) -> CoreError {
    CoreError::InvalidTokenCount {
        count,
        reason: format!("above {MAX_COUNT}: the device keeps its token count in 16 bits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_alternate_by_kind() {
        assert_eq!(next_count(0, OpenPaygoKind::AddTime).unwrap(), 2);
        assert_eq!(next_count(1, OpenPaygoKind::AddTime).unwrap(), 2);
        assert_eq!(next_count(0, OpenPaygoKind::SetTime).unwrap(), 1);
        assert_eq!(next_count(1, OpenPaygoKind::DisablePayg).unwrap(), 3);
        assert!(next_count(MAX_COUNT, OpenPaygoKind::CounterSync).is_err());
        assert!(next_count(MAX_COUNT - 1, OpenPaygoKind::AddTime).is_err());
        assert!(next_count(u32::MAX, OpenPaygoKind::AddTime).is_err());
    }
}
