#![no_main]
//! `allocate_payment` with any JSON argument object (seeds: `tests/vectors/allocate_payment.json`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| micropower_fuzz::call_with_json("allocate_payment", data));
