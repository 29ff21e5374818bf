//! Commands in the window: the newest reply, the commands waiting in the
//! outbox (with "Retry now"), the profile switcher with its PIN prompt, and
//! the PIN gate in front of a kid's or guest's settings.

use egui::{RichText, Ui};

use super::{UiAction, UiState};
use crate::core::Snapshot;
use crate::messages::Command;
use crate::secrets::Secret;

/// The newest reply, with a button to stop its speech.
pub fn reply(ui: &mut Ui, snapshot: &Snapshot, actions: &mut Vec<UiAction>) {
    let Some(r) = &snapshot.reply else { return };
    ui.group(|ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!("You asked: {}", r.command))
                    .small()
                    .weak(),
            );
            if ui.small_button("Stop speaking").clicked() {
                actions.push(UiAction::Core(Command::StopSpeaking));
            }
        });
        ui.label(RichText::new(&r.text).strong());
    });
}

/// The commands waiting to be sent; `full` lists each one.
pub fn outbox(ui: &mut Ui, snapshot: &Snapshot, full: bool, actions: &mut Vec<UiAction>) {
    if snapshot.outbox.is_empty() {
        return;
    }
    ui.group(|ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(format!(
                    "{} command(s) waiting to be sent",
                    snapshot.outbox.len()
                ))
                .color(ui.visuals().warn_fg_color),
            );
            if ui.button("Retry now").clicked() {
                actions.push(UiAction::Core(Command::RetryOutbox));
            }
        });
        if !snapshot.delivery_status.is_empty() {
            ui.label(RichText::new(&snapshot.delivery_status).small());
        }
        if full {
            for p in &snapshot.outbox {
                let tries = if p.attempts == 0 {
                    "not tried yet".to_owned()
                } else {
                    format!("{} attempt(s)", p.attempts)
                };
                ui.label(
                    RichText::new(format!(
                        "{} · {} · {tries}: {}",
                        p.kind.label(),
                        p.id,
                        p.text
                    ))
                    .small(),
                );
            }
        }
    });
}

/// The profile in use, a switcher, and the PIN prompt a locked profile needs.
pub fn profiles(
    ui: &mut Ui,
    snapshot: &Snapshot,
    state: &mut UiState,
    actions: &mut Vec<UiAction>,
) {
    let all = snapshot.settings.all_profiles();
    if all.len() < 2 {
        return;
    }
    ui.horizontal(|ui| {
        let l = ui.label("Profile");
        let mut chosen = snapshot.profile.clone();
        egui::ComboBox::from_id_salt("profile")
            .selected_text(&snapshot.profile)
            .show_ui(ui, |ui| {
                for p in &all {
                    ui.selectable_value(
                        &mut chosen,
                        p.name.clone(),
                        format!("{} ({})", p.name, p.role.label()),
                    );
                }
            })
            .response
            .labelled_by(l.id);
        if chosen != snapshot.profile {
            if snapshot.locked {
                state.switch_to = Some(chosen);
            } else {
                actions.push(UiAction::Core(Command::SwitchProfile {
                    name: chosen,
                    pin: None,
                }));
            }
        }
    });
    if let Some(to) = state.switch_to.clone() {
        ui.label(format!("An admin's PIN is needed to switch to {to}."));
        if let Some(pin) = pin_field(ui, &mut state.pin_entry, "Switch") {
            state.switch_to = None;
            actions.push(UiAction::Core(Command::SwitchProfile {
                name: to,
                pin: Some(pin),
            }));
        }
        if ui.button("Cancel").clicked() {
            state.switch_to = None;
            state.pin_entry.clear();
        }
    }
}

/// In front of a locked profile's settings: asks for an admin's PIN.
pub fn unlock(ui: &mut Ui, snapshot: &Snapshot, state: &mut UiState, actions: &mut Vec<UiAction>) {
    ui.label(format!(
        "The settings of the {} profile are locked. An admin's PIN opens them.",
        snapshot.profile
    ));
    if let Some(pin) = pin_field(ui, &mut state.pin_entry, "Unlock") {
        actions.push(UiAction::Core(Command::Unlock(pin)));
    }
}

/// A masked PIN field and its button; returns the PIN when pressed (and
/// forgets it here).
fn pin_field(ui: &mut Ui, entry: &mut String, button: &str) -> Option<Secret> {
    let mut out = None;
    ui.horizontal(|ui| {
        let l = ui.label("PIN");
        let field = ui
            .add(
                egui::TextEdit::singleline(entry)
                    .password(true)
                    .desired_width(80.0),
            )
            .labelled_by(l.id);
        let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button(button).clicked() || enter) && !entry.is_empty() {
            out = Some(Secret::new(std::mem::take(entry)));
        }
    });
    out
}

/// A masked field for a keyring entry with Save and Remove buttons.
pub fn secret_field(
    ui: &mut Ui,
    entries: &mut std::collections::HashMap<&'static str, String>,
    name: &'static str,
    label: &str,
    actions: &mut Vec<UiAction>,
) {
    let entry = entries.entry(name).or_default();
    ui.horizontal(|ui| {
        let l = ui.label(label);
        ui.add(
            egui::TextEdit::singleline(entry)
                .password(true)
                .hint_text("kept in the keyring"),
        )
        .labelled_by(l.id);
        if ui
            .add_enabled(!entry.is_empty(), egui::Button::new("Save"))
            .clicked()
        {
            actions.push(UiAction::Core(Command::SetSecret {
                name: name.to_owned(),
                value: Some(Secret::new(std::mem::take(entry))),
            }));
        }
        if ui.button("Remove").clicked() {
            actions.push(UiAction::Core(Command::SetSecret {
                name: name.to_owned(),
                value: None,
            }));
        }
    });
}
