//! The instance channel where there are no Unix sockets (Windows): a TCP
//! listener on 127.0.0.1 at a port the system picks, announced with two
//! random tokens in a file in the user's private data folder.
//!
//! Why not a named pipe: std has none, and a pipe name is machine-wide, so
//! another user could take it first; a TCP port is open to every local user
//! too, which is why each side proves it read the announce file before
//! anything is said. The server speaks first with its token (a process that
//! took a stale port after a crash cannot), then the client sends its token
//! and the request. This module is plain std, so it is unit-tested on Linux.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use password_hash::rand_core::{OsRng, RngCore};

/// The port and the two tokens, as written to the announce file.
struct Announce {
    port: u16,
    server: String,
    client: String,
}

impl Announce {
    fn new(port: u16) -> Self {
        Self {
            port,
            server: token(),
            client: token(),
        }
    }

    fn read(file: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(file)?;
        let mut parts = text.split_whitespace();
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not an instance announce file", file.display()),
            )
        };
        let port = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let server = parts.next().ok_or_else(bad)?.to_owned();
        let client = parts.next().ok_or_else(bad)?.to_owned();
        Ok(Self {
            port,
            server,
            client,
        })
    }

    /// Written whole or not at all, so a client never reads half a token.
    fn write(&self, file: &Path) -> std::io::Result<()> {
        let tmp = file.with_extension("tmp");
        std::fs::write(
            &tmp,
            format!("{} {} {}\n", self.port, self.server, self.client),
        )?;
        std::fs::rename(&tmp, file)
    }
}

/// 128 random bits in hex.
fn token() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal without telling, by its timing, how much of a guess was right.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Sends one request line to the instance announced in `file`.
///
/// # Errors
/// When nothing is announced, nothing listens, the listener is not the
/// instance that wrote the file, or no reply came within `timeout`.
pub fn request(file: &Path, line: &str, timeout: Duration) -> std::io::Result<String> {
    let announce = Announce::read(file)?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, announce.port));
    let stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut reader = BufReader::new(&stream);
    let mut greeting = String::new();
    reader.read_line(&mut greeting)?;
    if !same(greeting.trim_end(), &announce.server) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "the process on 127.0.0.1:{} is not the TonnyTray that wrote {}",
                announce.port,
                file.display()
            ),
        ));
    }
    (&stream).write_all(format!("{} {line}\n", announce.client).as_bytes())?;
    let mut reply = String::new();
    reader.read_line(&mut reply)?;
    Ok(reply.trim_end().to_owned())
}

/// Listens on a fresh loopback port, announces it in `file`, and answers
/// each proven request with `answer` on a thread named `instance`.
///
/// # Errors
/// When the port cannot be bound, the file cannot be written or the thread
/// cannot start.
/// It stops at the first connection after `stop` is set; the returned
/// closure makes that connection.
pub fn serve(
    file: &Path,
    answer: impl Fn(&str) -> String + Send + 'static,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<super::Served> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    let announce = Announce::new(port);
    announce.write(file)?;
    let thread = crate::runtime::thread::spawn("instance", move || {
        for stream in listener.incoming().flatten() {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            let _ = answer_one(&stream, &announce, &answer);
        }
    })?;
    let wake = move || {
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, port));
    };
    Ok((thread, Box::new(wake)))
}

/// One connection: greet, check the client's token, answer one line. A
/// wrong token gets no reply at all.
fn answer_one(
    stream: &TcpStream,
    announce: &Announce,
    answer: &impl Fn(&str) -> String,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut writer = stream;
    writer.write_all(format!("{}\n", announce.server).as_bytes())?;
    let read = |buf: &mut [u8], left: Duration| {
        stream.set_read_timeout(Some(left))?;
        std::io::Read::read(&mut &*stream, buf)
    };
    // Too long, too slow or not text: no reply, as for a wrong token.
    let Ok(line) = super::read_request(read) else {
        return Ok(());
    };
    let (token, request) = line.trim_end().split_once(' ').unwrap_or(("", ""));
    if !same(token, &announce.client) {
        return Ok(());
    }
    writer.write_all(format!("{}\n", answer(request)).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(dir: &Path) -> std::path::PathBuf {
        let file = dir.join("instance.port");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (thread, _wake) = serve(&file, |line| format!("you said {line}"), stop).expect("serve");
        drop(thread);
        file
    }

    #[test]
    fn a_request_with_the_announced_tokens_is_answered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = served(dir.path());
        let reply = request(&file, "ptt press", Duration::from_secs(5)).expect("reply");
        assert_eq!(reply, "you said ptt press");
        let again = request(&file, "status", Duration::from_secs(5)).expect("reply");
        assert_eq!(again, "you said status");
    }

    #[test]
    fn a_client_without_the_token_gets_no_answer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = served(dir.path());
        let announce = Announce::read(&file).expect("announce");
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, announce.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut reader = BufReader::new(&stream);
        let mut greeting = String::new();
        reader.read_line(&mut greeting).expect("greeting");
        (&stream)
            .write_all(b"0123456789abcdef0123456789abcdef show\n")
            .expect("write");
        let mut reply = String::new();
        let read = reader.read_line(&mut reply).expect("closed");
        assert_eq!(
            (read, reply.as_str()),
            (0, ""),
            "a guessed token was answered"
        );
    }

    #[test]
    fn a_listener_that_did_not_write_the_file_is_refused_before_the_request_is_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let squatter = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = squatter.local_addr().expect("addr").port();
        let file = dir.path().join("instance.port");
        Announce::new(port).write(&file).expect("write");
        let heard = crate::runtime::thread::spawn("test-heard", move || {
            let (stream, _) = squatter.accept().expect("accept");
            (&stream).write_all(b"not-the-token\n").expect("greet");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            line
        })
        .expect("spawn");
        let err = request(&file, "store import secrets.json", Duration::from_secs(5))
            .expect_err("a squatter was trusted");
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("is not the TonnyTray"), "{err}");
        assert_eq!(
            heard.join().expect("squatter"),
            "",
            "the request reached it"
        );
    }

    #[test]
    fn a_missing_or_garbled_announce_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("instance.port");
        assert!(request(&file, "show", Duration::from_secs(1)).is_err());
        std::fs::write(&file, "seventy\n").expect("write");
        let err = request(&file, "show", Duration::from_secs(1)).expect_err("garbled");
        assert!(err.to_string().contains("instance.port"), "{err}");
        assert!(
            err.to_string().contains("not an instance announce file"),
            "{err}"
        );
    }

    #[test]
    fn tokens_are_long_random_and_compared_whole() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..31]));
    }
}
