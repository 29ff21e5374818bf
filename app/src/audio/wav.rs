//! WAV files as an audio source: decoded with hound (any PCM or float format,
//! any rate and channel count) and fed into the ring at real-time pace or as
//! fast as the pipeline takes them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ring::RingWriter;

/// A decoded WAV file: interleaved f32 samples.
#[derive(Debug, Clone)]
pub struct WavAudio {
    /// Samples, interleaved.
    pub samples: Vec<f32>,
    /// Frames per second.
    pub sample_rate: u32,
    /// Channels per frame.
    pub channels: u16,
}

impl WavAudio {
    /// Length in seconds.
    pub fn duration(&self) -> Duration {
        let frames = self.samples.len() / usize::from(self.channels.max(1));
        Duration::from_secs_f64(frames as f64 / f64::from(self.sample_rate.max(1)))
    }
}

/// Why a WAV file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a WAV file hound can decode.
    #[error("{path} is not a readable WAV file: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },
}

/// Reads and decodes the whole file.
///
/// # Errors
/// [`WavError`] naming the file and the problem.
pub fn read(path: &Path) -> Result<WavAudio, WavError> {
    let file = std::fs::File::open(path).map_err(|source| WavError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode(std::io::BufReader::new(file), path)
}

/// Decodes WAV bytes from `input` (`path` names them in errors).
///
/// # Errors
/// [`WavError`] naming the file and the problem.
pub fn decode(input: impl std::io::Read, path: &Path) -> Result<WavAudio, WavError> {
    let format_err = |detail: String| WavError::Format {
        path: path.to_owned(),
        detail,
    };
    let reader = hound::WavReader::new(input).map_err(|e| match e {
        hound::Error::IoError(source) => WavError::Io {
            path: path.to_owned(),
            source,
        },
        other => format_err(other.to_string()),
    })?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(format_err("zero channels or sample rate".into()));
    }
    let samples: Result<Vec<f32>, hound::Error> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect(),
        hound::SampleFormat::Int => {
            // Full scale of an n-bit integer; bits are at most 32, so this is exact enough.
            #[allow(clippy::cast_precision_loss)]
            let scale = 1.0 / (1_i64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            #[allow(clippy::cast_precision_loss)]
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect()
        }
    };
    let samples = samples.map_err(|e| format_err(e.to_string()))?;
    Ok(WavAudio {
        samples,
        sample_rate: spec.sample_rate,
        channels: spec.channels,
    })
}

/// Feeds `audio` into the ring, in 10 ms blocks. With `realtime`, paced like
/// a microphone; otherwise as fast as the ring drains (never overflowing:
/// a file can wait, a microphone cannot). Stops early when `stop()` is true.
pub fn feed(audio: &WavAudio, realtime: bool, writer: &mut RingWriter, stop: &dyn Fn() -> bool) {
    let channels = usize::from(audio.channels.max(1));
    let block = (audio.sample_rate as usize / 100).max(1) * channels;
    let started = Instant::now();
    let mut sent_frames = 0_usize;
    for piece in audio.samples.chunks(block) {
        if stop() {
            return;
        }
        if realtime {
            let due = Duration::from_secs_f64(sent_frames as f64 / f64::from(audio.sample_rate));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let mut rest = piece;
        while !rest.is_empty() {
            let room = writer.free().min(rest.len());
            if room == 0 {
                if stop() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            writer.push(&rest[..room]);
            rest = &rest[room..];
        }
        sent_frames += piece.len() / channels;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, spec: hound::WavSpec, samples: &[i16]) {
        let mut w = hound::WavWriter::create(path, spec).expect("create");
        for &s in samples {
            w.write_sample(s).expect("write");
        }
        w.finalize().expect("finalize");
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("tonnytray-wav-{}-{name}", std::process::id()))
    }

    #[test]
    fn decodes_16_bit_stereo() {
        let path = temp("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        write_wav(&path, spec, &[16_384, -16_384, 0, 32_767]);
        let audio = read(&path).expect("reads");
        std::fs::remove_file(&path).ok();
        assert_eq!(audio.channels, 2);
        assert_eq!(audio.sample_rate, 44_100);
        assert_eq!(audio.samples.len(), 4);
        assert!((audio.samples[0] - 0.5).abs() < 1e-4);
        assert!((audio.samples[1] + 0.5).abs() < 1e-4);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read(Path::new("/nonexistent/speech.wav")).expect_err("must fail");
        assert!(matches!(err, WavError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/speech.wav"), "{err}");
    }

    #[test]
    fn non_wav_file_is_a_format_error() {
        let path = temp("notes.wav");
        std::fs::write(&path, b"this is not audio at all").expect("write");
        let err = read(&path).expect_err("must fail");
        std::fs::remove_file(&path).ok();
        assert!(matches!(err, WavError::Format { .. }), "{err:?}");
        assert!(err.to_string().contains("not a readable WAV"), "{err}");
    }

    #[test]
    fn feed_never_overflows_a_small_ring() {
        let audio = WavAudio {
            samples: (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect(),
            sample_rate: 16_000,
            channels: 1,
        };
        let (mut w, mut r) = super::super::ring::ring(500);
        let reader = crate::runtime::thread::spawn("test-ring-reader", move || {
            let mut got = Vec::new();
            while !r.is_finished() {
                r.read_into(1, &mut got);
                std::thread::yield_now();
            }
            (got, r.take_overflow())
        })
        .expect("spawn");
        feed(&audio, false, &mut w, &|| false);
        drop(w);
        let (got, overflow) = reader.join().expect("reader");
        assert_eq!(overflow, 0);
        assert_eq!(got, audio.samples);
    }
}
