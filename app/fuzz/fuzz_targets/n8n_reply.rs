//! libFuzzer entry for `tonnytray::fuzzing::n8n_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::n8n_reply(data));
