//! TonnyTray: talk to your computer.
//!
//! Module map (who owns what; see `shared/design/ARCHITECTURE.md` for the target):
//! - [`audio`]: microphone/WAV capture into a ring buffer, downmix, resampling to
//!   16 kHz mono s16, input level. Runs on the dedicated `audio` thread.
//! - [`asr`]: the WhisperLiveKit protocol (pure types), transcript assembly, and
//!   the WebSocket worker on the `asr` thread that never loses uncommitted audio.
//! - [`messages`]: every type that crosses a thread boundary.
//! - [`runtime`]: starts and stops the pipeline threads and owns their channels.
//! - [`config`]: settings that the pipeline needs (server URL and its override).
//! - [`cli`]: the headless subcommands (`transcribe`, `listen`, `devices`).

pub mod asr;
pub mod audio;
pub mod cli;
pub mod config;
pub mod messages;
pub mod runtime;
