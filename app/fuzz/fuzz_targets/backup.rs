//! libFuzzer entry for `tonnytray::fuzzing::backup`.
#![no_main]

static DEFAULT_HOOK: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // The store turns redb's panics on damaged files into errors
    // (catch_unwind). libfuzzer-sys's panic hook aborts before any unwinding,
    // so it would report those caught panics as crashes: the default hook
    // goes back in. A panic nobody catches still reaches libfuzzer-sys,
    // which aborts on it.
    DEFAULT_HOOK.call_once(|| drop(std::panic::take_hook()));
    tonnytray::fuzzing::backup(data);
});
