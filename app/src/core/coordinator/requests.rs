//! The core's answers to the user's other requests and to its outputs:
//! settings applied, profiles switched behind the PIN gate, commands routed
//! to the outbox and their news, spoken replies, secrets, the webhook test
//! and voice list (one-off threads that report to the core's inbox), and
//! typing: words queued in order, re-typed, and what typing did.

use super::*;

impl Coordinator {
    pub(super) fn retype(&mut self, id: u64) {
        let text = match self.history.text_of(id) {
            Ok(text) => text,
            Err(why) => return self.notices.push(why),
        };
        if !self.settings.typing.enabled {
            self.notices
                .push("typing is off (Settings → Typing); the words were not typed");
            return;
        }
        self.typing.retype(&text, &self.settings);
        self.release_typing();
    }

    pub(super) fn apply_settings(&mut self, settings: Settings) {
        if self.locked() {
            self.notices.push(format!(
                "settings not applied: the {} profile needs an admin's PIN to change them",
                self.settings.profile().name
            ));
            return;
        }
        let problems = settings.validate();
        if !problems.is_empty() {
            for p in problems {
                self.notices.push(format!("setting not applied: {p}"));
            }
            return;
        }
        if let Some(path) = &self.settings_path
            && let Err(e) = settings.save(path)
        {
            self.notices.push(format!(
                "settings are in use but could not be saved to {}: {e}",
                path.display()
            ));
        }
        let standby_changed = self.settings.voice_activation != settings.voice_activation
            || self.settings.audio != settings.audio
            || self.settings.server != settings.server;
        if let (Some(store), Ok(toml)) = (self.history.store().get(), toml::to_string(&settings))
            && let Err(e) = store.save_settings(&toml)
        {
            tracing::warn!("settings not copied to the store: {e}");
        }
        self.settings = Arc::new(settings);
        self.commands.retry_now();
        self.commands.configure_speech(&self.settings);
        self.error = None;
        if standby_changed {
            // Re-armed with the new settings by the loop.
            self.drop_standby();
        }
        if !self.listening() && self.flushing.is_empty() {
            self.status = self.ready_status();
        }
    }

    /// Checks and queues a command utterance; returns its store id and
    /// what the transcript log says of it.
    pub(super) fn finish_command(
        &mut self,
        id: u64,
        command: &str,
        record: store::Utterance,
    ) -> (Option<u64>, TypedOutcome) {
        let store = match self.history.store().get_or_open() {
            Ok(s) => s,
            Err(e) => {
                self.notices
                    .push(format!("the history store cannot be opened: {e}"));
                None
            }
        };
        let settings = Arc::clone(&self.settings);
        match self
            .commands
            .route(store.as_deref(), &settings, command, record)
        {
            Ok(routed) => {
                self.command_status = Some(routed.status);
                let said = match routed.went {
                    store::Destination::N8n => "command: queued for n8n".to_owned(),
                    other => format!("command {}", other.describe()),
                };
                self.absorb_command_news();
                (routed.saved, TypedOutcome::NotTyped(said))
            }
            Err(unsaved) => {
                let super::commands::Unsaved {
                    error: e,
                    mut record,
                } = *unsaved;
                let why = format!("command not sent: the store could not keep it ({e})");
                self.notices
                    .push(format!("{why}; its words are kept in the history"));
                record.went = store::Destination::Nowhere { why: why.clone() };
                self.command_status = Some(why.clone());
                (
                    self.history.save(id, record, &mut self.notices),
                    TypedOutcome::NotTyped(why),
                )
            }
        }
    }

    /// Moves the command side's notices into the core's.
    pub(super) fn absorb_command_news(&mut self) {
        for n in self.commands.notices.drain(..) {
            self.notices.push(n);
        }
        if self.commands.changed {
            self.commands.changed = false;
            self.dirty = true;
        }
    }

    pub(super) fn on_speech(&mut self, event: SpeechEvent) {
        self.dirty = true;
        let (job, failed, speech_ms) = match event {
            SpeechEvent::Started { .. } => return,
            SpeechEvent::Finished { job_id, tts_ms } => {
                metrics::integration_request(metrics::Integration::ElevenLabs, true);
                metrics::tts_latency(Duration::from_millis(tts_ms));
                (job_id, None, Some(tts_ms))
            }
            SpeechEvent::Failed { job_id, error, .. } => {
                metrics::integration_request(metrics::Integration::ElevenLabs, false);
                (job_id, Some(error), None)
            }
            SpeechEvent::Cancelled { job_id } => (job_id, None, None),
        };
        let utterance = self.commands.on_speech_done(job, failed);
        self.absorb_command_news();
        if let (Some(u), Some(ms)) = (utterance, speech_ms) {
            let ms = u32::try_from(ms).unwrap_or(u32::MAX);
            self.history.set_speech_ms(u, ms, &mut self.notices);
        }
    }

    /// Whether the settings need an admin's PIN now.
    pub(super) fn locked(&self) -> bool {
        self.household.locked(&self.settings)
    }

    /// Tells the user why a PIN request was refused (and the activity log,
    /// when it keeps such things).
    pub(super) fn refused(&mut self, refusal: Refusal) {
        self.notices.push(refusal.notice);
        if let Some(what) = refusal.activity {
            self.log_activity("pin", &what);
        }
    }

    pub(super) fn unlock(&mut self, pin: &crate::secrets::Secret) {
        if let Err(r) = self
            .household
            .unlock(&self.settings, pin.expose(), Instant::now())
        {
            self.refused(r);
        }
    }

    /// Switches the active profile if the household allows it; a refusal
    /// is also a notice, and its text is the `Err`.
    pub(super) fn switch_profile(
        &mut self,
        name: &str,
        pin: Option<&crate::secrets::Secret>,
    ) -> Result<(), String> {
        let pin = pin.map(crate::secrets::Secret::expose);
        if let Err(r) = self
            .household
            .may_switch(&self.settings, name, pin, Instant::now())
        {
            let why = r.notice.clone();
            self.refused(r);
            return Err(why);
        }
        let from = self.settings.profile().name;
        let mut settings = (*self.settings).clone();
        settings.active_profile = name.to_owned();
        self.household.lock();
        if let Some(path) = &self.settings_path
            && let Err(e) = settings.save(path)
        {
            self.notices.push(format!(
                "the profile is in use but could not be saved to {}: {e}",
                path.display()
            ));
        }
        self.settings = Arc::new(settings);
        self.log_activity("profile", &format!("switched from {from} to {name}"));
        self.status = format!("Profile: {name}");
        Ok(())
    }

    pub(super) fn log_activity(&mut self, kind: &str, message: &str) {
        self.history.log_activity(kind, message);
    }

    pub(super) fn test_webhook(&mut self) {
        let Some(secrets) = self.commands.secrets().cloned() else {
            self.notices
                .push("the n8n test needs the keyring, which is not available");
            return;
        };
        let settings = Arc::clone(&self.settings);
        // The test runs off the core thread; its result comes back as a notice.
        let inbox = self.inbox.clone();
        let spawned = crate::runtime::thread::spawn("n8n-test", move || {
            let text = match crate::integrations::deliver::webhook(&settings, &*secrets) {
                Ok(hook) => match hook.test_connection() {
                    Ok(reply) => format!(
                        "n8n test: the webhook answered{}",
                        reply.text.map(|t| format!(": {t}")).unwrap_or_default()
                    ),
                    Err(e) => format!("n8n test failed: {e}"),
                },
                Err(f) => format!("n8n test failed: {}", f.message),
            };
            if let Some(inbox) = inbox {
                let _ = inbox.send(CoreInput::Command(Command::Notice(text.into())));
            }
        });
        if let Err(e) = spawned {
            self.notices
                .push(format!("the n8n test could not start: {e}"));
        } else {
            self.status = "Testing the n8n webhook…".into();
        }
    }

    /// Lists the voices off the core thread; the answer comes back as
    /// [`CoreInput::Voices`].
    pub(super) fn load_voices(&mut self) {
        let Some(secrets) = self.commands.secrets().cloned() else {
            self.notices
                .push("listing voices needs the keyring, which is not available");
            return;
        };
        let base = self.settings.elevenlabs.base_url.clone();
        let inbox = self.inbox.clone();
        let spawned = crate::runtime::thread::spawn("voices", move || {
            let result = match secrets.get(crate::secrets::ELEVENLABS_KEY) {
                Ok(Some(key)) => crate::integrations::elevenlabs::Client::new(&base, key.expose())
                    .and_then(|c| c.voices())
                    .map(|v| v.into_iter().map(|v| (v.voice_id, v.name)).collect())
                    .map_err(|e| e.to_string()),
                Ok(None) => Err("no ElevenLabs API key is set: save one first".into()),
                Err(e) => Err(e.to_string()),
            };
            if let Some(inbox) = inbox {
                let _ = inbox.send(CoreInput::Voices(result));
            }
        });
        if let Err(e) = spawned {
            self.notices
                .push(format!("the voices could not be listed: {e}"));
        }
    }

    pub(super) fn set_secret(&mut self, name: &str, value: Option<&crate::secrets::Secret>) {
        let Some(secrets) = self.commands.secrets().cloned() else {
            self.notices.push("there is no keyring to keep it in");
            return;
        };
        let result = match value {
            Some(v) => secrets.set(name, v),
            None => secrets.delete(name),
        };
        match result {
            Ok(()) => {
                self.status = format!(
                    "{name} {} the keyring",
                    if value.is_some() {
                        "saved in"
                    } else {
                        "removed from"
                    }
                );
                self.commands.retry_now();
                self.commands.configure_speech(&self.settings);
            }
            Err(e) => self.notices.push(format!("{name} could not be saved: {e}")),
        }
    }

    pub(super) fn type_piece(&mut self, id: u64, piece: &str) {
        self.typing.piece(id, piece, &self.settings);
        self.release_typing();
    }

    /// Hands queued words to the typing thread ([`TypingQueue::release`]
    /// says in which order); words that can never be typed are noted on
    /// their utterances.
    pub(super) fn release_typing(&mut self) {
        let held = self.hotkey_held && self.settings.hotkey.mode == HotkeyMode::PushToTalk;
        let oldest_finishing = self.flushing.iter().map(|s| s.id).min();
        let mut told = false;
        for lost in self.typing.release(held, oldest_finishing) {
            if lost.notice && !told {
                told = true;
                self.notices.push(lost.why.clone());
            }
            self.set_typed(lost.utterance, TypedOutcome::NotTyped(lost.why));
        }
    }

    pub(super) fn on_typed(&mut self, result: TypeResult) {
        self.dirty = true;
        match result {
            TypeResult::Typed { note, .. } => {
                if let Some(note) = note {
                    self.notices.push(note);
                }
            }
            TypeResult::Skipped { utterance, why } => {
                self.status.clone_from(&why);
                self.set_typed(utterance, TypedOutcome::NotTyped(why));
            }
            TypeResult::Failed { utterance, why } => {
                self.notices
                    .push(Notice::error(format!("typing failed: {why}")));
                self.set_typed(utterance, TypedOutcome::NotTyped(why));
            }
        }
    }

    pub(super) fn set_typed(&mut self, id: u64, outcome: TypedOutcome) {
        if let Some(s) = self.session_mut(id) {
            s.typed = outcome;
            return;
        }
        self.history.set_typed(id, outcome, &mut self.notices);
    }
}
