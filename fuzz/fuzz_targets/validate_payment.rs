#![no_main]
//! `validate_payment` with any JSON argument object (seeds: `tests/vectors/validate_payment.json`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| micropower_fuzz::call_with_json("validate_payment", data));
