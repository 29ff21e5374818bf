//! The profiles editor inside the settings tab: each household member's
//! role, voice, reply style, agent and kid-safe limits, and setting a PIN
//! (hashed on a `pin-hash` thread, since Argon2 takes a noticeable moment
//! and the window must keep drawing; the PIN itself is never kept).

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, TryRecvError};

use egui::{RichText, Ui};

use crate::config::profiles::{Profile, Role};
use crate::config::settings::Settings;
use crate::core::policy;

/// PINs being hashed, by profile name, each answered once on its channel.
#[derive(Debug, Default)]
pub struct PinHashing {
    pending: Vec<(String, Receiver<Result<String, String>>)>,
}

impl PinHashing {
    /// Hashes `pin` for `profile` off the GUI thread; the window is woken
    /// when the hash is ready.
    fn start(&mut self, ctx: &egui::Context, profile: &str, pin: String) {
        let (tx, rx) = mpsc::channel();
        let ctx = ctx.clone();
        let spawned = crate::runtime::thread::spawn("pin-hash", move || {
            let hash = policy::hash_pin(&pin).map_err(|e| e.to_string());
            // The window may have closed meanwhile; nothing to tell then.
            let _ = tx.send(hash);
            ctx.request_repaint();
        });
        match spawned {
            Ok(_) => self.pending.push((profile.to_owned(), rx)),
            Err(e) => {
                let (tx, rx) = mpsc::channel();
                let _ = tx.send(Err(format!("cannot hash the PIN now ({e})")));
                self.pending.push((profile.to_owned(), rx));
            }
        }
    }

    fn is_pending(&self, profile: &str) -> bool {
        self.pending.iter().any(|(name, _)| name == profile)
    }

    /// Stores finished hashes in their profiles; returns a problem to show.
    fn collect(&mut self, profiles: &mut [Profile]) -> Option<String> {
        let mut problem = None;
        self.pending.retain(|(name, rx)| match rx.try_recv() {
            Ok(Ok(hash)) => {
                match profiles.iter_mut().find(|p| &p.name == name) {
                    Some(p) => p.pin_hash = hash,
                    None => {
                        problem = Some(format!(
                            "the PIN was not set: profile {name:?} was renamed or removed while it was hashed"
                        ));
                    }
                }
                false
            }
            Ok(Err(e)) => {
                problem = Some(e);
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(TryRecvError::Disconnected) => {
                problem = Some(format!("the PIN for {name:?} could not be hashed"));
                false
            }
        });
        problem
    }
}

/// Edits `s.profiles`; `pins` holds PINs being typed, by profile name, and
/// `hashing` the PINs being hashed.
pub fn edit(
    ui: &mut Ui,
    s: &mut Settings,
    pins: &mut HashMap<String, String>,
    hashing: &mut PinHashing,
) {
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
    let mut problem = hashing.collect(&mut s.profiles);
    for (i, p) in s.profiles.iter_mut().enumerate() {
        ui.push_id(("profile", i), |ui| {
            ui.group(|ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    let l = ui.label("Name");
                    ui.add(egui::TextEdit::singleline(&mut p.name).desired_width(120.0))
                        .labelled_by(l.id);
                    let role = ui.label("Role");
                    egui::ComboBox::from_id_salt("role")
                        .selected_text(p.role.label())
                        .show_ui(ui, |ui| {
                            for r in [Role::Admin, Role::User, Role::Kid, Role::Guest] {
                                ui.selectable_value(&mut p.role, r, r.label());
                            }
                        })
                        .response
                        .labelled_by(role.id);
                    if ui.small_button("Remove").clicked() {
                        remove = Some(i);
                    }
                });
                details(ui, p);
                if let Some(e) = pin(ui, p, pins, hashing) {
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
fn pin(
    ui: &mut Ui,
    p: &mut Profile,
    pins: &mut HashMap<String, String>,
    hashing: &mut PinHashing,
) -> Option<String> {
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
        if hashing.is_pending(&p.name) {
            ui.spinner();
            ui.label("Setting the PIN…");
            return;
        }
        if ui
            .add_enabled(!entry.is_empty(), egui::Button::new("Set PIN"))
            .clicked()
        {
            // Checked here so a mistyped PIN is told at once.
            match policy::check_pin(entry) {
                Ok(()) => hashing.start(ui.ctx(), &p.name, std::mem::take(entry)),
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
