//! Every thread of the app is started here, with a name (it shows in
//! `top -H`, in panics and in the logs). `ci/check.sh` fails the build on
//! `std::thread::spawn` anywhere else (clippy's `disallowed_methods`), so
//! that no thread is started without a name and an owner that joins it.

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
