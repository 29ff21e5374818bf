//! libFuzzer entry for `tonnytray::fuzzing::export`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::export(data));
