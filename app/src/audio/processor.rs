//! The `audio` thread's work: interleaved samples at the device's rate in,
//! 100 ms chunks of 16 kHz mono s16 out. [`Processor`] is pure (no threads,
//! no I/O) so it is unit-tested and benchmarked directly.

use std::time::Instant;

use super::dsp;
use super::resample::{ResampleError, StreamResampler};
use crate::asr::protocol::SAMPLE_RATE;
use crate::messages::AudioChunk;

/// Samples per chunk sent to the server: 100 ms, the size the server handles best.
pub const CHUNK_SAMPLES: usize = SAMPLE_RATE as usize / 10;

/// Downmix → resample → quantise → cut into chunks.
pub struct Processor {
    channels: usize,
    resampler: StreamResampler,
    mono: Vec<f32>,
    resampled: Vec<f32>,
    frame: Vec<i16>,
    seq: u64,
}

impl Processor {
    /// For input at `rate` Hz with `channels` interleaved channels.
    ///
    /// # Errors
    /// When the rate cannot be resampled (zero).
    pub fn new(rate: u32, channels: u16) -> Result<Self, ResampleError> {
        Ok(Self {
            channels: usize::from(channels.max(1)),
            resampler: StreamResampler::new(rate, SAMPLE_RATE)?,
            mono: Vec::new(),
            resampled: Vec::new(),
            frame: Vec::with_capacity(CHUNK_SAMPLES),
            seq: 0,
        })
    }

    /// Processes interleaved input; calls `emit` for every full chunk.
    pub fn push(
        &mut self,
        interleaved: &[f32],
        entered_at: Instant,
        emit: &mut impl FnMut(AudioChunk),
    ) {
        self.mono.clear();
        dsp::downmix_into(interleaved, self.channels, &mut self.mono);
        self.resampled.clear();
        self.resampler.process(&self.mono, &mut self.resampled);
        self.cut(entered_at, emit);
    }

    /// Ends the stream: flushes the resampler and emits the last, possibly
    /// short, chunk. The processor can then start a new stream.
    pub fn finish(&mut self, entered_at: Instant, emit: &mut impl FnMut(AudioChunk)) {
        self.resampled.clear();
        self.resampler.flush(&mut self.resampled);
        self.cut(entered_at, emit);
        if !self.frame.is_empty() {
            self.emit_frame(entered_at, emit);
        }
        self.seq = 0;
    }

    fn cut(&mut self, entered_at: Instant, emit: &mut impl FnMut(AudioChunk)) {
        for &s in &self.resampled {
            self.frame.push(dsp::to_i16(s));
            if self.frame.len() == CHUNK_SAMPLES {
                let samples = std::mem::replace(&mut self.frame, Vec::with_capacity(CHUNK_SAMPLES));
                emit(make_chunk(self.seq, samples, entered_at));
                self.seq += 1;
            }
        }
    }

    fn emit_frame(&mut self, entered_at: Instant, emit: &mut impl FnMut(AudioChunk)) {
        let samples = std::mem::take(&mut self.frame);
        emit(make_chunk(self.seq, samples, entered_at));
        self.seq += 1;
    }
}

fn make_chunk(seq: u64, samples: Vec<i16>, entered_at: Instant) -> AudioChunk {
    AudioChunk {
        seq,
        level: dsp::level(&samples),
        samples,
        entered_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: u32, channels: u16, input: &[f32], piece: usize) -> Vec<AudioChunk> {
        let mut p = Processor::new(rate, channels).expect("processor");
        let mut chunks = Vec::new();
        let now = Instant::now();
        for part in input.chunks(piece) {
            p.push(part, now, &mut |c| chunks.push(c));
        }
        p.finish(now, &mut |c| chunks.push(c));
        chunks
    }

    #[test]
    fn stereo_48k_second_becomes_ten_numbered_chunks() {
        let input = vec![0.25_f32; 48_000 * 2];
        let chunks = run(48_000, 2, &input, 960);
        let total: usize = chunks.iter().map(|c| c.samples.len()).sum();
        assert!(total.abs_diff(16_000) <= 1, "{total}");
        assert!(chunks.len() >= 10);
        assert!(
            chunks[..10]
                .iter()
                .all(|c| c.samples.len() == CHUNK_SAMPLES)
        );
        let seqs: Vec<u64> = chunks.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, (0..chunks.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn constant_signal_keeps_its_level() {
        let input = vec![0.5_f32; 44_100 * 2];
        let chunks = run(44_100, 2, &input, 4_410);
        let mid = &chunks[5];
        assert!((mid.level.rms - 0.5).abs() < 0.01, "{:?}", mid.level);
        assert!(mid.samples.iter().all(|&s| (s - 16_384).abs() < 400));
    }

    #[test]
    fn short_tail_is_not_lost() {
        let input = vec![0.1_f32; 16_000 + 50];
        let chunks = run(16_000, 1, &input, 1_000);
        let total: usize = chunks.iter().map(|c| c.samples.len()).sum();
        assert_eq!(total, 16_050);
        assert_eq!(chunks.last().map(|c| c.samples.len()), Some(50));
    }
}
