//! Streaming conversion of mono audio at any rate to 16 kHz with rubato.
//!
//! rubato's FFT resampler works on fixed-size input chunks and delays its
//! output by a fixed number of frames; this wrapper accepts any amount of
//! input, trims the start-up delay so output time lines up with input time,
//! and flushes the tail at the end, so exactly `len × ratio` samples come out.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// Why a resampler could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot resample {from} Hz to {to} Hz: {detail}")]
pub struct ResampleError {
    from: u32,
    to: u32,
    detail: String,
}

/// Converts a mono stream from one fixed rate to another.
pub struct StreamResampler {
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    count: Counts,
    ratio: f64,
}

/// Bookkeeping that keeps output aligned with input.
#[derive(Default)]
struct Counts {
    /// Output frames still to drop: rubato's start-up delay.
    to_skip: usize,
    consumed: u64,
    produced: u64,
}

impl Counts {
    /// Appends the useful part of `scratch[..n]` to `out`, at most `limit` frames.
    fn emit(&mut self, scratch: &[f32], n: usize, limit: u64, out: &mut Vec<f32>) {
        let skip = self.to_skip.min(n);
        self.to_skip -= skip;
        let take = (n - skip).min(usize::try_from(limit).unwrap_or(usize::MAX));
        out.extend_from_slice(&scratch[skip..skip + take]);
        self.produced += take as u64;
    }
}

/// Output FFT length aimed for. rubato's FFT sizes are multiples of the
/// rates' reduced ratio; left to itself it picked 321 → 107 for 48 → 16 kHz,
/// and a prime-length FFT ran 825× real time instead of the 1000× target.
const TARGET_FFT_OUT: usize = 256;

/// Input frames per rubato chunk: a whole number of the reduced ratio's
/// input units, chosen so the output FFT is about [`TARGET_FFT_OUT`] long
/// and, where the ratio allows, a power of two.
fn chunk_frames(from: u32, to: u32) -> usize {
    let gcd = gcd(from, to);
    let (unit_in, unit_out) = ((from / gcd) as usize, (to / gcd) as usize);
    let units = (TARGET_FFT_OUT / unit_out).max(1).next_power_of_two();
    let units = if units * unit_out > 2 * TARGET_FFT_OUT {
        units / 2
    } else {
        units
    }
    .max(1);
    units * unit_in
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Most zero-padded chunks a flush may need; a guard against a runaway loop.
const MAX_FLUSH_CHUNKS: usize = 64;

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz. Equal rates pass through.
    ///
    /// # Errors
    /// When a rate is zero or rubato refuses the pair.
    pub fn new(from: u32, to: u32) -> Result<Self, ResampleError> {
        let err = |detail: String| ResampleError { from, to, detail };
        if from == 0 || to == 0 {
            return Err(err("sample rate must be above zero".into()));
        }
        let inner = if from == to {
            None
        } else {
            let chunk = chunk_frames(from, to);
            Some(
                Fft::<f32>::new_custom(
                    from as usize,
                    to as usize,
                    chunk,
                    1,
                    1,
                    WindowFunction::BlackmanHarris2,
                    FixedSync::Input,
                )
                .map_err(|e| err(e.to_string()))?,
            )
        };
        let count = Counts {
            to_skip: inner.as_ref().map_or(0, Resampler::output_delay),
            ..Counts::default()
        };
        let scratch = vec![0.0; inner.as_ref().map_or(0, Resampler::output_frames_max)];
        Ok(Self {
            inner,
            pending: Vec::new(),
            scratch,
            count,
            ratio: f64::from(to) / f64::from(from),
        })
    }

    /// Feeds `input`; appends whatever output is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.count.consumed += input.len() as u64;
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            self.count.produced += input.len() as u64;
            return;
        };
        self.pending.extend_from_slice(input);
        let mut start = 0;
        loop {
            let need = inner.input_frames_next();
            if self.pending.len() - start < need {
                break;
            }
            let n = run_chunk(inner, &self.pending[start..start + need], &mut self.scratch);
            start += need;
            self.count.emit(&self.scratch, n, u64::MAX, out);
        }
        self.pending.drain(..start);
    }

    /// Flushes the tail at the end of the stream so that every input sample
    /// is represented in the output (and no padding is); the resampler can
    /// then be used for a new stream.
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        let Some(inner) = self.inner.as_mut() else {
            self.count = Counts::default();
            return;
        };
        // Rounded, as the output is due for every consumed input sample.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let expected = (self.count.consumed as f64 * self.ratio).round() as u64;
        for _ in 0..MAX_FLUSH_CHUNKS {
            if self.count.produced >= expected {
                break;
            }
            // After `process`, fewer samples than one chunk are pending: pad with silence.
            self.pending.resize(inner.input_frames_next(), 0.0);
            let n = run_chunk(inner, &self.pending, &mut self.scratch);
            self.pending.clear();
            let room = expected - self.count.produced;
            self.count.emit(&self.scratch, n, room, out);
        }
        inner.reset();
        self.pending.clear();
        self.count = Counts {
            to_skip: inner.output_delay(),
            ..Counts::default()
        };
    }
}

/// Runs one rubato chunk into `scratch`; returns the frames written.
fn run_chunk(inner: &mut Fft<f32>, input: &[f32], scratch: &mut [f32]) -> usize {
    let frames_out = scratch.len();
    let (Ok(buf_in), Ok(mut buf_out)) = (
        InterleavedSlice::new(input, 1, input.len()),
        InterleavedSlice::new_mut(scratch, 1, frames_out),
    ) else {
        return 0;
    };
    // Sizes come from the resampler itself, so processing cannot fail on them.
    inner
        .process_into_buffer(&buf_in, &mut buf_out, None)
        .map_or(0, |(_, written)| written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let n = (rate as f32 * secs) as usize;
        #[allow(clippy::cast_precision_loss)]
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    fn resample_all(input: &[f32], from: u32, piece: usize) -> Vec<f32> {
        let mut r = StreamResampler::new(from, 16_000).expect("resampler");
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            r.process(chunk, &mut out);
        }
        r.flush(&mut out);
        out
    }

    /// Estimates the frequency of a clean sine by counting zero crossings.
    fn frequency(samples: &[f32], rate: u32) -> f32 {
        let crossings = samples
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        #[allow(clippy::cast_precision_loss)]
        let f = crossings as f32 * rate as f32 / samples.len() as f32;
        f
    }

    #[test]
    fn output_length_matches_the_rate_ratio() {
        for (rate, piece) in [(48_000, 480), (44_100, 1_000), (22_050, 77), (8_000, 333)] {
            let input = sine(440.0, rate, 1.0);
            let out = resample_all(&input, rate, piece);
            let expected = 16_000_i64;
            let got = i64::try_from(out.len()).expect("fits");
            assert!(
                (got - expected).abs() <= 1,
                "{rate} Hz: {got} samples, want {expected}"
            );
        }
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_amplitude() {
        for rate in [48_000, 44_100, 8_000] {
            let out = resample_all(&sine(440.0, rate, 1.0), rate, 512);
            let middle = &out[2_000..14_000];
            let f = frequency(middle, 16_000);
            assert!((f - 440.0).abs() < 5.0, "{rate} Hz: measured {f} Hz");
            let peak = middle.iter().fold(0.0_f32, |m, s| m.max(s.abs()));
            assert!((peak - 0.5).abs() < 0.02, "{rate} Hz: peak {peak}");
        }
    }

    #[test]
    fn output_is_aligned_in_time_with_the_input() {
        // A click at 0.5 s must come out at 0.5 s: the start-up delay is trimmed.
        let mut input = vec![0.0_f32; 48_000];
        input[24_000] = 1.0;
        let out = resample_all(&input, 48_000, 960);
        let at = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i)
            .expect("non-empty");
        assert!(at.abs_diff(8_000) <= 2, "click at sample {at}, want 8000");
    }

    #[test]
    fn frequencies_above_the_new_nyquist_are_removed() {
        let out = resample_all(&sine(12_000.0, 48_000, 0.5), 48_000, 480);
        let rms = (out[1_000..7_000].iter().map(|s| s * s).sum::<f32>() / 6_000.0).sqrt();
        assert!(rms < 0.01, "aliased energy left: rms {rms}");
    }

    #[test]
    fn equal_rates_pass_through() {
        let input = sine(300.0, 16_000, 0.1);
        assert_eq!(resample_all(&input, 16_000, 100), input);
    }

    #[test]
    fn chunks_give_fft_friendly_sizes() {
        assert_eq!(chunk_frames(48_000, 16_000), 768); // FFT 768 → 256
        assert_eq!(chunk_frames(44_100, 16_000), 441); // 441 → 160, the smallest exact unit
        assert_eq!(chunk_frames(8_000, 16_000), 128); // 128 → 256
        assert_eq!(chunk_frames(96_000, 16_000), 1_536);
    }

    #[test]
    fn zero_rate_is_refused_with_a_clear_error() {
        let err = StreamResampler::new(0, 16_000).err().expect("must fail");
        assert!(err.to_string().contains("0 Hz"), "{err}");
    }

    #[test]
    fn reusable_after_flush() {
        let mut r = StreamResampler::new(48_000, 16_000).expect("resampler");
        for _ in 0..2 {
            let mut out = Vec::new();
            r.process(&sine(440.0, 48_000, 0.25), &mut out);
            r.flush(&mut out);
            assert!(out.len().abs_diff(4_000) <= 1, "got {}", out.len());
        }
    }
}
