//! libFuzzer entry for `tonnytray::fuzzing::elevenlabs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::elevenlabs(data));
