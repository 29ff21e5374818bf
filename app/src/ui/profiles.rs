//! The profiles editor inside the settings tab: each household member's
//! role, voice, reply style, agent and kid-safe limits, and setting a PIN
//! (hashed here at once; the PIN itself is never kept).

use std::collections::HashMap;

use egui::{RichText, Ui};

use crate::config::profiles::{Profile, Role};
use crate::config::settings::Settings;
use crate::core::policy;

/// Edits `s.profiles`; `pins` holds PINs being typed, by profile name.
pub fn edit(ui: &mut Ui, s: &mut Settings, pins: &mut HashMap<String, String>) {
    if s.profiles.is_empty() {
        ui.label(
            RichText::new(
                "One profile (admin) is in use. Add profiles for each member of the household.",
            )
            .small()
            .weak(),
        );
    }
    let mut remove = None;
    let mut problem = None;
    for (i, p) in s.profiles.iter_mut().enumerate() {
        ui.push_id(("profile", i), |ui| {
            ui.group(|ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    let l = ui.label("Name");
                    ui.add(egui::TextEdit::singleline(&mut p.name).desired_width(120.0))
                        .labelled_by(l.id);
                    egui::ComboBox::from_id_salt("role")
                        .selected_text(p.role.label())
                        .show_ui(ui, |ui| {
                            for r in [Role::Admin, Role::User, Role::Kid, Role::Guest] {
                                ui.selectable_value(&mut p.role, r, r.label());
                            }
                        });
                    if ui.small_button("Remove").clicked() {
                        remove = Some(i);
                    }
                });
                details(ui, p);
                if let Some(e) = pin(ui, p, pins) {
                    problem = Some(e);
                }
            });
        });
    }
    if let Some(e) = problem {
        ui.label(RichText::new(e).color(ui.visuals().warn_fg_color));
    }
    if let Some(i) = remove {
        s.profiles.remove(i);
    }
    if ui.button("Add profile").clicked() {
        let n = s.profiles.len() + 1;
        s.profiles
            .push(Profile::new(&format!("Profile {n}"), Role::User));
    }
}

fn details(ui: &mut Ui, p: &mut Profile) {
    super::settings::text_field(ui, "Voice id (empty: the default voice)", &mut p.voice_id);
    let mut own = p.response_mode.is_some();
    ui.checkbox(&mut own, "Own reply style");
    if own {
        let mode = p.response_mode.get_or_insert_default();
        super::settings::response_mode(ui, "Replies", "profile reply mode", mode);
    } else {
        p.response_mode = None;
    }
    super::settings::text_field(ui, "n8n agent", &mut p.agent);
    super::settings::list_field(ui, "Allowed commands (* and ? wildcards)", &mut p.allow);
    super::settings::list_field(ui, "Blocked commands", &mut p.block);
    super::settings::list_field(ui, "Hours (e.g. 07:00-20:00)", &mut p.hours);
    ui.horizontal(|ui| {
        let mut limited = p.daily_limit.is_some();
        ui.checkbox(&mut limited, "Daily limit");
        if limited {
            let n = p.daily_limit.get_or_insert(20);
            ui.add(egui::DragValue::new(n).range(1..=1000));
        } else {
            p.daily_limit = None;
        }
    });
}

/// The PIN row; returns a problem to show.
fn pin(ui: &mut Ui, p: &mut Profile, pins: &mut HashMap<String, String>) -> Option<String> {
    let mut problem = None;
    ui.horizontal(|ui| {
        let l = ui.label(if p.has_pin() {
            "PIN is set. New PIN"
        } else {
            "PIN"
        });
        let entry = pins.entry(p.name.clone()).or_default();
        ui.add(
            egui::TextEdit::singleline(entry)
                .password(true)
                .desired_width(80.0),
        )
        .labelled_by(l.id);
        if ui
            .add_enabled(!entry.is_empty(), egui::Button::new("Set PIN"))
            .clicked()
        {
            match policy::hash_pin(entry) {
                Ok(hash) => p.pin_hash = hash,
                Err(e) => problem = Some(e.to_string()),
            }
            entry.clear();
        }
        if p.has_pin() && ui.small_button("Remove PIN").clicked() {
            p.pin_hash.clear();
        }
    });
    problem
}
