//! Playing speech: mono s16 PCM at any rate through the default output
//! device with cpal, resampled (rubato, via [`StreamResampler`]) to the
//! device's own rate.
//!
//! The [`Player`] lives on one thread (a cpal stream may not move between
//! threads on some platforms) and feeds an SPSC ring (rtrb); the real-time
//! callback only reads that ring and a few atomics: no allocation, lock or
//! log there. [`CutSignal::cut`] may be called from any thread and silences
//! the current clip at the next callback, without waiting for the player's
//! thread. Device failures arrive as [`PlaybackError`], never as a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use super::resample::StreamResampler;

/// Seconds of device-rate audio the ring holds ahead of the device.
const RING_SECONDS: usize = 1;
/// Device buffer per callback period. The sound server holds two periods,
/// so this bounds how late a cut is heard (about 2 × 40 ms).
const PERIOD_MS: u32 = 40;
/// No callback for this long while audio waits means the device is gone.
const STALL: Duration = Duration::from_secs(2);
/// Pause while waiting for the device to make room or drain.
const POLL: Duration = Duration::from_millis(5);
/// Added to the reported device latency before a clip counts as heard.
const HEARD_MARGIN: Duration = Duration::from_millis(30);
/// Loudest allowed volume (2.0 = +6 dB; louder clips easily).
pub const MAX_VOLUME: f32 = 2.0;

/// Why playback could not start or went on failing.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    /// No output device at all.
    #[error(
        "no speaker or headphones found (is an output device connected, and is the sound server running?)"
    )]
    NoDevice,
    /// The device refused to open.
    #[error("cannot open the output device {device:?}: {detail}")]
    Open {
        /// The device.
        device: String,
        /// What the audio host said.
        detail: String,
    },
    /// The device failed while playing (unplugged, sound server gone).
    #[error("the output device {device:?} failed: {detail}")]
    Device {
        /// The device.
        device: String,
        /// What the audio host said.
        detail: String,
    },
    /// The device stopped asking for audio.
    #[error("the output device {device:?} stopped playing (no audio taken for {} s)", STALL.as_secs())]
    Stalled {
        /// The device.
        device: String,
    },
    /// The clip's sample rate cannot be converted.
    #[error("cannot play audio at {rate} Hz: {detail}")]
    Rate {
        /// The clip's rate.
        rate: u32,
        /// Why.
        detail: String,
    },
}

/// Silences whatever a [`Player`] is playing; cheap to clone and usable
/// from any thread.
#[derive(Clone, Default)]
pub struct CutSignal(Arc<AtomicU64>);

impl CutSignal {
    /// A signal not yet connected to a player.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cuts the current clip now: queued audio is dropped at the next
    /// device callback, and samples written for that clip afterwards are
    /// ignored until [`Player::begin`] starts another.
    pub fn cut(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    fn generation(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// State shared with the real-time callback: atomics only.
struct Shared {
    cut: CutSignal,
    /// The cut generation whose audio may sound; while it differs from the
    /// signal's, the callback drains the ring instead of playing it.
    accept: AtomicU64,
    /// Samples taken out of the ring (played or drained).
    consumed: AtomicU64,
    /// Callbacks so far: the device's heartbeat.
    callbacks: AtomicU64,
    /// Volume as f32 bits.
    volume: AtomicU32,
    /// Microseconds from the end of the last callback's audio being taken
    /// to it being heard (the device's buffering).
    latency_us: AtomicU64,
}

/// Plays clips of mono s16 PCM on the default output device.
pub struct Player {
    _stream: cpal::Stream,
    device: String,
    device_rate: u32,
    producer: rtrb::Producer<f32>,
    shared: Arc<Shared>,
    errors: Receiver<String>,
    /// The cut generation the current clip belongs to.
    clip: u64,
    resampler: Option<(u32, StreamResampler)>,
    /// Whether the resampler holds state from an unfinished clip.
    resampler_dirty: bool,
    /// Device-rate samples not yet in the ring.
    pending: Vec<f32>,
    pending_from: usize,
    scratch: Vec<f32>,
    pushed: u64,
    heartbeat: (u64, Instant),
}

impl Player {
    /// Opens the default output device; `cut` can later silence it from
    /// any thread.
    ///
    /// # Errors
    /// [`PlaybackError::NoDevice`] or [`PlaybackError::Open`].
    pub fn open(cut: CutSignal) -> Result<Self, PlaybackError> {
        let host = super::capture::host();
        let device = host
            .default_output_device()
            .ok_or(PlaybackError::NoDevice)?;
        let name = device.to_string();
        let open_err = |detail: String| PlaybackError::Open {
            device: name.clone(),
            detail,
        };
        let supported = device
            .default_output_config()
            .map_err(|e| open_err(e.to_string()))?;
        let device_rate = supported.sample_rate();
        let format = supported.sample_format();
        let mut config: cpal::StreamConfig = supported.into();
        // The default buffer of a PulseAudio stream is about 2 s: far too
        // late for a cut to be heard "at once".
        config.buffer_size = cpal::BufferSize::Fixed(device_rate * PERIOD_MS / 1000);

        let (producer, consumer) = rtrb::RingBuffer::new(device_rate as usize * RING_SECONDS);
        let shared = Arc::new(Shared {
            accept: AtomicU64::new(cut.generation()),
            cut,
            consumed: AtomicU64::new(0),
            callbacks: AtomicU64::new(0),
            volume: AtomicU32::new(1.0_f32.to_bits()),
            latency_us: AtomicU64::new(0),
        });
        let (err_tx, errors) = mpsc::channel();
        let on_error = move |e: cpal::Error| {
            // Glitches and reroutes are survivable; the rest ends playback.
            if !matches!(
                e.kind(),
                cpal::ErrorKind::Xrun
                    | cpal::ErrorKind::DeviceChanged
                    | cpal::ErrorKind::RealtimeDenied
            ) {
                let _ = err_tx.send(e.to_string());
            }
        };
        let cb = Callback {
            consumer,
            shared: Arc::clone(&shared),
            channels: usize::from(config.channels).max(1),
            rate: u64::from(device_rate.max(1)),
        };
        let stream = match format {
            SampleFormat::I16 => build::<i16>(&device, &config, cb, on_error),
            SampleFormat::I32 => build::<i32>(&device, &config, cb, on_error),
            SampleFormat::U8 => build::<u8>(&device, &config, cb, on_error),
            SampleFormat::U16 => build::<u16>(&device, &config, cb, on_error),
            SampleFormat::F32 => build::<f32>(&device, &config, cb, on_error),
            SampleFormat::F64 => build::<f64>(&device, &config, cb, on_error),
            other => return Err(open_err(format!("sample format {other} is not supported"))),
        }
        .map_err(|e| open_err(e.to_string()))?;
        stream.play().map_err(|e| open_err(e.to_string()))?;
        let clip = shared.cut.generation();
        Ok(Self {
            _stream: stream,
            device: name,
            device_rate,
            producer,
            shared,
            errors,
            clip,
            resampler: None,
            resampler_dirty: false,
            pending: Vec::new(),
            pending_from: 0,
            scratch: Vec::new(),
            pushed: 0,
            heartbeat: (0, Instant::now()),
        })
    }

    /// The device's name.
    pub fn device_name(&self) -> &str {
        &self.device
    }

    /// The device's sample rate.
    pub fn device_rate(&self) -> u32 {
        self.device_rate
    }

    /// Sets the volume, 0.0 (silent) to [`MAX_VOLUME`]; takes effect at the
    /// next callback, also in the middle of a clip.
    pub fn set_volume(&self, volume: f32) {
        let v = if volume.is_finite() {
            volume.clamp(0.0, MAX_VOLUME)
        } else {
            1.0
        };
        self.shared.volume.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Starts a new clip of `rate` Hz samples. After a cut this first waits
    /// for the device to drop what the cut clip left queued.
    ///
    /// # Errors
    /// [`PlaybackError::Rate`] for an unusable rate; device errors while
    /// waiting.
    pub fn begin(&mut self, rate: u32) -> Result<(), PlaybackError> {
        let generation = self.shared.cut.generation();
        if generation != self.shared.accept.load(Ordering::Acquire) {
            // The callback drains while `accept` is stale; it is empty once
            // it has consumed all we pushed (we push nothing meanwhile).
            self.heartbeat = (
                self.shared.callbacks.load(Ordering::Relaxed),
                Instant::now(),
            );
            while self.shared.consumed.load(Ordering::Acquire) < self.pushed {
                self.check_device()?;
                std::thread::sleep(POLL);
            }
            self.shared.accept.store(generation, Ordering::Release);
        }
        self.clip = generation;
        self.pending.clear();
        self.pending_from = 0;
        match &mut self.resampler {
            Some((r, resampler)) if *r == rate => {
                if self.resampler_dirty {
                    // Flushing resets it; the tail belongs to the cut clip.
                    self.scratch.clear();
                    resampler.flush(&mut self.scratch);
                }
            }
            _ => {
                let resampler = StreamResampler::new(rate, self.device_rate).map_err(|e| {
                    PlaybackError::Rate {
                        rate,
                        detail: e.to_string(),
                    }
                })?;
                self.resampler = Some((rate, resampler));
            }
        }
        self.resampler_dirty = false;
        Ok(())
    }

    /// Whether the current clip has been cut.
    pub fn is_cut(&self) -> bool {
        self.shared.cut.generation() != self.clip
    }

    /// Adds samples to the current clip (at the rate given to
    /// [`Player::begin`]). Never blocks: call [`Player::pump`] to move them
    /// to the device.
    pub fn write(&mut self, samples: &[i16]) {
        if self.is_cut() || samples.is_empty() {
            return;
        }
        self.compact_pending();
        let Some((_, resampler)) = self.resampler.as_mut() else {
            return;
        };
        self.scratch.clear();
        self.scratch
            .extend(samples.iter().map(|&s| f32::from(s) / 32_768.0));
        resampler.process(&self.scratch, &mut self.pending);
        self.resampler_dirty = true;
    }

    /// Ends the current clip: the resampler's tail joins the queue.
    pub fn end(&mut self) {
        if self.is_cut() {
            return;
        }
        self.compact_pending();
        let Some((_, resampler)) = self.resampler.as_mut() else {
            return;
        };
        resampler.flush(&mut self.pending);
        self.resampler_dirty = false;
    }

    /// Moves as much queued audio into the device's ring as fits; returns
    /// how many device-rate samples still wait outside it.
    ///
    /// # Errors
    /// [`PlaybackError::Device`] or [`PlaybackError::Stalled`].
    pub fn pump(&mut self) -> Result<usize, PlaybackError> {
        self.check_device()?;
        if self.is_cut() {
            self.pending.clear();
            self.pending_from = 0;
            return Ok(0);
        }
        let waiting = &self.pending[self.pending_from..];
        let room = self.producer.slots().min(waiting.len());
        if let Ok(chunk) = self.producer.write_chunk_uninit(room) {
            chunk.fill_from_iter(waiting[..room].iter().copied());
            self.pending_from += room;
            self.pushed += room as u64;
        }
        Ok(self.pending.len() - self.pending_from)
    }

    /// Whether everything written has gone to the device (or was cut).
    pub fn is_idle(&self) -> bool {
        self.pending_from == self.pending.len()
            && self.shared.consumed.load(Ordering::Acquire) >= self.pushed
    }

    /// How long after [`Player::is_idle`] turns true the last sample is
    /// heard: the sound server's and device's buffering, as the last
    /// callback reported it (at most a second).
    pub fn heard_after(&self) -> Duration {
        Duration::from_micros(self.shared.latency_us.load(Ordering::Relaxed))
            .min(Duration::from_secs(1))
    }

    /// Plays a whole clip and returns once it has been heard, or when it is
    /// cut; the player may be dropped right away without clipping the end.
    ///
    /// # Errors
    /// As [`Player::begin`] and [`Player::pump`].
    pub fn play(&mut self, samples: &[i16], rate: u32) -> Result<(), PlaybackError> {
        self.begin(rate)?;
        self.write(samples);
        self.end();
        while !self.is_cut() {
            self.pump()?;
            if self.is_idle() {
                std::thread::sleep(self.heard_after() + HEARD_MARGIN);
                break;
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Drops samples already moved to the ring from the front of `pending`,
    /// so it does not grow for the length of a clip.
    fn compact_pending(&mut self) {
        if self.pending_from > 0 {
            self.pending.drain(..self.pending_from);
            self.pending_from = 0;
        }
    }

    /// Fails on a reported device error, or when audio waits and the device
    /// has not called back for [`STALL`].
    fn check_device(&mut self) -> Result<(), PlaybackError> {
        if let Ok(detail) = self.errors.try_recv() {
            return Err(PlaybackError::Device {
                device: self.device.clone(),
                detail,
            });
        }
        let beats = self.shared.callbacks.load(Ordering::Relaxed);
        if beats != self.heartbeat.0 || self.is_idle() {
            self.heartbeat = (beats, Instant::now());
        } else if self.heartbeat.1.elapsed() > STALL {
            return Err(PlaybackError::Stalled {
                device: self.device.clone(),
            });
        }
        Ok(())
    }
}

/// The real-time side.
struct Callback {
    consumer: rtrb::Consumer<f32>,
    shared: Arc<Shared>,
    channels: usize,
    rate: u64,
}

impl Callback {
    /// Fills `out` (interleaved frames) from the ring; `latency` is how long
    /// until its first frame is heard. Real-time safe.
    fn fill<T: SizedSample + FromSample<f32>>(&mut self, out: &mut [T], latency: Duration) {
        let shared = &*self.shared;
        shared.callbacks.fetch_add(1, Ordering::Relaxed);
        let frames_us = (out.len() / self.channels) as u64 * 1_000_000 / self.rate;
        let latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        shared
            .latency_us
            .store(latency_us.saturating_add(frames_us), Ordering::Relaxed);
        let silence = T::from_sample(0.0_f32);
        let cut = shared.cut.generation() != shared.accept.load(Ordering::Acquire);
        let frames = out.len() / self.channels;
        let take = if cut {
            self.consumer.slots()
        } else {
            self.consumer.slots().min(frames)
        };
        let Ok(chunk) = self.consumer.read_chunk(take) else {
            out.fill(silence);
            return;
        };
        if cut {
            out.fill(silence);
        } else {
            let volume = f32::from_bits(shared.volume.load(Ordering::Relaxed));
            let (a, b) = chunk.as_slices();
            let mut samples = a.iter().chain(b);
            for frame in out.chunks_mut(self.channels) {
                let value = samples
                    .next()
                    .map_or(silence, |s| T::from_sample((s * volume).clamp(-1.0, 1.0)));
                frame.fill(value);
            }
        }
        chunk.commit_all();
        shared.consumed.fetch_add(take as u64, Ordering::AcqRel);
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut cb: Callback,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    device.build_output_stream(
        *config,
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            let ts = info.timestamp();
            cb.fill(data, ts.playback.duration_since(ts.callback));
        },
        on_error,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpal::Sample;

    fn callback(capacity: usize, channels: usize) -> (rtrb::Producer<f32>, Callback, CutSignal) {
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);
        let cut = CutSignal::new();
        let shared = Arc::new(Shared {
            accept: AtomicU64::new(cut.generation()),
            cut: cut.clone(),
            consumed: AtomicU64::new(0),
            callbacks: AtomicU64::new(0),
            volume: AtomicU32::new(1.0_f32.to_bits()),
            latency_us: AtomicU64::new(0),
        });
        (
            producer,
            Callback {
                consumer,
                shared,
                channels,
                rate: 1_000,
            },
            cut,
        )
    }

    #[test]
    fn mono_is_copied_to_every_channel_then_silence() {
        let (mut p, mut cb, _) = callback(16, 2);
        for s in [0.5, -0.25] {
            p.push(s).expect("room");
        }
        let mut out = [9.0_f32; 8];
        cb.fill(&mut out, Duration::from_millis(50));
        assert_eq!(out, [0.5, 0.5, -0.25, -0.25, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(cb.shared.consumed.load(Ordering::Relaxed), 2);
        // Heard after the device latency plus this buffer's 4 frames at 1 kHz.
        assert_eq!(cb.shared.latency_us.load(Ordering::Relaxed), 54_000);
    }

    #[test]
    fn volume_scales_and_clips() {
        let (mut p, mut cb, _) = callback(16, 1);
        cb.shared.volume.store(2.0_f32.to_bits(), Ordering::Relaxed);
        for s in [0.25, 0.75] {
            p.push(s).expect("room");
        }
        let mut out = [0_i16; 2];
        cb.fill(&mut out, Duration::ZERO);
        assert_eq!(out[0], i16::from_sample(0.5_f32));
        assert_eq!(out[1], i16::MAX, "clipped, not wrapped");
    }

    #[test]
    fn a_cut_drains_the_ring_and_plays_silence() {
        let (mut p, mut cb, cut) = callback(64, 1);
        for _ in 0..40 {
            p.push(0.5).expect("room");
        }
        cut.cut();
        let mut out = [1.0_f32; 4];
        cb.fill(&mut out, Duration::ZERO);
        assert_eq!(out, [0.0; 4]);
        assert_eq!(
            cb.shared.consumed.load(Ordering::Relaxed),
            40,
            "everything queued is dropped in one callback"
        );
        // Samples written after the cut, before a new clip is accepted, are dropped too.
        p.push(0.5).expect("room");
        cb.fill(&mut out, Duration::ZERO);
        assert_eq!(out, [0.0; 4]);
        // A new clip accepted: audio plays again.
        cb.shared.accept.store(cut.generation(), Ordering::Release);
        p.push(0.5).expect("room");
        cb.fill(&mut out, Duration::ZERO);
        assert_eq!(out[0], 0.5);
    }

    #[test]
    fn unsigned_silence_is_the_midpoint() {
        let (_p, mut cb, _) = callback(4, 1);
        let mut out = [0_u16; 2];
        cb.fill(&mut out, Duration::ZERO);
        assert_eq!(out, [u16::from_sample(0.0_f32); 2]);
        assert_ne!(out[0], 0);
    }
}
