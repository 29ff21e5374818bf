//! One TonnyTray per user session. The first instance listens on a Unix
//! socket in `$XDG_RUNTIME_DIR` (on Windows, on a loopback port announced
//! in the user's data folder: `loopback`); a second launch asks it to
//! show its window and exits. The same channel answers `tonnytray status`
//! (a JSON snapshot) and `tonnytray toggle` / `tonnytray ptt press|release`
//! (for desktop shortcuts where global hotkeys cannot work, such as
//! Wayland).
//!
//! The protocol is one request line (`show`, `toggle`, `ptt press`, `ptt
//! release`, `status`, `quit`, `profile …`, `store …`) and one reply line.
//!
//! Only the user who runs the app may ask: the requests read history and
//! write files (export, backup, restore) as that user. On Unix the socket
//! is made mode 0600 and, on Linux, every connection's peer uid
//! (`SO_PEERCRED`) must be ours, so that a runtime dir that is not private
//! or a permissive umask does not open it to other local users. A request
//! line longer than [`MAX_REQUEST`] is refused unread.

#[cfg(any(not(unix), test))]
mod loopback;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Where the channel is found: the Unix socket, or (without Unix sockets)
/// the file announcing the loopback port. `$XDG_RUNTIME_DIR` is private to
/// the user by definition; otherwise a `run` folder in the user's data dir,
/// made private here, so that no other user can put a socket in our place.
#[must_use]
pub fn socket_path() -> PathBuf {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "user".into());
    let name = if cfg!(unix) {
        format!("tonnytray-{user}.sock")
    } else {
        format!("tonnytray-{user}.port")
    };
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join(name);
    }
    let dir = directories::ProjectDirs::from("", "", "tonnytray").map_or_else(
        || std::env::temp_dir().join(format!("tonnytray-{user}")),
        |d| d.data_local_dir().join("run"),
    );
    let _ = private_dir(&dir);
    dir.join(name)
}

#[cfg(unix)]
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// The user's local app-data folder is private to them by its ACL.
#[cfg(not(unix))]
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Sends one request to the running instance and returns its reply.
///
/// # Errors
/// When no instance is running (or it does not answer).
pub fn request(line: &str) -> std::io::Result<String> {
    request_with_timeout(line, Duration::from_secs(5))
}

/// [`request`] for requests that take a while (a backup of a big store).
///
/// # Errors
/// When no instance is running, or no reply came within `timeout`.
pub fn request_with_timeout(line: &str, timeout: Duration) -> std::io::Result<String> {
    request_at(&socket_path(), line, timeout)
}

/// [`request_with_timeout`] to the channel at `path`.
///
/// # Errors
/// When nothing answers at `path` within `timeout`.
#[cfg(unix)]
pub fn request_at(
    path: &std::path::Path,
    line: &str,
    timeout: Duration,
) -> std::io::Result<String> {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(reply.trim_end().to_owned())
}

/// [`request_with_timeout`] to the channel at `path`.
///
/// # Errors
/// When nothing answers at `path` within `timeout`.
#[cfg(not(unix))]
pub fn request_at(
    path: &std::path::Path,
    line: &str,
    timeout: Duration,
) -> std::io::Result<String> {
    loopback::request(path, line, timeout)
}

/// The outcome of trying to be the one instance.
pub enum Claim {
    /// This process is the instance; requests are served on the `instance`
    /// thread until the [`Server`] is dropped.
    Mine(Server),
    /// Another instance is running and was asked to show itself.
    AlreadyRunning,
}

/// Becomes the instance, answering each request line with `answer`.
///
/// # Errors
/// When the channel cannot be created (the app still runs, unguarded).
pub fn claim(answer: impl Fn(&str) -> String + Send + 'static) -> std::io::Result<Claim> {
    claim_at(&socket_path(), answer)
}

/// [`claim`] on the channel at `path` (tests use their own).
///
/// # Errors
/// When the channel cannot be created.
pub fn claim_at(
    path: &std::path::Path,
    answer: impl Fn(&str) -> String + Send + 'static,
) -> std::io::Result<Claim> {
    if request_at(path, "show", Duration::from_secs(5)).is_ok() {
        return Ok(Claim::AlreadyRunning);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (thread, wake) = serve(path, answer, Arc::clone(&stop))?;
    Ok(Claim::Mine(Server {
        stop,
        wake,
        thread: Some(thread),
    }))
}

/// The `instance` thread serving requests; dropping it stops and joins it.
pub struct Server {
    stop: Arc<AtomicBool>,
    /// Connects once to the channel, so that the thread, blocked in
    /// `accept`, sees `stop`.
    wake: Box<dyn Fn() + Send>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        (self.wake)();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Served = (JoinHandle<()>, Box<dyn Fn() + Send>);

/// The longest request line served (a store request carries a search
/// text or a path; nothing legitimate comes near this).
pub const MAX_REQUEST: u64 = 64 * 1024;

#[cfg(unix)]
fn serve(
    path: &std::path::Path,
    answer: impl Fn(&str) -> String + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Served> {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;
    let path = path.to_path_buf();
    // Nobody answered: a socket file left by a crash is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    // Connecting needs write permission on the socket file: 0600 keeps
    // other users out whatever the umask or the directory allow. The
    // peer-uid check below covers the moment between bind and chmod.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let thread = crate::runtime::thread::spawn("instance", move || {
        for stream in listener.incoming().flatten() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if let Err(why) = same_user(&stream) {
                tracing::warn!("instance socket: refused a request: {why}");
                let _ = (&stream).write_all(format!("error: refused: {why}\n").as_bytes());
                continue;
            }
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut reader = BufReader::new((&stream).take(MAX_REQUEST + 1));
            let mut line = String::new();
            let reply = match reader.read_line(&mut line) {
                Ok(n) if n as u64 > MAX_REQUEST => {
                    tracing::warn!(
                        "instance socket: refused a request of over {MAX_REQUEST} bytes"
                    );
                    format!("error: the request is longer than {MAX_REQUEST} bytes")
                }
                Ok(_) => answer(line.trim()),
                Err(e) => format!("error: unreadable request: {e}"),
            };
            let _ = (&stream).write_all(format!("{reply}\n").as_bytes());
        }
    })?;
    let wake = move || {
        let _ = std::os::unix::net::UnixStream::connect(&path);
    };
    Ok((thread, Box::new(wake)))
}

/// Whether the peer runs as this process's user.
#[cfg(target_os = "linux")]
fn same_user(stream: &std::os::unix::net::UnixStream) -> Result<(), String> {
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| format!("cannot tell who is asking ({e})"))?;
    let me = rustix::process::getuid();
    if peer.uid == me {
        Ok(())
    } else {
        Err(format!(
            "the request came from user id {}, and this TonnyTray belongs to user id {}",
            peer.uid.as_raw(),
            me.as_raw()
        ))
    }
}

/// Elsewhere on Unix the socket's mode (0600) is the guard.
#[cfg(all(unix, not(target_os = "linux")))]
#[allow(clippy::unnecessary_wraps)] // The same shape as on Linux.
fn same_user(_: &std::os::unix::net::UnixStream) -> Result<(), String> {
    Ok(())
}

/// Nobody answered: a new port and new tokens replace the stale announce.
#[cfg(not(unix))]
fn serve(
    path: &std::path::Path,
    answer: impl Fn(&str) -> String + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Served> {
    loopback::serve(path, answer, stop)
}
