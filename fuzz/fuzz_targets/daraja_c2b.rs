#![no_main]
//! A Daraja C2B validation or confirmation body (both hooks read it with `daraja::parse`). Accepted: no NUL,
//! a `TransID` of 1 to 64 characters, a `TransTime` read as an instant or not at all, a positive amount or
//! none; refused: a reason naming the field. What the hooks derive from it never panics.

use micropower_server::providers::{daraja, decimal};

libfuzzer_sys::fuzz_target!(|data: &[u8]| match daraja::parse(data) {
    Ok(c2b) => {
        micropower_fuzz::check_accepted(data);
        let id = c2b.trans_id.trim();
        assert!(!id.is_empty() && id.len() <= 64, "TransID {id:?}");
        if let Some(at) = daraja::received_at(c2b.trans_time.as_deref()) {
            assert!(chrono::DateTime::parse_from_rfc3339(&at).is_ok(), "{at}");
        }
        if let Some(amount) = decimal(&c2b.trans_amount) {
            assert!(amount.is_sign_positive() && !amount.is_zero(), "{amount}");
        }
    }
    Err(reason) => assert!(reason.contains(": "), "a reason names its field: {reason}"),
});
