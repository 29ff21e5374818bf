//! Voice commands, from the core's side: the kid-safe check before anything
//! leaves, the outbox (saved with the utterance, sent oldest first per
//! destination through [`Deliverer`], retried per [`Backoff`]), and what
//! happens to a reply (shown, spoken, notified) per the response mode.
//!
//! The threads that do the I/O (delivery, speech, notifications) are handed
//! in, so the core's tests can run with some or none of them.

use crate::telemetry::metrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::delivery::Backoff;
use super::policy;
use crate::config::profiles::{Profile, ResponseMode};
use crate::config::settings::{Confirmation, Settings};
use crate::integrations::deliver::{Delivered, Deliverer};
use crate::integrations::notify::Notifier;
use crate::integrations::speech::{Speaker, SpeechConfig};
use crate::secrets::SecretStore;
use crate::store::outbox::{JobKind, OutboxJob};
use crate::store::{self, Destination, records};

/// The threads commands use; any may be absent (tests, no sound card).
#[derive(Default)]
pub struct Outputs {
    /// Sends outbox jobs.
    pub deliverer: Option<Deliverer>,
    /// Speaks replies.
    pub speaker: Option<Speaker>,
    /// Shows desktop notifications.
    pub notifier: Option<Notifier>,
    /// Where tokens and keys are read (`None`: nothing is set).
    pub secrets: Option<Arc<dyn SecretStore>>,
}

/// A command waiting in the outbox, as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Outbox job id.
    pub id: u64,
    /// Destination.
    pub kind: JobKind,
    /// The command's words.
    pub text: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Why the last one failed.
    pub last_error: String,
}

/// The newest reply to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The command it answers.
    pub command: String,
    /// What n8n said.
    pub text: String,
    /// When it came.
    pub at: SystemTime,
    /// Its utterance's store id.
    pub utterance_id: u64,
}

/// What became of a command utterance at its end.
pub struct Routed {
    /// Where its words went (for the history).
    pub went: Destination,
    /// Its store id, if it was saved.
    pub saved: Option<u64>,
    /// One line for the status.
    pub status: String,
}

/// A command utterance the store could not take, and why.
#[derive(Debug)]
pub struct Unsaved {
    /// What went wrong.
    pub error: store::StoreError,
    /// The utterance (to keep in memory like any unsaved one).
    pub record: store::Utterance,
}

/// The core's command state.
pub struct Commands {
    outputs: Outputs,
    /// Mirror of the store's outbox, oldest first.
    pending: Vec<OutboxJob>,
    backoff: HashMap<JobKind, Backoff>,
    /// Commands per profile on `used_day` (a local date), for daily limits.
    used: HashMap<String, u32>,
    used_day: String,
    /// Speech jobs in flight: job id → utterance id.
    speaking: HashMap<u64, u64>,
    next_speech: u64,
    /// The newest reply.
    pub reply: Option<Reply>,
    /// One line about delivery (empty when all is well).
    pub status: String,
    /// Problems to show as notices.
    pub notices: Vec<String>,
    /// The outbox changed (the UI lists it again).
    pub changed: bool,
}

impl Commands {
    /// Starts with what the store's outbox still holds from an earlier run.
    pub fn new(outputs: Outputs, store: Option<&store::Store>) -> Self {
        let mut me = Self {
            outputs,
            pending: Vec::new(),
            backoff: HashMap::new(),
            used: HashMap::new(),
            used_day: String::new(),
            speaking: HashMap::new(),
            next_speech: 1,
            reply: None,
            status: String::new(),
            notices: Vec::new(),
            changed: true,
        };
        if let Some(s) = store {
            match s.outbox() {
                Ok(jobs) => {
                    if !jobs.is_empty() {
                        me.notices.push(format!(
                            "{} command(s) from an earlier run are waiting to be sent",
                            jobs.len()
                        ));
                    }
                    me.pending = jobs;
                }
                Err(e) => me.notices.push(format!(
                    "the commands waiting to be sent could not be read: {e}"
                )),
            }
            me.count_today(s);
        }
        me
    }

    /// Counts today's commands per profile from the activity log, so a
    /// restart does not reset a daily limit.
    fn count_today(&mut self, s: &store::Store) {
        self.used_day = today();
        self.used.clear();
        let Ok(entries) = s.activity(10_000) else {
            return;
        };
        for a in entries {
            if local_day(a.at) != self.used_day {
                break;
            }
            if a.kind == "command"
                && let Some(profile) = a.message.split(": ").next()
            {
                *self.used.entry(profile.to_owned()).or_default() += 1;
            }
        }
    }

    /// How many commands wait.
    #[must_use]
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The outbox, for the UI.
    #[must_use]
    pub fn pending(&self) -> Vec<Pending> {
        self.pending
            .iter()
            .map(|j| Pending {
                id: j.id,
                kind: j.kind,
                text: j.text.clone(),
                attempts: j.attempts,
                last_error: j.last_error.clone(),
            })
            .collect()
    }

    /// A command utterance ended: check it, save it with its jobs.
    /// `record` is the utterance as it will be stored (its `went` is set here).
    pub fn route(
        &mut self,
        store: Option<&store::Store>,
        settings: &Settings,
        command: &str,
        mut record: store::Utterance,
    ) -> Result<Routed, Box<Unsaved>> {
        let profile = settings.profile();
        if today() != self.used_day {
            self.used_day = today();
            self.used.clear();
        }
        let used = self.used.get(&profile.name).copied().unwrap_or(0);
        let now = jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::system())
            .time();
        if command.trim().is_empty() {
            record.went = Destination::Nowhere {
                why: "a command prefix with no command".into(),
            };
            return self.save_plain(
                store,
                record,
                "Heard the command word but no command: say it again".into(),
            );
        }
        if let Err(refusal) = policy::check_command(&profile, command, now, used) {
            record.went = Destination::Nowhere {
                why: format!("refused: {}", refusal.message),
            };
            log(
                store,
                "refused",
                &format!("{}: {command} ({})", profile.name, refusal.reason.code()),
            );
            self.notify(settings, "Command not sent", &refusal.message);
            return self.save_plain(store, record, refusal.message.clone());
        }
        record.went = Destination::N8n;
        let mut jobs = vec![job(JobKind::N8n, &profile, command)];
        if settings.rabbitmq.enabled {
            jobs.push(job(JobKind::Rabbitmq, &profile, command));
        }
        let Some(s) = store else {
            return Err(Box::new(Unsaved {
                error: store::StoreError::Io {
                    path: std::path::PathBuf::new(),
                    detail: "there is no history store to keep the command in".into(),
                },
                record,
            }));
        };
        match s.add_command(&record, &jobs) {
            Ok(id) => {
                *self.used.entry(profile.name.clone()).or_default() += 1;
                log(store, "command", &format!("{}: {command}", profile.name));
                self.reload(s);
                Ok(Routed {
                    went: Destination::N8n,
                    saved: Some(id),
                    status: format!("Command queued: {command}"),
                })
            }
            Err(error) => Err(Box::new(Unsaved { error, record })),
        }
    }

    fn save_plain(
        &mut self,
        store: Option<&store::Store>,
        record: store::Utterance,
        status: String,
    ) -> Result<Routed, Box<Unsaved>> {
        let went = record.went.clone();
        match store.map(|s| s.add_utterance(&record)) {
            Some(Ok(id)) => Ok(Routed {
                went,
                saved: Some(id),
                status,
            }),
            Some(Err(error)) => Err(Box::new(Unsaved { error, record })),
            None => Ok(Routed {
                went,
                saved: None,
                status,
            }),
        }
    }

    /// Reads the outbox again (after jobs were added).
    fn reload(&mut self, s: &store::Store) {
        match s.outbox() {
            Ok(jobs) => {
                // Keep attempt counts of jobs already known (not yet saved).
                self.pending = jobs;
                self.changed = true;
            }
            Err(e) => self.notices.push(format!(
                "the commands waiting to be sent could not be read: {e}"
            )),
        }
    }

    /// Sends each destination's oldest job when its backoff allows.
    pub fn pump(&mut self, settings: &Arc<Settings>) {
        let Some(deliverer) = &self.outputs.deliverer else {
            return;
        };
        let now = Instant::now();
        for kind in [JobKind::N8n, JobKind::Rabbitmq] {
            let backoff = self.backoff.entry(kind).or_default();
            if !backoff.ready(now) {
                continue;
            }
            let Some(head) = self.pending.iter().find(|j| j.kind == kind) else {
                continue;
            };
            if kind == JobKind::Rabbitmq && !settings.rabbitmq.enabled {
                continue;
            }
            if deliverer.send(head.clone(), Arc::clone(settings)) {
                backoff.sent();
            }
        }
    }

    /// When the next job may go (for the core's sleep), if one waits.
    #[must_use]
    pub fn next_wake(&self) -> Option<Instant> {
        [JobKind::N8n, JobKind::Rabbitmq]
            .into_iter()
            .filter(|k| self.pending.iter().any(|j| j.kind == *k))
            .filter_map(|k| {
                let b = self.backoff.get(&k).cloned().unwrap_or_default();
                if b.in_flight() {
                    None
                } else {
                    Some(b.next_attempt().unwrap_or_else(Instant::now))
                }
            })
            .min()
    }

    /// Whether a delivery is under way (the core then polls).
    #[must_use]
    pub fn busy(&self) -> bool {
        self.backoff.values().any(Backoff::in_flight) || !self.speaking.is_empty()
    }

    /// "Retry now": every destination tries its oldest job at once.
    pub fn retry_now(&mut self) {
        for b in self.backoff.values_mut() {
            b.reset();
        }
        self.status.clear();
        self.changed = true;
    }

    /// A delivery thread reported.
    pub fn on_delivered(
        &mut self,
        d: Delivered,
        store: Option<&store::Store>,
        settings: &Settings,
    ) {
        let integration = match d.kind {
            JobKind::N8n => metrics::Integration::N8n,
            JobKind::Rabbitmq => metrics::Integration::RabbitMq,
        };
        metrics::integration_request(integration, d.outcome.is_ok());
        if d.kind == JobKind::N8n && d.outcome.is_ok() {
            metrics::n8n_latency(d.took);
        }
        let backoff = self.backoff.entry(d.kind).or_default();
        let Some(at) = self.pending.iter().position(|j| j.id == d.job_id) else {
            backoff.succeeded();
            return;
        };
        self.changed = true;
        if let Some(note) = &d.note {
            self.notices.push(format!("{}: {note}", d.kind.label()));
        }
        match d.outcome {
            Ok(reply) => {
                backoff.succeeded();
                let job = self.pending.remove(at);
                let ms = u32::try_from(d.took.as_millis()).unwrap_or(u32::MAX);
                let latency = (d.kind == JobKind::N8n).then_some((job.utterance_id, ms));
                if let Some(s) = store
                    && let Err(e) = s.finish_job(job.id, latency)
                {
                    // It stays in the store and goes again after a
                    // restart: at-least-once, de-duplicated by id.
                    self.notices
                        .push(format!("a sent command could not be marked as sent: {e}"));
                }
                log(
                    store,
                    "delivered",
                    &format!("{} → {}", job.text, d.kind.label()),
                );
                if self.pending.iter().all(|j| j.kind != d.kind) {
                    self.status.clear();
                }
                if d.kind == JobKind::N8n {
                    self.on_reply(&job, reply, settings);
                }
            }
            Err(failure) => {
                let delay = backoff.failed(Instant::now());
                let open = backoff.open();
                let job = &mut self.pending[at];
                job.attempts += 1;
                job.last_error.clone_from(&failure.message);
                if let Some(s) = store {
                    let _ = s.update_job(job);
                }
                let waiting = self.pending.iter().filter(|j| j.kind == d.kind).count();
                self.status = if open {
                    format!(
                        "{} is not answering: {waiting} command(s) wait; trying again every {} s. {}",
                        d.kind.label(),
                        delay.as_secs(),
                        failure.message
                    )
                } else {
                    format!(
                        "{waiting} command(s) wait for {}; next try in {} s. {}",
                        d.kind.label(),
                        delay.as_secs(),
                        failure.message
                    )
                };
                let first = self.pending[at].attempts == 1;
                if first {
                    log(
                        store,
                        "delivery failed",
                        &format!("{}: {}", d.kind.label(), failure.message),
                    );
                    if d.kind == JobKind::N8n {
                        let text = format!(
                            "It will be sent when {} answers. {}",
                            d.kind.label(),
                            failure.message
                        );
                        self.notify(settings, "Command waiting", &text);
                    }
                }
            }
        }
    }

    fn on_reply(&mut self, job: &OutboxJob, reply: Option<String>, settings: &Settings) {
        let Some(text) = reply.filter(|t| !t.trim().is_empty()) else {
            self.notify(settings, "Command sent", &job.text);
            return;
        };
        let profile = settings
            .all_profiles()
            .into_iter()
            .find(|p| p.name == job.profile)
            .unwrap_or_else(|| settings.profile());
        let mode = profile
            .response_mode
            .unwrap_or(settings.commands.response_mode);
        self.reply = Some(Reply {
            command: job.text.clone(),
            text: text.clone(),
            at: SystemTime::now(),
            utterance_id: job.utterance_id,
        });
        if matches!(mode, ResponseMode::Text | ResponseMode::Both) {
            self.notify(settings, "Reply", &text);
        }
        if matches!(mode, ResponseMode::Voice | ResponseMode::Both) {
            self.speak(settings, &profile, &text, job.utterance_id);
        }
    }

    fn speak(&mut self, settings: &Settings, profile: &Profile, text: &str, utterance_id: u64) {
        let voice = if profile.voice_id.is_empty() {
            settings.elevenlabs.voice_id.clone()
        } else {
            profile.voice_id.clone()
        };
        let Some(speaker) = &self.outputs.speaker else {
            return;
        };
        if voice.is_empty() {
            self.notices
                .push("the reply was not spoken: choose a voice in Settings → Integrations".into());
            return;
        }
        let id = self.next_speech;
        self.next_speech += 1;
        match speaker.say(id, text, &voice) {
            Ok(()) => {
                self.speaking.insert(id, utterance_id);
            }
            Err(e) => self.notices.push(format!("the reply was not spoken: {e}")),
        }
    }

    /// The speech thread finished or failed a reply; returns the utterance
    /// whose speech latency to store.
    pub fn on_speech_done(&mut self, job: u64, failed: Option<String>) -> Option<u64> {
        let utterance = self.speaking.remove(&job);
        if let Some(why) = failed {
            self.notices
                .push(format!("the reply could not be spoken: {why}"));
        }
        utterance
    }

    /// Stops speaking and drops queued replies.
    pub fn stop_speaking(&mut self) {
        if let Some(s) = &self.outputs.speaker {
            s.stop();
        }
    }

    /// The speech thread (for new settings).
    #[must_use]
    pub fn speaker(&self) -> Option<&Speaker> {
        self.outputs.speaker.as_ref()
    }

    /// Gives the speech thread the settings (and key) in force.
    pub fn configure_speech(&self, settings: &Settings) {
        if let (Some(speaker), Some(secrets)) = (&self.outputs.speaker, &self.outputs.secrets) {
            speaker.set_config(speech_config(settings, &**secrets));
        }
    }

    /// The secret store.
    #[must_use]
    pub fn secrets(&self) -> Option<&Arc<dyn SecretStore>> {
        self.outputs.secrets.as_ref()
    }

    fn notify(&self, settings: &Settings, summary: &str, body: &str) {
        match settings.commands.confirmation {
            Confirmation::Silent => {}
            Confirmation::Visual => {
                if let Some(n) = &self.outputs.notifier {
                    n.show(summary, body);
                }
            }
            Confirmation::Audio => {
                if let Some(n) = &self.outputs.notifier {
                    n.beep();
                }
            }
        }
    }
}

/// The speech thread's configuration from the settings and the keyring
/// (no key: replies fail to speak with a message saying to set one).
#[must_use]
pub fn speech_config(settings: &Settings, secrets: &dyn SecretStore) -> SpeechConfig {
    let e = &settings.elevenlabs;
    SpeechConfig {
        base_url: e.base_url.clone(),
        api_key: secrets
            .get(crate::secrets::ELEVENLABS_KEY)
            .ok()
            .flatten()
            .unwrap_or_else(|| crate::secrets::Secret::new(String::new())),
        model_id: e.model_id.clone(),
        volume: e.volume,
        speed: e.speed,
        output_format: crate::integrations::elevenlabs::PcmFormat::Hz22050,
    }
}

fn job(kind: JobKind, profile: &Profile, text: &str) -> OutboxJob {
    OutboxJob {
        id: 0,
        kind,
        utterance_id: 0,
        profile: profile.name.clone(),
        agent: profile.agent.clone(),
        text: text.to_owned(),
        attempts: 0,
        last_error: String::new(),
    }
}

fn log(store: Option<&store::Store>, kind: &str, message: &str) {
    if let Some(s) = store
        && let Err(e) = s.log_activity(kind, message)
    {
        tracing::warn!("activity log: {e}");
    }
}

/// A kid's "day" is the household's: the local date, not UTC's.
fn local_day(micros: u64) -> String {
    records::local_time(micros, "%Y-%m-%d")
}

fn today() -> String {
    local_day(records::micros(SystemTime::now()))
}

/// How long until `t`, at least zero.
#[must_use]
pub fn until(t: Instant) -> Duration {
    t.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc;

    use super::*;
    use crate::config::profiles::Role;
    use crate::secrets::MemoryStore;

    /// A webhook on loopback that answers 503 to the first `fail` requests
    /// and then echoes, keeping every body it was sent.
    struct Hook {
        url: String,
        seen: Arc<Mutex<Vec<serde_json::Value>>>,
        _thread: std::thread::JoinHandle<()>,
    }

    fn hook(fail: usize) -> Hook {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/webhook/ask-tonny", server.server_addr());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let thread = crate::runtime::thread::spawn("test-hook", move || {
            for (n, mut request) in server.incoming_requests().enumerate() {
                let mut body = String::new();
                let _ = std::io::Read::read_to_string(request.as_reader(), &mut body);
                let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let response = if n < fail {
                    tiny_http::Response::from_string("n8n is starting").with_status_code(503)
                } else {
                    log.lock().expect("lock").push(json.clone());
                    tiny_http::Response::from_string(
                        serde_json::json!({"reply": format!("You said: {}", json["text"].as_str().unwrap_or(""))}).to_string(),
                    )
                };
                let _ = request.respond(response);
            }
        })
.expect("spawn");
        Hook {
            url,
            seen,
            _thread: thread,
        }
    }

    fn settings(url: &str) -> Arc<Settings> {
        let mut s = Settings::default();
        s.n8n.url = url.to_owned();
        s.n8n.allow_http = true;
        s.commands.confirmation = Confirmation::Silent;
        Arc::new(s)
    }

    fn commands(store: &store::Store) -> (Commands, mpsc::Receiver<Delivered>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let deliverer = Deliverer::spawn(Arc::new(MemoryStore::new()), move |d| {
            let _ = tx.lock().expect("lock").send(d);
        })
        .expect("deliverer");
        let outputs = Outputs {
            deliverer: Some(deliverer),
            ..Outputs::default()
        };
        (Commands::new(outputs, Some(store)), rx)
    }

    fn record(id: u64, text: &str) -> store::Utterance {
        store::testing::utterance(id, text)
    }

    /// Runs the core's part of the loop until the outbox is empty.
    fn drain(
        c: &mut Commands,
        rx: &mpsc::Receiver<Delivered>,
        store: &store::Store,
        s: &Arc<Settings>,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !c.pending.is_empty() {
            assert!(
                Instant::now() < deadline,
                "the outbox never emptied: {:?}",
                c.pending()
            );
            c.pump(s);
            let wait = c
                .next_wake()
                .map_or(Duration::from_millis(50), until)
                .max(Duration::from_millis(10));
            if let Ok(d) = rx.recv_timeout(wait) {
                c.on_delivered(d, Some(store), s);
            }
        }
    }

    #[test]
    fn commands_wait_out_a_failing_webhook_and_arrive_once_each_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store::Store::open(&dir.path().join("t.redb")).expect("store");
        let hook = hook(2);
        let s = settings(&hook.url);
        let (mut c, rx) = commands(&store);
        let mut ids = Vec::new();
        for (i, text) in ["lights on", "lights off", "play music"].iter().enumerate() {
            let routed = c
                .route(
                    Some(&store),
                    &s,
                    text,
                    record(100 + i as u64, &format!("Computer, {text}")),
                )
                .map_err(|u| u.error)
                .expect("queued");
            assert_eq!(routed.went, Destination::N8n);
            ids.push(routed.saved.expect("saved"));
        }
        assert_eq!(store.outbox_len().expect("len"), 3);
        drain(&mut c, &rx, &store, &s);
        let seen = hook.seen.lock().expect("lock").clone();
        let texts: Vec<_> = seen
            .iter()
            .map(|v| v["text"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(texts, ["lights on", "lights off", "play music"]);
        let uids: Vec<_> = seen
            .iter()
            .map(|v| v["utterance_id"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(uids, ids);
        assert_eq!(seen[0]["source"], "tonnytray");
        assert_eq!(seen[0]["profile"], "default");
        assert_eq!(store.outbox_len().expect("len"), 0);
        assert_eq!(
            c.reply.as_ref().map(|r| r.text.as_str()),
            Some("You said: play music")
        );
        let first = store.utterance(ids[0]).expect("read").expect("saved");
        assert!(first.latency.command_ms.is_some(), "{first:?}");
        assert_eq!(first.went, Destination::N8n);
    }

    #[test]
    fn queued_commands_survive_a_restart_and_are_sent_by_the_next_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.redb");
        let s_down = settings("http://127.0.0.1:9/webhook/ask-tonny");
        {
            let store = store::Store::open(&path).expect("store");
            let (mut c, rx) = commands(&store);
            c.route(
                Some(&store),
                &s_down,
                "lights on",
                record(1, "Computer, lights on"),
            )
            .map_err(|u| u.error)
            .expect("queued");
            c.pump(&s_down);
            let d = rx.recv_timeout(Duration::from_secs(20)).expect("a report");
            assert!(matches!(&d.outcome, Err(f) if f.transient), "{d:?}");
            c.on_delivered(d, Some(&store), &s_down);
            assert_eq!(c.pending()[0].attempts, 1);
            assert!(!c.pending()[0].last_error.is_empty());
        }
        let store = store::Store::open(&path).expect("reopen");
        let hook = hook(0);
        let s = settings(&hook.url);
        let (mut c, rx) = commands(&store);
        assert_eq!(c.pending().len(), 1);
        assert!(
            c.notices.iter().any(|n| n.contains("earlier run")),
            "{:?}",
            c.notices
        );
        drain(&mut c, &rx, &store, &s);
        assert_eq!(hook.seen.lock().expect("lock").len(), 1);
    }

    #[test]
    fn a_kids_blocked_command_is_saved_but_never_queued() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store::Store::open(&dir.path().join("t.redb")).expect("store");
        let hook = hook(0);
        let mut s = (*settings(&hook.url)).clone();
        let mut kid = Profile::new("Kids", Role::Kid);
        kid.allow = vec!["play *".into()];
        kid.block = vec!["*door*".into()];
        s.profiles = vec![Profile::new("Dad", Role::Admin), kid];
        s.active_profile = "Kids".into();
        let s = Arc::new(s);
        let (mut c, rx) = commands(&store);
        let routed = c
            .route(
                Some(&store),
                &s,
                "open the front door",
                record(1, "Computer, open the front door"),
            )
            .map_err(|u| u.error)
            .expect("saved");
        assert!(
            matches!(&routed.went, Destination::Nowhere { why } if why.starts_with("refused")),
            "{:?}",
            routed.went
        );
        let routed = c
            .route(
                Some(&store),
                &s,
                "play music",
                record(2, "Computer, play music"),
            )
            .map_err(|u| u.error)
            .expect("saved");
        assert_eq!(routed.went, Destination::N8n);
        drain(&mut c, &rx, &store, &s);
        let seen = hook.seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0]["text"], "play music");
        assert_eq!(seen[0]["profile"], "Kids");
        let log = store.activity(10).expect("activity");
        assert!(
            log.iter()
                .any(|a| a.kind == "refused" && a.message.contains("open the front door")),
            "{log:?}"
        );
    }

    #[test]
    fn a_daily_limit_holds_across_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.redb");
        let mut s = (*settings("http://127.0.0.1:9/webhook/x")).clone();
        let mut kid = Profile::new("Kids", Role::Kid);
        kid.allow = vec!["play *".into()];
        kid.daily_limit = Some(1);
        s.profiles = vec![Profile::new("Dad", Role::Admin), kid];
        s.active_profile = "Kids".into();
        let went = |c: &mut Commands, store: &store::Store, id: u64| {
            c.route(
                Some(store),
                &s,
                "play music",
                record(id, "Computer, play music"),
            )
            .map_err(|u| u.error)
            .expect("saved")
            .went
        };
        {
            let store = store::Store::open(&path).expect("store");
            let mut c = Commands::new(Outputs::default(), Some(&store));
            assert_eq!(went(&mut c, &store, 1), Destination::N8n);
            assert!(matches!(
                went(&mut c, &store, 2),
                Destination::Nowhere { .. }
            ));
        }
        let store = store::Store::open(&path).expect("reopen");
        let mut c = Commands::new(Outputs::default(), Some(&store));
        let after = went(&mut c, &store, 3);
        assert!(
            matches!(&after, Destination::Nowhere { why } if why.contains("today")),
            "{after:?}"
        );
    }
}
