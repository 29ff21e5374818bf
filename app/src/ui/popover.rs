//! The compact popover: state and status, record and pause buttons, level
//! meter and waveform, the live transcript, and the way to the dashboard.

use egui::{RichText, Ui};

use super::{Tab, UiAction, UiState, View, widgets};
use crate::core::Snapshot;
use crate::messages::{Command, DictationState};

/// Draws the popover.
pub fn draw(ui: &mut Ui, snapshot: &Snapshot, state: &mut UiState, actions: &mut Vec<UiAction>) {
    ui.horizontal(|ui| {
        ui.heading("TonnyTray");
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            widgets::state_badge(ui, snapshot.state);
        });
    });
    ui.label(RichText::new(&snapshot.status).small());
    if widgets::notices(ui, &snapshot.notices) {
        actions.push(UiAction::Core(Command::DismissNotices));
    }
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        let listening = snapshot.state == DictationState::Listening;
        let paused = snapshot.paused;
        let (label, command) = if listening {
            ("Stop recording", Command::StopRecording)
        } else {
            ("Start recording", Command::StartRecording)
        };
        // Paused refuses new utterances; one in progress can still be stopped.
        let record = ui.add_enabled(
            listening || !paused,
            egui::Button::new(RichText::new(label).size(16.0)),
        );
        if record.clicked() {
            actions.push(UiAction::Core(command));
        }
        let (pause_label, pause) = if paused {
            ("Resume", false)
        } else {
            ("Pause", true)
        };
        if ui.button(pause_label).clicked() {
            actions.push(UiAction::Core(Command::SetPaused(pause)));
        }
    });
    widgets::level_meter(ui, snapshot.level.peak);
    widgets::waveform(ui, &snapshot.waveform);
    widgets::live_transcript(ui, snapshot);
    super::commands::reply(ui, snapshot, actions);
    super::commands::outbox(ui, snapshot, false, actions);
    super::commands::profiles(ui, snapshot, state, actions);
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        if ui.button("Open dashboard").clicked() {
            state.view = View::Dashboard(Tab::Transcript);
        }
        if ui.button("Settings").clicked() {
            state.view = View::Dashboard(Tab::Settings);
        }
        if ui.button("Hide to tray").clicked() {
            actions.push(UiAction::Hide);
        }
        if ui.button("Quit").clicked() {
            actions.push(UiAction::Quit);
        }
    });
}
