//! Audio in: capture from a microphone ([`capture`]) or a WAV file ([`wav`])
//! into a lock-free ring buffer ([`ring`]), then on the dedicated `audio`
//! thread downmix, resample ([`resample`]) and cut into 100 ms chunks of
//! 16 kHz mono s16 ([`processor`]), driven by the thread loop in [`worker`].
//! Pure signal functions live in [`dsp`]; voice activation's gate in [`vad`].

pub mod capture;
pub mod dsp;
pub mod playback;
pub mod processor;
pub mod resample;
pub mod ring;
pub mod vad;
pub mod wav;
pub mod worker;
