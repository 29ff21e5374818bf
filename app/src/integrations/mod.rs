//! Where committed words go outside the app. Today: typing into the focused
//! window ([`typing`]). Each integration runs on its own thread with its own
//! timeouts and reports every outcome back to the core.

pub mod key_gate;
pub mod typing;
#[cfg(target_os = "linux")]
pub mod xtest;
