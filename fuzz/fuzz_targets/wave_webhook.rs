#![no_main]
//! A Wave webhook: `<Wave-Signature header>\n<body>`. The header check never panics on any header; the
//! body, once signed for real, verifies; the envelope is accepted (no NUL anywhere) or refused with a 400
//! naming its field; the payment read from an accepted event has a trimmed, non-empty transaction id, an
//! upper-case currency and an RFC 3339 time or none.

use micropower_server::providers::signature::{sign, verify, SignatureError};
use micropower_server::providers::wave;

const SECRET: &[u8] = b"wave-signing-secret-fuzz";
const NOW: i64 = 1_767_340_800;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (header, body) = micropower_fuzz::header_and_body(data);
    match verify(SECRET, header, b"", body, NOW) {
        Ok(()) => assert!(header.is_some_and(|h| h.contains("v1="))),
        Err(SignatureError::Missing) => assert!(header.is_none()),
        Err(_) => {}
    }
    let signed = sign(SECRET, NOW, b"", body);
    assert_eq!(verify(SECRET, Some(&signed), b"", body, NOW), Ok(()));

    let envelope = match wave::parse_envelope(body) {
        Ok(e) => e,
        Err(refusal) => return micropower_fuzz::check_refusal(&refusal),
    };
    micropower_fuzz::check_accepted(body);
    if let Ok(Some(payment)) = wave::payment_of(&envelope) {
        assert!(!payment.tx_id.is_empty() && payment.tx_id.trim() == payment.tx_id, "{:?}", payment.tx_id);
        assert_eq!(payment.currency, payment.currency.to_uppercase());
        assert_eq!(payment.serial.trim(), payment.serial);
        if let Some(at) = &payment.received_at {
            assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        }
    }
});
