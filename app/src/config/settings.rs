//! The user's settings: one serde struct with defaults, kept as TOML in the
//! XDG config dir. Loading never fails: a bad key falls back to its default
//! and is reported by name, and a file that could not be read as written is
//! copied aside first so nothing the user typed is lost.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::profiles::{Profile, ResponseMode};
use super::{DEFAULT_SERVER_URL, validate_server_url};

/// Everything the user can set. Every field has a default, so an empty or
/// partial file is fine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The speech server.
    pub server: ServerSettings,
    /// The microphone.
    pub audio: AudioSettings,
    /// The global hotkey.
    pub hotkey: HotkeySettings,
    /// Starting and stopping on speech.
    pub voice_activation: VoiceActivationSettings,
    /// Typing the words into the focused window.
    pub typing: TypingSettings,
    /// Words to replace before typing: `from` → `to` (custom vocabulary).
    pub replacements: Vec<Replacement>,
    /// The window.
    pub ui: UiSettings,
    /// Backups of the history store.
    pub backup: BackupSettings,
    /// Voice commands: the prefix, replies and confirmations.
    pub commands: CommandSettings,
    /// The n8n webhook that commands go to.
    pub n8n: N8nSettings,
    /// Spoken replies.
    pub elevenlabs: ElevenLabsSettings,
    /// Command events for other systems.
    pub rabbitmq: RabbitMqSettings,
    /// Logs and metrics.
    pub telemetry: TelemetrySettings,
    /// Household profiles; empty: one admin profile named "default".
    pub profiles: Vec<Profile>,
    /// The profile in use (a name from `profiles`; empty: the first).
    pub active_profile: String,
}

/// How the user is told a command went out or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// Only the window and tray show it.
    Silent,
    /// A desktop notification.
    #[default]
    Visual,
    /// A short beep.
    Audio,
}

/// Voice commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandSettings {
    /// An utterance starting with one of these is a command (case and
    /// punctuation do not matter); empty: no commands, all dictation.
    pub prefixes: Vec<String>,
    /// What happens to a reply, unless the profile says otherwise.
    pub response_mode: ResponseMode,
    /// How a sent, failed or answered command is confirmed.
    pub confirmation: Confirmation,
}

impl Default for CommandSettings {
    fn default() -> Self {
        Self {
            prefixes: vec!["Computer".to_owned(), "Hey House".to_owned()],
            response_mode: ResponseMode::Both,
            confirmation: Confirmation::Visual,
        }
    }
}

/// The n8n webhook. Its bearer token lives in the OS keyring ("n8n-token").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct N8nSettings {
    /// Production webhook URL, e.g. `https://n8n.home.example/webhook/ask-tonny`;
    /// empty: commands are kept in the outbox until one is set.
    pub url: String,
    /// Allow plain http to loopback and private (LAN) IP addresses.
    pub allow_http: bool,
    /// Seconds to wait for the reply.
    pub timeout_secs: u32,
}

impl Default for N8nSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            allow_http: false,
            timeout_secs: 10,
        }
    }
}

/// ElevenLabs text-to-speech. The API key lives in the OS keyring
/// ("elevenlabs-api-key").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElevenLabsSettings {
    /// API address (changed only for tests and proxies).
    pub base_url: String,
    /// Voice for replies unless the profile has its own; empty: replies are
    /// not spoken until one is chosen.
    pub voice_id: String,
    /// Speech model.
    pub model_id: String,
    /// Playback volume, 0.0–2.0.
    pub volume: f32,
    /// Speaking speed, 0.7–1.2 (ElevenLabs' range).
    pub speed: f32,
}

impl Default for ElevenLabsSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.elevenlabs.io".to_owned(),
            voice_id: String::new(),
            model_id: "eleven_multilingual_v2".to_owned(),
            volume: 1.0,
            speed: 1.0,
        }
    }
}

/// Publishing each command to RabbitMQ. The password lives in the OS
/// keyring ("rabbitmq-password").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RabbitMqSettings {
    /// Publish command events.
    pub enabled: bool,
    /// Broker URL without the password.
    pub url: String,
    /// Exchange.
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
}

impl Default for RabbitMqSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            url: "amqp://guest@127.0.0.1:5672/%2f".to_owned(),
            exchange: "amq.topic".to_owned(),
            routing_key: "thread.tonny.prompt".to_owned(),
        }
    }
}

/// Where and how speech is recognised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// WhisperLiveKit WebSocket URL.
    pub url: String,
    /// Whisper model the server should run (used when the app starts it).
    pub model: String,
    /// Spoken language (ISO code, or "auto").
    pub language: String,
    /// Start, watch and restart a local server when none answers at `url`
    /// (loopback URLs only; a remote server is never managed).
    pub managed: bool,
    /// The `asr-server.sh` that starts it; empty looks in the usual places
    /// (the data dir, the package's share dir, the checkout).
    pub script: String,
}

/// Logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Serve Prometheus metrics on 127.0.0.1.
    pub metrics_enabled: bool,
    /// Their port.
    pub metrics_port: u16,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            metrics_enabled: false,
            metrics_port: crate::telemetry::metrics::DEFAULT_PORT,
        }
    }
}

/// Which microphone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AudioSettings {
    /// Device id or name; empty follows the system default.
    pub device: String,
}

/// How the hotkey starts and stops dictation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HotkeyMode {
    /// Dictate while the keys are held.
    #[default]
    PushToTalk,
    /// One press starts, the next stops.
    Toggle,
}

/// The global hotkey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HotkeySettings {
    /// Key combination, e.g. "Ctrl+Shift+V".
    pub binding: String,
    /// Hold or toggle.
    pub mode: HotkeyMode,
}

/// Energy-based voice activation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceActivationSettings {
    /// Listen for speech without the hotkey.
    pub enabled: bool,
    /// 0.0 (needs a loud voice) to 1.0 (starts on a whisper).
    pub sensitivity: f32,
    /// With voice activation, end the utterance after this many seconds of silence.
    pub silence_stop_secs: f32,
    /// Warn when the microphone has given only silence for this long.
    pub silent_mic_warning_secs: f32,
}

/// Where the committed words go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TypingMethod {
    /// Keys, a character at a time (XTEST on X11, the virtual keyboard on
    /// Wayland), else clipboard paste.
    #[default]
    Auto,
    /// Paste through the clipboard, restoring it afterwards.
    Clipboard,
}

/// Typing into other apps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TypingSettings {
    /// Type committed words into the focused window.
    pub enabled: bool,
    /// Pause between typed characters, in milliseconds.
    pub delay_ms: u32,
    /// Tool choice.
    pub method: TypingMethod,
    /// Only type into windows whose title or class contains one of these
    /// (case-insensitive); empty allows every window.
    pub allow: Vec<String>,
    /// Never type into windows whose title or class contains one of these.
    pub deny: Vec<String>,
}

/// One vocabulary fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    /// What the recogniser writes (whole words, case-insensitive).
    pub from: String,
    /// What to type instead.
    pub to: String,
}

/// Light, dark, or whatever the system uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Follow the system.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// The window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// Colour scheme.
    pub theme: Theme,
    /// Start with the window hidden in the tray.
    pub start_hidden: bool,
}

/// Where backups go and how many are kept (`tonnytray backup --prune`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSettings {
    /// Backup folder; empty: `backups` beside the store file.
    pub dir: String,
    /// Keep the newest backup of each of this many days…
    pub keep_daily: usize,
    /// …ISO weeks…
    pub keep_weekly: usize,
    /// …and months.
    pub keep_monthly: usize,
}

/// How many backups to keep: the newest of each of the last N days, weeks
/// (ISO weeks) and months that have one. The newest backup is always kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Days.
    pub daily: usize,
    /// Weeks.
    pub weekly: usize,
    /// Months.
    pub monthly: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            daily: 7,
            weekly: 4,
            monthly: 12,
        }
    }
}

impl Default for BackupSettings {
    fn default() -> Self {
        let r = Retention::default();
        Self {
            dir: String::new(),
            keep_daily: r.daily,
            keep_weekly: r.weekly,
            keep_monthly: r.monthly,
        }
    }
}

impl BackupSettings {
    /// The retention these settings ask for.
    #[must_use]
    pub fn retention(&self) -> Retention {
        Retention {
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
        }
    }

    /// The backup folder for the store at `store_path`.
    #[must_use]
    pub fn folder(&self, store_path: &Path) -> PathBuf {
        if self.dir.trim().is_empty() {
            // `backups` beside the store file.
            store_path
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join("backups")
        } else {
            PathBuf::from(self.dir.trim())
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_SERVER_URL.to_owned(),
            model: "tiny.en".to_owned(),
            language: "en".to_owned(),
            managed: true,
            script: String::new(),
        }
    }
}

impl Default for HotkeySettings {
    fn default() -> Self {
        Self {
            binding: "Ctrl+Shift+V".to_owned(),
            mode: HotkeyMode::PushToTalk,
        }
    }
}

impl Default for VoiceActivationSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            sensitivity: 0.5,
            silence_stop_secs: 1.5,
            silent_mic_warning_secs: 10.0,
        }
    }
}

impl Default for TypingSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            delay_ms: 12,
            method: TypingMethod::Auto,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

/// A setting that could not be used, by its dotted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. `server.url`; `(file)` for the file as a whole.
    pub key: String,
    /// What is wrong, and what was used instead.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl Settings {
    /// Checks values that parse but make no sense, naming each bad key.
    #[must_use]
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |key: &str, message: String| {
            problems.push(Problem {
                key: key.to_owned(),
                message,
            });
        };
        if let Err(e) = validate_server_url(&self.server.url) {
            bad("server.url", e.to_string());
        }
        if self.server.model.trim().is_empty() {
            bad("server.model", "must not be empty".into());
        }
        if self.telemetry.metrics_port == 0 {
            bad(
                "telemetry.metrics_port",
                "must be a port from 1 to 65535".into(),
            );
        }
        if let Err(e) = self.hotkey.binding.parse::<global_hotkey::hotkey::HotKey>() {
            bad(
                "hotkey.binding",
                format!(
                    "{:?} is not a key combination ({e}); write it like \"Ctrl+Shift+V\"",
                    self.hotkey.binding
                ),
            );
        }
        let va = &self.voice_activation;
        if !(0.0..=1.0).contains(&va.sensitivity) {
            bad(
                "voice_activation.sensitivity",
                format!("{} is outside 0.0–1.0", va.sensitivity),
            );
        }
        for (key, v) in [
            ("voice_activation.silence_stop_secs", va.silence_stop_secs),
            (
                "voice_activation.silent_mic_warning_secs",
                va.silent_mic_warning_secs,
            ),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 600.0) {
                bad(key, format!("{v} must be between 0 and 600 seconds"));
            }
        }
        if self.typing.delay_ms > 1000 {
            bad(
                "typing.delay_ms",
                format!("{} ms is too slow (at most 1000)", self.typing.delay_ms),
            );
        }
        for (i, r) in self.replacements.iter().enumerate() {
            if r.from.trim().is_empty() {
                bad(
                    &format!("replacements[{i}].from"),
                    "must not be empty".into(),
                );
            }
            // What is typed goes into terminals too: a line break there
            // is Enter, which would run whatever came before it.
            for (field, text) in [("from", &r.from), ("to", &r.to)] {
                if text.chars().any(char::is_control) {
                    bad(
                        &format!("replacements[{i}].{field}"),
                        "contains a control character (a line break would press Enter where it is typed)".into(),
                    );
                }
            }
        }
        self.validate_commands(&mut bad);
        problems
    }

    fn validate_commands(&self, bad: &mut impl FnMut(&str, String)) {
        for (i, p) in self.commands.prefixes.iter().enumerate() {
            if !p.chars().any(char::is_alphanumeric) {
                bad(
                    &format!("commands.prefixes[{i}]"),
                    format!("{p:?} has no words"),
                );
            }
        }
        if !self.n8n.url.trim().is_empty()
            && let Err(e) = super::webhook_url::check_url(self.n8n.url.trim(), self.n8n.allow_http)
        {
            bad("n8n.url", e.to_string());
        }
        if !(1..=300).contains(&self.n8n.timeout_secs) {
            bad(
                "n8n.timeout_secs",
                format!(
                    "{} must be between 1 and 300 seconds",
                    self.n8n.timeout_secs
                ),
            );
        }
        let el = &self.elevenlabs;
        if !(el.base_url.starts_with("https://") || el.base_url.starts_with("http://127.0.0.1")) {
            bad(
                "elevenlabs.base_url",
                format!(
                    "{:?} must start with https:// (plain http only to 127.0.0.1)",
                    el.base_url
                ),
            );
        }
        if !(el.volume.is_finite() && (0.0..=2.0).contains(&el.volume)) {
            bad(
                "elevenlabs.volume",
                format!("{} is outside 0.0–2.0", el.volume),
            );
        }
        if !(el.speed.is_finite() && (0.7..=1.2).contains(&el.speed)) {
            bad(
                "elevenlabs.speed",
                format!("{} is outside 0.7–1.2", el.speed),
            );
        }
        let mq = &self.rabbitmq;
        if !(mq.url.starts_with("amqp://") || mq.url.starts_with("amqps://")) {
            bad(
                "rabbitmq.url",
                format!("{:?} must start with amqp:// or amqps://", mq.url),
            );
        }
        if mq.url.split_once("://").is_some_and(|(_, rest)| {
            rest.split('@')
                .next()
                .is_some_and(|user| user.contains(':') && rest.contains('@'))
        }) {
            bad(
                "rabbitmq.url",
                "must not contain a password: keep it in the keyring (`tonnytray secret set rabbitmq-password`)".into(),
            );
        }
        if mq.routing_key.trim().is_empty() {
            bad("rabbitmq.routing_key", "must not be empty".into());
        }
        for message in super::profiles::validate(&self.profiles) {
            bad("profiles", message);
        }
        if !self.active_profile.is_empty()
            && !self.profiles.iter().any(|p| p.name == self.active_profile)
        {
            bad(
                "active_profile",
                format!("there is no profile named {:?}", self.active_profile),
            );
        }
    }

    /// The profiles in use: the configured ones, or one admin profile
    /// named "default".
    #[must_use]
    pub fn all_profiles(&self) -> Vec<Profile> {
        if self.profiles.is_empty() {
            vec![Profile::new(
                super::profiles::DEFAULT_PROFILE,
                super::profiles::Role::Admin,
            )]
        } else {
            self.profiles.clone()
        }
    }

    /// The active profile (the first when the name matches none).
    #[must_use]
    pub fn profile(&self) -> Profile {
        let all = self.all_profiles();
        all.iter()
            .find(|p| p.name == self.active_profile)
            .or_else(|| all.first())
            .cloned()
            .unwrap_or_default()
    }

    /// The settings file's usual place: `$XDG_CONFIG_HOME/tonnytray/settings.toml`.
    #[must_use]
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "tonnytray")
            .map(|d| d.config_dir().join("settings.toml"))
    }

    /// Writes the settings atomically (temporary file, then rename), so a
    /// crash or full disk never leaves half a file.
    ///
    /// # Errors
    /// When the directory or file cannot be written.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = toml::to_string_pretty(self).map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}

/// What [`load`] found.
#[derive(Debug)]
pub struct Loaded {
    /// Usable settings: the file's good keys, defaults for the rest.
    pub settings: Settings,
    /// Every key that was wrong, and why.
    pub problems: Vec<Problem>,
    /// Where the unreadable original was copied, if it was.
    pub kept_copy: Option<PathBuf>,
}

/// Reads the settings file. A missing file gives the defaults; a bad key
/// gets its default and a [`Problem`]; a file with any problem is copied to
/// `settings.toml.bad-<unix time>` before anything overwrites it.
#[must_use]
pub fn load(path: &Path) -> Loaded {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Loaded {
                settings: Settings::default(),
                problems: Vec::new(),
                kept_copy: None,
            };
        }
        Err(e) => {
            let problem = Problem {
                key: "(file)".into(),
                message: format!("cannot read {}: {e}; using defaults", path.display()),
            };
            return with_copy(path, Settings::default(), vec![problem]);
        }
    };
    let (settings, problems) = parse(&text);
    if problems.is_empty() {
        Loaded {
            settings,
            problems,
            kept_copy: None,
        }
    } else {
        with_copy(path, settings, problems)
    }
}

fn with_copy(path: &Path, settings: Settings, mut problems: Vec<Problem>) -> Loaded {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let copy = path.with_extension(format!("toml.bad-{stamp}"));
    let kept_copy = match std::fs::copy(path, &copy) {
        Ok(_) => Some(copy),
        Err(e) => {
            problems.push(Problem {
                key: "(file)".into(),
                message: format!(
                    "could not keep a copy of the file at {}: {e}; it will not be overwritten",
                    copy.display()
                ),
            });
            None
        }
    };
    Loaded {
        settings,
        problems,
        kept_copy,
    }
}

/// Parses settings text key by key: each value from the file is tried on top
/// of the defaults, so one bad key never costs the others.
#[must_use]
pub fn parse(text: &str) -> (Settings, Vec<Problem>) {
    let file: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let problem = Problem {
                key: "(file)".into(),
                message: format!("not valid TOML ({}); using defaults", e.message()),
            };
            return (Settings::default(), vec![problem]);
        }
    };
    let mut problems = Vec::new();
    let mut accepted = toml::Table::try_from(Settings::default()).unwrap_or_default();
    let mut leaves = leaves(&file);
    // A key checked against another goes after it: `active_profile` names
    // one of `profiles`.
    leaves.sort_by_key(|(key, _)| key.first().is_some_and(|k| k == "active_profile"));
    for (key, value) in leaves {
        let mut candidate = accepted.clone();
        set_leaf(&mut candidate, &key, value.clone());
        match toml::Value::Table(candidate.clone()).try_into::<Settings>() {
            Ok(s) => {
                let invalid = s.validate().into_iter().find(|p| key_matches(&p.key, &key));
                match invalid {
                    Some(p) => problems.push(Problem {
                        key: p.key,
                        message: format!("{}; using the default", p.message),
                    }),
                    None => accepted = candidate,
                }
            }
            Err(e) => problems.push(Problem {
                key: key.join("."),
                message: format!("{}; using the default", first_line(e.message())),
            }),
        }
    }
    let settings = toml::Value::Table(accepted)
        .try_into()
        .unwrap_or_else(|_| Settings::default());
    (settings, problems)
}

/// Whether a validation problem's key belongs to the file key being tried.
fn key_matches(problem_key: &str, key: &[String]) -> bool {
    let joined = key.join(".");
    problem_key == joined || problem_key.starts_with(&format!("{joined}["))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// The file's keys down to the level of a settings field: tables are walked,
/// everything else (arrays included) is one leaf.
fn leaves(table: &toml::Table) -> Vec<(Vec<String>, &toml::Value)> {
    let mut out = Vec::new();
    for (k, v) in table {
        match v {
            toml::Value::Table(inner) if !inner.is_empty() => {
                for (mut path, leaf) in leaves(inner) {
                    path.insert(0, k.clone());
                    out.push((path, leaf));
                }
            }
            _ => out.push((vec![k.clone()], v)),
        }
    }
    out
}

fn set_leaf(table: &mut toml::Table, key: &[String], value: toml::Value) {
    match key {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set_leaf(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let d = Settings::default();
        assert!(d.validate().is_empty(), "{:?}", d.validate());
        let text = toml::to_string_pretty(&d).expect("serialise");
        assert_eq!(parse(&text), (d, Vec::new()));
    }

    #[test]
    fn the_active_profile_may_name_a_profile_defined_after_it() {
        let text = "active_profile = \"Kids\"\n[[profiles]]\nname = \"Dad\"\nrole = \"admin\"\n\
                    [[profiles]]\nname = \"Kids\"\nrole = \"user\"\n";
        let (s, problems) = parse(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(s.profile().name, "Kids");
        let (s, problems) = parse("active_profile = \"Nobody\"\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "active_profile");
        assert_eq!(s.profile().name, "default");
    }

    #[test]
    fn an_empty_file_gives_defaults() {
        assert_eq!(parse(""), (Settings::default(), Vec::new()));
    }

    #[test]
    fn good_keys_are_kept_and_bad_keys_fall_back_by_name() {
        let text = r#"
            [server]
            url = "http://nope"
            language = "de"
            [hotkey]
            binding = "Ctrl+Shift+Banana"
            mode = "toggle"
            [typing]
            delay_ms = "fast"
            [voice_activation]
            sensitivity = 3.0
            colour = "blue"
        "#;
        let (s, problems) = parse(text);
        assert_eq!(s.server.language, "de");
        assert_eq!(s.server.url, DEFAULT_SERVER_URL);
        assert_eq!(s.hotkey.mode, HotkeyMode::Toggle);
        assert_eq!(s.hotkey.binding, "Ctrl+Shift+V");
        assert_eq!(s.typing.delay_ms, 12);
        assert!((s.voice_activation.sensitivity - 0.5).abs() < f32::EPSILON);
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "hotkey.binding",
                "server.url",
                "typing.delay_ms",
                "voice_activation.colour",
                "voice_activation.sensitivity",
            ]
        );
        assert!(problems[0].message.contains("Banana"), "{}", problems[0]);
        assert!(
            problems[3].message.contains("unknown field"),
            "{}",
            problems[3]
        );
    }

    #[test]
    fn a_file_that_is_not_toml_gives_defaults_and_says_so() {
        let (s, problems) = parse("[server\nurl = ");
        assert_eq!(s, Settings::default());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "(file)");
        assert!(problems[0].message.contains("not valid TOML"));
    }

    #[test]
    fn a_replacement_cannot_type_a_line_break() {
        let (s, problems) =
            parse("replacements = [{ from = \"hello\", to = \"hello\\nrm -rf ~\\n\" }]");
        assert!(s.replacements.is_empty());
        assert_eq!(problems[0].key, "replacements[0].to");
        assert!(problems[0].message.contains("Enter"), "{}", problems[0]);
        let (_, problems) = parse("replacements = [{ from = \"a\\u001b\", to = \"b\" }]");
        assert_eq!(problems[0].key, "replacements[0].from");
    }

    #[test]
    fn replacements_are_checked_per_entry() {
        let (s, problems) = parse("replacements = [{ from = \"\", to = \"x\" }]");
        assert!(s.replacements.is_empty());
        assert_eq!(problems[0].key, "replacements[0].from");
        let (s, problems) = parse("replacements = [{ from = \"tony\", to = \"Tonny\" }]");
        assert!(problems.is_empty());
        assert_eq!(s.replacements[0].to, "Tonny");
    }

    #[test]
    fn load_keeps_a_copy_of_a_bad_file_and_save_writes_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("settings.toml");
        let missing = load(&path);
        assert_eq!(missing.settings, Settings::default());
        assert!(missing.problems.is_empty() && missing.kept_copy.is_none());

        std::fs::write(&path, "[typing]\nenabled = \"maybe\"\n").expect("write");
        let loaded = load(&path);
        assert_eq!(loaded.problems[0].key, "typing.enabled");
        let copy = loaded.kept_copy.expect("a copy");
        assert_eq!(
            std::fs::read_to_string(copy).expect("copy"),
            "[typing]\nenabled = \"maybe\"\n"
        );

        let mut s = Settings::default();
        s.server.language = "fr".into();
        s.save(&path).expect("save");
        let back = load(&path);
        assert!(back.problems.is_empty());
        assert_eq!(back.settings, s);
        assert!(!path.with_extension("toml.tmp").exists());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// Settings with the fields users most often change set at random;
    /// only those that pass validation are used.
    fn settings() -> impl Strategy<Value = Settings> {
        (
            (
                prop::sample::select(vec!["Ctrl+Shift+V", "Alt+F9", "Super+Space", "Ctrl+Alt+1"]),
                any::<bool>(),
                0u32..200,
                any::<bool>(),
                prop::collection::vec("[a-z]{1,8}", 0..3),
            ),
            (
                prop::collection::vec(("[a-z ]{1,12}", "[A-Za-z]{1,10}"), 0..4),
                prop::collection::vec("[A-Za-z]{1,8},?", 0..3),
                prop::sample::select(vec![Theme::System, Theme::Light, Theme::Dark]),
                any::<bool>(),
                1024u16..65535,
                0.0f32..1.0,
            ),
        )
            .prop_map(|(a, b)| {
                let (binding, toggle, delay, clipboard, allow) = a;
                let (replacements, prefixes, theme, hidden, port, sensitivity) = b;
                let mut s = Settings::default();
                s.hotkey.binding = binding.to_owned();
                s.hotkey.mode = if toggle {
                    HotkeyMode::Toggle
                } else {
                    HotkeyMode::PushToTalk
                };
                s.typing.delay_ms = delay;
                s.typing.method = if clipboard {
                    TypingMethod::Clipboard
                } else {
                    TypingMethod::Auto
                };
                s.typing.allow = allow;
                s.replacements = replacements
                    .into_iter()
                    .map(|(from, to)| Replacement { from, to })
                    .collect();
                s.commands.prefixes = prefixes;
                s.ui.theme = theme;
                s.ui.start_hidden = hidden;
                s.telemetry.metrics_port = port;
                s.voice_activation.sensitivity = sensitivity;
                s
            })
            .prop_filter("valid settings", |s| s.validate().is_empty())
    }

    proptest! {
        /// What is saved is what is read back, with no problem reported.
        #[test]
        fn saved_settings_read_back_the_same(settings in settings()) {
            let text = toml::to_string(&settings).expect("serialise");
            let (read, problems) = parse(&text);
            prop_assert!(problems.is_empty(), "{problems:?}");
            prop_assert_eq!(read, settings);
        }

        /// One key of the wrong type costs that key only: it is named, it
        /// falls back to its default, and every other key is kept.
        #[test]
        fn one_bad_key_costs_only_that_key(settings in settings(), pick in any::<prop::sample::Index>()) {
            let mut table = toml::Table::try_from(&settings).expect("table");
            let keys: Vec<Vec<String>> = leaves(&table).into_iter().map(|(k, _)| k).collect();
            let key = pick.get(&keys).clone();
            let wrong = match leaves(&table).into_iter().find(|(k, _)| *k == key).map(|(_, v)| v) {
                Some(toml::Value::String(_)) => toml::Value::Integer(7),
                _ => toml::Value::String("not this".into()),
            };
            set_leaf(&mut table, &key, wrong);
            let (read, problems) = parse(&toml::to_string(&table).expect("serialise"));
            prop_assert_eq!(problems.len(), 1, "{:?}", problems);
            prop_assert_eq!(&problems[0].key, &key.join("."));
            let mut expected = toml::Table::try_from(&settings).expect("table");
            let defaults = toml::Table::try_from(Settings::default()).expect("table");
            let default = leaves(&defaults)
                .into_iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .expect("every key has a default");
            set_leaf(&mut expected, &key, default);
            let expected: Settings = toml::Value::Table(expected).try_into().expect("settings");
            prop_assert_eq!(read, expected);
        }
    }
}
