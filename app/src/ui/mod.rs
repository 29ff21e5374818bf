//! Drawing, and nothing else: the popover ([`popover`]), the dashboard with
//! its transcript, history, settings and logs tabs ([`dashboard`],
//! [`history`], [`settings`]), commands, replies and profiles
//! ([`commands`]) and
//! small widgets ([`widgets`]). Every function here takes the core's
//! [`Snapshot`] and the window's own [`UiState`] and returns what the user
//! asked for as [`UiAction`]s; none touches a channel or a file.

pub mod commands;
pub mod dashboard;
pub mod history;
pub mod popover;
pub mod profiles;
pub mod settings;
pub mod widgets;

use crate::config::settings::{Settings, Theme};
use crate::core::Snapshot;
use crate::messages::Command;

/// Which face of the window is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// The compact popover.
    #[default]
    Popover,
    /// The dashboard on a tab.
    Dashboard(Tab),
}

/// The dashboard's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    /// Finished utterances.
    #[default]
    Transcript,
    /// The saved history: search, favourites, statistics.
    History,
    /// The settings editor.
    Settings,
    /// Recent log lines.
    Logs,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum UiAction {
    /// Something for the core thread.
    Core(Command),
    /// Put text on the clipboard.
    Copy(String),
    /// Look for microphones again.
    RefreshDevices,
    /// Hide the window (to the tray).
    Hide,
    /// Search the saved history with this filter (the window runs it).
    SearchHistory(history::HistoryFilter),
    /// Hide the window, then type this stored utterance into the window
    /// that gets the focus back.
    Retype(u64),
    /// Back up the history now (the store worker runs it).
    BackupNow,
    /// Delete the backups the retention settings do not keep.
    PruneBackups,
    /// Quit the app.
    Quit,
}

/// State that belongs to the window alone.
#[derive(Debug, Default)]
pub struct UiState {
    /// Popover or dashboard.
    pub view: View,
    /// The settings being edited (`None` until the settings tab is opened).
    pub draft: Option<Settings>,
    /// Input devices to pick from: (id, label).
    pub devices: Vec<(String, String)>,
    /// Why the hotkey is not working, if it is not (shown beside its setting).
    pub hotkey_problem: Option<String>,
    /// Recent log lines for the logs tab, oldest first.
    pub logs: Vec<String>,
    /// The History tab.
    pub history: history::HistoryView,
    /// A PIN being typed (kid and guest profiles); cleared when sent.
    pub pin_entry: String,
    /// The profile a locked profile wants to switch to, waiting for a PIN.
    pub switch_to: Option<String>,
    /// Tokens and keys being typed for the keyring, by keyring name.
    pub secret_entries: std::collections::HashMap<&'static str, String>,
    /// New PINs being typed in the profiles editor, by profile name.
    pub profile_pins: std::collections::HashMap<String, String>,
    /// New PINs being hashed off the GUI thread.
    pub pin_hashing: profiles::PinHashing,
    /// What the store worker is doing for the user (a backup), until it
    /// answers.
    pub store_busy: Option<&'static str>,
}

/// Draws the whole window and returns the user's requests.
pub fn draw(ui: &mut egui::Ui, snapshot: &Snapshot, state: &mut UiState) -> Vec<UiAction> {
    let mut actions = Vec::new();
    egui::CentralPanel::default().show(ui, |ui| match state.view {
        View::Popover => popover::draw(ui, snapshot, state, &mut actions),
        View::Dashboard(tab) => dashboard::draw(ui, snapshot, state, tab, &mut actions),
    });
    actions
}

/// The egui theme preference for a settings theme.
#[must_use]
pub fn theme_preference(theme: Theme) -> egui::ThemePreference {
    match theme {
        Theme::System => egui::ThemePreference::System,
        Theme::Light => egui::ThemePreference::Light,
        Theme::Dark => egui::ThemePreference::Dark,
    }
}
