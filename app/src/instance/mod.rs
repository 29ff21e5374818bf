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
#[cfg(unix)]
pub fn request_with_timeout(line: &str, timeout: Duration) -> std::io::Result<String> {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;
    let mut stream = UnixStream::connect(socket_path())?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(reply.trim_end().to_owned())
}

/// [`request`] for requests that take a while (a backup of a big store).
///
/// # Errors
/// When no instance is running, or no reply came within `timeout`.
#[cfg(not(unix))]
pub fn request_with_timeout(line: &str, timeout: Duration) -> std::io::Result<String> {
    loopback::request(&socket_path(), line, timeout)
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
    if request("show").is_ok() {
        return Ok(Claim::AlreadyRunning);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (thread, wake) = serve(answer, Arc::clone(&stop))?;
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

#[cfg(unix)]
fn serve(
    answer: impl Fn(&str) -> String + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Served> {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    let path = socket_path();
    // Nobody answered: a socket file left by a crash is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let thread = crate::runtime::thread::spawn("instance", move || {
        for stream in listener.incoming().flatten() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok() {
                let reply = answer(line.trim());
                let _ = (&stream).write_all(format!("{reply}\n").as_bytes());
            }
        }
    })?;
    let wake = move || {
        let _ = std::os::unix::net::UnixStream::connect(&path);
    };
    Ok((thread, Box::new(wake)))
}

/// Nobody answered: a new port and new tokens replace the stale announce.
#[cfg(not(unix))]
fn serve(
    answer: impl Fn(&str) -> String + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Served> {
    loopback::serve(&socket_path(), answer, stop)
}
