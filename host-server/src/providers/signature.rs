//! `t=<unix seconds>,v1=<hex HMAC-SHA256>` signature headers, as Wave sends them (`Wave-Signature`, over
//! `t + body`) and as our generic hook expects them (`X-Signature`, over `t + "." + body`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signature's timestamp may be from our clock, either way.
pub const WINDOW_SECONDS: i64 = 5 * 60;

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is not t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature's timestamp is outside the 5-minute window")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    /// The `reason` label of `micropower_hook_rejected_total`.
    pub fn label(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::Stale => "signature_stale",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

/// Checks `header` against `secret` over `t ‖ separator ‖ body`, at `now` (unix seconds). Every `v1` is tried
/// (a provider rotating its secret sends two), each compared in constant time by `verify_slice`.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    separator: &[u8],
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<&str> = None;
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value.trim()),
            Some(("v1", value)) => {
                if let Ok(bytes) = hex::decode(value.trim()) {
                    candidates.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t_text = timestamp.ok_or(SignatureError::Malformed)?;
    let t: i64 = t_text.parse().map_err(|_| SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // `abs_diff`, not `(now - t).abs()`: a timestamp near i64::MIN or MAX overflowed the subtraction (a
    // panic in debug builds; the fuzz target `signature_roundtrip` keeps checking the ends of the range).
    if now.abs_diff(t) > WINDOW_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(t_text.as_bytes());
    mac.update(separator);
    mac.update(body);
    let matched = candidates.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok());
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header value a sender computes: `t=<t>,v1=<hex>` (for tests and for documentation examples).
pub fn sign(secret: &[u8], t: i64, separator: &[u8], body: &[u8]) -> String {
    let digest = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(t.to_string().as_bytes());
            mac.update(separator);
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("t={t},v1={digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_matching_v1_and_refuses_the_rest() {
        let body = br#"{"id":"AE_1"}"#;
        let good = sign(b"secret", 1_000, b"", body);
        assert_eq!(verify(b"secret", Some(&good), b"", body, 1_100), Ok(()));
        let rotated = format!("t=1000,v1=00ff,{}", good.trim_start_matches("t=1000,"));
        assert_eq!(verify(b"secret", Some(&rotated), b"", body, 1_000), Ok(()));
        assert_eq!(verify(b"other", Some(&good), b"", body, 1_000), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"secret", Some(&good), b".", body, 1_000), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"secret", Some(&good), b"", b"{}", 1_000), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"secret", Some(&good), b"", body, 1_000 + 301), Err(SignatureError::Stale));
        assert_eq!(verify(b"secret", Some(&good), b"", body, 1_000 - 301), Err(SignatureError::Stale));
        assert_eq!(verify(b"secret", None, b"", body, 1_000), Err(SignatureError::Missing));
        assert_eq!(verify(b"secret", Some("v1=abcd"), b"", body, 1_000), Err(SignatureError::Malformed));
        assert_eq!(verify(b"secret", Some("t=1000"), b"", body, 1_000), Err(SignatureError::Malformed));
    }

    /// Timestamps at the ends of i64 are stale, not an overflow (a panic in debug builds before).
    #[test]
    fn extreme_timestamps_are_stale() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX] {
            let header = format!("t={t},v1=00");
            assert_eq!(verify(b"secret", Some(&header), b"", b"{}", 1_700_000_000), Err(SignatureError::Stale));
            assert_eq!(verify(b"secret", Some(&header), b"", b"{}", -1_700_000_000), Err(SignatureError::Stale));
        }
    }
}
