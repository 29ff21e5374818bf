//! libFuzzer entry for `tonnytray::fuzzing::backup`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::backup(data));
