//! Every type that crosses a thread boundary: the dictation pipeline's
//! (here) and the store worker's ([`history`]). Plain data only: no I/O, no
//! handles.

pub mod history;
pub mod notice;

pub use notice::{Notice, Notices, Severity};

use std::time::{Duration, Instant};

/// Input level of a stretch of audio, in linear full-scale units (0.0–1.0).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Level {
    /// Root mean square.
    pub rms: f32,
    /// Largest absolute sample.
    pub peak: f32,
}

/// ~100 ms of 16 kHz mono s16 audio, ready for the speech server.
#[derive(Debug, Clone)]
pub struct AudioChunk {
    /// Sequence number within the utterance, from 0.
    pub seq: u64,
    /// The samples.
    pub samples: Vec<i16>,
    /// Level of these samples.
    pub level: Level,
    /// When the newest input sample behind this chunk entered the ring buffer
    /// (for the client-latency measurement).
    pub entered_at: Instant,
}

/// What the `asr` thread takes in.
#[derive(Debug)]
pub enum AsrInput {
    /// Audio of the current utterance.
    Audio(AudioChunk),
    /// The utterance is over: flush and report the final text.
    EndOfStream,
    /// Something happened on the WebSocket connection numbered `conn`.
    Socket {
        /// Which connection (older ones' events are ignored).
        conn: u64,
        /// What happened.
        event: SocketEvent,
    },
    /// Stop now, without waiting for the server.
    Shutdown,
}

/// A WebSocket event, as the `asr` thread needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    /// The handshake completed.
    Opened,
    /// A text message arrived.
    Text(String),
    /// The connection failed or closed, and why.
    Closed(String),
}

/// Progress and results of the dictation pipeline, for whoever drives it.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    /// The audio source opened.
    SourceStarted {
        /// Device or file name.
        name: String,
        /// Its native sample rate.
        sample_rate: u32,
        /// Its channel count.
        channels: u16,
    },
    /// Connected (or reconnected) to the speech server.
    Connected {
        /// Seconds of audio that will be sent again because their words were
        /// not committed before the last connection dropped.
        resending_secs: f64,
    },
    /// The live transcript changed.
    Transcript {
        /// Final text so far.
        committed: String,
        /// Text that may still change.
        tentative: String,
    },
    /// The connection failed or dropped; the audio is kept and retried.
    Disconnected {
        /// What went wrong.
        reason: String,
        /// When the next attempt happens.
        retry_in: Duration,
        /// Whether any connection of this utterance ever opened.
        ever_connected: bool,
    },
    /// The server reported a problem but the stream goes on.
    ServerWarning(String),
    /// Voice activation heard speech begin; its audio (with a short
    /// pre-roll) now goes to the server.
    SpeechStarted,
    /// Voice activation heard the speech end; the utterance is finishing.
    SpeechEnded,
    /// Input level of the latest ~100 ms (for meters and waveforms; skipped
    /// when the receiver is behind, a newer one follows).
    Level(Level),
    /// The audio input produced more data than the pipeline could take; this
    /// many input samples were lost. Reported, never silent.
    Overflow {
        /// Input samples lost since the last report.
        samples: u64,
    },
    /// The audio input device stopped working, and no other could take
    /// over: the utterance ends with what was heard.
    DeviceLost(String),
    /// The audio input device stopped working and the default input took
    /// over; the utterance goes on, and what was heard before is kept.
    DeviceChanged {
        /// What stopped, and why.
        lost: String,
        /// The input now listened to.
        now: String,
    },
    /// The utterance is complete: every committed word.
    Finished {
        /// The whole transcript.
        text: String,
        /// From the end-of-stream frame to the server's `ready_to_stop`.
        flush_time: Duration,
    },
    /// The pipeline gave up; the message says why and what to do.
    Failed(FailureKind, String),
}

/// Why the pipeline gave up, for exit codes and UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The server could not be reached at all.
    CannotConnect,
    /// The server was reached once but stayed away too long, or stopped answering.
    ServerLost,
    /// The audio source could not be opened or read.
    Audio,
}

/// What the dictation is doing, for the GUI, the tray icon and the hotkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DictationState {
    /// Waiting for the hotkey, a click, or speech.
    #[default]
    Idle,
    /// The microphone is open and words stream to the server.
    Listening,
    /// The microphone is closed; the last words are being transcribed.
    Processing,
    /// The last attempt failed; the status says why.
    Error,
    /// Paused by the user: the hotkey and voice activation do nothing.
    Disabled,
}

impl DictationState {
    /// A short word for the state, as shown in the UI and tray.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Listening => "Listening",
            Self::Processing => "Processing",
            Self::Error => "Error",
            Self::Disabled => "Paused",
        }
    }
}

/// A request to the core thread, from the GUI, the tray or the hotkey.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open the microphone and dictate.
    StartRecording,
    /// Close the microphone; the last words are still transcribed.
    StopRecording,
    /// Start when idle, stop when listening.
    ToggleRecording,
    /// The global hotkey went down (meaning depends on the hotkey mode).
    HotkeyPressed,
    /// The global hotkey came up.
    HotkeyReleased,
    /// Pause (disable) or resume dictation.
    SetPaused(bool),
    /// Use these settings from now on and save them.
    ApplySettings(Box<crate::config::settings::Settings>),
    /// Show this microphone's level while nothing is recording (the settings
    /// tab's meter); `None` stops showing it. `Some("")` is the default input.
    MonitorMic(Option<String>),
    /// Show something the core did not see itself (hotkey, tray, a backup
    /// made) among the notices.
    Notice(Notice),
    /// How the global hotkey listens now (X11 grab, desktop portal and the
    /// key the desktop bound, the desktop's own bindings, or not at all).
    HotkeyPath(String),
    /// The user has read the notices; clear them.
    DismissNotices,
    /// A problem told with [`Command::Notice`] went away (a tray host
    /// appeared): take that notice back.
    WithdrawNotice(String),
    /// Mark (or unmark) a stored utterance as a favourite.
    SetFavourite {
        /// Its store id.
        id: u64,
        /// Marked or not.
        favourite: bool,
    },
    /// Delete a stored utterance (undoable until the next delete).
    DeleteUtterance(u64),
    /// Put back the last deleted utterance.
    UndoDelete,
    /// Type a stored utterance again into the focused window.
    Retype(u64),
    /// Send the waiting commands now (closes the circuit breaker).
    RetryOutbox,
    /// Stop speaking and drop the queued replies.
    StopSpeaking,
    /// Send a test command to the n8n webhook (Settings' "Test" button).
    TestWebhook,
    /// Fetch the ElevenLabs voices (for the settings' voice picker).
    LoadVoices,
    /// Use another profile; leaving a kid or guest profile needs an admin's PIN.
    SwitchProfile {
        /// The profile's name.
        name: String,
        /// An admin's PIN, when one is needed.
        pin: Option<crate::secrets::Secret>,
    },
    /// Open the settings of a kid or guest profile with an admin's PIN.
    Unlock(crate::secrets::Secret),
    /// Lock the settings again (kid and guest profiles).
    Lock,
    /// Keep a token or key in the OS keyring (`None` deletes it).
    SetSecret {
        /// One of the names in [`crate::secrets`].
        name: String,
        /// The value.
        value: Option<crate::secrets::Secret>,
    },
    /// Restart the managed speech server (the tray's "Restart speech
    /// server"); handled by the server's supervisor, not the core.
    RestartServer,
    /// Finish what is in flight and stop the core thread.
    Shutdown,
}

/// One finished utterance in the transcript log.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Number of its dictation session within this run of the app (0 for
    /// utterances loaded from the store).
    pub id: u64,
    /// When it finished.
    pub at: std::time::SystemTime,
    /// Every committed word.
    pub text: String,
    /// What happened to it in other apps.
    pub typed: TypedOutcome,
    /// Its id in the store once saved (`None`: kept in memory until the
    /// store can take it).
    pub saved: Option<u64>,
}

/// Whether an utterance's words were typed into another window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedOutcome {
    /// Typing is off.
    Off,
    /// Typed (possibly in pieces as words were committed).
    Typed,
    /// Not typed, and why (deny list, tool missing, …).
    NotTyped(String),
}

impl TypedOutcome {
    /// How the transcript log and `tonnytray status` say it.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Off => "not typed (typing off)".to_owned(),
            Self::Typed => "typed".to_owned(),
            Self::NotTyped(why) => format!("not typed: {why}"),
        }
    }
}
