//! A dictation session's lifecycle on the core thread: starting its
//! pipeline (from the microphone, or voice activation waiting for speech),
//! the pipeline's events (live words, levels and the silent-microphone
//! warning, reconnects, device loss), stopping it, and finishing it: the
//! last words typed, the utterance saved and logged, the status line.

use super::*;

impl Coordinator {
    pub(super) fn monitor_mic(&mut self, device: Option<&str>) {
        if self.monitor.as_ref().map(|(d, _)| d.as_str()) == device {
            return;
        }
        self.monitor = None;
        self.level = Level::default();
        let Some(device) = device else { return };
        let name = (!device.is_empty()).then(|| device.to_owned());
        match Pipeline::monitor(name) {
            Ok(p) => self.monitor = Some((device.to_owned(), p)),
            Err(e) => self
                .notices
                .push(format!("cannot show the microphone level: {e}")),
        }
    }

    /// Whether the microphone is open for dictation.
    pub(super) fn listening(&self) -> bool {
        self.active.as_ref().is_some_and(Session::listening)
    }

    /// Ends a voice-activation session that has not heard speech yet.
    pub(super) fn drop_standby(&mut self) {
        if self.active.as_ref().is_some_and(|s| !s.speaking) {
            // Nothing was sent: stop at once, no flush.
            self.active = None;
            self.level = Level::default();
        }
    }

    /// With voice activation on, keeps a session waiting for speech.
    /// Not after a failure: the user sees the error and acts first.
    pub(super) fn arm_voice_activation(&mut self) {
        if self.settings.voice_activation.enabled
            && !self.paused
            && self.active.is_none()
            && self.error.is_none()
        {
            self.start_session(true);
            self.dirty = true;
        }
    }

    /// The ready line, saying where voice activation listens when it does.
    pub(super) fn idle_status(&self) -> String {
        match &self.active {
            Some(s) if !s.speaking => {
                format!(
                    "{} Listening for speech on {}",
                    self.ready_status(),
                    s.device
                )
            }
            _ => self.ready_status(),
        }
    }

    pub(super) fn ready_status(&self) -> String {
        let how = match self.settings.hotkey.mode {
            HotkeyMode::PushToTalk => "hold",
            HotkeyMode::Toggle => "press",
        };
        if self.settings.voice_activation.enabled {
            format!(
                "Ready: just speak, or {how} {}",
                self.settings.hotkey.binding
            )
        } else {
            format!("Ready: {how} {} to dictate", self.settings.hotkey.binding)
        }
    }

    pub(super) fn start_session(&mut self, gated: bool) {
        let id = self.next_id;
        self.next_id += 1;
        let device =
            (!self.settings.audio.device.is_empty()).then(|| self.settings.audio.device.clone());
        let va = &self.settings.voice_activation;
        let source = Source::Microphone {
            device: device.clone(),
            gate: gated.then(|| VadConfig::from_settings(va.sensitivity, va.silence_stop_secs)),
        };
        let config = AsrWorkerConfig::new(self.settings.server.url.clone());
        let started = match &self.pipelines {
            Some(start) => start(source, config),
            None => Pipeline::start(source, config, None),
        };
        match started {
            Ok(pipeline) => {
                if !gated {
                    self.error = None;
                    self.committed.clear();
                    self.tentative.clear();
                    self.status = "Opening the microphone…".into();
                }
                self.active = Some(Session {
                    id,
                    pipeline,
                    words: NewWords::default(),
                    committed: String::new(),
                    tentative: String::new(),
                    typed: if self.settings.typing.enabled {
                        TypedOutcome::Typed
                    } else {
                        TypedOutcome::Off
                    },
                    device: device.unwrap_or_else(|| "the default microphone".into()),
                    started: Instant::now(),
                    stopped: None,
                    silent_since: None,
                    warned_silent: false,
                    speaking: !gated,
                    route: Route::Undecided,
                });
            }
            Err(e) => self.fail(format!("cannot start dictation: {e}")),
        }
    }

    pub(super) fn stop_session(&mut self) {
        if let Some(mut session) = self.active.take() {
            session.stopped = Some(Instant::now());
            session.pipeline.stop_source();
            self.status = "Transcribing the last words…".into();
            self.flushing.push(session);
        }
    }

    pub(super) fn fail(&mut self, message: String) {
        self.status = message.clone();
        self.error = Some(message);
    }

    pub(super) fn drain_pipelines(&mut self) {
        let mut dead = false;
        if let Some((_, monitor)) = &self.monitor {
            while let Ok(event) = monitor.events().try_recv() {
                match event {
                    PipelineEvent::Level(level) if !self.listening() => {
                        self.level = level;
                        self.dirty = true;
                    }
                    PipelineEvent::Failed(_, message) | PipelineEvent::DeviceLost(message) => {
                        self.notices.push(format!("microphone level: {message}"));
                        self.dirty = true;
                        dead = true;
                    }
                    _ => {}
                }
            }
        }
        if dead {
            // Keep no dead pipeline: the meter drops to zero and the core
            // stops polling for it.
            self.monitor = None;
            self.level = Level::default();
        }
        let mut events = Vec::new();
        for session in self.active.iter().chain(&self.flushing) {
            while let Ok(event) = session.pipeline.events().try_recv() {
                events.push((session.id, event));
            }
        }
        for (id, event) in events {
            self.dirty = true;
            self.on_pipeline(id, event);
        }
    }

    pub(super) fn session_mut(&mut self, id: u64) -> Option<&mut Session> {
        self.active
            .iter_mut()
            .chain(self.flushing.iter_mut())
            .find(|s| s.id == id)
    }

    pub(super) fn on_pipeline(&mut self, id: u64, event: PipelineEvent) {
        let is_active = self.active.as_ref().is_some_and(|s| s.id == id);
        match event {
            PipelineEvent::SourceStarted { name, .. } => {
                let waiting = self.session_mut(id).is_some_and(|s| {
                    s.device.clone_from(&name);
                    !s.speaking
                });
                if is_active && waiting && self.flushing.is_empty() {
                    self.status = self.idle_status();
                } else if is_active && !waiting {
                    self.status = format!("Listening on {name}");
                }
            }
            PipelineEvent::SpeechStarted => {
                let device = self.session_mut(id).map(|s| {
                    s.speaking = true;
                    s.device.clone()
                });
                if is_active && let Some(device) = device {
                    self.committed.clear();
                    self.tentative.clear();
                    self.status = format!("Listening on {device} (voice activation)");
                }
            }
            PipelineEvent::SpeechEnded => {
                if is_active {
                    self.stop_session();
                }
            }
            PipelineEvent::Connected { resending_secs } if resending_secs > 0.0 => {
                self.status = format!(
                    "Reconnected; re-sending {resending_secs:.1} s of audio not yet transcribed"
                );
            }
            PipelineEvent::Connected { .. } => {}
            PipelineEvent::Transcript {
                committed,
                tentative,
            } => self.on_transcript(id, is_active, committed, tentative),
            PipelineEvent::Disconnected {
                reason,
                retry_in,
                ever_connected,
            } => {
                let what = if ever_connected {
                    "Lost the speech server"
                } else {
                    "Cannot reach the speech server"
                };
                self.status = format!(
                    "{what} at {} ({reason}); retrying in {:.0} s — your words are kept",
                    self.settings.server.url,
                    retry_in.as_secs_f64().ceil()
                );
            }
            PipelineEvent::ServerWarning(w) => self.notices.push(format!("speech server: {w}")),
            PipelineEvent::Level(level) => self.on_level(id, is_active, level),
            PipelineEvent::Overflow { samples } => self.notices.push(format!(
                "{samples} audio samples were lost because the computer was too busy"
            )),
            PipelineEvent::DeviceChanged { lost, now } => self.notices.push(format!(
                "{lost}; now listening on {now:?}, and nothing said before was lost"
            )),
            PipelineEvent::DeviceLost(why) => {
                self.notices
                    .push(format!("{why}; what was heard so far is being transcribed"));
                if is_active {
                    self.stop_session();
                }
            }
            PipelineEvent::Finished { text, .. } => self.finish(id, &text, None),
            PipelineEvent::Failed(_, message) => {
                let text = self
                    .session_mut(id)
                    .map(|s| s.committed.clone())
                    .unwrap_or_default();
                self.finish(id, &text, Some(message));
            }
        }
    }

    pub(super) fn on_transcript(
        &mut self,
        id: u64,
        is_active: bool,
        committed: String,
        tentative: String,
    ) {
        let settings = Arc::clone(&self.settings);
        let piece = self.session_mut(id).and_then(|s| {
            s.committed.clone_from(&committed);
            s.tentative.clone_from(&tentative);
            // Nothing is typed until the first words tell dictation from a
            // command; a command is never typed.
            if s.route == Route::Undecided {
                s.route = route::classify(&committed, &settings.commands.prefixes);
            }
            if s.route == Route::Dictation {
                s.words.take(&committed, false)
            } else {
                None
            }
        });
        if is_active || !self.listening() {
            self.committed = committed;
            self.tentative = tentative;
        }
        if let Some(piece) = piece {
            self.type_piece(id, &piece);
        }
    }

    pub(super) fn on_level(&mut self, id: u64, is_active: bool, level: Level) {
        if !is_active {
            return;
        }
        if !self.listening() {
            // Waiting for speech: the meter moves (unless the settings tab
            // shows another microphone); the waveform and the
            // silent-microphone warning are for dictation.
            if self.monitor.is_none() {
                self.level = level;
            }
            return;
        }
        self.level = level;
        if self.waveform.len() == WAVEFORM_LEN {
            self.waveform.pop_front();
        }
        self.waveform.push_back(level.peak);
        let warn_after =
            Duration::from_secs_f32(self.settings.voice_activation.silent_mic_warning_secs);
        let mut warning = None;
        if let Some(s) = self.session_mut(id) {
            if level.peak >= SILENCE_PEAK {
                s.silent_since = None;
            } else {
                let since = *s.silent_since.get_or_insert_with(Instant::now);
                if !s.warned_silent && since.elapsed() >= warn_after {
                    s.warned_silent = true;
                    warning = Some(format!(
                        "{} has been silent for {:.0} s: is it muted, or is another microphone selected?",
                        s.device,
                        warn_after.as_secs_f64()
                    ));
                }
            }
        }
        if let Some(w) = warning {
            self.notices.push(w);
        }
    }

    /// Ends an utterance: types its last words, logs it, drops its pipeline.
    pub(super) fn finish(&mut self, id: u64, text: &str, failure: Option<String>) {
        let settings = Arc::clone(&self.settings);
        let last_piece = self.session_mut(id).and_then(|s| {
            s.route = match route::classify(text, &settings.commands.prefixes) {
                // Only the start of a prefix ("Hey"), and nothing after it.
                Route::Undecided => Route::Dictation,
                r => r,
            };
            if s.route == Route::Dictation {
                s.words.take(text, true)
            } else {
                None
            }
        });
        if let Some(piece) = last_piece {
            self.type_piece(id, &piece);
        }
        let session = if self.active.as_ref().is_some_and(|s| s.id == id) {
            self.active.take()
        } else {
            let at = self.flushing.iter().position(|s| s.id == id);
            at.map(|i| self.flushing.remove(i))
        };
        let Some(session) = session else { return };
        if !text.trim().is_empty() {
            let now = Instant::now();
            metrics::utterance(session.stopped.map(|t| now - t));
            let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
            let at = SystemTime::now();
            let record = store::Utterance {
                id: records::micros(at),
                profile: records::DEFAULT_PROFILE.to_owned(),
                text: text.to_owned(),
                favourite: false,
                duration_ms: ms(session.stopped.unwrap_or(now) - session.started),
                latency: store::Latencies {
                    final_text_ms: session.stopped.map(|t| ms(now - t)),
                    ..store::Latencies::default()
                },
                went: history::destination(&session.typed),
            };
            // Saved before the utterance is reported anywhere.
            let (saved, typed) = match &session.route {
                Route::Command(command) => self.finish_command(id, command, record),
                _ => (
                    self.history.save(id, record, &mut self.notices),
                    session.typed.clone(),
                ),
            };
            self.history.record(Utterance {
                id,
                at,
                text: text.to_owned(),
                typed,
                saved,
            });
        }
        if !self.listening() {
            self.committed = text.to_owned();
            self.tentative.clear();
            self.level = Level::default();
        }
        match failure {
            Some(message) => self.fail(message),
            None if !self.listening() && self.flushing.is_empty() => {
                self.status = if let Some(status) = self.command_status.take() {
                    status
                } else if text.trim().is_empty() {
                    "Heard nothing. ".to_owned() + &self.idle_status()
                } else {
                    self.idle_status()
                };
            }
            None => {}
        }
        // The pipeline's threads are done; joining them is quick.
        drop(session);
    }
}
