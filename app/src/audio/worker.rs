//! The `audio` thread: opens the source, drains the ring buffer, runs the
//! [`Processor`] and hands chunks to the `asr` thread. When the source ends
//! (file done, stop requested, device lost) it flushes the last samples and
//! sends [`AsrInput::EndOfStream`], so the final words are never cut off.

use crate::telemetry::metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
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
    let (running, mut reader, name, rate, channels) = match start(source, stop) {
        Ok(started) => started,
        Err(message) => {
            let _ = events.send(PipelineEvent::Failed(FailureKind::Audio, message));
            return;
        }
    };
    let mut processor = match Processor::new(rate, channels) {
        Ok(p) => p,
        Err(e) => {
            let _ = events.send(PipelineEvent::Failed(FailureKind::Audio, e.to_string()));
            return;
        }
    };
    let _ = events.send(PipelineEvent::SourceStarted {
        name,
        sample_rate: rate,
        channels,
    });
    let mut running = Some(running);
    let mut buf = Vec::new();
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
            let _ = events.send(PipelineEvent::DeviceLost(format!(
                "microphone {:?} stopped: {error}",
                capture.name
            )));
            running = None;
        }
        buf.clear();
        let n = reader.read_into(usize::from(channels), &mut buf);
        let overflow = reader.take_overflow();
        if overflow > 0 {
            metrics::audio_overflows(1);
            let _ = events.send(PipelineEvent::Overflow { samples: overflow });
        }
        if n > 0 {
            let at = reader.newest_entered_at().unwrap_or_else(Instant::now);
            processor.push(&buf, at, &mut to_asr);
        } else if reader.is_finished() || running.is_none() {
            break;
        } else {
            std::thread::park_timeout(POLL);
        }
    }
    // Whatever the writer left (a mic stopped mid-callback) is still read above;
    // now flush the resampler so the last words go out.
    let at = reader.newest_entered_at().unwrap_or_else(Instant::now);
    processor.finish(at, &mut to_asr);
    let _ = asr.send(AsrInput::EndOfStream);
    tracing::debug!("audio flushed; end of stream");
    if let Some(Running::File(feeder)) = running {
        let _ = feeder.join();
    }
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
