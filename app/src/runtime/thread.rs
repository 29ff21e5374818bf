//! Every thread of the app is started here, with a name (it shows in
//! `top -H`, in panics and in the logs). `ci/check.sh` fails the build on
//! `std::thread::spawn` anywhere else (clippy's `disallowed_methods`), so
//! that no thread is started without a name and an owner.
//!
//! Long-lived threads are joined by whoever keeps the handle (the
//! `Runtime`, at quit, in order). One-off helpers are not: a keyring call
//! (`keyring`), a PIN hash (`pin-hash`), a desktop notification (`notify`),
//! a look at whether the recorded microphone is still there (`mic-check`)
//! and the Settings window's tests of n8n and ElevenLabs (`n8n-test`,
//! `voices`) end by themselves (a hash finishes; the keyring call and the
//! tests give up after their timeouts; a notification is one D-Bus call)
//! and answer over a channel. Joining them at quit would make quitting
//! wait on, say, a keyring prompt nobody answers.

use std::thread::JoinHandle;

/// Starts the thread `name` running `f`.
///
/// # Errors
/// When the system cannot start another thread.
#[allow(clippy::disallowed_methods)] // The one allowed place.
pub fn spawn<T, F>(name: &str, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::Builder::new().name(name.to_owned()).spawn(f)
}
