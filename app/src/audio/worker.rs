//! The `audio` thread: opens the source, drains the ring buffer, runs the
//! [`Processor`] and hands chunks to the `asr` thread. When the source ends
//! (file done, stop requested, device lost) it flushes the last samples and
//! sends [`AsrInput::EndOfStream`], so the final words are never cut off.
//! A microphone that stops mid-utterance (unplugged, its PulseAudio source
//! unloaded) is replaced by the default input when there is one: what the
//! lost one delivered is flushed first, and the utterance goes on.

use crate::telemetry::metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::capture::{self, Capture};
use super::processor::Processor;
use super::ring::{RingReader, ring};
use super::vad::{Gate, GateOutput, VadConfig};
use super::wav::{self, WavAudio};
use crate::messages::{AsrInput, FailureKind, PipelineEvent};

/// How often the thread looks into the ring when it is empty. Callbacks come
/// every 10–130 ms, so 10 ms adds little latency and almost no CPU.
const POLL: Duration = Duration::from_millis(10);
/// How many times one utterance may move to the default input after its
/// microphone stopped (a default that keeps failing ends it).
const MAX_FALLBACKS: u32 = 2;
/// How often, while recording, the thread checks that the microphone is
/// still there (a sound server moves the stream silently when it is not).
const DEVICE_CHECK: Duration = Duration::from_secs(2);

/// Where the audio comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A microphone: the default input, or the named device.
    Microphone {
        /// Device name (exact, or a case-insensitive part of it).
        device: Option<String>,
        /// Voice activation: send nothing until speech starts, and end the
        /// utterance when it stops. `None` sends everything.
        gate: Option<VadConfig>,
    },
    /// A decoded WAV file.
    Wav {
        /// Shown in progress messages.
        path: PathBuf,
        /// The audio.
        audio: Arc<WavAudio>,
        /// Pace like a live microphone.
        realtime: bool,
        /// Voice activation, as for a microphone (the core's lifecycle
        /// tests run it on a file). `None` sends everything.
        gate: Option<VadConfig>,
    },
}

/// What the thread holds to keep its source running.
enum Running {
    Mic(Capture),
    File(JoinHandle<()>),
}

/// Starts the `audio` thread. Setting `stop` ends the source; the thread
/// then flushes and exits.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn(
    source: Source,
    stop: Arc<AtomicBool>,
    asr: SyncSender<AsrInput>,
    events: SyncSender<PipelineEvent>,
) -> std::io::Result<JoinHandle<()>> {
    crate::runtime::thread::spawn("audio", move || run(source, &stop, &asr, &events))
}

fn run(
    source: Source,
    stop: &Arc<AtomicBool>,
    asr: &SyncSender<AsrInput>,
    events: &SyncSender<PipelineEvent>,
) {
    let mut gate = match &source {
        Source::Microphone { gate, .. } | Source::Wav { gate, .. } => gate.map(Gate::new),
    };
    let allows_fallback = matches!(source, Source::Microphone { .. });
    let Some((running, mut input)) = begin(source, stop, events) else {
        return;
    };
    let mut running = Some(running);
    let mut buf = Vec::new();
    let mut fallbacks_left = MAX_FALLBACKS;
    let mut presence = Presence::default();
    let speech_ended = std::cell::Cell::new(false);
    let mut to_asr = |chunk: crate::messages::AudioChunk| {
        // Levels are for display: skipped when the receiver is behind.
        let _ = events.try_send(PipelineEvent::Level(chunk.level));
        // Blocking sends: a slow consumer backs up into the ring, where loss is counted.
        let send = |chunk| {
            metrics::audio_frames(1);
            let _ = asr.send(AsrInput::Audio(chunk));
        };
        let Some(g) = gate.as_mut() else {
            send(chunk);
            return;
        };
        match g.push(chunk) {
            GateOutput::Hold => {}
            GateOutput::Opened(chunks) => {
                let _ = events.send(PipelineEvent::SpeechStarted);
                chunks.into_iter().for_each(send);
            }
            GateOutput::Pass(chunk) => send(chunk),
            GateOutput::Closed(chunk) => {
                send(chunk);
                // The utterance is over: what is left of the stream goes out as it is.
                gate = None;
                speech_ended.set(true);
                let _ = events.send(PipelineEvent::SpeechEnded);
            }
        }
    };
    loop {
        if speech_ended.get() {
            stop.store(true, Ordering::Relaxed);
        }
        if stop.load(Ordering::Relaxed) {
            // Dropping the capture stops the stream and abandons the ring's writer.
            if let Some(Running::Mic(_)) = running {
                tracing::debug!("stopping capture");
                running = None;
                tracing::debug!("capture stopped");
            }
        }
        if let Some(Running::Mic(capture)) = &running
            && let Ok(error) = capture.errors.try_recv()
        {
            let lost = format!("microphone {:?} stopped: {error}", capture.name);
            // The dead stream is closed before another is opened.
            drop(running.take());
            let allowed = allows_fallback && fallbacks_left > 0 && !stop.load(Ordering::Relaxed);
            fallbacks_left = fallbacks_left.saturating_sub(1);
            running = replace_lost_mic(lost, allowed, &mut input, &mut buf, &mut to_asr, events);
        }
        if let Some(Running::Mic(capture)) = &running {
            presence.check(capture, events);
        }
        let n = input.read_some(&mut buf, &mut to_asr);
        let overflow = input.reader.take_overflow();
        if overflow > 0 {
            metrics::audio_overflows(1);
            let _ = events.send(PipelineEvent::Overflow { samples: overflow });
        }
        if n == 0 {
            if input.reader.is_finished() || running.is_none() {
                break;
            }
            std::thread::park_timeout(POLL);
        }
    }
    // Whatever the writer left (a mic stopped mid-callback) is still read above;
    // now flush the resampler so the last words go out.
    input.finish(&mut to_asr);
    let _ = asr.send(AsrInput::EndOfStream);
    tracing::debug!("audio flushed; end of stream");
    if let Some(Running::File(feeder)) = running {
        let _ = feeder.join();
    }
}

/// Opens the source and its processor, and says so; a failure is
/// reported and ends the pipeline.
fn begin(
    source: Source,
    stop: &Arc<AtomicBool>,
    events: &SyncSender<PipelineEvent>,
) -> Option<(Running, Input)> {
    let failed = |message| {
        let _ = events.send(PipelineEvent::Failed(FailureKind::Audio, message));
    };
    let (running, reader, name, rate, channels) = match start(source, stop) {
        Ok(started) => started,
        Err(message) => {
            failed(message);
            return None;
        }
    };
    let processor = match Processor::new(rate, channels) {
        Ok(p) => p,
        Err(e) => {
            failed(e.to_string());
            return None;
        }
    };
    let _ = events.send(PipelineEvent::SourceStarted {
        name,
        sample_rate: rate,
        channels,
    });
    Some((
        running,
        Input {
            reader,
            processor,
            channels,
        },
    ))
}

/// A microphone stopped: the default input takes over when `allowed` and
/// possible (the user is told, the utterance goes on); otherwise the
/// utterance ends with what was heard.
fn replace_lost_mic(
    lost: String,
    allowed: bool,
    input: &mut Input,
    buf: &mut Vec<f32>,
    to_asr: &mut impl FnMut(crate::messages::AudioChunk),
    events: &SyncSender<PipelineEvent>,
) -> Option<Running> {
    let next = if allowed {
        fall_back(input, buf, to_asr)
    } else {
        Err("no more microphones to try".into())
    };
    match next {
        Ok(capture) => {
            tracing::info!(now = %capture.name, "{lost}; switched to the default input");
            let _ = events.send(PipelineEvent::DeviceChanged {
                lost,
                now: capture.name.clone(),
            });
            Some(Running::Mic(capture))
        }
        Err(why) => {
            tracing::warn!("{lost}; no other input: {why}");
            let _ = events.send(PipelineEvent::DeviceLost(lost));
            None
        }
    }
}

/// Watches that the microphone being recorded is still there.
#[derive(Default)]
struct Presence {
    checked: Option<Instant>,
    /// The id of a device already reported gone.
    reported: Option<String>,
    /// The answer of the check running on a `mic-check` thread.
    pending: Option<Receiver<MicCheck>>,
}

/// A `mic-check` thread's answer: the device id asked about, whether it is
/// there (`None`: cannot tell), the default input's name.
type MicCheck = (String, Option<bool>, Option<String>);

impl Presence {
    /// Every [`DEVICE_CHECK`]: when the device is gone the sound server
    /// has moved the stream to its default input (nothing is lost); the
    /// user is told once which input is heard now. Listing devices means
    /// connecting to the sound server (which can take seconds), so it runs
    /// on a one-off `mic-check` thread and this thread only looks for its
    /// answer: the ring must be drained meanwhile.
    fn check(&mut self, capture: &Capture, events: &SyncSender<PipelineEvent>) {
        if let Some(answer) = &self.pending {
            match answer.try_recv() {
                Ok((id, present, default)) => {
                    self.pending = None;
                    if present == Some(false)
                        && id == capture.id
                        && self.reported.as_deref() != Some(id.as_str())
                    {
                        self.reported = Some(id);
                        let now = default.unwrap_or_else(|| "the default input".into());
                        let short = capture
                            .id
                            .split_once(':')
                            .map_or(capture.id.as_str(), |(_, s)| s);
                        let lost = format!("microphone {:?} ({short}) was removed", capture.name);
                        tracing::info!(now, "{lost}; the sound server moved the recording");
                        let _ = events.send(PipelineEvent::DeviceChanged { lost, now });
                    }
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => self.pending = None,
            }
        }
        if self.checked.is_some_and(|t| t.elapsed() < DEVICE_CHECK)
            || self.reported.as_deref() == Some(capture.id.as_str())
        {
            return;
        }
        self.checked = Some(Instant::now());
        let (tx, rx) = mpsc::channel();
        let id = capture.id.clone();
        let started = crate::runtime::thread::spawn("mic-check", move || {
            let present = capture::input_present(&id);
            let _ = tx.send((id, present, capture::default_input_name()));
        });
        if started.is_ok() {
            self.pending = Some(rx);
        }
    }
}

/// The live input: replaced whole when a lost microphone is.
struct Input {
    reader: RingReader,
    processor: Processor,
    channels: u16,
}

impl Input {
    /// Moves what the ring holds now through the processor; returns how
    /// many samples that was (0: nothing waiting).
    fn read_some(
        &mut self,
        buf: &mut Vec<f32>,
        to_asr: &mut impl FnMut(crate::messages::AudioChunk),
    ) -> usize {
        buf.clear();
        let n = self.reader.read_into(usize::from(self.channels), buf);
        if n > 0 {
            let at = self.reader.newest_entered_at().unwrap_or_else(Instant::now);
            self.processor.push(buf, at, to_asr);
        }
        n
    }

    /// Flushes the processor, so the last samples go out.
    fn finish(&mut self, to_asr: &mut impl FnMut(crate::messages::AudioChunk)) {
        let at = self.reader.newest_entered_at().unwrap_or_else(Instant::now);
        self.processor.finish(at, to_asr);
    }
}

/// Opens the default input in place of a lost microphone. What the lost
/// one delivered goes out first, through the processor made for its
/// format (rate and channels may differ).
fn fall_back(
    input: &mut Input,
    buf: &mut Vec<f32>,
    to_asr: &mut impl FnMut(crate::messages::AudioChunk),
) -> Result<Capture, String> {
    let (capture, reader) = capture::open(None).map_err(|e| e.to_string())?;
    let processor =
        Processor::new(capture.sample_rate, capture.channels).map_err(|e| e.to_string())?;
    while input.read_some(buf, to_asr) > 0 {}
    input.finish(to_asr);
    *input = Input {
        reader,
        processor,
        channels: capture.channels,
    };
    Ok(capture)
}

type Started = (Running, RingReader, String, u32, u16);

fn start(source: Source, stop: &Arc<AtomicBool>) -> Result<Started, String> {
    match source {
        Source::Microphone { device, .. } => {
            let (capture, reader) = capture::open(device.as_deref()).map_err(|e| e.to_string())?;
            let (name, rate, ch) = (capture.name.clone(), capture.sample_rate, capture.channels);
            Ok((Running::Mic(capture), reader, name, rate, ch))
        }
        Source::Wav {
            path,
            audio,
            realtime,
            ..
        } => {
            let rate = audio.sample_rate;
            let channels = audio.channels;
            let frames_per_sec = rate as usize * usize::from(channels);
            let (mut writer, reader) = ring(frames_per_sec);
            let stop = Arc::clone(stop);
            let feeder = crate::runtime::thread::spawn("wav-feeder", move || {
                wav::feed(&audio, realtime, &mut writer, &|| {
                    stop.load(Ordering::Relaxed)
                });
            })
            .map_err(|e| format!("cannot start the file reader: {e}"))?;
            Ok((
                Running::File(feeder),
                reader,
                path.display().to_string(),
                rate,
                channels,
            ))
        }
    }
}
