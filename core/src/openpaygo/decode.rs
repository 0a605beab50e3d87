//! What a device does with a token typed on its keypad: find the count it was minted at, and accept it or
//! not.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::codec::{Scheme, COUNTER_SYNC_VALUE, DISABLE_PAYG_VALUE};
use super::generate::count_too_large;
use super::{OpenPaygoKind, MAX_COUNT};
use crate::error::{CoreError, CoreResult};

/// How far above the last count a token may be.
pub(super) const MAX_TOKEN_JUMP: u32 = 64;
/// How far above the last count a counter sync token may be.
pub(super) const MAX_TOKEN_JUMP_COUNTER_SYNC: u32 = 100;
/// How far below the last count an unused add time token is still accepted (exclusive).
pub(super) const MAX_UNUSED_OLDER_TOKENS: u32 = 16;

/// What a device remembers of the tokens it accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecoderState {
    /// The highest count the device accepted (0 before the first token).
    pub last_count: u32,
    /// Counts the device will not accept again, ascending; only those less than 16 below `last_count`
    /// matter and are kept.
    #[serde(default)]
    pub used_counts: Vec<u32>,
}

/// A token the device accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedToken {
    /// What the token does.
    pub kind: OpenPaygoKind,
    /// The days (or the device's own unit) added or set: the raw value divided by the time divider. Zero
    /// for disable PAYG and counter sync. Rounded half to even to 7 decimal places when the division does
    /// not terminate (divider 3: 10 → 3.3333333).
    #[serde(with = "crate::wire::dec")]
    pub value: Decimal,
    /// The count the token was minted at.
    pub count: u32,
    /// The device's state once the token is applied.
    pub state: DecoderState,
}

/// Checks `token` as the device with this key, starting code and `state` would, and returns what it does
/// and the device's new state.
///
/// The device tries every count from 0 to 64 above its last count (100 for a counter sync token), as the
/// reference decoder does, and accepts the first count whose code matches and that is:
/// - above the last count (within that jump), or
/// - an add time (even) count less than 16 below the last count that was not used yet.
///
/// Count 0 is never accepted, nor is the last count itself. Accepting a set time, disable PAYG or counter
/// sync token (odd count) marks every older count as used. Decimal tokens may be typed without their
/// leading zeros, and spaces are ignored.
///
/// Extended tokens follow the standard rules: an odd count carrying 998 or 999 is disable PAYG or counter
/// sync (the reference's extended decoder reads every odd count as set time).
///
/// Errors: [`CoreError::TokenRejected`] for a token that is not this device's, replayed, or outside the
/// count window; [`CoreError::InvalidInput`] for text that is not a token or an inconsistent state;
/// [`CoreError::InvalidTokenCount`] for a last count above [`MAX_COUNT`]; and the device-setting errors of
/// [`super::openpaygo_generate`].
pub fn openpaygo_decode(
    secret_key_hex: &str,
    starting_code: Option<u32>,
    token: &str,
    state: &DecoderState,
    time_divider: u32,
    restricted_digits: bool,
    extended: bool,
) -> CoreResult<DecodedToken> {
    let scheme = Scheme::new(secret_key_hex, starting_code, time_divider, restricted_digits, extended)?;
    check_state(state)?;
    let code = scheme.parse_code(token)?;
    let raw = scheme.raw_value_of(code);
    let jump = if raw == COUNTER_SYNC_VALUE { MAX_TOKEN_JUMP_COUNTER_SYNC } else { MAX_TOKEN_JUMP };
    let last_try = state.last_count.saturating_add(jump).min(MAX_COUNT);
    let used: BTreeSet<u32> = state.used_counts.iter().copied().collect();

    let mut matched_but_refused = false;
    let mut chain = scheme.chain(raw);
    loop {
        if chain.code() == code {
            let count = chain.count();
            let kind = kind_at(count, raw);
            if accepts(state, &used, count, kind) {
                let value = match kind {
                    OpenPaygoKind::AddTime | OpenPaygoKind::SetTime => scheme.unscale(raw)?,
                    OpenPaygoKind::DisablePayg | OpenPaygoKind::CounterSync => Decimal::ZERO,
                };
                return Ok(DecodedToken { kind, value, count, state: after(state, used, count, kind) });
            }
            matched_but_refused = true;
        }
        if chain.count() >= last_try {
            break;
        }
        chain.advance_to(chain.count() + 1);
    }
    Err(CoreError::TokenRejected {
        reason: if matched_but_refused {
            "already used, or too old for this device".into()
        } else {
            format!("not a token of this device within {jump} counts of its last count {}", state.last_count)
        },
    })
}

fn check_state(state: &DecoderState) -> CoreResult<()> {
    if state.last_count > MAX_COUNT {
        return Err(count_too_large(u64::from(state.last_count)));
    }
    if let Some(above) = state.used_counts.iter().find(|c| **c > state.last_count) {
        return Err(CoreError::invalid(
            "state",
            format!("used count {above} is above the last count {}", state.last_count),
        ));
    }
    Ok(())
}

/// Even counts are add time; an odd count's value tells set time from disable PAYG and counter sync.
fn kind_at(count: u32, raw: u64) -> OpenPaygoKind {
    match (count.is_multiple_of(2), raw) {
        (true, _) => OpenPaygoKind::AddTime,
        (false, DISABLE_PAYG_VALUE) => OpenPaygoKind::DisablePayg,
        (false, COUNTER_SYNC_VALUE) => OpenPaygoKind::CounterSync,
        (false, _) => OpenPaygoKind::SetTime,
    }
}

fn accepts(state: &DecoderState, used: &BTreeSet<u32>, count: u32, kind: OpenPaygoKind) -> bool {
    let last = state.last_count;
    if count == 0 {
        return false;
    }
    if count > last {
        let jump = if kind == OpenPaygoKind::CounterSync { MAX_TOKEN_JUMP_COUNTER_SYNC } else { MAX_TOKEN_JUMP };
        return count - last <= jump;
    }
    kind == OpenPaygoKind::AddTime && count < last && last - count < MAX_UNUSED_OLDER_TOKENS && !used.contains(&count)
}

/// The state after accepting `count`: the last count seen and the accepted count are used; a token of
/// another kind than add time also uses every older count.
fn after(state: &DecoderState, mut used: BTreeSet<u32>, count: u32, kind: OpenPaygoKind) -> DecoderState {
    let last_count = state.last_count.max(count);
    let oldest_kept = (last_count + 1).saturating_sub(MAX_UNUSED_OLDER_TOKENS).max(1);
    if state.last_count > 0 {
        used.insert(state.last_count);
    }
    used.insert(count);
    if kind != OpenPaygoKind::AddTime {
        used.extend(oldest_kept..count);
    }
    DecoderState { last_count, used_counts: used.into_iter().filter(|c| *c >= oldest_kept).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keeps_the_window_only() {
        let state = DecoderState { last_count: 40, used_counts: vec![20, 25, 30, 40] };
        let used = state.used_counts.iter().copied().collect();
        let next = after(&state, used, 42, OpenPaygoKind::AddTime);
        assert_eq!(next, DecoderState { last_count: 42, used_counts: vec![30, 40, 42] });
        let next = after(&next, next.used_counts.iter().copied().collect(), 43, OpenPaygoKind::SetTime);
        assert_eq!(next.used_counts, (28..=43).collect::<Vec<_>>());
    }

    #[test]
    fn older_add_time_within_sixteen() {
        let state = DecoderState { last_count: 20, used_counts: vec![20] };
        let used = state.used_counts.iter().copied().collect();
        assert!(accepts(&state, &used, 6, OpenPaygoKind::AddTime));
        assert!(!accepts(&state, &used, 4, OpenPaygoKind::AddTime));
        assert!(!accepts(&state, &used, 19, OpenPaygoKind::SetTime));
        assert!(!accepts(&state, &used, 20, OpenPaygoKind::AddTime));
        assert!(accepts(&state, &used, 84, OpenPaygoKind::AddTime));
        assert!(!accepts(&state, &used, 86, OpenPaygoKind::AddTime));
        assert!(accepts(&state, &used, 119, OpenPaygoKind::CounterSync));
    }
}
