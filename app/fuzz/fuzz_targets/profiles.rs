//! libFuzzer entry for `tonnytray::fuzzing::profiles`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::profiles(data));
