#![no_main]
//! The generic HMAC hook: `<X-Signature header>\n<body>`. The header check never panics; a real signature
//! over the body verifies with the hook's `.` separator and not with Wave's empty one; the body is read as
//! both hook bodies (the `/v1/payments` body and the validate body): accepted without NUL or refused with a
//! 400 naming its field.

use micropower_server::payments::PaymentIn;
use micropower_server::providers::generic::ValidateIn;
use micropower_server::providers::signature::{sign, verify, SignatureError};

const SECRET: &[u8] = b"aggregator-secret-fuzz";
const NOW: i64 = 1_767_340_800;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (header, body) = micropower_fuzz::header_and_body(data);
    if let Err(SignatureError::Missing) = verify(SECRET, header, b".", body, NOW) {
        assert!(header.is_none());
    }
    let signed = sign(SECRET, NOW, b".", body);
    assert_eq!(verify(SECRET, Some(&signed), b".", body, NOW), Ok(()));
    assert_eq!(verify(SECRET, Some(&signed), b"", body, NOW), Err(SignatureError::Mismatch));

    match micropower_server::extract::parse::<PaymentIn>(body) {
        Ok(_) => micropower_fuzz::check_accepted(body),
        Err(refusal) => micropower_fuzz::check_refusal(&refusal),
    }
    match micropower_server::extract::parse::<ValidateIn>(body) {
        Ok(_) => micropower_fuzz::check_accepted(body),
        Err(refusal) => micropower_fuzz::check_refusal(&refusal),
    }
});
