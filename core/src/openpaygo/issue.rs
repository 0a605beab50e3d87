//! From what a payment bought to the tokens the customer receives.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::codec::Scheme;
use super::generate::{count_too_large, next_count};
use super::unambiguous::CountPicker;
use super::{OpenPaygoDevice, OpenPaygoKind, MAX_COUNT};
use crate::error::CoreResult;
use crate::token::{TokenRequest, TokenUnit};

/// One token of a request, in the order the customer must type them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    /// What the token does.
    pub kind: OpenPaygoKind,
    /// The days (or kWh) this token adds: its raw value divided by the device's time divider. Zero for
    /// an unlock. Rounded half to even to 7 decimal places when the division does not terminate (divider 3:
    /// 995 → 331.6666667); minting that value again gives the same token.
    #[serde(with = "crate::wire::dec")]
    pub value: Decimal,
    /// What the customer types.
    pub code: String,
    /// The token's count.
    pub count: u32,
}

/// The tokens for one request, and the count to persist for the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedTokens {
    /// The tokens in count order; empty when the request carries nothing a token can express.
    pub tokens: Vec<IssuedToken>,
    /// The device's new last count (unchanged when no token is issued).
    pub new_count: u32,
}

/// The tokens that deliver `request` to an OpenPAYGO device, starting after `device.count`.
///
/// - Days and kWh become add time tokens whose value is the quantity: an OpenPAYGO device only counts
///   units, and what a unit means (a day of use, a kWh) is the device's own configuration.
/// - The quantity times the time divider is rounded half to even once, then issued as tokens of at most
///   995 (999 999 extended) each, in order: 2000 days → 995, 995, 10. A quantity that rounds to nothing
///   (zero, or below the device's resolution) issues no token and leaves the count unchanged.
/// - Where the divider has a factor other than 2 and 5 (3, 6, 7, …), every token but the last carries a
///   multiple of that factor, so its value terminates and the values add up to exactly the quantity: at
///   divider 3, 700 days (raw 2100) are 993, 993 and 114 (331 + 331 + 38 days), not 995, 995, 110 (whose
///   values, 331.6666667 + 331.6666667 + 36.6666667, would not). A quantity on the device's decimal grid
///   ([`crate::token::Resolution::step`]) is thereby carried exactly.
/// - An unlock becomes one disable PAYG token; its quantity must be zero.
/// - Counts step by 2, except where a count's code could be read at another count: that count is
///   skipped, as [`super::openpaygo_generate`] does. Where a value's codes repeat for good (its hash chain
///   cycles), the token carries a slightly smaller value and the rest goes to the next token.
///
/// Errors: those of [`super::openpaygo_generate`] for the device's settings and the values, and
/// [`crate::CoreError::InvalidTokenCount`] when the tokens would carry the count past [`MAX_COUNT`].
pub fn tokens_for_request(device: &OpenPaygoDevice, request: &TokenRequest) -> CoreResult<IssuedTokens> {
    let scheme = Scheme::new(
        &device.secret_key,
        device.starting_code,
        device.time_divider,
        device.restricted_digits,
        device.extended,
    )?;
    let (kind, raw_total) = match request.unit {
        TokenUnit::Unlock => {
            let raw = scheme.raw_value(OpenPaygoKind::DisablePayg, Some(request.quantity))?;
            (OpenPaygoKind::DisablePayg, raw)
        }
        TokenUnit::Days | TokenUnit::Kwh => (OpenPaygoKind::AddTime, scheme.scale(request.quantity)?),
    };
    if device.count > MAX_COUNT {
        return Err(count_too_large(u64::from(device.count)));
    }
    if kind == OpenPaygoKind::AddTime && raw_total == 0 {
        return Ok(IssuedTokens { tokens: Vec::new(), new_count: device.count });
    }

    // Add time tokens carry multiples of the exact step, so each value terminates.
    let exact = scheme.exact_raw_step();
    let per_token = match kind {
        OpenPaygoKind::AddTime => scheme.format.max_value() - scheme.format.max_value() % exact,
        _ => raw_total,
    };
    let full = raw_total / per_token;
    let rest = raw_total % per_token;
    let first = next_count(device.count, kind)?;
    // Counts of successive add time tokens step by 2.
    let extra_tokens = (full + u64::from(rest > 0)).saturating_sub(1);
    let last = u64::from(first).saturating_add(extra_tokens.saturating_mul(2));
    if last > u64::from(MAX_COUNT) {
        return Err(count_too_large(last));
    }

    let mut tokens = Vec::new();
    let mut next = first;
    let mut remaining = raw_total;
    // Tokens of one value share one hash chain, so a long run costs one walk up to its last count.
    let mut pickers: BTreeMap<u64, CountPicker<'_>> = BTreeMap::new();
    while remaining > 0 {
        let (raw, count, code) = pick_value(&scheme, &mut pickers, kind, remaining.min(per_token), exact, next)?;
        tokens.push(issued(&scheme, kind, raw, scheme.format_code(code), count)?);
        remaining -= raw;
        next = count.saturating_add(2);
    }
    let new_count = tokens.last().map_or(device.count, |t| t.count);
    Ok(IssuedTokens { tokens, new_count })
}

/// How many smaller values an add time token tries when its value's codes repeat for good.
const FALLBACK_VALUES: u64 = 8;

/// The value, count and code of the next token: `raw` if one of its counts from `next` on is unambiguous,
/// else (add time only) the largest of the next [`FALLBACK_VALUES`] smaller values, `exact` apart, that has
/// one; the days left over go to later tokens.
fn pick_value<'a>(
    scheme: &'a Scheme,
    pickers: &mut BTreeMap<u64, CountPicker<'a>>,
    kind: OpenPaygoKind,
    raw: u64,
    exact: u64,
    next: u32,
) -> CoreResult<(u64, u32, u64)> {
    let smaller = match kind {
        OpenPaygoKind::AddTime => FALLBACK_VALUES,
        _ => 0,
    };
    let candidates = (0..=smaller).map_while(|k| raw.checked_sub(k.saturating_mul(exact)).filter(|&v| v >= 1));
    let mut below = 0u64;
    for (tried, value) in candidates.enumerate() {
        below = tried as u64;
        let picker = pickers.entry(value).or_insert_with(|| CountPicker::new(scheme, value));
        if let Some((count, code)) = picker.pick(next)? {
            return Ok((value, count, code));
        }
    }
    Err(crate::CoreError::InvalidTokenValue {
        value: scheme.unscale(raw)?.to_string(),
        reason: format!("the codes of this value and the {below} tried below it repeat from count {next} on"),
    })
}

fn issued(scheme: &Scheme, kind: OpenPaygoKind, raw: u64, code: String, count: u32) -> CoreResult<IssuedToken> {
    let value = match kind {
        OpenPaygoKind::AddTime | OpenPaygoKind::SetTime => scheme.unscale(raw)?,
        OpenPaygoKind::DisablePayg | OpenPaygoKind::CounterSync => Decimal::ZERO,
    };
    Ok(IssuedToken { kind, value, code, count })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openpaygo::openpaygo_generate;

    fn device(count: u32) -> OpenPaygoDevice {
        OpenPaygoDevice {
            secret_key: "a29ab82edc5fbbc41ec9530f6dac86b1".into(),
            starting_code: Some(123_456_789),
            count,
            time_divider: 1,
            restricted_digits: false,
            extended: false,
        }
    }

    fn request(unit: TokenUnit, quantity: i64) -> TokenRequest {
        TokenRequest { serial: "SHS1".into(), unit, quantity: Decimal::from(quantity) }
    }

    #[test]
    fn large_values_are_split_and_chained() {
        let issued = tokens_for_request(&device(3), &request(TokenUnit::Days, 2000)).unwrap();
        let values: Vec<_> = issued.tokens.iter().map(|t| (t.value, t.count)).collect();
        assert_eq!(values, vec![(Decimal::from(995), 4), (Decimal::from(995), 6), (Decimal::from(10), 8)]);
        assert_eq!(issued.new_count, 8);
        for (t, previous) in issued.tokens.iter().zip([3, 4, 6]) {
            let alone = openpaygo_generate(
                "a29ab82edc5fbbc41ec9530f6dac86b1",
                Some(123_456_789),
                previous,
                OpenPaygoKind::AddTime,
                Some(t.value),
                1,
                false,
                false,
            )
            .unwrap();
            assert_eq!((alone.code.as_str(), alone.count), (t.code.as_str(), t.count));
        }
    }

    #[test]
    fn the_count_limit_is_checked_before_minting() {
        let err = tokens_for_request(&device(MAX_COUNT - 10), &request(TokenUnit::Days, 995 * 6)).unwrap_err();
        assert_eq!(err.code(), "invalid_token_count");
    }
}
