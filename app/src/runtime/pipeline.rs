//! Starts and stops the dictation pipeline's threads and owns their channels:
//!
//! ```text
//! source ─ring─▶ audio thread ─AsrInput (bounded)─▶ asr thread ─WebSocket─▶ WhisperLiveKit
//!                     └────────────── PipelineEvent (bounded) ──────────────▶ caller
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::asr::worker::{self, AsrWorkerConfig, FrameObserver};
use crate::audio::worker::{self as audio_worker, Source};
use crate::messages::{AsrInput, PipelineEvent};

/// Chunks (100 ms each) queued for the `asr` thread: 6.4 s of slack before
/// the audio thread waits and the ring starts to fill.
const ASR_INBOX: usize = 64;
/// Events queued for the caller; live transcript updates beyond this are
/// skipped (a newer one follows), other events wait.
const EVENTS: usize = 256;

/// A running pipeline for one utterance (or one listening session).
pub struct Pipeline {
    events: Option<Receiver<PipelineEvent>>,
    stop: Arc<AtomicBool>,
    inbox: SyncSender<AsrInput>,
    audio: Option<JoinHandle<()>>,
    asr: Option<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the `audio` and `asr` threads.
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn start(
        source: Source,
        asr: AsrWorkerConfig,
        observer: Option<FrameObserver>,
    ) -> std::io::Result<Self> {
        let (inbox, inbox_rx) = mpsc::sync_channel(ASR_INBOX);
        let (events_tx, events) = mpsc::sync_channel(EVENTS);
        let stop = Arc::new(AtomicBool::new(false));
        let asr = worker::spawn(asr, inbox_rx, inbox.clone(), events_tx.clone(), observer)?;
        Self::with_audio(source, inbox, (events_tx, events), stop, Some(asr))
    }

    /// Only the `audio` thread, for a level meter: the microphone opens and
    /// its levels are reported as [`PipelineEvent::Level`]; the audio goes
    /// nowhere (no server is contacted).
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn monitor(device: Option<String>) -> std::io::Result<Self> {
        // Nobody receives: the audio thread's hand-offs fail at once.
        let (inbox, _) = mpsc::sync_channel(1);
        let (events_tx, events) = mpsc::sync_channel(EVENTS);
        let stop = Arc::new(AtomicBool::new(false));
        let source = Source::Microphone { device, gate: None };
        Self::with_audio(source, inbox, (events_tx, events), stop, None)
    }

    /// Starts the `audio` thread and assembles the pipeline around it.
    fn with_audio(
        source: Source,
        inbox: SyncSender<AsrInput>,
        (events_tx, events): (SyncSender<PipelineEvent>, Receiver<PipelineEvent>),
        stop: Arc<AtomicBool>,
        asr: Option<JoinHandle<()>>,
    ) -> std::io::Result<Self> {
        let audio = audio_worker::spawn(source, Arc::clone(&stop), inbox.clone(), events_tx)?;
        Ok(Self {
            events: Some(events),
            stop,
            inbox,
            audio: Some(audio),
            asr,
        })
    }

    /// Progress and results.
    pub fn events(&self) -> &Receiver<PipelineEvent> {
        // Only `stop_all` takes the receiver, and it consumes the pipeline.
        self.events
            .as_ref()
            .unwrap_or_else(|| unreachable!("events taken before shutdown"))
    }

    /// Ends the source (stops the microphone or the file); the pipeline
    /// then flushes and reports [`PipelineEvent::Finished`].
    pub fn stop_source(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(audio) = &self.audio {
            audio.thread().unpark();
        }
    }

    /// Stops everything now and waits for the threads.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        // Nobody reads events any more: dropping the receiver lets a thread
        // blocked on reporting one move on to its shutdown.
        self.events = None;
        self.stop_source();
        let _ = self.inbox.send(AsrInput::Shutdown);
        for handle in [self.audio.take(), self.asr.take()].into_iter().flatten() {
            let name = handle.thread().name().unwrap_or("?").to_owned();
            if handle.join().is_err() {
                tracing::error!(thread = %name, "pipeline thread panicked");
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop_all();
    }
}
