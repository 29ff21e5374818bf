//! Logging: human-readable lines on stderr, the same lines kept in a small
//! in-memory buffer for the window's logs viewer, and (for the desktop app)
//! JSON lines in daily files under the data dir, old ones deleted. Metrics
//! live in [`metrics`]; what a crash leaves behind in [`crash`].

pub mod crash;
pub mod metrics;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tracing_appender::rolling::{RollingFileAppender, Rotation};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Lines kept for the logs viewer.
const KEPT: usize = 500;

/// The most recent log lines, shared with the window.
#[derive(Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<VecDeque<String>>>,
}

impl LogBuffer {
    /// The kept lines, oldest first.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    fn push(&self, text: &str) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if lines.len() == KEPT {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
    }
}

/// One event's formatted text, added to the buffer when the event is done.
pub struct BufferWriter {
    buffer: LogBuffer,
    text: Vec<u8>,
}

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BufferWriter {
    fn drop(&mut self) {
        self.buffer.push(&String::from_utf8_lossy(&self.text));
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = BufferWriter;

    fn make_writer(&'a self) -> Self::Writer {
        BufferWriter {
            buffer: self.clone(),
            text: Vec::new(),
        }
    }
}

/// Daily JSON log files kept: two weeks is enough to look back at a
/// problem a household reports, and bounded on disk.
pub const KEPT_DAYS: usize = 14;

/// Where the JSON log files go: `logs` in the user's data dir
/// (`~/.local/share/tonnytray/logs` on Linux).
#[must_use]
pub fn default_log_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "tonnytray").map(|d| d.data_dir().join("logs"))
}

/// Opens the rotating JSON log in `dir` (files `tonnytray.YYYY-MM-DD.json`,
/// [`KEPT_DAYS`] kept, older ones deleted at each rotation).
///
/// # Errors
/// When the directory cannot be created or written; the message names it.
pub fn json_files(dir: &Path) -> Result<RollingFileAppender, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the log directory {}: {e}", dir.display()))?;
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("tonnytray")
        .filename_suffix("json")
        .max_log_files(KEPT_DAYS)
        .build(dir)
        .map_err(|e| format!("cannot open a log file in {}: {e}", dir.display()))
}

/// Installs the global subscriber: `filter` (a `RUST_LOG`-style directive,
/// overridden by `RUST_LOG` itself) to stderr, to the returned buffer and,
/// with `json_dir`, to rotating JSON files there. A log directory that
/// cannot be used is said on stderr; logging goes on without files.
#[must_use]
pub fn init(filter: &str, json_dir: Option<&Path>) -> LogBuffer {
    let buffer = LogBuffer::default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // Files are written synchronously under a mutex: the volume is a few
    // lines per utterance, and the real-time audio callback never logs, so
    // a background writer (and its guard to flush at exit) buys nothing.
    let files = json_dir.and_then(|dir| match json_files(dir) {
        Ok(files) => Some(Mutex::new(files)),
        Err(e) => {
            eprintln!("tonnytray: {e}; logging to the terminal only");
            None
        }
    });
    let json = files.map(|files| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(false)
            .with_thread_names(true)
            .with_writer(files)
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_target(false)
                .with_writer(buffer.clone()),
        )
        .with(json)
        .try_init();
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_keeps_the_newest_lines() {
        let b = LogBuffer::default();
        for i in 0..(KEPT + 3) {
            let mut w = b.make_writer();
            let _ = writeln!(w, "line {i}");
        }
        let lines = b.lines();
        assert_eq!(lines.len(), KEPT);
        assert_eq!(lines[0], "line 3");
        assert_eq!(lines[KEPT - 1], format!("line {}", KEPT + 2));
    }
}
