//! The arithmetic of OpenPAYGO codes, shared by generation and decoding: the secret key, the starting
//! code, the hash chain, the value carried in a code's last digits, and the restricted digit set.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use siphasher::sip::SipHasher24;

use super::{OpenPaygoKind, MAX_EXTENDED_VALUE, MAX_STANDARD_VALUE};
use crate::error::{CoreError, CoreResult};

/// The highest starting code: it is a 9-digit number.
const MAX_STARTING_CODE: u32 = 999_999_999;

/// Decimal places of a value read back from a raw value. Seven keep every divider whose quotients
/// terminate exact (the finest is 1/128 = 0.0078125); with the others (3, 7, …) the value is within
/// 255 × 10^-7 of raw ÷ divider, so minting it again gives the same raw value, and every language prints
/// the same digits.
pub(super) const VALUE_DECIMALS: u32 = 7;

/// The raw values that standard tokens use for the two kinds without a value.
pub(super) const DISABLE_PAYG_VALUE: u64 = 998;
pub(super) const COUNTER_SYNC_VALUE: u64 = 999;

/// Standard (9 digits, 30 bits) or extended (12 digits, 40 bits) tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Standard,
    Extended,
}

impl Format {
    pub(super) fn new(extended: bool) -> Self {
        if extended {
            Self::Extended
        } else {
            Self::Standard
        }
    }

    /// The last digits of a code carry the value: 3 of them in a standard token, 6 in an extended one.
    fn base_modulus(self) -> u64 {
        match self {
            Self::Standard => 1_000,
            Self::Extended => 1_000_000,
        }
    }

    pub(super) fn max_value(self) -> u64 {
        match self {
            Self::Standard => u64::from(MAX_STANDARD_VALUE),
            Self::Extended => u64::from(MAX_EXTENDED_VALUE),
        }
    }

    fn decimal_digits(self) -> usize {
        match self {
            Self::Standard => 9,
            Self::Extended => 12,
        }
    }

    fn bits(self) -> u32 {
        match self {
            Self::Standard => 30,
            Self::Extended => 40,
        }
    }

    fn restricted_digits(self) -> usize {
        // Each keypad digit 1–4 carries two bits.
        (self.bits() / 2) as usize
    }
}

/// One device's token scheme: everything needed to mint or check its codes.
pub(super) struct Scheme {
    hasher: SipHasher24,
    starting_code: u64,
    time_divider: u32,
    restricted_digits: bool,
    pub(super) format: Format,
}

impl Scheme {
    /// Checks the device's settings; the starting code is derived from the key when absent.
    pub(super) fn new(
        secret_key_hex: &str,
        starting_code: Option<u32>,
        time_divider: u32,
        restricted_digits: bool,
        extended: bool,
    ) -> CoreResult<Self> {
        let key = parse_secret_key(secret_key_hex)?;
        let hasher = SipHasher24::new_with_key(&key);
        let starting_code = match starting_code {
            Some(code) if code > MAX_STARTING_CODE => {
                return Err(CoreError::invalid("starting_code", format!("{code} has more than 9 digits")));
            }
            Some(code) => u64::from(code),
            None => derive_starting_code(&hasher, &key),
        };
        if !(1..=255).contains(&time_divider) {
            return Err(CoreError::invalid("time_divider", format!("{time_divider} is not between 1 and 255")));
        }
        Ok(Self { hasher, starting_code, time_divider, restricted_digits, format: Format::new(extended) })
    }

    /// The raw value a token of `kind` carries for `value` (in the device's unit): value × time divider,
    /// rounded half to even as the reference's Python `round` does.
    pub(super) fn raw_value(&self, kind: OpenPaygoKind, value: Option<Decimal>) -> CoreResult<u64> {
        let value = match kind {
            OpenPaygoKind::DisablePayg | OpenPaygoKind::CounterSync => {
                return match value {
                    Some(v) if !v.is_zero() => {
                        Err(invalid_value(v, "disable PAYG and counter sync tokens carry no value"))
                    }
                    _ if kind == OpenPaygoKind::DisablePayg => Ok(DISABLE_PAYG_VALUE),
                    _ => Ok(COUNTER_SYNC_VALUE),
                };
            }
            OpenPaygoKind::AddTime | OpenPaygoKind::SetTime => {
                value.ok_or_else(|| CoreError::invalid("value", "add time and set time tokens need a value"))?
            }
        };
        let raw = self.scale(value)?;
        match self.format {
            Format::Standard if (996..=999).contains(&raw) => Err(invalid_value(
                value,
                format!("{raw} after the time divider is reserved (996, 997) or a special code (998, 999)"),
            )),
            // The decoder reads an odd count carrying 998 or 999 as disable PAYG or counter sync, so a
            // set time with those values would not mean what it says.
            Format::Extended
                if kind == OpenPaygoKind::SetTime && (DISABLE_PAYG_VALUE..=COUNTER_SYNC_VALUE).contains(&raw) =>
            {
                Err(invalid_value(value, format!("set time {raw} reads as disable PAYG or counter sync")))
            }
            _ if raw > self.format.max_value() => Err(invalid_value(
                value,
                format!(
                    "{raw} after the time divider is above {}, the most one token carries",
                    self.format.max_value()
                ),
            )),
            _ => Ok(raw),
        }
    }

    /// value × time divider rounded half to even, refusing negative values (the reference wraps them
    /// into a different, valid-looking token).
    pub(super) fn scale(&self, value: Decimal) -> CoreResult<u64> {
        if value < Decimal::ZERO {
            return Err(invalid_value(value, "must not be negative"));
        }
        value
            .checked_mul(Decimal::from(self.time_divider))
            .map(|v| v.round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven))
            .and_then(|v| v.to_u64())
            .ok_or_else(|| invalid_value(value, "too large"))
    }

    /// The smallest raw value whose value (raw ÷ time divider) is a finite decimal: the divider without
    /// its factors 2 and 5 (3 for divider 3 or 6, 1 for 4 or 10). A request split into multiples of it
    /// gives tokens whose values add up exactly to the request's quantity.
    pub(super) fn exact_raw_step(&self) -> u64 {
        let mut step = u64::from(self.time_divider).max(1);
        for factor in [2, 5] {
            while step % factor == 0 {
                step /= factor;
            }
        }
        step
    }

    /// The value a raw value stands for, in the device's unit: raw ÷ time divider to
    /// [`VALUE_DECIMALS`] places.
    pub(super) fn unscale(&self, raw: u64) -> CoreResult<Decimal> {
        let value = crate::num::div(Decimal::from(raw), Decimal::from(self.time_divider))?;
        Ok(value.round_dp_with_strategy(VALUE_DECIMALS, RoundingStrategy::MidpointNearestEven).normalize())
    }

    /// The hash chain of the tokens carrying `raw`, at count 0.
    pub(super) fn chain(&self, raw: u64) -> Chain<'_> {
        let base = (self.starting_code % self.format.base_modulus() + raw) % self.format.base_modulus();
        Chain { scheme: self, base, code: self.put_base(self.starting_code, base), count: 0 }
    }

    /// The raw value a code carries, whichever count it was minted at.
    pub(super) fn raw_value_of(&self, code: u64) -> u64 {
        let m = self.format.base_modulus();
        (code % m + m - self.starting_code % m) % m
    }

    fn put_base(&self, code: u64, base: u64) -> u64 {
        code - code % self.format.base_modulus() + base
    }

    fn step(&self, code: u64) -> u64 {
        match self.format {
            Format::Standard => {
                // Codes below 10^9 fit in 32 bits; the 4 bytes are hashed twice to reach SipHash's 8.
                let [a, b, c, d] = (code as u32).to_be_bytes();
                let hash = self.hasher.hash(&[a, b, c, d, a, b, c, d]);
                fold_standard(hash)
            }
            Format::Extended => {
                let hash = self.hasher.hash(&code.to_be_bytes());
                let top = hash >> 24;
                if top > 999_999_999_999 {
                    top - 99_511_627_777
                } else {
                    top
                }
            }
        }
    }

    /// The text the customer types: 9 or 12 digits with leading zeros, or 15 or 20 digits 1–4.
    pub(super) fn format_code(&self, code: u64) -> String {
        if self.restricted_digits {
            let pairs = self.format.restricted_digits();
            (0..pairs).rev().map(|i| char::from(b'1' + ((code >> (2 * i)) & 3) as u8)).collect()
        } else {
            format!("{code:0width$}", width = self.format.decimal_digits())
        }
    }

    /// Reads typed text back into a code; spaces (as tokens are often shown in groups) are ignored.
    /// Leading zeros of a decimal token may be left out.
    pub(super) fn parse_code(&self, text: &str) -> CoreResult<u64> {
        let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let bad = |reason: String| CoreError::invalid("token", reason);
        if self.restricted_digits {
            let want = self.format.restricted_digits();
            if digits.len() != want || !digits.iter().all(|d| (b'1'..=b'4').contains(d)) {
                return Err(bad(format!("expected {want} digits 1-4, got {text:?}")));
            }
            Ok(digits.iter().fold(0, |acc, d| (acc << 2) | u64::from(d - b'1')))
        } else {
            let want = self.format.decimal_digits();
            if digits.is_empty() || digits.len() > want || !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad(format!("expected up to {want} digits 0-9, got {text:?}")));
            }
            Ok(digits.iter().fold(0, |acc, d| acc * 10 + u64::from(d - b'0')))
        }
    }
}

/// The codes of one value at successive counts: each count's code is the hash of the previous one.
pub(super) struct Chain<'a> {
    scheme: &'a Scheme,
    base: u64,
    code: u64,
    count: u32,
}

impl Chain<'_> {
    /// Moves the chain forward to `count` (never backward: counts only grow).
    pub(super) fn advance_to(&mut self, count: u32) {
        while self.count < count {
            self.code = self.scheme.step(self.code);
            self.count += 1;
        }
    }

    /// The token's code at the current count: the hash with the value's base in its last digits.
    pub(super) fn code(&self) -> u64 {
        self.scheme.put_base(self.code, self.base)
    }

    pub(super) fn count(&self) -> u32 {
        self.count
    }
}

/// XORs the two halves of the hash and drops the *bottom* two bits (the prose spec says the top two; the
/// reference code, and so every device, drops the bottom), then folds the excess above 999 999 999 back.
fn fold_standard(hash: u64) -> u64 {
    let folded = ((hash >> 32) ^ (hash & 0xFFFF_FFFF)) >> 2;
    if folded > 999_999_999 {
        folded - 73_741_825
    } else {
        folded
    }
}

/// The reference's default starting code: the key hashed under itself, reduced like a standard token.
fn derive_starting_code(hasher: &SipHasher24, key: &[u8; 16]) -> u64 {
    fold_standard(hasher.hash(key))
}

fn parse_secret_key(text: &str) -> CoreResult<[u8; 16]> {
    let bad = |reason: String| CoreError::InvalidSecretKey { reason };
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return Err(bad(format!("expected 32 hexadecimal characters, got {}", text.chars().count())));
    }
    let mut key = [0u8; 16];
    for (slot, pair) in key.iter_mut().zip(bytes.chunks_exact(2)) {
        match pair {
            [hi, lo] => match (hex_digit(*hi), hex_digit(*lo)) {
                (Some(hi), Some(lo)) => *slot = (hi << 4) | lo,
                // Never the text itself: a mistyped key is nearly the key, and error messages reach logs
                // and screens.
                _ => return Err(bad("expected 32 hexadecimal characters (0-9, a-f), got others".into())),
            },
            _ => return Err(bad("odd length".into())),
        }
    }
    Ok(key)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn invalid_value(value: Decimal, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidTokenValue { value: value.normalize().to_string(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a29ab82edc5fbbc41ec9530f6dac86b1";

    #[test]
    fn restricted_digits_read_back() {
        let scheme = Scheme::new(KEY, Some(123_456_789), 1, true, false).unwrap();
        for code in [0, 1, 999_999_999, 662_486_790, (1 << 30) - 1] {
            assert_eq!(scheme.parse_code(&scheme.format_code(code)).unwrap(), code);
        }
        assert_eq!(scheme.format_code(0), "111111111111111");
    }

    #[test]
    fn key_must_be_32_hex_characters() {
        assert!(parse_secret_key(KEY).is_ok());
        assert!(parse_secret_key(&KEY.to_uppercase()).is_ok());
        assert!(parse_secret_key(&KEY[..30]).is_err());
        assert!(parse_secret_key(&format!("{}zz", &KEY[..30])).is_err());
        // 32 bytes but not 32 characters.
        assert!(parse_secret_key("ééééééééééééééé00").is_err());
    }
}
