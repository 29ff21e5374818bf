//! libFuzzer entry for `tonnytray::fuzzing::socket_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tonnytray::fuzzing::socket_request(data));
