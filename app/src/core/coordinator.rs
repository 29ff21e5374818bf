//! The `core` thread: the one owner of the dictation lifecycle. It takes
//! [`Command`]s from the GUI, tray and hotkey, runs one pipeline per
//! utterance, routes committed words to typing, keeps the transcript log,
//! and publishes a [`Snapshot`] that others only read. It never waits on the
//! GUI: observers are called with the new snapshot and must return at once.

use crate::telemetry::metrics;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::commands::{self, Commands, Outputs, Pending, Reply};
use super::replace;
use super::route::{self, Route};
use super::state::{self, Action, Facts};
use crate::asr::AsrWorkerConfig;
use crate::asr::transcript::NewWords;
use crate::audio::vad::VadConfig;
use crate::audio::worker::Source;
use crate::config::settings::{HotkeyMode, Settings};
use crate::integrations::deliver::Delivered;
use crate::integrations::speech::SpeechEvent;
use crate::integrations::typing::{TypeJob, TypeResult};
use crate::messages::{Command, DictationState, Level, PipelineEvent, TypedOutcome, Utterance};
use crate::runtime::Pipeline;
use crate::store::{self, records};

/// How often the core looks at running pipelines' events.
const PIPELINE_POLL: Duration = Duration::from_millis(20);
/// Commands queued for the core.
const INBOX: usize = 256;
/// Finished utterances kept in the snapshot's log.
const LOG_LEN: usize = 200;
/// Level readings (100 ms each) kept for the waveform.
const WAVEFORM_LEN: usize = 80;
/// A peak below this counts as silence for the silent-microphone warning.
const SILENCE_PEAK: f32 = 0.01;
/// The typing job id of a re-typed utterance: after every live one, and
/// matching no session.
const RETYPE: u64 = u64::MAX;
/// How long a re-type waits before typing: the window hides itself when it
/// asks, and the focus must first go back to the window the user was in.
const RETYPE_FOCUS_WAIT: Duration = Duration::from_millis(400);
/// Wrong PINs in a row before PINs must wait.
const PIN_TRIES: u32 = 3;
/// The first wait after too many wrong PINs.
const PIN_WAIT: Duration = Duration::from_secs(30);
/// How often utterances the store could not take are tried again.
const SAVE_RETRY: Duration = Duration::from_secs(2);

/// What the GUI and tray draw. Cheap to clone: the log is shared.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The state machine's visible state.
    pub state: DictationState,
    /// The user paused dictation (the state may still show an utterance
    /// that is finishing).
    pub paused: bool,
    /// One line saying what is happening or what went wrong.
    pub status: String,
    /// Committed text of the utterance being dictated (or the last one).
    pub committed: String,
    /// Tentative text that may still change.
    pub tentative: String,
    /// The latest input level.
    pub level: Level,
    /// Recent peaks, oldest first, for the waveform.
    pub waveform: Vec<f32>,
    /// Finished utterances, oldest first.
    pub log: Arc<Vec<Utterance>>,
    /// Finished utterances the store could not take yet (kept in memory and
    /// retried).
    pub unsaved: usize,
    /// Changes whenever the stored history changes (the History tab searches
    /// again).
    pub history_rev: u64,
    /// The words of the utterance that Undo would put back.
    pub undo: Option<String>,
    /// Problems the user should read (settings, typing, hotkey, tray).
    pub notices: Vec<String>,
    /// How the global hotkey listens ([`Command::HotkeyPath`]).
    pub hotkey: String,
    /// The settings in force.
    pub settings: Arc<Settings>,
    /// Commands waiting in the outbox, oldest first.
    pub outbox: Vec<Pending>,
    /// Why commands wait (empty when delivery is fine).
    pub delivery_status: String,
    /// The newest reply to a command.
    pub reply: Option<Reply>,
    /// The profile in use.
    pub profile: String,
    /// Its settings need an admin's PIN (kid and guest profiles).
    pub locked: bool,
    /// ElevenLabs voices, (id, name), once loaded.
    pub voices: Arc<Vec<(String, String)>>,
    /// The speech server as its supervisor last saw it.
    pub server: Option<crate::server::ServerReport>,
}

impl Snapshot {
    /// The newest finished utterance's text.
    #[must_use]
    pub fn last_transcript(&self) -> Option<&str> {
        self.log.last().map(|u| u.text.as_str())
    }
}

/// Input of the core thread.
#[derive(Debug)]
pub enum CoreInput {
    /// A user's request.
    Command(Command),
    /// What the typing thread did.
    Typed(TypeResult),
    /// How an outbox delivery went.
    Delivered(Delivered),
    /// What the speech thread did.
    Speech(SpeechEvent),
    /// The ElevenLabs voices, (id, name), or why they could not be listed.
    Voices(Result<Vec<(String, String)>, String>),
    /// The speech server's supervisor saw a change.
    Server(crate::server::ServerReport),
}

/// Called with every new snapshot, on the core thread: must not block.
pub type Observer = Box<dyn Fn(&Arc<Snapshot>) + Send>;

/// The latest snapshot and who wants to hear of the next one.
#[derive(Clone, Default)]
pub struct SnapshotCell {
    latest: Arc<Mutex<Arc<Snapshot>>>,
    observers: Arc<Mutex<Vec<Observer>>>,
}

impl SnapshotCell {
    /// The newest snapshot.
    #[must_use]
    pub fn get(&self) -> Arc<Snapshot> {
        Arc::clone(&self.latest.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Calls `f` with each snapshot published from now on.
    pub fn watch(&self, f: Observer) {
        self.observers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(f);
    }

    fn publish(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&snapshot);
        for observer in self
            .observers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            observer(&snapshot);
        }
    }
}

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
}

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
    typer: Option<SyncSender<TypeJob>>,
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
    log: Arc<Vec<Utterance>>,
    notices: Vec<String>,
    hotkey_path: String,
    hotkey_held: bool,
    /// Words waiting to be typed, oldest first (see `release_typing`).
    to_type: VecDeque<TypeJob>,
    typed_anything: bool,
    dirty: bool,
    store: store::Shared,
    /// Finished utterances waiting for the store, oldest first, with their
    /// session ids.
    unsaved: VecDeque<(u64, store::Utterance)>,
    next_save: Option<Instant>,
    history_rev: u64,
    deleted: Option<store::Utterance>,
    commands: Commands,
    /// What became of the last command, for the status line.
    command_status: Option<String>,
    /// A kid or guest profile's settings were opened with an admin's PIN.
    unlocked: bool,
    /// The core's own inbox, for work it starts on other threads.
    inbox: Option<SyncSender<CoreInput>>,
    /// ElevenLabs voices, once loaded.
    voices: Arc<Vec<(String, String)>>,
    server: Option<crate::server::ServerReport>,
    /// Wrong PINs in a row, and until when PINs are not even checked.
    pin_failures: u32,
    pin_wait_until: Option<Instant>,
}

impl Coordinator {
    fn new(options: CoreOptions, cell: SnapshotCell) -> Self {
        let commands = Commands::new(options.outputs, options.store.get().as_deref());
        let mut me = Self {
            cell,
            settings: Arc::new(options.settings),
            settings_path: options.settings_path,
            typer: options.typer,
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
            log: Arc::new(Vec::new()),
            notices: options.notices,
            hotkey_path: String::new(),
            hotkey_held: false,
            to_type: VecDeque::new(),
            typed_anything: false,
            dirty: true,
            store: options.store,
            unsaved: VecDeque::new(),
            next_save: None,
            history_rev: 0,
            deleted: None,
            commands,
            command_status: None,
            unlocked: false,
            inbox: None,
            pin_failures: 0,
            pin_wait_until: None,
            voices: Arc::new(Vec::new()),
            server: None,
        };
        me.status = me.ready_status();
        me.load_log();
        me
    }

    /// Starts the transcript log with the newest stored utterances.
    fn load_log(&mut self) {
        let Some(store) = self.store.get() else {
            return;
        };
        let query = store::Query {
            limit: LOG_LEN,
            ..store::Query::default()
        };
        match store.search(&query) {
            Ok(found) => {
                self.log = Arc::new(found.into_iter().rev().map(log_entry).collect());
            }
            Err(e) => self
                .notices
                .push(format!("the history could not be read: {e}")),
        }
    }

    /// Adds one utterance to the store, opening it if needed; `Ok(None)`
    /// when there is no store at all.
    fn add(&self, record: &store::Utterance) -> Result<Option<u64>, store::StoreError> {
        self.store
            .get_or_open()?
            .map(|s| s.add_utterance(record))
            .transpose()
    }

    /// Saves a finished utterance (durably) before it is reported; keeps
    /// it in memory when the store cannot take it. Returns its store id.
    fn save(&mut self, session: u64, record: store::Utterance) -> Option<u64> {
        if !self.unsaved.is_empty() {
            // Keep the order: older unsaved utterances go first.
            self.unsaved.push_back((session, record));
            self.flush_unsaved();
            return None;
        }
        match self.add(&record) {
            Ok(Some(id)) => Some(id),
            Ok(None) => None,
            Err(e) => {
                // redb takes no more writes after a failed one until the file
                // is opened again: the retry reopens it.
                self.store.forget();
                self.notices.push(format!(
                    "the last utterance could not be saved ({e}); it is kept in memory and saved as soon as possible"
                ));
                self.unsaved.push_back((session, record));
                self.next_save = Some(Instant::now() + SAVE_RETRY);
                None
            }
        }
    }

    /// Tries again to save what the store could not take.
    fn flush_unsaved(&mut self) {
        let mut saved = 0;
        while let Some((session, record)) = self.unsaved.front() {
            match self.add(record) {
                Ok(Some(id)) => {
                    let session = *session;
                    let text = record.text.clone();
                    self.unsaved.pop_front();
                    saved += 1;
                    if let Some(u) = Arc::make_mut(&mut self.log)
                        .iter_mut()
                        .find(|u| u.saved.is_none() && u.id == session && u.text == text)
                    {
                        u.saved = Some(id);
                    }
                }
                // No store at all: nothing to wait for (and no busy retry).
                Ok(None) => {
                    self.next_save = None;
                    return;
                }
                Err(e) => {
                    self.store.forget();
                    tracing::warn!("store still unavailable: {e}");
                    self.next_save = Some(Instant::now() + SAVE_RETRY);
                    break;
                }
            }
        }
        if saved > 0 {
            self.dirty = true;
            self.history_rev += 1;
            if self.unsaved.is_empty() {
                self.next_save = None;
                self.notices.push(format!(
                    "saved {saved} utterance(s) that were waiting for the store"
                ));
            }
        }
    }

    fn run(mut self, inbox: &Receiver<CoreInput>) {
        loop {
            self.arm_voice_activation();
            if self.dirty {
                self.publish();
            }
            if self.next_save.is_some_and(|t| Instant::now() >= t) {
                self.flush_unsaved();
            }
            self.commands.pump(&self.settings);
            let running = self.active.is_some()
                || !self.flushing.is_empty()
                || self.monitor.is_some()
                || !self.to_type.is_empty();
            let wake = [self.next_save, self.commands.next_wake()]
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
                    let store = self.store.get();
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
        if !self.unsaved.is_empty() {
            self.flush_unsaved();
        }
        self.keep_unsaved_in_a_file();
    }

    /// At quit, writes what the store still could not take beside it (the
    /// next start imports it); when even that fails, into the log.
    fn keep_unsaved_in_a_file(&mut self) {
        if self.unsaved.is_empty() {
            return;
        }
        let records: Vec<_> = self.unsaved.drain(..).map(|(_, u)| u).collect();
        let stamp = records::micros(SystemTime::now());
        let file = self
            .store
            .path()
            .and_then(Path::parent)
            .map(|dir| dir.join(format!("{}{stamp}.json", store::export::UNSAVED_PREFIX)));
        let result = match &file {
            Some(file) => store::export::write_unsaved(file, records.clone()).map(|()| file),
            None => Err(store::StoreError::Io {
                path: PathBuf::new(),
                detail: "there is no data folder".into(),
            }),
        };
        match result {
            Ok(file) => tracing::warn!(
                "{} utterance(s) the store could not take were written to {}; the next start adds them",
                records.len(),
                file.display()
            ),
            Err(e) => {
                for u in &records {
                    // The last place left to keep them: the log the user can read.
                    tracing::error!(
                        "quitting with an utterance that could not be saved ({e}): {:?}",
                        u.text
                    );
                }
            }
        }
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
                let favourite = *favourite;
                self.change_history("mark the favourite", |s| {
                    s.update(*id, |u| u.favourite = favourite).map(drop)
                });
            }
            Command::DeleteUtterance(id) => self.delete(*id),
            Command::UndoDelete => self.undo_delete(),
            Command::Retype(id) => self.retype(*id),
            Command::RetryOutbox => self.commands.retry_now(),
            Command::StopSpeaking => self.commands.stop_speaking(),
            Command::TestWebhook => self.test_webhook(),
            Command::LoadVoices => self.load_voices(),
            Command::SwitchProfile { name, pin } => self.switch_profile(name, pin.as_ref()),
            Command::Unlock(pin) => self.unlock(pin),
            Command::Lock => self.unlocked = false,
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

    /// Runs a change on the store; a failure becomes a notice.
    fn change_history(
        &mut self,
        what: &str,
        change: impl FnOnce(&store::Store) -> Result<(), store::StoreError>,
    ) -> bool {
        let result = match self.store.get_or_open() {
            Ok(Some(s)) => change(&s),
            Ok(None) => {
                self.notices
                    .push(format!("cannot {what}: there is no history store"));
                return false;
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.history_rev += 1;
                true
            }
            Err(e) => {
                if e.is_transient() {
                    self.store.forget();
                }
                self.notices.push(format!("cannot {what}: {e}"));
                false
            }
        }
    }

    fn delete(&mut self, id: u64) {
        let mut removed = None;
        if self.change_history("delete the utterance", |s| {
            removed = Some(s.delete(id)?);
            Ok(())
        }) {
            self.deleted = removed;
            Arc::make_mut(&mut self.log).retain(|u| u.saved != Some(id));
        }
    }

    fn undo_delete(&mut self) {
        let Some(u) = self.deleted.take() else { return };
        let back = u.clone();
        if self.change_history("put the utterance back", |s| {
            s.put_utterance(&back).map(drop)
        }) {
            let log = Arc::make_mut(&mut self.log);
            let at = log
                .iter()
                .position(|e| e.saved.is_some_and(|s| s > u.id))
                .unwrap_or(log.len());
            log.insert(at, log_entry(u));
        } else {
            self.deleted = Some(u);
        }
    }

    fn retype(&mut self, id: u64) {
        let found = self.store.get().map(|s| s.utterance(id));
        let text = match found {
            Some(Ok(Some(u))) => u.text,
            Some(Ok(None)) => return self.notices.push(format!("there is no utterance {id}")),
            Some(Err(e)) => return self.notices.push(format!("cannot re-type: {e}")),
            None => {
                return self
                    .notices
                    .push("cannot re-type: there is no history store".into());
            }
        };
        if !self.settings.typing.enabled {
            self.notices
                .push("typing is off (Settings → Typing); the words were not typed".into());
            return;
        }
        self.to_type.push_back(TypeJob {
            utterance: RETYPE,
            text: replace::apply(&text, &self.settings.replacements),
            settings: self.settings.typing.clone(),
            focus_wait: RETYPE_FOCUS_WAIT,
        });
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
        if let (Some(store), Ok(toml)) = (self.store.get(), toml::to_string(&settings))
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
        match Pipeline::start(source, config, None) {
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
                went: destination(&session.typed),
            };
            // Saved before the utterance is reported anywhere.
            let (saved, typed) = match &session.route {
                Route::Command(command) => self.finish_command(id, command, record),
                _ => (self.save(id, record), session.typed.clone()),
            };
            if saved.is_some() {
                self.history_rev += 1;
            }
            let log = Arc::make_mut(&mut self.log);
            log.push(Utterance {
                id,
                at,
                text: text.to_owned(),
                typed,
                saved,
            });
            if log.len() > LOG_LEN {
                log.remove(0);
            }
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
        let store = match self.store.get_or_open() {
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
                (self.save(id, record), TypedOutcome::NotTyped(why))
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
            self.change_history("record the speech latency", |s| {
                s.update(u, |r| r.latency.speech_ms = Some(ms)).map(drop)
            });
        }
    }

    /// Whether the settings need an admin's PIN now.
    fn locked(&self) -> bool {
        let gate =
            super::policy::settings_gate(&self.settings.all_profiles(), &self.settings.profile());
        !self.unlocked && gate != super::policy::PinGate::Open
    }

    fn unlock(&mut self, pin: &crate::secrets::Secret) {
        if !self.pin_may_be_tried() {
            return;
        }
        if super::policy::admin_pin_matches(&self.settings.all_profiles(), pin.expose()) {
            self.unlocked = true;
            self.pin_failures = 0;
        } else {
            self.wrong_pin("a wrong PIN was entered to open the settings");
        }
    }

    /// A 4-digit PIN has 10 000 values: after [`PIN_TRIES`] wrong ones in a
    /// row, PINs wait [`PIN_WAIT`] (doubling each time) before being checked.
    fn pin_may_be_tried(&mut self) -> bool {
        match self.pin_wait_until {
            Some(t) if Instant::now() < t => {
                self.notices.push(format!(
                    "too many wrong PINs: try again in {} s",
                    t.saturating_duration_since(Instant::now()).as_secs().max(1)
                ));
                false
            }
            _ => true,
        }
    }

    fn wrong_pin(&mut self, what: &str) {
        self.pin_failures += 1;
        self.notices.push("wrong PIN".into());
        self.log_activity("pin", what);
        if self.pin_failures >= PIN_TRIES {
            let doublings = (self.pin_failures - PIN_TRIES).min(6);
            self.pin_wait_until = Some(Instant::now() + PIN_WAIT * (1 << doublings));
        }
    }

    fn switch_profile(&mut self, name: &str, pin: Option<&crate::secrets::Secret>) {
        let all = self.settings.all_profiles();
        let Some(to) = all.iter().find(|p| p.name == name) else {
            self.notices
                .push(format!("there is no profile named {name:?}"));
            return;
        };
        let current = self.settings.profile();
        let gate = super::policy::switch_gate(&all, &current, to);
        if gate != super::policy::PinGate::Open && !self.unlocked {
            if pin.is_some() && !self.pin_may_be_tried() {
                return;
            }
            let ok = pin.is_some_and(|p| gate.opens_with(&all, to, p.expose()));
            if pin.is_some() && !ok {
                self.wrong_pin(&format!(
                    "a wrong PIN was entered to switch from {} to {name}",
                    current.name
                ));
                return;
            }
            if !ok {
                self.notices.push(match gate {
                    super::policy::PinGate::ProfilePin => {
                        format!("the {name} profile's PIN is needed")
                    }
                    _ => format!(
                        "an admin's PIN is needed to leave the {} profile",
                        current.name
                    ),
                });
                self.log_activity(
                    "pin",
                    &format!("refused a switch from {} to {name}", current.name),
                );
                return;
            }
        }
        let mut settings = (*self.settings).clone();
        settings.active_profile = name.to_owned();
        self.unlocked = false;
        if let Some(path) = &self.settings_path
            && let Err(e) = settings.save(path)
        {
            self.notices.push(format!(
                "the profile is in use but could not be saved to {}: {e}",
                path.display()
            ));
        }
        self.settings = Arc::new(settings);
        self.log_activity(
            "profile",
            &format!("switched from {} to {name}", current.name),
        );
        self.status = format!("Profile: {name}");
    }

    fn log_activity(&mut self, kind: &str, message: &str) {
        if let Some(s) = self.store.get()
            && let Err(e) = s.log_activity(kind, message)
        {
            tracing::warn!("activity log: {e}");
        }
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
        if !self.settings.typing.enabled {
            return;
        }
        let text = replace::apply(piece, &self.settings.replacements);
        let text = if self.typed_anything {
            format!(" {text}")
        } else {
            text
        };
        self.typed_anything = true;
        let job = TypeJob {
            utterance: id,
            text,
            settings: self.settings.typing.clone(),
            focus_wait: Duration::ZERO,
        };
        self.to_type.push_back(job);
        self.release_typing();
    }

    /// Hands queued words to the typing thread, in utterance order: words
    /// of a newer utterance wait while an older one is still finishing (its
    /// last words come with its final transcript), and everything waits
    /// while the push-to-talk hotkey is held, because the X server then
    /// sends every key to the hotkey's grab instead of the focused window.
    /// A full typing queue keeps the words here for the next round.
    fn release_typing(&mut self) {
        if self.hotkey_held && self.settings.hotkey.mode == HotkeyMode::PushToTalk {
            return;
        }
        let oldest_finishing = self.flushing.iter().map(|s| s.id).min();
        while let Some(job) = self.to_type.front() {
            if oldest_finishing.is_some_and(|oldest| job.utterance > oldest) {
                return;
            }
            let Some(typer) = &self.typer else {
                let id = job.utterance;
                self.to_type.clear();
                self.set_typed(id, TypedOutcome::NotTyped("typing is unavailable".into()));
                return;
            };
            let Some(job) = self.to_type.pop_front() else {
                return;
            };
            match typer.try_send(job) {
                Ok(()) => {}
                Err(mpsc::TrySendError::Full(job)) => {
                    self.to_type.push_front(job);
                    return;
                }
                Err(mpsc::TrySendError::Disconnected(job)) => {
                    let why = "the typing thread stopped; words not typed".to_owned();
                    self.notices.push(why.clone());
                    self.set_typed(job.utterance, TypedOutcome::NotTyped(why));
                    self.to_type.clear();
                    return;
                }
            }
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
        let went = destination(&outcome);
        if let Some((_, u)) = self.unsaved.iter_mut().find(|(s, _)| *s == id) {
            u.went = went.clone();
        }
        let Some(u) = Arc::make_mut(&mut self.log).iter_mut().find(|u| u.id == id) else {
            return;
        };
        u.typed = outcome;
        if let (Some(key), Some(store)) = (u.saved, self.store.get()) {
            match store.update(key, |u| u.went = went) {
                Ok(_) => self.history_rev += 1,
                Err(e) => self.notices.push(format!(
                    "could not note in the history that typing failed: {e}"
                )),
            }
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
            log: Arc::clone(&self.log),
            unsaved: self.unsaved.len(),
            history_rev: self.history_rev,
            undo: self.deleted.as_ref().map(|u| u.text.clone()),
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

/// The transcript log's entry for a stored utterance (no session: it came
/// from the store).
fn log_entry(u: store::Utterance) -> Utterance {
    Utterance {
        id: 0,
        at: u.at(),
        typed: outcome(&u.went),
        saved: Some(u.id),
        text: u.text,
    }
}

/// What the transcript log says of a stored destination.
fn outcome(went: &store::Destination) -> TypedOutcome {
    match went {
        store::Destination::Typed => TypedOutcome::Typed,
        store::Destination::N8n => TypedOutcome::NotTyped("sent to n8n".into()),
        store::Destination::Nowhere { why } => TypedOutcome::NotTyped(why.clone()),
    }
}

/// Where the store says an utterance's words went.
fn destination(typed: &TypedOutcome) -> store::Destination {
    match typed {
        TypedOutcome::Typed => store::Destination::Typed,
        TypedOutcome::Off => store::Destination::Nowhere {
            why: "typing off".into(),
        },
        TypedOutcome::NotTyped(why) => store::Destination::Nowhere { why: why.clone() },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::store::testing::{SmallDisk, utterance as record};

    /// A full disk: the finished utterance stays in memory (and is said to),
    /// retries fail while the disk is full, and once space is back the
    /// store is opened again and takes it, in order.
    #[test]
    fn a_full_disk_keeps_finished_utterances_in_memory_until_they_can_be_saved() {
        let limit = Arc::new(AtomicU64::new(4 << 20));
        let memory = Arc::new(redb::backends::InMemoryBackend::new());
        let shared = {
            let (limit, memory) = (Arc::clone(&limit), Arc::clone(&memory));
            store::Shared::with_opener(move || {
                let disk = SmallDisk {
                    inner: Arc::clone(&memory),
                    limit: Arc::clone(&limit),
                };
                store::Store::with_backend(disk, Path::new("/small/disk.redb"))
            })
        };
        let mut core = Coordinator::new(
            CoreOptions {
                settings: Settings::default(),
                settings_path: None,
                notices: Vec::new(),
                typer: None,
                store: shared.clone(),
                outputs: Default::default(),
            },
            SnapshotCell::default(),
        );
        // Fill the disk.
        let filler = "words that fill the disk ".repeat(40);
        let store = shared.get_or_open().expect("open").expect("store");
        let mut n = 1;
        while store.add_utterance(&record(n, &filler)).is_ok() {
            n += 1;
        }
        drop(store);
        shared.forget();

        assert_eq!(
            core.save(7, record(1 << 50, "first after the disk filled")),
            None
        );
        assert_eq!(core.save(8, record(1 << 51, "second")), None);
        assert_eq!(core.unsaved.len(), 2);
        assert!(
            core.notices
                .iter()
                .any(|n| n.contains("is full") && n.contains("kept in memory")),
            "{:?}",
            core.notices
        );
        core.flush_unsaved();
        assert_eq!(core.unsaved.len(), 2, "still full: still kept");

        limit.store(64 << 20, Ordering::SeqCst);
        core.flush_unsaved();
        assert!(core.unsaved.is_empty());
        assert!(
            core.notices
                .iter()
                .any(|n| n.contains("saved 2 utterance(s)"))
        );
        let store = shared.get().expect("reopened");
        let newest = store
            .search(&store::Query {
                limit: 2,
                ..store::Query::default()
            })
            .expect("search");
        let texts: Vec<_> = newest.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, ["second", "first after the disk filled"]);
    }
}
