//! What the core publishes and takes: the [`Snapshot`] the window and tray
//! draw (read-only, cheap to clone), the [`SnapshotCell`] holding the
//! latest one, and [`CoreInput`], everything the core's inbox carries.

use std::sync::{Arc, Mutex, PoisonError};

use super::commands::{Pending, Reply};
use crate::config::settings::Settings;
use crate::integrations::deliver::Delivered;
use crate::integrations::speech::SpeechEvent;
use crate::integrations::typing::TypeResult;
use crate::messages::{Command, DictationState, Level, Notice, Utterance};

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
    pub notices: Vec<Notice>,
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
    /// A profile switch asked for by another process (`tonnytray profile`),
    /// which waits for the answer: `Err` says why it was refused.
    SwitchProfile {
        /// The profile to switch to.
        name: String,
        /// The admin's PIN, where the household needs one.
        pin: Option<crate::secrets::Secret>,
        /// Where the answer goes.
        reply: std::sync::mpsc::SyncSender<Result<(), String>>,
    },
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

    /// Makes `snapshot` the latest and tells the observers (the core).
    pub(super) fn publish(&self, snapshot: Snapshot) {
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
