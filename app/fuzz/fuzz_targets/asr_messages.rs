//! libFuzzer entry for `tonnytray::fuzzing::asr_messages`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::asr_messages(data));
