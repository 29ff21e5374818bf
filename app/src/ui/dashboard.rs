//! The dashboard: tabs for the transcript log, the saved history, the
//! settings editor and the logs viewer, and the way back to the popover.

use egui::{RichText, Ui};

use super::{Tab, UiAction, UiState, View, settings};
use crate::core::Snapshot;
use crate::messages::Command;

/// Draws the dashboard on `tab`.
pub fn draw(
    ui: &mut Ui,
    snapshot: &Snapshot,
    state: &mut UiState,
    tab: Tab,
    actions: &mut Vec<UiAction>,
) {
    ui.horizontal(|ui| {
        if ui.button("Back to popover").clicked() {
            state.view = View::Popover;
        }
        ui.separator();
        for (t, name) in [
            (Tab::Transcript, "Transcript"),
            (Tab::History, "History"),
            (Tab::Settings, "Settings"),
            (Tab::Logs, "Logs"),
        ] {
            if ui.selectable_label(tab == t, name).clicked() {
                state.view = View::Dashboard(t);
            }
        }
    });
    ui.separator();
    match tab {
        Tab::Transcript => {
            super::commands::reply(ui, snapshot, actions);
            super::commands::outbox(ui, snapshot, true, actions);
            transcript(ui, snapshot, actions);
        }
        Tab::History => super::history::draw(ui, snapshot, &mut state.history, actions),
        Tab::Settings => settings::draw(ui, snapshot, state, actions),
        Tab::Logs => {
            server(ui, snapshot, actions);
            logs(ui, &state.logs);
        }
    }
}

/// The speech server's state, and a restart for one the app runs.
fn server(ui: &mut Ui, snapshot: &Snapshot, actions: &mut Vec<UiAction>) {
    let Some(report) = &snapshot.server else {
        return;
    };
    ui.horizontal(|ui| {
        let who = match report.mode {
            crate::server::Mode::Managed => "run by TonnyTray",
            crate::server::Mode::External => "run outside TonnyTray",
            crate::server::Mode::Remote => "remote",
        };
        let mut line = format!("Speech server ({who}): {}", report.state);
        if report.restarts > 0 {
            line.push_str(&format!(" · restarted {} time(s)", report.restarts));
        }
        let text = RichText::new(line).small();
        ui.label(if report.up { text } else { text.strong() });
        if report.mode == crate::server::Mode::Managed && ui.small_button("Restart").clicked() {
            actions.push(UiAction::Core(Command::RestartServer));
        }
    });
    ui.separator();
}

fn transcript(ui: &mut Ui, snapshot: &Snapshot, actions: &mut Vec<UiAction>) {
    if snapshot.log.is_empty() {
        ui.label("No utterances yet. Hold the hotkey or press Start recording, then speak.");
        return;
    }
    egui::ScrollArea::vertical()
        .stick_to_bottom(true)
        .show(ui, |ui| {
            for u in snapshot.log.iter() {
                ui.group(|ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(clock(u.at)).small().weak());
                        ui.label(RichText::new(u.typed.describe()).small().weak());
                        if ui.small_button("Copy").clicked() {
                            actions.push(UiAction::Copy(u.text.clone()));
                        }
                    });
                    ui.label(&u.text);
                });
            }
        });
}

fn logs(ui: &mut Ui, lines: &[String]) {
    if lines.is_empty() {
        ui.label("No log lines yet.");
        return;
    }
    egui::ScrollArea::both()
        .stick_to_bottom(true)
        .show(ui, |ui| {
            for line in lines {
                ui.label(RichText::new(line).monospace().small());
            }
        });
}

/// Hours, minutes and seconds (UTC) of a time, for the log.
fn clock(at: std::time::SystemTime) -> String {
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}
