//! What a crash leaves behind. A panic is logged (so it reaches the JSON
//! log files and the logs viewer, not only a terminal nobody watches) with
//! its thread and place; the text is the panic's own message, and secrets
//! cannot be in it because [`crate::secrets::Secret`] prints itself as
//! `[redacted]`. No core file is written: a core dump holds the whole
//! memory, keyring secrets and unsaved words included, in a file other
//! tools collect.
//!
//! Why the core-size limit and not `PR_SET_DUMPABLE`: a non-dumpable
//! process's `/proc/<pid>` belongs to root, and the desktop portal reads
//! `/proc/<pid>/root` to tell who is asking for a global shortcut.

thread_local! {
    /// Where this thread's last panic was raised (source file), for code
    /// that catches panics and must tell whose they were.
    static LAST_PANIC_AT: std::cell::RefCell<Option<String>> =
        const { std::cell::RefCell::new(None) };
}

/// The source file of this thread's last panic, taken (so the next caller
/// does not see it again). `None` without [`log_panics`]' hook (tests).
#[must_use]
pub fn take_panic_location() -> Option<String> {
    LAST_PANIC_AT.with(|at| at.borrow_mut().take())
}

/// A panic's message: the `&str` or `String` it was raised with.
#[must_use]
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

/// Logs every panic, then lets the default hook print it as before.
pub fn log_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        let message = panic_message(info.payload()).unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Some(l) = info.location() {
            let file = l.file().to_owned();
            LAST_PANIC_AT.with(|at| *at.borrow_mut() = Some(file));
        }
        tracing::error!(thread = name, place, "panic: {message}");
        default(info);
    }));
}

/// Sets this process's core-file limit to zero (soft and hard), so that a
/// crash writes no core file (the kernel's, systemd-coredump and apport all
/// honour it).
///
/// # Errors
/// When the limit cannot be set (the app goes on; the caller logs it).
#[cfg(unix)]
pub fn no_core_files() -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(std::io::Error::from)
}

/// Windows writes no core files unless the user set up crash dumps.
#[cfg(not(unix))]
#[allow(clippy::unnecessary_wraps)] // The same shape as on Unix.
pub fn no_core_files() -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::secrets::Secret;

    /// The panic message of code that formats a value holding a secret.
    #[test]
    fn a_panic_about_a_value_holding_a_secret_does_not_show_it() {
        #[derive(Debug)]
        #[allow(dead_code)] // Read through Debug only.
        struct Holder {
            token: Secret,
        }
        let holder = Holder {
            token: Secret::new("s3cr3t-value-123".into()),
        };
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            panic!("cannot send with {holder:?} ({})", holder.token);
        }))
        .expect_err("it panicked");
        let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("[redacted]"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
