//! The delivery threads: one per destination (n8n, RabbitMQ), each taking
//! one outbox job at a time from the core and reporting how it went. They
//! never retry and never touch the store: the core owns the outbox, its
//! order and its backoff ([`crate::core::delivery`]). A slow or absent
//! broker therefore never holds up n8n, and neither holds up dictation.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{n8n, rabbitmq};
use crate::config::settings::Settings;
use crate::secrets::{self, SecretStore};
use crate::store::outbox::{JobKind, OutboxJob};

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The outbox job.
    pub job_id: u64,
    /// Where it went.
    pub kind: JobKind,
    /// Its utterance.
    pub utterance_id: u64,
    /// The reply text (n8n; may be none), or why it failed.
    pub outcome: Result<Option<String>, Failure>,
    /// Something the user should know although it was delivered (a reply
    /// n8n's workflow shaped oddly, a reply too big to show).
    pub note: Option<String>,
    /// From hand-over to answer.
    pub took: Duration,
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// For the user: names the destination and what to do.
    pub message: String,
    /// Whether trying again later could help (down, timeout, 5xx).
    pub transient: bool,
}

/// What a delivery thread is handed.
struct Work {
    job: OutboxJob,
    settings: Arc<Settings>,
}

/// The running delivery threads.
pub struct Deliverer {
    n8n: Option<SyncSender<Work>>,
    amqp: Option<SyncSender<Work>>,
    handles: Vec<JoinHandle<()>>,
}

/// The command text as sent: the utterance's words after the prefix, with
/// its time and ids.
#[must_use]
pub fn request(job: &OutboxJob) -> n8n::CommandRequest {
    n8n::CommandRequest {
        text: job.text.clone(),
        timestamp: rfc3339(job.utterance_id),
        source: "tonnytray".to_owned(),
        profile: job.profile.clone(),
        utterance_id: job.utterance_id,
        agent: (!job.agent.is_empty()).then(|| job.agent.clone()),
    }
}

/// RFC 3339 UTC time of a µs-since-epoch id.
fn rfc3339(micros: u64) -> String {
    i64::try_from(micros)
        .ok()
        .and_then(|us| jiff::Timestamp::from_microsecond(us).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

impl Deliverer {
    /// Starts the `deliver-n8n` and `deliver-amqp` threads; `report` is
    /// called on them with each outcome.
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn spawn(
        secrets: Arc<dyn SecretStore>,
        report: impl Fn(Delivered) + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let report = Arc::new(report);
        let (n8n_tx, n8n_rx) = mpsc::sync_channel::<Work>(1);
        let (amqp_tx, amqp_rx) = mpsc::sync_channel::<Work>(1);
        let mut handles = Vec::new();
        {
            let secrets = Arc::clone(&secrets);
            let report = Arc::clone(&report);
            handles.push(crate::runtime::thread::spawn("deliver-n8n", move || {
                run_n8n(&n8n_rx, &*secrets, &*report);
            })?);
        }
        handles.push(crate::runtime::thread::spawn("deliver-amqp", move || {
            run_amqp(&amqp_rx, &*secrets, &*report);
        })?);
        Ok(Self {
            n8n: Some(n8n_tx),
            amqp: Some(amqp_tx),
            handles,
        })
    }

    /// Hands a job over; `false` when its thread is still busy (the core
    /// sends one job at a time per destination, so that means a bug or a
    /// stopped thread) — the job stays in the outbox either way.
    pub fn send(&self, job: OutboxJob, settings: Arc<Settings>) -> bool {
        let tx = match job.kind {
            JobKind::N8n => &self.n8n,
            JobKind::Rabbitmq => &self.amqp,
        };
        let Some(tx) = tx else { return false };
        match tx.try_send(Work { job, settings }) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

impl Drop for Deliverer {
    fn drop(&mut self) {
        // Closing the channels ends the threads after their current job
        // (each bounded by its timeout).
        self.n8n = None;
        self.amqp = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn run_n8n(rx: &Receiver<Work>, secrets: &dyn SecretStore, report: &dyn Fn(Delivered)) {
    for Work { job, settings } in rx {
        let started = Instant::now();
        let (outcome, note) = deliver_n8n(&job, &settings, secrets);
        report(Delivered {
            job_id: job.id,
            kind: job.kind,
            utterance_id: job.utterance_id,
            outcome,
            note,
            took: started.elapsed(),
        });
    }
}

/// The webhook the settings describe, with its token from the keyring.
///
/// # Errors
/// When no URL is set or the keyring cannot be read.
pub fn webhook(settings: &Settings, secrets: &dyn SecretStore) -> Result<n8n::Webhook, Failure> {
    let url = settings.n8n.url.trim();
    if url.is_empty() {
        return Err(Failure {
            message: "no n8n webhook URL is set: add it in Settings → Integrations (commands wait until then)".into(),
            transient: false,
        });
    }
    let token = secrets.get(secrets::N8N_TOKEN).map_err(|e| Failure {
        message: format!("the n8n token could not be read from the keyring: {e}"),
        transient: true,
    })?;
    n8n::Webhook::new(
        url,
        settings.n8n.allow_http,
        token,
        Duration::from_secs(u64::from(settings.n8n.timeout_secs)),
    )
    .map_err(|e| Failure {
        message: e.to_string(),
        transient: false,
    })
}

/// Posts one command: the reply, or why not, and a note for the user.
fn deliver_n8n(
    job: &OutboxJob,
    settings: &Settings,
    secrets: &dyn SecretStore,
) -> (Result<Option<String>, Failure>, Option<String>) {
    let hook = match webhook(settings, secrets) {
        Ok(h) => h,
        Err(f) => return (Err(f), None),
    };
    match hook.post(&request(job)) {
        Ok(reply) => (Ok(reply.text), reply.note),
        // The workflow ran but its reply was unusable: sending it again
        // would run the command twice.
        Err(e) if e.was_delivered() => (Ok(None), Some(e.to_string())),
        Err(e) => (
            Err(Failure {
                transient: e.is_transient(),
                message: e.to_string(),
            }),
            None,
        ),
    }
}

fn run_amqp(rx: &Receiver<Work>, secrets: &dyn SecretStore, report: &dyn Fn(Delivered)) {
    // The connection is kept between jobs and made again when the
    // settings change.
    let mut publisher: Option<(rabbitmq::AmqpConfig, rabbitmq::Publisher)> = None;
    for Work { job, settings } in rx {
        let started = Instant::now();
        let outcome = deliver_amqp(&job, &settings, secrets, &mut publisher).map(|()| None);
        report(Delivered {
            job_id: job.id,
            kind: job.kind,
            utterance_id: job.utterance_id,
            outcome,
            note: None,
            took: started.elapsed(),
        });
    }
}

fn deliver_amqp(
    job: &OutboxJob,
    settings: &Settings,
    secrets: &dyn SecretStore,
    publisher: &mut Option<(rabbitmq::AmqpConfig, rabbitmq::Publisher)>,
) -> Result<(), Failure> {
    let password = secrets
        .get(secrets::RABBITMQ_PASSWORD)
        .map_err(|e| Failure {
            message: format!("the RabbitMQ password could not be read from the keyring: {e}"),
            transient: true,
        })?;
    let config = rabbitmq::AmqpConfig {
        url: settings.rabbitmq.url.clone(),
        password,
        exchange: settings.rabbitmq.exchange.clone(),
        routing_key: settings.rabbitmq.routing_key.clone(),
        timeout: Duration::from_secs(10),
    };
    if publisher.as_ref().is_none_or(|(c, _)| *c != config) {
        *publisher = Some((config.clone(), rabbitmq::Publisher::new(config)));
    }
    let Some((_, p)) = publisher.as_ref() else {
        return Ok(());
    };
    let body = serde_json::to_vec(&rabbitmq::event(&request(job))).unwrap_or_default();
    p.publish(&body, &job.utterance_id.to_string())
        .map_err(|e| Failure {
            transient: e.is_transient(),
            message: e.to_string(),
        })
}
