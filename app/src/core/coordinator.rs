//! The `core` thread: the one owner of the dictation lifecycle. It takes
//! [`Command`]s from the GUI, tray and hotkey, runs one pipeline per
//! utterance, routes committed words to typing, keeps the transcript log,
//! and publishes a [`Snapshot`] that others only read. It never waits on the
//! GUI: observers are called with the new snapshot and must return at once.

use crate::telemetry::metrics;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::commands::{self, Commands, Outputs};
use super::history::{self, History};
use super::household::{Household, Refusal};
use super::route::{self, Route};
pub use super::snapshot::{CoreInput, Observer, Snapshot, SnapshotCell};
use super::state::{self, Action, Facts};
use super::typing_queue::TypingQueue;
use crate::asr::AsrWorkerConfig;
use crate::asr::transcript::NewWords;
use crate::audio::vad::VadConfig;
use crate::audio::worker::Source;
use crate::config::settings::{HotkeyMode, Settings};
use crate::integrations::speech::SpeechEvent;
use crate::integrations::typing::{TypeJob, TypeResult};
use crate::messages::{Command, Level, PipelineEvent, TypedOutcome, Utterance};
use crate::runtime::Pipeline;
use crate::store::{self, records};

/// How often the core looks at running pipelines' events.
const PIPELINE_POLL: Duration = Duration::from_millis(20);
/// Commands queued for the core.
const INBOX: usize = 256;
/// Level readings (100 ms each) kept for the waveform.
const WAVEFORM_LEN: usize = 80;
/// A peak below this counts as silence for the silent-microphone warning.
const SILENCE_PEAK: f32 = 0.01;

/// How the core starts.
pub struct CoreOptions {
    /// Settings in force at start.
    pub settings: Settings,
    /// Where applied settings are saved (`None`: not saved, e.g. in tests).
    pub settings_path: Option<PathBuf>,
    /// Problems found before the core started (settings file, …).
    pub notices: Vec<String>,
    /// Where typing jobs go (`None`: typing unavailable).
    pub typer: Option<SyncSender<TypeJob>>,
    /// Where finished utterances are saved.
    pub store: store::Shared,
    /// The threads commands use (delivery, speech, notifications).
    pub outputs: Outputs,
    /// Starts an utterance's pipeline (`None`: [`Pipeline::start`], from the
    /// microphone). Tests give a WAV source and a scripted server here, so
    /// the whole lifecycle runs without a sound card.
    pub pipelines: Option<PipelineStarter>,
}

/// Starts an utterance's pipeline from a source (the microphone, with the
/// voice-activation gate when it waits for speech) and the speech worker's
/// settings.
pub type PipelineStarter =
    Arc<dyn Fn(Source, AsrWorkerConfig) -> std::io::Result<Pipeline> + Send + Sync>;

/// The core's inbox, both ends.
pub type Channel = (SyncSender<CoreInput>, Receiver<CoreInput>);

/// Makes the core's inbox before the core exists, so that workers that
/// report to it (typing) can be started first.
#[must_use]
pub fn channel() -> Channel {
    mpsc::sync_channel(INBOX)
}

/// A running core thread.
pub struct Core {
    inbox: SyncSender<CoreInput>,
    snapshot: SnapshotCell,
    handle: Option<JoinHandle<()>>,
}

impl Core {
    /// Starts the `core` thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn(options: CoreOptions, channel: Channel) -> std::io::Result<Self> {
        let (inbox, rx) = channel;
        let snapshot = SnapshotCell::default();
        let mut coordinator = Coordinator::new(options, snapshot.clone());
        coordinator.inbox = Some(inbox.clone());
        coordinator.publish();
        let handle = crate::runtime::thread::spawn("core", move || coordinator.run(&rx))?;
        Ok(Self {
            inbox,
            snapshot,
            handle: Some(handle),
        })
    }

    /// Sends a command; a full queue drops it with a log line (the user can
    /// press again), a stopped core is ignored.
    pub fn send(&self, command: Command) {
        if let Err(e) = self.inbox.try_send(CoreInput::Command(command)) {
            tracing::warn!("core is not taking commands: {e}");
        }
    }

    /// The snapshots.
    #[must_use]
    pub fn snapshots(&self) -> &SnapshotCell {
        &self.snapshot
    }

    /// Stops the core thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.inbox.send(CoreInput::Command(Command::Shutdown));
        if let Some(handle) = self.handle.take()
            && handle.join().is_err()
        {
            tracing::error!("core thread panicked");
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One utterance's pipeline and what has been done with its words.
struct Session {
    id: u64,
    pipeline: Pipeline,
    words: NewWords,
    committed: String,
    tentative: String,
    typed: TypedOutcome,
    device: String,
    started: Instant,
    /// When the microphone closed (end of speech).
    stopped: Option<Instant>,
    silent_since: Option<Instant>,
    warned_silent: bool,
    /// Dictating: always for hotkey and button sessions; for voice
    /// activation once it heard speech (until then nothing is sent).
    speaking: bool,
    /// Command or dictation, once the first words tell.
    route: Route,
}

impl Session {
    /// The microphone is open for dictation (not just waiting for speech).
    fn listening(&self) -> bool {
        self.speaking
    }
}

struct Coordinator {
    cell: SnapshotCell,
    settings: Arc<Settings>,
    settings_path: Option<PathBuf>,
    paused: bool,
    active: Option<Session>,
    flushing: Vec<Session>,
    /// The microphone shown in the settings meter, and its level-only pipeline.
    monitor: Option<(String, Pipeline)>,
    next_id: u64,
    error: Option<String>,
    status: String,
    committed: String,
    tentative: String,
    level: Level,
    waveform: VecDeque<f32>,
    notices: Vec<String>,
    hotkey_path: String,
    hotkey_held: bool,
    /// Words waiting to be typed, in the order they may go.
    typing: TypingQueue,
    dirty: bool,
    /// The store, the transcript log, and what waits for the store.
    history: History,
    commands: Commands,
    /// What became of the last command, for the status line.
    command_status: Option<String>,
    /// The PIN gate: settings unlocked, wrong PINs and their wait.
    household: Household,
    /// How sessions start their pipelines.
    pipelines: Option<PipelineStarter>,
    /// The core's own inbox, for work it starts on other threads.
    inbox: Option<SyncSender<CoreInput>>,
    /// ElevenLabs voices, once loaded.
    voices: Arc<Vec<(String, String)>>,
    server: Option<crate::server::ServerReport>,
}

impl Coordinator {
    fn new(options: CoreOptions, cell: SnapshotCell) -> Self {
        let commands = Commands::new(options.outputs, options.store.get().as_deref());
        let mut notices = options.notices;
        let history = History::open(options.store, &mut notices);
        let mut me = Self {
            cell,
            settings: Arc::new(options.settings),
            settings_path: options.settings_path,
            paused: false,
            active: None,
            flushing: Vec::new(),
            monitor: None,
            next_id: 1,
            error: None,
            status: String::new(),
            committed: String::new(),
            tentative: String::new(),
            level: Level::default(),
            waveform: VecDeque::with_capacity(WAVEFORM_LEN),
            notices,
            hotkey_path: String::new(),
            hotkey_held: false,
            typing: TypingQueue::new(options.typer),
            dirty: true,
            history,
            commands,
            command_status: None,
            household: Household::default(),
            pipelines: options.pipelines,
            inbox: None,
            voices: Arc::new(Vec::new()),
            server: None,
        };
        me.status = me.ready_status();
        me
    }

    fn run(mut self, inbox: &Receiver<CoreInput>) {
        loop {
            self.arm_voice_activation();
            if self.dirty {
                self.publish();
            }
            if self
                .history
                .next_save()
                .is_some_and(|t| Instant::now() >= t)
                && self.history.flush(&mut self.notices)
            {
                self.dirty = true;
            }
            self.commands.pump(&self.settings);
            let running = self.active.is_some()
                || !self.flushing.is_empty()
                || self.monitor.is_some()
                || !self.typing.is_empty();
            let wake = [self.history.next_save(), self.commands.next_wake()]
                .into_iter()
                .flatten()
                .min();
            let input = if running {
                inbox.recv_timeout(PIPELINE_POLL)
            } else if let Some(t) = wake {
                // Only unsaved words or waiting commands: sleep until their next try.
                inbox.recv_timeout(commands::until(t))
            } else {
                // Nothing running: sleep until someone asks for something.
                inbox.recv().map_err(|_| RecvTimeoutError::Disconnected)
            };
            match input {
                Ok(CoreInput::Command(Command::Shutdown)) | Err(RecvTimeoutError::Disconnected) => {
                    break;
                }
                Ok(CoreInput::Command(command)) => self.on_command(&command),
                Ok(CoreInput::Typed(result)) => self.on_typed(result),
                Ok(CoreInput::Delivered(d)) => {
                    let store = self.history.store().get();
                    self.commands
                        .on_delivered(d, store.as_deref(), &self.settings);
                    self.absorb_command_news();
                    self.dirty = true;
                }
                Ok(CoreInput::Speech(event)) => self.on_speech(event),
                Ok(CoreInput::Server(report)) => {
                    self.server = Some(report);
                    self.dirty = true;
                }
                Ok(CoreInput::Voices(result)) => {
                    self.dirty = true;
                    match result {
                        Ok(v) => {
                            self.status = format!("{} ElevenLabs voices to choose from", v.len());
                            self.voices = Arc::new(v);
                        }
                        Err(e) => self
                            .notices
                            .push(format!("the voices could not be listed: {e}")),
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.drain_pipelines();
            self.release_typing();
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(session) = self.active.take() {
            session.pipeline.stop_source();
            self.flushing.push(session);
        }
        // Dropping a pipeline stops and joins its threads; the server's last
        // words are not awaited at quit.
        self.flushing.clear();
        self.history.close(&mut self.notices);
    }

    fn on_command(&mut self, command: &Command) {
        self.dirty = true;
        match command {
            Command::HotkeyPressed => self.hotkey_held = true,
            Command::HotkeyReleased => self.hotkey_held = false,
            Command::SetPaused(paused) => {
                self.paused = *paused;
                if self.paused {
                    self.drop_standby();
                    self.status = "Paused: the hotkey does nothing until you resume".into();
                } else {
                    self.error = None;
                    self.status = self.ready_status();
                }
            }
            Command::ApplySettings(settings) => self.apply_settings(settings.as_ref().clone()),
            Command::Notice(text) => self.notices.push(text.clone()),
            Command::MonitorMic(device) => self.monitor_mic(device.as_deref()),
            Command::HotkeyPath(path) => self.hotkey_path.clone_from(path),
            Command::DismissNotices => self.notices.clear(),
            Command::WithdrawNotice(text) => self.notices.retain(|n| n != text),
            Command::SetFavourite { id, favourite } => {
                self.history
                    .set_favourite(*id, *favourite, &mut self.notices);
            }
            Command::DeleteUtterance(id) => self.history.delete(*id, &mut self.notices),
            Command::UndoDelete => self.history.undo_delete(&mut self.notices),
            Command::Retype(id) => self.retype(*id),
            Command::RetryOutbox => self.commands.retry_now(),
            Command::StopSpeaking => self.commands.stop_speaking(),
            Command::TestWebhook => self.test_webhook(),
            Command::LoadVoices => self.load_voices(),
            Command::SwitchProfile { name, pin } => self.switch_profile(name, pin.as_ref()),
            Command::Unlock(pin) => self.unlock(pin),
            Command::Lock => self.household.lock(),
            Command::SetSecret { name, value } => self.set_secret(name, value.as_ref()),
            _ => {}
        }
        // A voice-activation session may have heard speech already: take its
        // news before deciding, or a key press could drop spoken words.
        self.drain_pipelines();
        let facts = Facts {
            mode: self.settings.hotkey.mode,
            listening: self.listening(),
            paused: self.paused,
        };
        match state::decide(command, facts) {
            Action::Start => {
                // A hotkey or click while voice activation waits: dictate now.
                self.drop_standby();
                self.start_session(false);
            }
            Action::Stop => self.stop_session(),
            Action::Nothing => {}
        }
    }

    fn retype(&mut self, id: u64) {
        let text = match self.history.text_of(id) {
            Ok(text) => text,
            Err(why) => return self.notices.push(why),
        };
        if !self.settings.typing.enabled {
            self.notices
                .push("typing is off (Settings → Typing); the words were not typed".into());
            return;
        }
        self.typing.retype(&text, &self.settings);
        self.release_typing();
    }

    fn apply_settings(&mut self, settings: Settings) {
        if self.locked() {
            self.notices.push(format!(
                "settings not applied: the {} profile needs an admin's PIN to change them",
                self.settings.profile().name
            ));
            return;
        }
        let problems = settings.validate();
        if !problems.is_empty() {
            for p in problems {
                self.notices.push(format!("setting not applied: {p}"));
            }
            return;
        }
        if let Some(path) = &self.settings_path
            && let Err(e) = settings.save(path)
        {
            self.notices.push(format!(
                "settings are in use but could not be saved to {}: {e}",
                path.display()
            ));
        }
        let standby_changed = self.settings.voice_activation != settings.voice_activation
            || self.settings.audio != settings.audio
            || self.settings.server != settings.server;
        if let (Some(store), Ok(toml)) = (self.history.store().get(), toml::to_string(&settings))
            && let Err(e) = store.save_settings(&toml)
        {
            tracing::warn!("settings not copied to the store: {e}");
        }
        self.settings = Arc::new(settings);
        self.commands.retry_now();
        self.commands.configure_speech(&self.settings);
        self.error = None;
        if standby_changed {
            // Re-armed with the new settings by the loop.
            self.drop_standby();
        }
        if !self.listening() && self.flushing.is_empty() {
            self.status = self.ready_status();
        }
    }

    fn monitor_mic(&mut self, device: Option<&str>) {
        if self.monitor.as_ref().map(|(d, _)| d.as_str()) == device {
            return;
        }
        self.monitor = None;
        self.level = Level::default();
        let Some(device) = device else { return };
        let name = (!device.is_empty()).then(|| device.to_owned());
        match Pipeline::monitor(name) {
            Ok(p) => self.monitor = Some((device.to_owned(), p)),
            Err(e) => self
                .notices
                .push(format!("cannot show the microphone level: {e}")),
        }
    }

    /// Whether the microphone is open for dictation.
    fn listening(&self) -> bool {
        self.active.as_ref().is_some_and(Session::listening)
    }

    /// Ends a voice-activation session that has not heard speech yet.
    fn drop_standby(&mut self) {
        if self.active.as_ref().is_some_and(|s| !s.speaking) {
            // Nothing was sent: stop at once, no flush.
            self.active = None;
            self.level = Level::default();
        }
    }

    /// With voice activation on, keeps a session waiting for speech.
    /// Not after a failure: the user sees the error and acts first.
    fn arm_voice_activation(&mut self) {
        if self.settings.voice_activation.enabled
            && !self.paused
            && self.active.is_none()
            && self.error.is_none()
        {
            self.start_session(true);
            self.dirty = true;
        }
    }

    /// The ready line, saying where voice activation listens when it does.
    fn idle_status(&self) -> String {
        match &self.active {
            Some(s) if !s.speaking => {
                format!(
                    "{} Listening for speech on {}",
                    self.ready_status(),
                    s.device
                )
            }
            _ => self.ready_status(),
        }
    }

    fn ready_status(&self) -> String {
        let how = match self.settings.hotkey.mode {
            HotkeyMode::PushToTalk => "hold",
            HotkeyMode::Toggle => "press",
        };
        if self.settings.voice_activation.enabled {
            format!(
                "Ready: just speak, or {how} {}",
                self.settings.hotkey.binding
            )
        } else {
            format!("Ready: {how} {} to dictate", self.settings.hotkey.binding)
        }
    }

    fn start_session(&mut self, gated: bool) {
        let id = self.next_id;
        self.next_id += 1;
        let device =
            (!self.settings.audio.device.is_empty()).then(|| self.settings.audio.device.clone());
        let va = &self.settings.voice_activation;
        let source = Source::Microphone {
            device: device.clone(),
            gate: gated.then(|| VadConfig::from_settings(va.sensitivity, va.silence_stop_secs)),
        };
        let config = AsrWorkerConfig::new(self.settings.server.url.clone());
        let started = match &self.pipelines {
            Some(start) => start(source, config),
            None => Pipeline::start(source, config, None),
        };
        match started {
            Ok(pipeline) => {
                if !gated {
                    self.error = None;
                    self.committed.clear();
                    self.tentative.clear();
                    self.status = "Opening the microphone…".into();
                }
                self.active = Some(Session {
                    id,
                    pipeline,
                    words: NewWords::default(),
                    committed: String::new(),
                    tentative: String::new(),
                    typed: if self.settings.typing.enabled {
                        TypedOutcome::Typed
                    } else {
                        TypedOutcome::Off
                    },
                    device: device.unwrap_or_else(|| "the default microphone".into()),
                    started: Instant::now(),
                    stopped: None,
                    silent_since: None,
                    warned_silent: false,
                    speaking: !gated,
                    route: Route::Undecided,
                });
            }
            Err(e) => self.fail(format!("cannot start dictation: {e}")),
        }
    }

    fn stop_session(&mut self) {
        if let Some(mut session) = self.active.take() {
            session.stopped = Some(Instant::now());
            session.pipeline.stop_source();
            self.status = "Transcribing the last words…".into();
            self.flushing.push(session);
        }
    }

    fn fail(&mut self, message: String) {
        self.status = message.clone();
        self.error = Some(message);
    }

    fn drain_pipelines(&mut self) {
        let mut dead = false;
        if let Some((_, monitor)) = &self.monitor {
            while let Ok(event) = monitor.events().try_recv() {
                match event {
                    PipelineEvent::Level(level) if !self.listening() => {
                        self.level = level;
                        self.dirty = true;
                    }
                    PipelineEvent::Failed(_, message) | PipelineEvent::DeviceLost(message) => {
                        self.notices.push(format!("microphone level: {message}"));
                        self.dirty = true;
                        dead = true;
                    }
                    _ => {}
                }
            }
        }
        if dead {
            // Keep no dead pipeline: the meter drops to zero and the core
            // stops polling for it.
            self.monitor = None;
            self.level = Level::default();
        }
        let mut events = Vec::new();
        for session in self.active.iter().chain(&self.flushing) {
            while let Ok(event) = session.pipeline.events().try_recv() {
                events.push((session.id, event));
            }
        }
        for (id, event) in events {
            self.dirty = true;
            self.on_pipeline(id, event);
        }
    }

    fn session_mut(&mut self, id: u64) -> Option<&mut Session> {
        self.active
            .iter_mut()
            .chain(self.flushing.iter_mut())
            .find(|s| s.id == id)
    }

    fn on_pipeline(&mut self, id: u64, event: PipelineEvent) {
        let is_active = self.active.as_ref().is_some_and(|s| s.id == id);
        match event {
            PipelineEvent::SourceStarted { name, .. } => {
                let waiting = self.session_mut(id).is_some_and(|s| {
                    s.device.clone_from(&name);
                    !s.speaking
                });
                if is_active && waiting && self.flushing.is_empty() {
                    self.status = self.idle_status();
                } else if is_active && !waiting {
                    self.status = format!("Listening on {name}");
                }
            }
            PipelineEvent::SpeechStarted => {
                let device = self.session_mut(id).map(|s| {
                    s.speaking = true;
                    s.device.clone()
                });
                if is_active && let Some(device) = device {
                    self.committed.clear();
                    self.tentative.clear();
                    self.status = format!("Listening on {device} (voice activation)");
                }
            }
            PipelineEvent::SpeechEnded => {
                if is_active {
                    self.stop_session();
                }
            }
            PipelineEvent::Connected { resending_secs } if resending_secs > 0.0 => {
                self.status = format!(
                    "Reconnected; re-sending {resending_secs:.1} s of audio not yet transcribed"
                );
            }
            PipelineEvent::Connected { .. } => {}
            PipelineEvent::Transcript {
                committed,
                tentative,
            } => self.on_transcript(id, is_active, committed, tentative),
            PipelineEvent::Disconnected {
                reason,
                retry_in,
                ever_connected,
            } => {
                let what = if ever_connected {
                    "Lost the speech server"
                } else {
                    "Cannot reach the speech server"
                };
                self.status = format!(
                    "{what} at {} ({reason}); retrying in {:.0} s — your words are kept",
                    self.settings.server.url,
                    retry_in.as_secs_f64().ceil()
                );
            }
            PipelineEvent::ServerWarning(w) => self.notices.push(format!("speech server: {w}")),
            PipelineEvent::Level(level) => self.on_level(id, is_active, level),
            PipelineEvent::Overflow { samples } => self.notices.push(format!(
                "{samples} audio samples were lost because the computer was too busy"
            )),
            PipelineEvent::DeviceLost(why) => {
                self.notices
                    .push(format!("{why}; what was heard so far is being transcribed"));
                if is_active {
                    self.stop_session();
                }
            }
            PipelineEvent::Finished { text, .. } => self.finish(id, &text, None),
            PipelineEvent::Failed(_, message) => {
                let text = self
                    .session_mut(id)
                    .map(|s| s.committed.clone())
                    .unwrap_or_default();
                self.finish(id, &text, Some(message));
            }
        }
    }

    fn on_transcript(&mut self, id: u64, is_active: bool, committed: String, tentative: String) {
        let settings = Arc::clone(&self.settings);
        let piece = self.session_mut(id).and_then(|s| {
            s.committed.clone_from(&committed);
            s.tentative.clone_from(&tentative);
            // Nothing is typed until the first words tell dictation from a
            // command; a command is never typed.
            if s.route == Route::Undecided {
                s.route = route::classify(&committed, &settings.commands.prefixes);
            }
            if s.route == Route::Dictation {
                s.words.take(&committed, false)
            } else {
                None
            }
        });
        if is_active || !self.listening() {
            self.committed = committed;
            self.tentative = tentative;
        }
        if let Some(piece) = piece {
            self.type_piece(id, &piece);
        }
    }

    fn on_level(&mut self, id: u64, is_active: bool, level: Level) {
        if !is_active {
            return;
        }
        if !self.listening() {
            // Waiting for speech: the meter moves (unless the settings tab
            // shows another microphone); the waveform and the
            // silent-microphone warning are for dictation.
            if self.monitor.is_none() {
                self.level = level;
            }
            return;
        }
        self.level = level;
        if self.waveform.len() == WAVEFORM_LEN {
            self.waveform.pop_front();
        }
        self.waveform.push_back(level.peak);
        let warn_after =
            Duration::from_secs_f32(self.settings.voice_activation.silent_mic_warning_secs);
        let mut warning = None;
        if let Some(s) = self.session_mut(id) {
            if level.peak >= SILENCE_PEAK {
                s.silent_since = None;
            } else {
                let since = *s.silent_since.get_or_insert_with(Instant::now);
                if !s.warned_silent && since.elapsed() >= warn_after {
                    s.warned_silent = true;
                    warning = Some(format!(
                        "{} has been silent for {:.0} s: is it muted, or is another microphone selected?",
                        s.device,
                        warn_after.as_secs_f64()
                    ));
                }
            }
        }
        if let Some(w) = warning {
            self.notices.push(w);
        }
    }

    /// Ends an utterance: types its last words, logs it, drops its pipeline.
    fn finish(&mut self, id: u64, text: &str, failure: Option<String>) {
        let settings = Arc::clone(&self.settings);
        let last_piece = self.session_mut(id).and_then(|s| {
            s.route = match route::classify(text, &settings.commands.prefixes) {
                // Only the start of a prefix ("Hey"), and nothing after it.
                Route::Undecided => Route::Dictation,
                r => r,
            };
            if s.route == Route::Dictation {
                s.words.take(text, true)
            } else {
                None
            }
        });
        if let Some(piece) = last_piece {
            self.type_piece(id, &piece);
        }
        let session = if self.active.as_ref().is_some_and(|s| s.id == id) {
            self.active.take()
        } else {
            let at = self.flushing.iter().position(|s| s.id == id);
            at.map(|i| self.flushing.remove(i))
        };
        let Some(session) = session else { return };
        if !text.trim().is_empty() {
            let now = Instant::now();
            metrics::utterance(session.stopped.map(|t| now - t));
            let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
            let at = SystemTime::now();
            let record = store::Utterance {
                id: records::micros(at),
                profile: records::DEFAULT_PROFILE.to_owned(),
                text: text.to_owned(),
                favourite: false,
                duration_ms: ms(session.stopped.unwrap_or(now) - session.started),
                latency: store::Latencies {
                    final_text_ms: session.stopped.map(|t| ms(now - t)),
                    ..store::Latencies::default()
                },
                went: history::destination(&session.typed),
            };
            // Saved before the utterance is reported anywhere.
            let (saved, typed) = match &session.route {
                Route::Command(command) => self.finish_command(id, command, record),
                _ => (
                    self.history.save(id, record, &mut self.notices),
                    session.typed.clone(),
                ),
            };
            self.history.record(Utterance {
                id,
                at,
                text: text.to_owned(),
                typed,
                saved,
            });
        }
        if !self.listening() {
            self.committed = text.to_owned();
            self.tentative.clear();
            self.level = Level::default();
        }
        match failure {
            Some(message) => self.fail(message),
            None if !self.listening() && self.flushing.is_empty() => {
                self.status = if let Some(status) = self.command_status.take() {
                    status
                } else if text.trim().is_empty() {
                    "Heard nothing. ".to_owned() + &self.idle_status()
                } else {
                    self.idle_status()
                };
            }
            None => {}
        }
        // The pipeline's threads are done; joining them is quick.
        drop(session);
    }

    /// Checks and queues a command utterance; returns its store id and
    /// what the transcript log says of it.
    fn finish_command(
        &mut self,
        id: u64,
        command: &str,
        record: store::Utterance,
    ) -> (Option<u64>, TypedOutcome) {
        let store = match self.history.store().get_or_open() {
            Ok(s) => s,
            Err(e) => {
                self.notices
                    .push(format!("the history store cannot be opened: {e}"));
                None
            }
        };
        let settings = Arc::clone(&self.settings);
        match self
            .commands
            .route(store.as_deref(), &settings, command, record)
        {
            Ok(routed) => {
                self.command_status = Some(routed.status);
                let said = match routed.went {
                    store::Destination::N8n => "command: queued for n8n".to_owned(),
                    other => format!("command {}", other.describe()),
                };
                self.absorb_command_news();
                (routed.saved, TypedOutcome::NotTyped(said))
            }
            Err(unsaved) => {
                let super::commands::Unsaved {
                    error: e,
                    mut record,
                } = *unsaved;
                let why = format!("command not sent: the store could not keep it ({e})");
                self.notices
                    .push(format!("{why}; its words are kept in the history"));
                record.went = store::Destination::Nowhere { why: why.clone() };
                self.command_status = Some(why.clone());
                (
                    self.history.save(id, record, &mut self.notices),
                    TypedOutcome::NotTyped(why),
                )
            }
        }
    }

    /// Moves the command side's notices into the core's.
    fn absorb_command_news(&mut self) {
        self.notices.append(&mut self.commands.notices);
        if self.commands.changed {
            self.commands.changed = false;
            self.dirty = true;
        }
    }

    fn on_speech(&mut self, event: SpeechEvent) {
        self.dirty = true;
        let (job, failed, speech_ms) = match event {
            SpeechEvent::Started { .. } => return,
            SpeechEvent::Finished { job_id, tts_ms } => {
                metrics::integration_request(metrics::Integration::ElevenLabs, true);
                metrics::tts_latency(Duration::from_millis(tts_ms));
                (job_id, None, Some(tts_ms))
            }
            SpeechEvent::Failed { job_id, error, .. } => {
                metrics::integration_request(metrics::Integration::ElevenLabs, false);
                (job_id, Some(error), None)
            }
            SpeechEvent::Cancelled { job_id } => (job_id, None, None),
        };
        let utterance = self.commands.on_speech_done(job, failed);
        self.absorb_command_news();
        if let (Some(u), Some(ms)) = (utterance, speech_ms) {
            let ms = u32::try_from(ms).unwrap_or(u32::MAX);
            self.history.set_speech_ms(u, ms, &mut self.notices);
        }
    }

    /// Whether the settings need an admin's PIN now.
    fn locked(&self) -> bool {
        self.household.locked(&self.settings)
    }

    /// Tells the user why a PIN request was refused (and the activity log,
    /// when it keeps such things).
    fn refused(&mut self, refusal: Refusal) {
        self.notices.push(refusal.notice);
        if let Some(what) = refusal.activity {
            self.log_activity("pin", &what);
        }
    }

    fn unlock(&mut self, pin: &crate::secrets::Secret) {
        if let Err(r) = self
            .household
            .unlock(&self.settings, pin.expose(), Instant::now())
        {
            self.refused(r);
        }
    }

    fn switch_profile(&mut self, name: &str, pin: Option<&crate::secrets::Secret>) {
        let pin = pin.map(crate::secrets::Secret::expose);
        if let Err(r) = self
            .household
            .may_switch(&self.settings, name, pin, Instant::now())
        {
            return self.refused(r);
        }
        let from = self.settings.profile().name;
        let mut settings = (*self.settings).clone();
        settings.active_profile = name.to_owned();
        self.household.lock();
        if let Some(path) = &self.settings_path
            && let Err(e) = settings.save(path)
        {
            self.notices.push(format!(
                "the profile is in use but could not be saved to {}: {e}",
                path.display()
            ));
        }
        self.settings = Arc::new(settings);
        self.log_activity("profile", &format!("switched from {from} to {name}"));
        self.status = format!("Profile: {name}");
    }

    fn log_activity(&mut self, kind: &str, message: &str) {
        self.history.log_activity(kind, message);
    }

    fn test_webhook(&mut self) {
        let Some(secrets) = self.commands.secrets().cloned() else {
            self.notices
                .push("the n8n test needs the keyring, which is not available".into());
            return;
        };
        let settings = Arc::clone(&self.settings);
        // The test runs off the core thread; its result comes back as a notice.
        let inbox = self.inbox.clone();
        let spawned = crate::runtime::thread::spawn("n8n-test", move || {
            let text = match crate::integrations::deliver::webhook(&settings, &*secrets) {
                Ok(hook) => match hook.test_connection() {
                    Ok(reply) => format!(
                        "n8n test: the webhook answered{}",
                        reply.text.map(|t| format!(": {t}")).unwrap_or_default()
                    ),
                    Err(e) => format!("n8n test failed: {e}"),
                },
                Err(f) => format!("n8n test failed: {}", f.message),
            };
            if let Some(inbox) = inbox {
                let _ = inbox.send(CoreInput::Command(Command::Notice(text)));
            }
        });
        if let Err(e) = spawned {
            self.notices
                .push(format!("the n8n test could not start: {e}"));
        } else {
            self.status = "Testing the n8n webhook…".into();
        }
    }

    /// Lists the voices off the core thread; the answer comes back as
    /// [`CoreInput::Voices`].
    fn load_voices(&mut self) {
        let Some(secrets) = self.commands.secrets().cloned() else {
            self.notices
                .push("listing voices needs the keyring, which is not available".into());
            return;
        };
        let base = self.settings.elevenlabs.base_url.clone();
        let inbox = self.inbox.clone();
        let spawned = crate::runtime::thread::spawn("voices", move || {
            let result = match secrets.get(crate::secrets::ELEVENLABS_KEY) {
                Ok(Some(key)) => crate::integrations::elevenlabs::Client::new(&base, key.expose())
                    .and_then(|c| c.voices())
                    .map(|v| v.into_iter().map(|v| (v.voice_id, v.name)).collect())
                    .map_err(|e| e.to_string()),
                Ok(None) => Err("no ElevenLabs API key is set: save one first".into()),
                Err(e) => Err(e.to_string()),
            };
            if let Some(inbox) = inbox {
                let _ = inbox.send(CoreInput::Voices(result));
            }
        });
        if let Err(e) = spawned {
            self.notices
                .push(format!("the voices could not be listed: {e}"));
        }
    }

    fn set_secret(&mut self, name: &str, value: Option<&crate::secrets::Secret>) {
        let Some(secrets) = self.commands.secrets().cloned() else {
            self.notices
                .push("there is no keyring to keep it in".into());
            return;
        };
        let result = match value {
            Some(v) => secrets.set(name, v),
            None => secrets.delete(name),
        };
        match result {
            Ok(()) => {
                self.status = format!(
                    "{name} {} the keyring",
                    if value.is_some() {
                        "saved in"
                    } else {
                        "removed from"
                    }
                );
                self.commands.retry_now();
                self.commands.configure_speech(&self.settings);
            }
            Err(e) => self.notices.push(format!("{name} could not be saved: {e}")),
        }
    }

    fn type_piece(&mut self, id: u64, piece: &str) {
        self.typing.piece(id, piece, &self.settings);
        self.release_typing();
    }

    /// Hands queued words to the typing thread ([`TypingQueue::release`]
    /// says in which order); words that can never be typed are noted on
    /// their utterances.
    fn release_typing(&mut self) {
        let held = self.hotkey_held && self.settings.hotkey.mode == HotkeyMode::PushToTalk;
        let oldest_finishing = self.flushing.iter().map(|s| s.id).min();
        let mut told = false;
        for lost in self.typing.release(held, oldest_finishing) {
            if lost.notice && !told {
                told = true;
                self.notices.push(lost.why.clone());
            }
            self.set_typed(lost.utterance, TypedOutcome::NotTyped(lost.why));
        }
    }

    fn on_typed(&mut self, result: TypeResult) {
        self.dirty = true;
        match result {
            TypeResult::Typed { note, .. } => {
                if let Some(note) = note {
                    self.notices.push(note);
                }
            }
            TypeResult::Skipped { utterance, why } => {
                self.status.clone_from(&why);
                self.set_typed(utterance, TypedOutcome::NotTyped(why));
            }
            TypeResult::Failed { utterance, why } => {
                self.notices.push(format!("typing failed: {why}"));
                self.set_typed(utterance, TypedOutcome::NotTyped(why));
            }
        }
    }

    fn set_typed(&mut self, id: u64, outcome: TypedOutcome) {
        if let Some(s) = self.session_mut(id) {
            s.typed = outcome;
            return;
        }
        self.history.set_typed(id, outcome, &mut self.notices);
    }

    fn publish(&mut self) {
        self.dirty = false;
        metrics::outbox_pending(self.commands.pending_len());
        let snapshot = Snapshot {
            state: state::visible_state(
                self.listening(),
                !self.flushing.is_empty(),
                self.paused,
                self.error.is_some(),
            ),
            paused: self.paused,
            status: self.status.clone(),
            committed: self.committed.clone(),
            tentative: self.tentative.clone(),
            level: self.level,
            waveform: self.waveform.iter().copied().collect(),
            log: Arc::clone(self.history.log()),
            unsaved: self.history.unsaved(),
            history_rev: self.history.rev(),
            undo: self.history.undo_text(),
            notices: self.notices.clone(),
            hotkey: self.hotkey_path.clone(),
            settings: Arc::clone(&self.settings),
            outbox: self.commands.pending(),
            delivery_status: self.commands.status.clone(),
            reply: self.commands.reply.clone(),
            profile: self.settings.profile().name,
            locked: self.locked(),
            voices: Arc::clone(&self.voices),
            server: self.server.clone(),
        };
        self.cell.publish(snapshot);
    }
}
