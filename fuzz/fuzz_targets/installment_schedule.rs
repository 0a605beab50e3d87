#![no_main]
//! `installment_schedule` with any JSON argument object (seeds: `tests/vectors/installment_schedule.json`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| micropower_fuzz::call_with_json("installment_schedule", data));
