//! Logging: human-readable lines on stderr, and the same lines kept in a
//! small in-memory buffer for the window's logs viewer.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

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

/// Installs the global subscriber: `filter` (a `RUST_LOG`-style directive,
/// overridden by `RUST_LOG` itself) to stderr and to the returned buffer.
#[must_use]
pub fn init(filter: &str) -> LogBuffer {
    let buffer = LogBuffer::default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_target(false)
                .with_writer(buffer.clone()),
        )
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
