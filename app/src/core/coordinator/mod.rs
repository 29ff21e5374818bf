//! The `core` thread: the one owner of the dictation lifecycle. It takes
//! [`Command`]s from the GUI, tray and hotkey, runs one pipeline per
//! utterance, routes committed words to typing, keeps the transcript log,
//! and publishes a [`Snapshot`] that others only read. It never waits on the
//! GUI: observers are called with the new snapshot and must return at once.
//!
//! Here: the thread, its loop and the command dispatch. The lifecycles it
//! runs are in their own files: a session's (`sessions`), the other
//! requests and outputs (`requests`), and, as parts it owns, the history
//! ([`super::history`]), the PIN gate ([`super::household`]), the typing
//! order ([`super::typing_queue`]) and the command outbox
//! ([`super::commands`]).

mod requests;
mod sessions;

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
use crate::messages::{Command, Level, Notice, Notices, PipelineEvent, TypedOutcome, Utterance};
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
    pub notices: Notices,
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
    notices: Notices,
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
                Ok(CoreInput::SwitchProfile { name, pin, reply }) => {
                    let answer = self.switch_profile(&name, pin.as_ref());
                    // The asker may have given up waiting; nothing to undo.
                    let _ = reply.try_send(answer);
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
            Command::Notice(notice) => self.notices.push(notice.clone()),
            Command::MonitorMic(device) => self.monitor_mic(device.as_deref()),
            Command::HotkeyPath(path) => self.hotkey_path.clone_from(path),
            Command::DismissNotices => self.notices.clear(),
            Command::WithdrawNotice(text) => self.notices.withdraw(text),
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
            Command::SwitchProfile { name, pin } => {
                // The window shows a refusal as the notice switch_profile adds.
                let _ = self.switch_profile(name, pin.as_ref());
            }
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
            notices: self.notices.to_vec(),
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
