//! The `speech` thread: speaks replies one after another with ElevenLabs
//! ([`super::elevenlabs`]) through the default output device
//! ([`crate::audio::playback`]).
//!
//! The [`Speaker`] handle queues jobs and reports each one's end exactly
//! once through the `on_event` callback: [`SpeechEvent::Finished`],
//! [`SpeechEvent::Failed`] or [`SpeechEvent::Cancelled`] (after
//! [`SpeechEvent::Started`] if audio began). [`Speaker::stop`] silences the
//! current reply at once from the caller's thread and cancels every reply
//! queued before it. The output device is opened for the first reply and
//! closed after a few idle seconds, so no stream runs while nothing speaks.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::elevenlabs::{Client, PcmFormat, PcmStream, TtsError, TtsOptions};
use crate::audio::playback::{CutSignal, PlaybackError, Player};

/// Replies waiting in the channel to the thread.
const CHANNEL: usize = 16;
/// Replies waiting on the thread; more are refused with an event.
const MAX_QUEUE: usize = 16;
/// Idle time after which the output device is closed.
const IDLE_CLOSE: Duration = Duration::from_secs(5);
/// Pause while the device makes room.
const POLL: Duration = Duration::from_millis(5);
/// How long dropping the [`Speaker`] waits for the thread; a network read
/// cannot be interrupted, so past this the thread is left to finish alone.
const JOIN_WAIT: Duration = Duration::from_secs(2);
/// Samples read per network read (~90 ms at 22.05 kHz).
const READ_SAMPLES: usize = 2_048;

/// What the speech thread needs; replaced as a whole by [`Speaker::set_config`].
#[derive(Clone)]
pub struct SpeechConfig {
    /// ElevenLabs base URL, e.g. `https://api.elevenlabs.io`.
    pub base_url: String,
    /// ElevenLabs API key.
    pub api_key: crate::secrets::Secret,
    /// Model id.
    pub model_id: String,
    /// Playback volume, 0.0–2.0.
    pub volume: f32,
    /// Speaking rate, 1.0 is the voice's own.
    pub speed: f32,
    /// Audio format asked for.
    pub output_format: PcmFormat,
}

impl fmt::Debug for SpeechConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpeechConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("model_id", &self.model_id)
            .field("volume", &self.volume)
            .field("speed", &self.speed)
            .field("output_format", &self.output_format)
            .finish()
    }
}

/// What happened to a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeechEvent {
    /// Its first audio arrived and is queued for the output device (heard
    /// within the device's latency, about 0.1 s).
    Started {
        /// The job.
        job_id: u64,
    },
    /// It was spoken to the end.
    Finished {
        /// The job.
        job_id: u64,
        /// Milliseconds from sending the request to its first audio arriving.
        tts_ms: u64,
    },
    /// It could not be (fully) spoken.
    Failed {
        /// The job.
        job_id: u64,
        /// For the user; never holds the API key.
        error: String,
        /// Whether trying again later may work (network, busy, 5xx).
        retryable: bool,
    },
    /// [`Speaker::stop`] (or shutdown) ended or dropped it.
    Cancelled {
        /// The job.
        job_id: u64,
    },
}

/// Why a reply could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// The thread is behind (a slow network).
    #[error("too many replies are waiting to be spoken; this one is skipped")]
    QueueFull,
    /// The thread has ended.
    #[error("the speech thread has stopped; restart the app to hear replies")]
    Stopped,
}

/// One reply to speak.
struct Job {
    id: u64,
    text: String,
    voice_id: String,
    /// The stop generation when queued: a later stop cancels it.
    generation: u64,
}

/// What the handle and the thread share.
struct Control {
    stop_generation: AtomicU64,
    shutdown: AtomicBool,
    cut: CutSignal,
    /// Latest configuration not yet taken by the thread.
    config: Mutex<Option<SpeechConfig>>,
    config_changed: AtomicBool,
}

impl Control {
    /// Whether a stop (or shutdown) came after `job` was queued.
    fn cancels(&self, job: &Job) -> bool {
        job.generation < self.stop_generation.load(Ordering::Acquire)
            || self.shutdown.load(Ordering::Acquire)
    }
}

/// Handle to the `speech` thread; dropping it stops the thread.
pub struct Speaker {
    jobs: Option<SyncSender<Job>>,
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
    exited: Receiver<()>,
}

impl Speaker {
    /// Starts the `speech` thread. `on_event` runs on that thread: keep it
    /// short (send a message, wake the GUI).
    ///
    /// # Errors
    /// When the OS refuses a new thread.
    pub fn spawn(
        config: SpeechConfig,
        on_event: impl Fn(SpeechEvent) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, rx) = mpsc::sync_channel(CHANNEL);
        let (exit_tx, exited) = mpsc::channel();
        let control = Arc::new(Control {
            stop_generation: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            cut: CutSignal::new(),
            config: Mutex::new(None),
            config_changed: AtomicBool::new(false),
        });
        let worker = Worker {
            rx,
            control: Arc::clone(&control),
            on_event,
            config,
            client: None,
            player: None,
            queue: VecDeque::new(),
            buf: vec![0; READ_SAMPLES],
        };
        let thread = crate::runtime::thread::spawn("speech", move || {
            worker.run();
            let _ = exit_tx.send(());
        })?;
        Ok(Self {
            jobs: Some(jobs),
            control,
            thread: Some(thread),
            exited,
        })
    }

    /// Queues `text` to be spoken with `voice_id` after the replies already
    /// queued. Its outcome arrives as a [`SpeechEvent`] with `job_id`.
    ///
    /// # Errors
    /// [`SpeechError::QueueFull`] or [`SpeechError::Stopped`]; no event
    /// follows for a job refused here.
    pub fn say(&self, job_id: u64, text: &str, voice_id: &str) -> Result<(), SpeechError> {
        let jobs = self.jobs.as_ref().ok_or(SpeechError::Stopped)?;
        let job = Job {
            id: job_id,
            text: text.to_owned(),
            voice_id: voice_id.to_owned(),
            generation: self.control.stop_generation.load(Ordering::Acquire),
        };
        jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => SpeechError::QueueFull,
            TrySendError::Disconnected(_) => SpeechError::Stopped,
        })
    }

    /// Silences the current reply now and cancels every reply queued
    /// before this call; replies queued afterwards play normally.
    pub fn stop(&self) {
        self.control.stop_generation.fetch_add(1, Ordering::AcqRel);
        self.control.cut.cut();
    }

    /// Replaces the configuration. Volume applies at once, the rest from
    /// the next reply.
    pub fn set_config(&self, config: SpeechConfig) {
        *self
            .control
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(config);
        self.control.config_changed.store(true, Ordering::Release);
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.control.shutdown.store(true, Ordering::Release);
        self.stop();
        // The thread sees the closed channel once it has drained it.
        self.jobs = None;
        if self.exited.recv_timeout(JOIN_WAIT).is_ok() {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        } else {
            tracing::warn!(
                "the speech thread is still waiting on the network; leaving it to end alone"
            );
        }
    }
}

/// How one reply ended.
enum Outcome {
    Finished { tts_ms: u64 },
    Failed { error: String, retryable: bool },
    Cancelled,
}

impl From<TtsError> for Outcome {
    fn from(e: TtsError) -> Self {
        Self::Failed {
            retryable: e.is_retryable(),
            error: e.to_string(),
        }
    }
}

impl From<PlaybackError> for Outcome {
    fn from(e: PlaybackError) -> Self {
        Self::Failed {
            // The device may come back (a sound server restart).
            retryable: true,
            error: e.to_string(),
        }
    }
}

/// The thread's state.
struct Worker<F> {
    rx: Receiver<Job>,
    control: Arc<Control>,
    on_event: F,
    config: SpeechConfig,
    /// Built from `config` on first use; dropped when it changes.
    client: Option<Client>,
    /// Open while replies come; closed after [`IDLE_CLOSE`] or a failure.
    player: Option<Player>,
    queue: VecDeque<Job>,
    buf: Vec<i16>,
}

impl<F: Fn(SpeechEvent)> Worker<F> {
    fn run(mut self) {
        while let Some(job) = self.next_job() {
            let id = job.id;
            let outcome = self.speak(&job);
            self.report(id, outcome);
        }
        for job in std::mem::take(&mut self.queue) {
            (self.on_event)(SpeechEvent::Cancelled { job_id: job.id });
        }
    }

    /// The next job still wanted, waiting for one; `None` at shutdown.
    fn next_job(&mut self) -> Option<Job> {
        loop {
            while let Ok(job) = self.rx.try_recv() {
                self.enqueue(job);
            }
            if self.control.shutdown.load(Ordering::Acquire) {
                return None;
            }
            while let Some(job) = self.queue.pop_front() {
                if self.is_cancelled(&job) {
                    (self.on_event)(SpeechEvent::Cancelled { job_id: job.id });
                } else {
                    return Some(job);
                }
            }
            let received = if self.player.is_some() {
                self.rx.recv_timeout(IDLE_CLOSE)
            } else {
                self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            };
            match received {
                Ok(job) => self.enqueue(job),
                Err(RecvTimeoutError::Timeout) => self.player = None,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn enqueue(&mut self, job: Job) {
        if self.queue.len() >= MAX_QUEUE {
            (self.on_event)(SpeechEvent::Failed {
                job_id: job.id,
                error: SpeechError::QueueFull.to_string(),
                retryable: true,
            });
        } else {
            self.queue.push_back(job);
        }
    }

    fn is_cancelled(&self, job: &Job) -> bool {
        self.control.cancels(job)
    }

    fn report(&self, job_id: u64, outcome: Outcome) {
        (self.on_event)(match outcome {
            Outcome::Finished { tts_ms } => SpeechEvent::Finished { job_id, tts_ms },
            Outcome::Failed { error, retryable } => SpeechEvent::Failed {
                job_id,
                error,
                retryable,
            },
            Outcome::Cancelled => SpeechEvent::Cancelled { job_id },
        });
    }

    /// Takes a new configuration if one arrived; applies the volume at once.
    fn refresh_config(&mut self) {
        if !self.control.config_changed.swap(false, Ordering::AcqRel) {
            return;
        }
        let taken = self
            .control
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(config) = taken {
            if config.base_url != self.config.base_url || config.api_key != self.config.api_key {
                self.client = None;
            }
            self.config = config;
            if let Some(player) = &self.player {
                player.set_volume(self.config.volume);
            }
        }
    }

    fn speak(&mut self, job: &Job) -> Outcome {
        self.refresh_config();
        if job.text.trim().is_empty() {
            return Outcome::Failed {
                error: "the reply is empty: there is nothing to speak".into(),
                retryable: false,
            };
        }
        if job.voice_id.trim().is_empty() {
            return Outcome::Failed {
                error: "no ElevenLabs voice is chosen: pick one in Settings → Integrations".into(),
                retryable: false,
            };
        }
        let sent = Instant::now();
        let stream = match self.request(job) {
            Ok(stream) => stream,
            Err(e) => return e.into(),
        };
        if self.is_cancelled(job) {
            return Outcome::Cancelled;
        }
        let outcome = self.play(job, stream, sent);
        if matches!(outcome, Outcome::Failed { .. }) {
            // A failed device is reopened (or reported) on the next reply.
            self.player = None;
        }
        outcome
    }

    fn request(&mut self, job: &Job) -> Result<PcmStream, TtsError> {
        if self.client.is_none() {
            self.client = Some(Client::new(
                &self.config.base_url,
                self.config.api_key.expose(),
            )?);
        }
        let options = TtsOptions {
            model_id: self.config.model_id.clone(),
            speed: self.config.speed,
            output_format: self.config.output_format,
        };
        match &self.client {
            Some(client) => client.stream(&job.voice_id, &job.text, &options),
            None => Err(TtsError::MissingKey),
        }
    }

    /// Streams the reply into the player and waits until it has played.
    fn play(&mut self, job: &Job, mut stream: PcmStream, sent: Instant) -> Outcome {
        let player = match self.player.take() {
            Some(p) => p,
            None => match Player::open(self.control.cut.clone()) {
                Ok(p) => p,
                Err(e) => return e.into(),
            },
        };
        let player = self.player.insert(player);
        player.set_volume(self.config.volume);
        if let Err(e) = player.begin(stream.sample_rate()) {
            return e.into();
        }
        // Keep about half a second ahead of the device, not the whole reply.
        let ahead = player.device_rate() as usize / 2;
        let mut tts_ms = None;
        let mut broken = None;
        loop {
            if self.is_cancelled(job) {
                return Outcome::Cancelled;
            }
            self.refresh_config();
            let Some(player) = self.player.as_mut() else {
                return Outcome::Cancelled;
            };
            match player.pump() {
                Ok(waiting) if waiting > ahead => {
                    std::thread::sleep(POLL);
                    continue;
                }
                Ok(_) => {}
                Err(e) => return e.into(),
            }
            match stream.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    player.write(&self.buf[..n]);
                    if tts_ms.is_none() {
                        tts_ms = Some(millis(sent.elapsed()));
                        (self.on_event)(SpeechEvent::Started { job_id: job.id });
                    }
                }
                Err(e) => {
                    // Play what arrived, then report the break.
                    broken = Some(e);
                    break;
                }
            }
        }
        if let Some(outcome) = self.drain(job) {
            return outcome;
        }
        match (broken, tts_ms) {
            (Some(e), _) => e.into(),
            (None, Some(tts_ms)) => Outcome::Finished { tts_ms },
            (None, None) => Outcome::Failed {
                error: "ElevenLabs sent no audio for this reply".into(),
                retryable: true,
            },
        }
    }

    /// Waits until the player has handed everything to the device; an
    /// outcome when that ends early.
    fn drain(&mut self, job: &Job) -> Option<Outcome> {
        let player = self.player.as_mut()?;
        player.end();
        loop {
            if self.control.cancels(job) {
                return Some(Outcome::Cancelled);
            }
            match player.pump() {
                Ok(0) if player.is_idle() => {
                    // Finished means heard, not just handed to the device.
                    let heard = Instant::now() + player.heard_after();
                    while Instant::now() < heard {
                        if self.control.cancels(job) {
                            return Some(Outcome::Cancelled);
                        }
                        std::thread::sleep(POLL);
                    }
                    return None;
                }
                Ok(_) => std::thread::sleep(POLL),
                Err(e) => return Some(e.into()),
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base_url: &str, api_key: &str) -> SpeechConfig {
        SpeechConfig {
            base_url: base_url.into(),
            api_key: crate::secrets::Secret::new(api_key.into()),
            model_id: "eleven_multilingual_v2".into(),
            volume: 1.0,
            speed: 1.0,
            output_format: PcmFormat::Hz22050,
        }
    }

    fn events_of(speaker: Speaker, rx: &Receiver<SpeechEvent>, n: usize) -> Vec<SpeechEvent> {
        let events: Vec<SpeechEvent> = (0..n)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("an event"))
            .collect();
        drop(speaker);
        events
    }

    #[test]
    fn config_debug_hides_the_key() {
        let c = config("https://api.elevenlabs.io", "sk_very_secret");
        assert!(!format!("{c:?}").contains("sk_very_secret"));
    }

    #[test]
    fn bad_settings_fail_each_job_once_with_a_clear_message() {
        let (tx, rx) = mpsc::channel();
        let speaker = Speaker::spawn(config("https://api.elevenlabs.io", ""), move |e| {
            let _ = tx.send(e);
        })
        .expect("thread");
        speaker.say(1, "hello", "voice").expect("queued");
        speaker.say(2, "   ", "voice").expect("queued");
        speaker.say(3, "hello", "").expect("queued");
        let events = events_of(speaker, &rx, 3);
        let failed: Vec<(u64, String, bool)> = events
            .into_iter()
            .map(|e| match e {
                SpeechEvent::Failed {
                    job_id,
                    error,
                    retryable,
                } => (job_id, error, retryable),
                other => panic!("expected a failure, got {other:?}"),
            })
            .collect();
        assert_eq!(failed[0].0, 1);
        assert!(
            failed[0].1.contains("no ElevenLabs API key"),
            "{}",
            failed[0].1
        );
        assert!(!failed[0].2);
        assert_eq!(failed[1].0, 2);
        assert!(failed[1].1.contains("empty"), "{}", failed[1].1);
        assert_eq!(failed[2].0, 3);
        assert!(failed[2].1.contains("voice"), "{}", failed[2].1);
    }

    #[test]
    fn a_job_queued_after_a_stop_still_runs() {
        let (tx, rx) = mpsc::channel();
        // A closed loopback port: the job fails fast instead of playing.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let speaker = Speaker::spawn(config(&url, "k"), move |e| {
            let _ = tx.send(e);
        })
        .expect("thread");
        let generation_before = speaker.control.stop_generation.load(Ordering::Acquire);
        speaker.stop();
        assert_eq!(
            speaker.control.stop_generation.load(Ordering::Acquire),
            generation_before + 1
        );
        speaker.say(7, "after the stop", "voice").expect("queued");
        let events = events_of(speaker, &rx, 1);
        assert!(
            matches!(
                &events[0],
                SpeechEvent::Failed {
                    job_id: 7,
                    retryable: true,
                    ..
                }
            ),
            "a job queued after stop still runs (and fails on the closed port): {events:?}"
        );
    }

    #[test]
    fn a_stop_cancels_only_jobs_queued_before_it() {
        let control = Control {
            stop_generation: AtomicU64::new(3),
            shutdown: AtomicBool::new(false),
            cut: CutSignal::new(),
            config: Mutex::new(None),
            config_changed: AtomicBool::new(false),
        };
        let job = |generation| Job {
            id: 1,
            text: "t".into(),
            voice_id: "v".into(),
            generation,
        };
        assert!(control.cancels(&job(2)));
        assert!(!control.cancels(&job(3)));
        control.shutdown.store(true, Ordering::Release);
        assert!(control.cancels(&job(3)), "shutdown cancels everything");
    }
}
