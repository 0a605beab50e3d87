#![no_main]
//! Any core function: `<name>\n<JSON argument object>` (seeds: every case of `tests/vectors`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| micropower_fuzz::call_any(data));
