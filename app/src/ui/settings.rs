//! The settings editor. It edits a draft copy; "Apply" sends it to the core,
//! which saves it and uses it at once, and "Revert" throws the draft away.
//! Problems are shown beside the form, by key, before anything is applied.

use egui::{RichText, Ui};

use super::{UiAction, UiState, widgets};
use crate::config::profiles::ResponseMode;
use crate::config::settings::{
    Confirmation, HotkeyMode, Replacement, Settings, Theme, TypingMethod,
};
use crate::core::Snapshot;
use crate::messages::Command;

/// Draws the settings tab.
pub fn draw(ui: &mut Ui, snapshot: &Snapshot, state: &mut UiState, actions: &mut Vec<UiAction>) {
    if snapshot.locked {
        state.draft = None;
        super::commands::unlock(ui, snapshot, state, actions);
        return;
    }
    let in_force = snapshot.settings.as_ref();
    let devices = state.devices.clone();
    let secrets = &mut state.secret_entries;
    let pins = &mut state.profile_pins;
    let hashing = &mut state.pin_hashing;
    let busy = state.store_busy;
    let draft = state.draft.get_or_insert_with(|| in_force.clone());
    // Apply and Revert stay in view above the scrolling form.
    let problems = draft.validate();
    let changed = draft != in_force;
    ui.horizontal(|ui| {
        let apply = ui.add_enabled(changed && problems.is_empty(), egui::Button::new("Apply"));
        if apply.clicked() {
            actions.push(UiAction::Core(Command::ApplySettings(Box::new(
                draft.clone(),
            ))));
        }
        if ui
            .add_enabled(changed, egui::Button::new("Revert"))
            .clicked()
        {
            *draft = in_force.clone();
        }
        let note = if changed {
            "Changes are not applied yet"
        } else {
            "Settings are in use"
        };
        ui.label(RichText::new(note).small().weak());
    });
    for p in &problems {
        ui.label(RichText::new(format!("Problem: {p}")).color(ui.visuals().warn_fg_color));
    }
    ui.separator();
    egui::ScrollArea::vertical().show(ui, |ui| {
        section(ui, "Speech server", |ui| server(ui, draft));
        section(ui, "Microphone", |ui| {
            microphone(ui, draft, &devices, actions);
            widgets::level_meter(ui, snapshot.level.peak);
        });
        section(ui, "Hotkey", |ui| {
            hotkey(ui, draft);
            if !snapshot.hotkey.is_empty() {
                ui.label(RichText::new(format!("Listening: {}", snapshot.hotkey)).small());
            }
            if let Some(problem) = &state.hotkey_problem {
                ui.label(RichText::new(problem).color(ui.visuals().warn_fg_color));
            }
        });
        section(ui, "Voice activation", |ui| voice(ui, draft));
        section(ui, "Typing", |ui| typing(ui, draft));
        section(ui, "Replacements", |ui| replacements(ui, draft));
        section(ui, "Commands", |ui| commands(ui, draft));
        section(ui, "n8n", |ui| {
            n8n(ui, draft, actions);
            super::commands::secret_field(
                ui,
                secrets,
                crate::secrets::N8N_TOKEN,
                "Bearer token",
                actions,
            );
        });
        section(ui, "Spoken replies (ElevenLabs)", |ui| {
            elevenlabs(ui, draft, &snapshot.voices, actions);
            super::commands::secret_field(
                ui,
                secrets,
                crate::secrets::ELEVENLABS_KEY,
                "API key",
                actions,
            );
        });
        section(ui, "RabbitMQ events", |ui| {
            rabbitmq(ui, draft);
            super::commands::secret_field(
                ui,
                secrets,
                crate::secrets::RABBITMQ_PASSWORD,
                "Password",
                actions,
            );
        });
        section(ui, "Profiles", |ui| {
            super::profiles::edit(ui, draft, pins, hashing);
        });
        section(ui, "History backups", |ui| {
            backups(ui, draft, busy, actions);
        });
        section(ui, "Appearance", |ui| appearance(ui, draft));
        section(ui, "Monitoring", |ui| monitoring(ui, draft));
    });
}

fn backups(ui: &mut Ui, s: &mut Settings, busy: Option<&str>, actions: &mut Vec<UiAction>) {
    text_field(
        ui,
        "Backup folder (empty: beside the history)",
        &mut s.backup.dir,
    );
    for (label, value) in [
        ("Keep daily backups for (days)", &mut s.backup.keep_daily),
        ("Keep weekly backups for (weeks)", &mut s.backup.keep_weekly),
        (
            "Keep monthly backups for (months)",
            &mut s.backup.keep_monthly,
        ),
    ] {
        ui.horizontal(|ui| {
            let l = ui.label(label);
            ui.add(egui::DragValue::new(value).range(0..=999))
                .labelled_by(l.id);
        });
    }
    ui.horizontal(|ui| {
        // One at a time: the store worker answers with a notice.
        ui.add_enabled_ui(busy.is_none(), |ui| {
            if ui.button("Back up now").clicked() {
                actions.push(UiAction::BackupNow);
            }
            if ui.button("Delete old backups").clicked() {
                actions.push(UiAction::PruneBackups);
            }
        });
        if let Some(what) = busy {
            ui.spinner();
            ui.label(what);
        }
    });
    ui.label(
        RichText::new("Backups use the settings in force; apply changes first.")
            .small()
            .weak(),
    );
}

fn section(ui: &mut Ui, title: &str, body: impl FnOnce(&mut Ui)) {
    ui.add_space(6.0);
    ui.label(RichText::new(title).strong());
    ui.indent(title, body);
}

/// A labelled single-line text field.
pub(super) fn text_field(ui: &mut Ui, label: &str, value: &mut String) {
    ui.horizontal(|ui| {
        let l = ui.label(label);
        ui.text_edit_singleline(value).labelled_by(l.id);
    });
}

/// A labelled comma-separated list.
pub(super) fn list_field(ui: &mut Ui, label: &str, values: &mut Vec<String>) {
    let mut text = values.join(", ");
    ui.horizontal(|ui| {
        let l = ui.label(label);
        if ui
            .text_edit_singleline(&mut text)
            .labelled_by(l.id)
            .changed()
        {
            *values = text
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
    });
}

fn server(ui: &mut Ui, s: &mut Settings) {
    text_field(ui, "Server URL", &mut s.server.url);
    text_field(ui, "Model", &mut s.server.model);
    text_field(ui, "Language", &mut s.server.language);
    ui.checkbox(
        &mut s.server.managed,
        "Start and restart a local server when none answers (127.0.0.1 and localhost only)",
    );
    ui.add_enabled_ui(s.server.managed, |ui| {
        text_field(ui, "Start script", &mut s.server.script);
    });
    ui.weak(
        "Start script: empty looks for asr-server.sh where TonnyTray was installed. \
         A path here must be a copy of TonnyTray's own; for a script of your own set \
         TONNYTRAY_ASR_SCRIPT.",
    );
}

fn monitoring(ui: &mut Ui, s: &mut Settings) {
    let t = &mut s.telemetry;
    ui.checkbox(
        &mut t.metrics_enabled,
        "Serve Prometheus metrics on this computer (127.0.0.1)",
    );
    ui.add_enabled_ui(t.metrics_enabled, |ui| {
        ui.horizontal(|ui| {
            let l = ui.label("Metrics port");
            ui.add(egui::DragValue::new(&mut t.metrics_port).range(1..=65535))
                .labelled_by(l.id);
            ui.weak(format!("http://127.0.0.1:{}/metrics", t.metrics_port));
        });
    });
}

fn microphone(
    ui: &mut Ui,
    s: &mut Settings,
    devices: &[(String, String)],
    actions: &mut Vec<UiAction>,
) {
    ui.horizontal(|ui| {
        let l = ui.label("Input device");
        let shown = if s.audio.device.is_empty() {
            "System default".to_owned()
        } else {
            devices
                .iter()
                .find(|(id, _)| *id == s.audio.device)
                .map_or_else(|| s.audio.device.clone(), |(_, label)| label.clone())
        };
        egui::ComboBox::from_id_salt("input device")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut s.audio.device, String::new(), "System default");
                for (id, label) in devices {
                    ui.selectable_value(&mut s.audio.device, id.clone(), label);
                }
            })
            .response
            .labelled_by(l.id);
        if ui.button("Refresh devices").clicked() {
            actions.push(UiAction::RefreshDevices);
        }
    });
}

fn hotkey(ui: &mut Ui, s: &mut Settings) {
    text_field(ui, "Key combination", &mut s.hotkey.binding);
    ui.horizontal(|ui| {
        ui.radio_value(
            &mut s.hotkey.mode,
            HotkeyMode::PushToTalk,
            "Push to talk (hold)",
        );
        ui.radio_value(
            &mut s.hotkey.mode,
            HotkeyMode::Toggle,
            "Toggle (press to start and stop)",
        );
    });
}

fn voice(ui: &mut Ui, s: &mut Settings) {
    let v = &mut s.voice_activation;
    ui.checkbox(&mut v.enabled, "Start and stop on speech");
    ui.add(egui::Slider::new(&mut v.sensitivity, 0.0..=1.0).text("Sensitivity"));
    ui.add(egui::Slider::new(&mut v.silence_stop_secs, 0.5..=10.0).text("Stop after silence (s)"));
    ui.add(
        egui::Slider::new(&mut v.silent_mic_warning_secs, 2.0..=120.0)
            .text("Warn when the microphone is silent for (s)"),
    );
}

fn typing(ui: &mut Ui, s: &mut Settings) {
    let t = &mut s.typing;
    ui.checkbox(
        &mut t.enabled,
        "Type committed words into the focused window",
    );
    ui.add(egui::Slider::new(&mut t.delay_ms, 0..=100).text("Delay between characters (ms)"));
    ui.horizontal(|ui| {
        ui.radio_value(&mut t.method, TypingMethod::Auto, "Type keys");
        ui.radio_value(
            &mut t.method,
            TypingMethod::Clipboard,
            "Paste via clipboard",
        );
    });
    list_field(ui, "Only these apps", &mut t.allow);
    list_field(ui, "Never these apps", &mut t.deny);
}

fn replacements(ui: &mut Ui, s: &mut Settings) {
    let mut remove = None;
    for (i, r) in s.replacements.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            let l = ui.label(format!("Replace #{}", i + 1));
            ui.add(egui::TextEdit::singleline(&mut r.from).desired_width(120.0))
                .labelled_by(l.id);
            let with = ui.label("with");
            ui.add(egui::TextEdit::singleline(&mut r.to).desired_width(120.0))
                .labelled_by(with.id);
            if ui.small_button("Remove").clicked() {
                remove = Some(i);
            }
        });
    }
    if let Some(i) = remove {
        s.replacements.remove(i);
    }
    if ui.button("Add replacement").clicked() {
        s.replacements.push(Replacement {
            from: String::new(),
            to: String::new(),
        });
    }
}

fn appearance(ui: &mut Ui, s: &mut Settings) {
    ui.horizontal(|ui| {
        ui.radio_value(&mut s.ui.theme, Theme::System, "Follow the system");
        ui.radio_value(&mut s.ui.theme, Theme::Light, "Light");
        ui.radio_value(&mut s.ui.theme, Theme::Dark, "Dark");
    });
    ui.checkbox(&mut s.ui.start_hidden, "Start hidden in the tray");
}

fn commands(ui: &mut Ui, s: &mut Settings) {
    let c = &mut s.commands;
    list_field(
        ui,
        "Command words (e.g. Computer, Hey House)",
        &mut c.prefixes,
    );
    response_mode(ui, "Replies", "reply mode", &mut c.response_mode);
    ui.horizontal(|ui| {
        ui.label("Confirm commands");
        ui.radio_value(&mut c.confirmation, Confirmation::Silent, "Silently");
        ui.radio_value(
            &mut c.confirmation,
            Confirmation::Visual,
            "With a notification",
        );
        ui.radio_value(&mut c.confirmation, Confirmation::Audio, "With a beep");
    });
}

/// Radio buttons for a reply mode.
pub(super) fn response_mode(ui: &mut Ui, label: &str, id: &str, mode: &mut ResponseMode) {
    ui.push_id(id, |ui| {
        ui.horizontal(|ui| {
            ui.label(label);
            ui.radio_value(mode, ResponseMode::Text, "Show");
            ui.radio_value(mode, ResponseMode::Voice, "Speak");
            ui.radio_value(mode, ResponseMode::Both, "Show and speak");
        });
    });
}

fn n8n(ui: &mut Ui, s: &mut Settings, actions: &mut Vec<UiAction>) {
    let n = &mut s.n8n;
    text_field(ui, "Webhook URL", &mut n.url);
    ui.checkbox(
        &mut n.allow_http,
        "Allow plain http to this computer and my home network (IP addresses only)",
    );
    ui.horizontal(|ui| {
        let l = ui.label("Wait for a reply (s)");
        ui.add(egui::DragValue::new(&mut n.timeout_secs).range(1..=300))
            .labelled_by(l.id);
    });
    ui.horizontal(|ui| {
        if ui.button("Test").clicked() {
            actions.push(UiAction::Core(Command::TestWebhook));
        }
        ui.label(
            RichText::new(
                "Sends \"TonnyTray test\" with the settings in force; apply changes first.",
            )
            .small()
            .weak(),
        );
    });
}

fn elevenlabs(
    ui: &mut Ui,
    s: &mut Settings,
    voices: &[(String, String)],
    actions: &mut Vec<UiAction>,
) {
    let e = &mut s.elevenlabs;
    ui.horizontal(|ui| {
        let l = ui.label("Voice");
        let shown = voices
            .iter()
            .find(|(id, _)| *id == e.voice_id)
            .map_or_else(|| e.voice_id.clone(), |(_, name)| name.clone());
        egui::ComboBox::from_id_salt("voice")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                for (id, name) in voices {
                    ui.selectable_value(&mut e.voice_id, id.clone(), name);
                }
            })
            .response
            .labelled_by(l.id);
        if ui.button("Load voices").clicked() {
            actions.push(UiAction::Core(Command::LoadVoices));
        }
    });
    text_field(ui, "Voice id", &mut e.voice_id);
    text_field(ui, "Model", &mut e.model_id);
    ui.add(egui::Slider::new(&mut e.volume, 0.0..=2.0).text("Volume"));
    ui.add(egui::Slider::new(&mut e.speed, 0.7..=1.2).text("Speed"));
    text_field(ui, "API address", &mut e.base_url);
}

fn rabbitmq(ui: &mut Ui, s: &mut Settings) {
    let r = &mut s.rabbitmq;
    ui.checkbox(&mut r.enabled, "Publish each command to RabbitMQ");
    text_field(ui, "Broker URL (no password)", &mut r.url);
    text_field(ui, "Exchange", &mut r.exchange);
    text_field(ui, "Routing key", &mut r.routing_key);
}
