//! The n8n webhook client and the RabbitMQ publisher against REAL peers on
//! loopback. All `#[ignore]`d: CI runs them with `--run-ignored all`.
//!
//! - `TONNYTRAY_TEST_N8N_URL`: base URL of an n8n from `ci/n8n.sh start`,
//!   serving `ci/n8n/ask-tonny.json` (`/webhook/ask-tonny`, the
//!   token-protected `/webhook/ask-tonny-secure` and the record of what it
//!   received, `/webhook/tonny-received`).
//! - `TONNYTRAY_TEST_N8N_TOKEN` (else `TONNYTRAY_N8N_TOKEN`, which
//!   `ci/n8n.sh` reads): the bearer token of `ask-tonny-secure`.
//! - `TONNYTRAY_TEST_AMQP_URL`: a broker from `ci/rabbitmq.sh start`. The
//!   broker-down test starts and stops a broker of its own with the same
//!   script, so it never disturbs the shared one.
//!
//! Locally a missing variable skips the test with a message; under CI
//! (`CI=true`) it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties};
use serde_json::Value;
use tonnytray::integrations::n8n::{CommandRequest, DeliveryError, TEST_TEXT, Webhook};
use tonnytray::integrations::rabbitmq::{self, AmqpConfig, PublishError, Publisher};
use tonnytray::secrets::Secret;

const EXCHANGE: &str = "amq.topic";
const ROUTING_KEY: &str = "thread.tonny.prompt";

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The value of `var`; `None` (skip) locally when unset, a failure under CI.
fn peer(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().trim_end_matches('/').to_owned()),
        _ => {
            assert!(
                !under_ci(),
                "{var} is not set under CI: {what}; start it and export the variable \
                 (see ci/check.sh)"
            );
            eprintln!("skipping: {var} is not set ({what})");
            None
        }
    }
}

fn n8n_base() -> Option<String> {
    peer(
        "TONNYTRAY_TEST_N8N_URL",
        "these tests need a real n8n from `ci/n8n.sh start`",
    )
}

fn amqp_url() -> Option<String> {
    peer(
        "TONNYTRAY_TEST_AMQP_URL",
        "these tests need a real RabbitMQ from `ci/rabbitmq.sh start`",
    )
}

/// An id no other test run has used: the record in n8n and the broker's
/// queues outlive a test.
fn unique_id() -> u64 {
    let micros = jiff::Timestamp::now().as_microsecond();
    u64::try_from(micros).expect("a time after 1970") ^ u64::from(std::process::id())
}

fn webhook(base: &str, path: &str, token: Option<&str>) -> Webhook {
    Webhook::new(
        &format!("{base}/webhook/{path}"),
        true,
        token.map(|t| Secret::new(t.to_owned())),
        Duration::from_secs(20),
    )
    .expect("a loopback URL with http allowed")
}

/// What n8n's test workflow recorded for `utterance_id`.
fn received(base: &str, utterance_id: u64) -> Vec<Value> {
    let mut response = ureq::get(&format!("{base}/webhook/tonny-received"))
        .call()
        .expect("the record webhook answers");
    let record: Value = response.body_mut().read_json().expect("JSON");
    record["received"]
        .as_array()
        .expect("a list of received commands")
        .iter()
        .filter(|r| r["utterance_id"].as_u64() == Some(utterance_id))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------- n8n

#[test]
#[ignore = "needs a real n8n (TONNYTRAY_TEST_N8N_URL)"]
fn n8n_answers_a_command_and_gets_the_documented_body() {
    let Some(base) = n8n_base() else { return };
    let id = unique_id();
    let request = CommandRequest::new(
        format!("turn on the kitchen lights {id}"),
        "default",
        id,
        Some("house".into()),
    );
    let reply = webhook(&base, "ask-tonny", None)
        .post(&request)
        .expect("n8n takes the command");
    assert_eq!(
        reply.text.as_deref(),
        Some(&*format!("You said: turn on the kitchen lights {id}"))
    );
    assert_eq!(reply.note, None);

    let seen = received(&base, id);
    assert_eq!(seen.len(), 1, "sent once, recorded once: {seen:?}");
    assert_eq!(seen[0]["webhook"], "ask-tonny");
    assert_eq!(
        seen[0]["body"],
        serde_json::json!({
            "text": request.text,
            "timestamp": request.timestamp,
            "source": "tonnytray",
            "profile": "default",
            "utterance_id": id,
            "agent": "house",
        })
    );
}

#[test]
#[ignore = "needs a real n8n (TONNYTRAY_TEST_N8N_URL)"]
fn n8n_test_connection_gets_an_answer() {
    let Some(base) = n8n_base() else { return };
    let reply = webhook(&base, "ask-tonny", None)
        .test_connection()
        .expect("the test request is answered");
    assert_eq!(
        reply.text.as_deref(),
        Some(&*format!("You said: {TEST_TEXT}"))
    );
}

#[test]
#[ignore = "needs a real n8n (TONNYTRAY_TEST_N8N_URL, TONNYTRAY_TEST_N8N_TOKEN)"]
fn n8n_header_auth_takes_the_right_token_and_refuses_others() {
    let Some(base) = n8n_base() else { return };
    let Some(token) = std::env::var("TONNYTRAY_TEST_N8N_TOKEN")
        .ok()
        .or_else(|| std::env::var("TONNYTRAY_N8N_TOKEN").ok())
        .or_else(|| {
            peer(
                "TONNYTRAY_TEST_N8N_TOKEN",
                "the bearer token given to `ci/n8n.sh start --token`",
            )
        })
    else {
        return;
    };
    let id = unique_id();
    let request = CommandRequest::new("open the garage", "default", id, None);

    let none = webhook(&base, "ask-tonny-secure", None)
        .post(&request)
        .expect_err("no token");
    assert!(
        matches!(
            none,
            DeliveryError::Unauthorized {
                status: 403,
                token_sent: false,
                ..
            }
        ),
        "{none:?}"
    );
    assert!(!none.is_transient());
    assert!(
        none.to_string().contains("Settings → Integrations"),
        "{none}"
    );

    let wrong_token = "wrong-token-that-must-not-show-up";
    let wrong = webhook(&base, "ask-tonny-secure", Some(wrong_token))
        .post(&request)
        .expect_err("a wrong token");
    eprintln!("{wrong}");
    assert!(
        matches!(
            wrong,
            DeliveryError::Unauthorized {
                status: 403,
                token_sent: true,
                ..
            }
        ),
        "{wrong:?}"
    );
    assert!(!wrong.is_transient());
    let shown = format!("{wrong} {wrong:?}");
    assert!(!shown.contains(wrong_token), "the token leaked: {shown}");
    assert!(received(&base, id).is_empty(), "refused commands never ran");

    let reply = webhook(&base, "ask-tonny-secure", Some(&token))
        .post(&request)
        .expect("the right token");
    assert_eq!(reply.text.as_deref(), Some("You said: open the garage"));
    assert_eq!(received(&base, id).len(), 1);
}

#[test]
#[ignore = "needs a real n8n (TONNYTRAY_TEST_N8N_URL)"]
fn n8n_unknown_webhook_is_a_permanent_not_found() {
    let Some(base) = n8n_base() else { return };
    let error = webhook(&base, "no-such-webhook", None)
        .post(&CommandRequest::new("hello", "default", unique_id(), None))
        .expect_err("no workflow listens there");
    eprintln!("{error}");
    assert!(matches!(error, DeliveryError::NotFound { .. }), "{error:?}");
    assert!(!error.is_transient());
    let text = error.to_string();
    assert!(text.contains("workflow is not active"), "{text}");
    assert!(
        text.contains("not registered"),
        "quotes n8n's own words: {text}"
    );
}

// ---------------------------------------------------------------- RabbitMQ

/// `url` without its password, and the password, as the settings keep them.
fn split_password(url: &str) -> (String, Option<Secret>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    match userinfo.split_once(':') {
        Some((user, password)) => (
            format!("{scheme}://{user}@{host}{path}"),
            Some(Secret::new(password.to_owned())),
        ),
        None => (url.to_owned(), None),
    }
}

fn config(url: &str, timeout: Duration) -> AmqpConfig {
    let (url, password) = split_password(url);
    AmqpConfig {
        url,
        password,
        exchange: EXCHANGE.into(),
        routing_key: ROUTING_KEY.into(),
        timeout,
    }
}

fn event_body(id: u64) -> Vec<u8> {
    let request = CommandRequest::new(format!("lights off {id}"), "default", id, None);
    serde_json::to_vec(&rabbitmq::event(&request)).expect("an event serialises")
}

/// A consumer of its own: a server-named, exclusive queue bound to the
/// exchange with the routing key, read with basic.get.
struct Probe {
    runtime: tokio::runtime::Runtime,
    _connection: Connection,
    channel: Channel,
    queue: String,
}

impl Probe {
    fn new(url: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test runtime");
        let mut uri: AMQPUri = url.parse().expect("a valid AMQP URL");
        // Loopback by address, whatever the URL parser made of the host.
        "127.0.0.1".clone_into(&mut uri.authority.host);
        let (connection, channel, queue) = runtime.block_on(async {
            let connection = Connection::connect_uri(uri, ConnectionProperties::default())
                .await
                .expect("the test connects to the broker");
            let channel = connection.create_channel().await.expect("a channel");
            let queue = channel
                .queue_declare(
                    "".into(),
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .expect("a queue")
                .name()
                .to_string();
            channel
                .queue_bind(
                    queue.as_str().into(),
                    EXCHANGE.into(),
                    ROUTING_KEY.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bound");
            (connection, channel, queue)
        });
        Self {
            runtime,
            _connection: connection,
            channel,
            queue,
        }
    }

    /// The message with `message_id`, waiting up to 10 s for it (other
    /// tests may publish with the same routing key meanwhile).
    fn take(&self, message_id: &str) -> lapin::message::BasicGetMessage {
        let deadline = Instant::now() + Duration::from_secs(10);
        self.runtime.block_on(async {
            loop {
                let got = self
                    .channel
                    .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
                    .await
                    .expect("basic.get");
                match got {
                    Some(m)
                        if m.delivery
                            .properties
                            .message_id()
                            .as_ref()
                            .map(|s| s.as_str())
                            == Some(message_id) =>
                    {
                        return m;
                    }
                    Some(_) => {}
                    None => {
                        assert!(
                            Instant::now() < deadline,
                            "message {message_id} never reached the queue"
                        );
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        })
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.runtime.block_on(
            self.channel
                .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default()),
        );
    }
}

#[test]
#[ignore = "needs a real RabbitMQ (TONNYTRAY_TEST_AMQP_URL)"]
fn rabbitmq_event_is_confirmed_and_consumed_with_its_id() {
    let Some(url) = amqp_url() else { return };
    let probe = Probe::new(&url);
    let publisher = Publisher::new(config(&url, Duration::from_secs(10)));
    for _ in 0..2 {
        // Twice: the second publish goes over the connection the first made.
        let id = unique_id();
        let body = event_body(id);
        publisher
            .publish(&body, &id.to_string())
            .expect("the broker confirms");
        let message = probe.take(&id.to_string());
        assert_eq!(message.delivery.data, body);
        let properties = &message.delivery.properties;
        assert_eq!(
            properties.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
        let event: Value = serde_json::from_slice(&message.delivery.data).expect("JSON");
        assert_eq!(event["type"], "command");
        assert_eq!(event["utterance_id"], id);
        assert_eq!(message.delivery.routing_key.as_str(), ROUTING_KEY);
    }
}

#[test]
#[ignore = "needs a real RabbitMQ (TONNYTRAY_TEST_AMQP_URL)"]
fn rabbitmq_refusals_are_permanent_and_say_what_to_fix() {
    let Some(url) = amqp_url() else { return };
    let body = event_body(unique_id());

    let mut missing = config(&url, Duration::from_secs(10));
    missing.exchange = "tonnytray.no-such-exchange".into();
    let error = Publisher::new(missing)
        .publish(&body, "1")
        .expect_err("no such exchange");
    eprintln!("{error}");
    assert!(
        matches!(error, PublishError::ExchangeMissing { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());

    let wrong_password = "not-the-password-and-not-to-be-shown";
    let mut wrong = config(&url, Duration::from_secs(10));
    wrong.password = Some(Secret::new(wrong_password.into()));
    let error = Publisher::new(wrong)
        .publish(&body, "1")
        .expect_err("a wrong password");
    eprintln!("{error}");
    assert!(
        matches!(error, PublishError::AuthRefused { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let shown = format!("{error} {error:?}");
    assert!(
        !shown.contains(wrong_password),
        "the password leaked: {shown}"
    );

    let mut vhost = config(&url, Duration::from_secs(10));
    vhost.url = format!(
        "{}/tonnytray-no-such-vhost",
        vhost
            .url
            .rsplit_once('/')
            .map_or(&*vhost.url, |(base, _)| base)
    );
    let error = Publisher::new(vhost)
        .publish(&body, "1")
        .expect_err("no such virtual host");
    eprintln!("{error}");
    assert!(
        matches!(error, PublishError::VhostMissing { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
}

/// A broker of this test's own, stopped (and its files removed) on drop.
struct OwnBroker {
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnBroker {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/rabbitmq.sh")
    }

    fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let broker = Self { dir, port };
        broker.run("start", &["--port", &port.to_string()]);
        broker
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn run(&self, action: &str, extra: &[&str]) {
        // stdout is not captured: the script's output is one line (the URL)
        // and the broker it starts must not hold our pipe open.
        let status = Command::new("bash")
            .arg(Self::script())
            .arg(action)
            .arg("--dir")
            .arg(self.dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .status()
            .expect("bash runs ci/rabbitmq.sh");
        assert!(status.success(), "ci/rabbitmq.sh {action} failed");
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Self::script())
            .arg("stop")
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .status();
    }
}

#[test]
#[ignore = "needs RabbitMQ installed (TONNYTRAY_TEST_AMQP_URL says it is)"]
fn rabbitmq_down_is_transient_and_publishing_resumes_after_restart() {
    if amqp_url().is_none() {
        return;
    }
    let broker = OwnBroker::start();
    let publisher = Publisher::new(config(&broker.url(), Duration::from_secs(5)));
    publisher
        .publish(&event_body(unique_id()), "1")
        .expect("the broker confirms");

    broker.run("stop", &[]);
    let error = publisher
        .publish(&event_body(unique_id()), "2")
        .expect_err("the broker is stopped");
    eprintln!("broker stopped: {error}");
    assert!(error.is_transient(), "{error:?}");
    assert!(
        error
            .to_string()
            .contains(&format!("127.0.0.1:{}", broker.port)),
        "names the broker: {error}"
    );

    broker.run("start", &["--port", &broker.port.to_string()]);
    let probe = Probe::new(&broker.url());
    let id = unique_id();
    let body = event_body(id);
    publisher
        .publish(&body, &id.to_string())
        .expect("the publisher connects again");
    assert_eq!(probe.take(&id.to_string()).delivery.data, body);
}
