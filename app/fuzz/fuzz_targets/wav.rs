//! libFuzzer entry for `tonnytray::fuzzing::wav`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::wav(data));
