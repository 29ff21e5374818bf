//! The lock-free hand-over from the real-time capture callback to the
//! `audio` thread: interleaved f32 samples in an SPSC ring (rtrb), plus a
//! small side ring of time marks saying when sample N entered.
//!
//! The writer side is real-time safe: it never allocates, locks or logs.
//! When the ring is full the samples that do not fit are counted as
//! overflow (an atomic), and the `audio` thread reports the count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cpal::{FromSample, Sample};

/// "Sample number `end` (exclusive) had entered by `at`."
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    /// Total samples written when the mark was taken.
    pub end: u64,
    /// When.
    pub at: Instant,
}

/// Marks kept in flight; one per callback, so this covers seconds of audio.
const MARK_CAPACITY: usize = 256;

/// The producer half, owned by the capture callback (or a file reader).
pub struct RingWriter {
    samples: rtrb::Producer<f32>,
    marks: rtrb::Producer<Mark>,
    written: u64,
    overflow: Arc<AtomicU64>,
}

/// The consumer half, owned by the `audio` thread.
pub struct RingReader {
    samples: rtrb::Consumer<f32>,
    marks: rtrb::Consumer<Mark>,
    read: u64,
    newest: Option<Instant>,
    overflow: Arc<AtomicU64>,
}

/// A ring holding `capacity` interleaved samples.
pub fn ring(capacity: usize) -> (RingWriter, RingReader) {
    let (sp, sc) = rtrb::RingBuffer::new(capacity.max(1));
    let (mp, mc) = rtrb::RingBuffer::new(MARK_CAPACITY);
    let overflow = Arc::new(AtomicU64::new(0));
    (
        RingWriter {
            samples: sp,
            marks: mp,
            written: 0,
            overflow: Arc::clone(&overflow),
        },
        RingReader {
            samples: sc,
            marks: mc,
            read: 0,
            newest: None,
            overflow,
        },
    )
}

impl RingWriter {
    /// Samples that fit right now.
    pub fn free(&self) -> usize {
        self.samples.slots()
    }

    /// Pushes interleaved samples of any cpal sample type, converting to f32.
    /// Real-time safe; returns how many samples did not fit.
    pub fn push<T>(&mut self, data: &[T]) -> usize
    where
        T: Sample,
        f32: FromSample<T>,
    {
        let room = self.samples.slots().min(data.len());
        if let Ok(chunk) = self.samples.write_chunk_uninit(room) {
            chunk.fill_from_iter(data[..room].iter().map(|s| f32::from_sample(*s)));
        }
        self.written += room as u64;
        let lost = data.len() - room;
        if lost > 0 {
            self.overflow.fetch_add(lost as u64, Ordering::Relaxed);
        }
        // A full mark ring only costs latency precision, never audio.
        let _ = self.marks.push(Mark {
            end: self.written,
            at: Instant::now(),
        });
        lost
    }
}

impl RingReader {
    /// Moves every available sample (a whole number of `channels`-frames)
    /// into `out`; returns how many.
    pub fn read_into(&mut self, channels: usize, out: &mut Vec<f32>) -> usize {
        let available = self.samples.slots();
        let take = available - available % channels.max(1);
        let Ok(chunk) = self.samples.read_chunk(take) else {
            return 0;
        };
        let (a, b) = chunk.as_slices();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
        chunk.commit_all();
        self.read += take as u64;
        while let Ok(mark) = self.marks.peek() {
            if mark.end > self.read {
                break;
            }
            self.newest = Some(mark.at);
            let _ = self.marks.pop();
        }
        take
    }

    /// When the newest sample read so far entered the ring (approximately:
    /// the time of the last callback whose samples were all read).
    pub fn newest_entered_at(&self) -> Option<Instant> {
        self.newest
    }

    /// Samples lost to a full ring since the last call.
    pub fn take_overflow(&self) -> u64 {
        self.overflow.swap(0, Ordering::Relaxed)
    }

    /// True when the writer is gone (capture stopped) and nothing is left.
    pub fn is_finished(&self) -> bool {
        self.samples.is_abandoned() && self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_arrive_in_order_converted_to_f32() {
        let (mut w, mut r) = ring(16);
        assert_eq!(w.push(&[i16::MAX, 0, i16::MIN, 16_384]), 0);
        let mut out = Vec::new();
        assert_eq!(r.read_into(2, &mut out), 4);
        assert!((out[0] - 1.0).abs() < 1e-4);
        assert_eq!(out[1], 0.0);
        assert!((out[2] + 1.0).abs() < 1e-4);
        assert!((out[3] - 0.5).abs() < 1e-3);
        assert!(r.newest_entered_at().is_some());
    }

    #[test]
    fn overflow_is_counted_not_silent() {
        let (mut w, r) = ring(4);
        assert_eq!(w.push(&[0.1_f32; 6]), 2);
        assert_eq!(r.take_overflow(), 2);
        assert_eq!(r.take_overflow(), 0);
    }

    #[test]
    fn only_whole_frames_are_read() {
        let (mut w, mut r) = ring(16);
        w.push(&[0.1_f32; 5]);
        let mut out = Vec::new();
        assert_eq!(r.read_into(2, &mut out), 4);
        assert_eq!(r.read_into(2, &mut out), 0);
        w.push(&[0.2_f32; 1]);
        assert_eq!(r.read_into(2, &mut out), 2);
    }

    #[test]
    fn finished_once_writer_dropped_and_drained() {
        let (mut w, mut r) = ring(8);
        w.push(&[0.5_f32; 2]);
        drop(w);
        assert!(!r.is_finished());
        r.read_into(1, &mut Vec::new());
        assert!(r.is_finished());
    }
}
