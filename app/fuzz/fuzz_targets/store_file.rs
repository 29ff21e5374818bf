//! libFuzzer entry for `tonnytray::fuzzing::store_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::store_file(data));
