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
//! line longer than [`MAX_REQUEST`] is refused once that much was read, and
//! a whole request must arrive within two seconds, so that no client can
//! hold the one serving thread.

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
    let sent = stream.write_all(format!("{line}\n").as_bytes());
    // A refusal may come, and the socket close, before the request is
    // even written (a broken pipe): the refusal is still there to read.
    let mut reply = String::new();
    let read = BufReader::new(stream).read_line(&mut reply);
    match (sent, read) {
        (_, Ok(n)) if n > 0 => Ok(reply.trim_end().to_owned()),
        (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(_)) => Ok(String::new()),
    }
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

/// The longest request line served, without its line break (a store
/// request carries a search text or a path; nothing legitimate comes near
/// this).
pub const MAX_REQUEST: u64 = 64 * 1024;

/// How long a whole request may take to arrive.
const REQUEST_TIME: Duration = Duration::from_secs(2);

/// Reads one request line through `read` (which reads into the buffer,
/// waiting at most the given time): at most [`MAX_REQUEST`] bytes, all
/// within [`REQUEST_TIME`]; the error is the reply's text.
pub(crate) fn read_request(
    mut read: impl FnMut(&mut [u8], Duration) -> std::io::Result<usize>,
) -> Result<String, String> {
    use std::io::ErrorKind;
    let deadline = std::time::Instant::now() + REQUEST_TIME;
    let late = || {
        format!(
            "the request did not arrive within {} s",
            REQUEST_TIME.as_secs()
        )
    };
    let mut line = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(late());
        }
        let n = match read(&mut chunk, left) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(late());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("unreadable request: {e}")),
        };
        let end = chunk[..n].iter().position(|&b| b == b'\n');
        line.extend_from_slice(&chunk[..end.unwrap_or(n)]);
        if line.len() as u64 > MAX_REQUEST {
            return Err(format!("the request is longer than {MAX_REQUEST} bytes"));
        }
        if n == 0 || end.is_some() {
            break;
        }
    }
    String::from_utf8(line).map_err(|_| "the request is not UTF-8 text".into())
}

#[cfg(unix)]
fn serve(
    path: &std::path::Path,
    answer: impl Fn(&str) -> String + Send + 'static,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Served> {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;
    let path = path.to_path_buf();
    // Nobody answered: a socket file left by a crash is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    // Connecting needs write permission on the socket file: 0600 keeps
    // other users out whatever the umask or the directory allow. On Linux
    // the peer-uid check below also covers the moment between bind and
    // chmod.
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
            let _ = stream.set_write_timeout(Some(REQUEST_TIME));
            let read = |buf: &mut [u8], left: Duration| {
                stream.set_read_timeout(Some(left))?;
                (&stream).read(buf)
            };
            let reply = match read_request(read) {
                Ok(line) => answer(line.trim()),
                Err(why) => {
                    tracing::warn!("instance socket: refused a request: {why}");
                    format!("error: {why}")
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A client sending `data` in pieces of `piece` bytes, `pause` apart.
    fn client(
        data: Vec<u8>,
        piece: usize,
        pause: Duration,
    ) -> impl FnMut(&mut [u8], Duration) -> std::io::Result<usize> {
        let mut at = 0;
        move |buf: &mut [u8], left: Duration| {
            if pause > left {
                std::thread::sleep(left);
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            std::thread::sleep(pause);
            let n = piece.min(buf.len()).min(data.len() - at);
            buf[..n].copy_from_slice(&data[at..at + n]);
            at += n;
            Ok(n)
        }
    }

    #[test]
    fn a_request_up_to_the_limit_is_read_and_one_byte_more_is_refused() {
        let limit = usize::try_from(MAX_REQUEST).expect("fits");
        let mut exact = vec![b'a'; limit];
        exact.push(b'\n');
        let line = read_request(client(exact, 4096, Duration::ZERO)).expect("read");
        assert_eq!(line.len(), limit);
        let mut over = vec![b'a'; limit + 1];
        over.push(b'\n');
        let err = read_request(client(over, 4096, Duration::ZERO)).expect_err("too long");
        assert!(err.contains("longer than"), "{err}");
    }

    #[test]
    fn a_client_dripping_bytes_cannot_hold_the_thread_past_the_deadline() {
        // A byte every 300 ms, each within its read's own timeout: the 700
        // bytes would take 210 s; the whole request may take 2 s.
        let err = read_request(client(vec![b'x'; 700], 1, Duration::from_millis(300)))
            .expect_err("too slow");
        assert!(err.contains("did not arrive within"), "{err}");
    }

    #[test]
    fn a_request_that_is_not_text_is_named() {
        let err =
            read_request(client(b"\xff\xfe\n".to_vec(), 8, Duration::ZERO)).expect_err("not UTF-8");
        assert!(err.contains("UTF-8"), "{err}");
    }
}
