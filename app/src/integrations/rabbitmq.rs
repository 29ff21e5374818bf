//! Publishing command events to RabbitMQ with publisher confirms: one
//! event at a time, each acknowledged by the broker or reported as an error
//! that says whether a retry could help.
//!
//! The caller is a plain thread; lapin is async. The [`Publisher`] owns a
//! tokio runtime with a single worker thread (`rabbitmq-io`): lapin's
//! socket, heartbeats and the broker's close notices run there all the
//! time, so an idle connection stays alive and a dropped one is noticed
//! before the next publish. Each publish blocks the caller on that runtime
//! for at most the configured timeout.
//!
//! It connects on the first publish and again after the connection or
//! channel has dropped, but never retries a publish: the core's outbox owns
//! retries and backoff. It touches neither the store nor the UI.

use std::cell::RefCell;
use std::fmt;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ErrorKind,
    ExchangeKind,
};
use serde::Serialize;

use super::n8n::{CommandRequest, SOURCE};
use crate::secrets::Secret;

/// How long closing the connection may take when the publisher is dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Where and how to publish.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user@host:port/vhost`, without the password (a password in
    /// the URL is refused: it belongs in the keyring).
    pub url: String,
    /// The user's password; `None` means RabbitMQ's default "guest".
    pub password: Option<Secret>,
    /// The exchange to publish to (e.g. `amq.topic`); `""` is the default
    /// exchange, which routes by queue name.
    pub exchange: String,
    /// The routing key (e.g. `thread.tonny.prompt`).
    pub routing_key: String,
    /// The most one publish may block: connecting, publishing and the
    /// broker's confirm together.
    pub timeout: Duration,
}

impl PartialEq for AmqpConfig {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
            && self.password.as_ref().map(Secret::expose)
                == other.password.as_ref().map(Secret::expose)
            && self.exchange == other.exchange
            && self.routing_key == other.routing_key
            && self.timeout == other.timeout
    }
}

impl Eq for AmqpConfig {}

impl fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &shown_url(&self.url))
            .field("password", &self.password)
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The event published for a command: the webhook's fields plus
/// `"type": "command"`.
#[derive(Debug, Clone, Serialize)]
pub struct CommandEvent<'a> {
    /// Always `"command"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The command, as n8n receives it.
    #[serde(flatten)]
    pub request: &'a CommandRequest,
}

/// The event for `request`; serialise it with `serde_json`.
pub fn event(request: &CommandRequest) -> CommandEvent<'_> {
    CommandEvent {
        kind: "command",
        request,
    }
}

/// Why an event was not confirmed by the broker.
///
/// Messages name the broker as host:port and never hold the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The URL cannot be used.
    #[error(
        "RabbitMQ URL '{shown}' is not valid ({why}): it should look like \
         amqp://user@127.0.0.1:5672/%2f"
    )]
    BadUrl {
        /// The URL as it may be shown.
        shown: String,
        /// What is wrong with it.
        why: String,
    },
    /// A password inside the URL, where settings files and logs would show it.
    #[error(
        "RabbitMQ URL {shown} has a password in it: remove it from the URL and put it \
         in Settings → Integrations → RabbitMQ password, which keeps it in the keyring"
    )]
    PasswordInUrl {
        /// The URL as it may be shown (without the password).
        shown: String,
    },
    /// The runtime thread could not be started.
    #[error("the RabbitMQ publisher could not start its thread ({why})")]
    Runtime {
        /// What the system said.
        why: String,
    },
    /// No connection: refused, reset, host unknown.
    #[error(
        "RabbitMQ at {at} is not reachable ({why}): check that the broker is running \
         and the URL in Settings → Integrations"
    )]
    Unreachable {
        /// host:port.
        at: String,
        /// What went wrong.
        why: String,
    },
    /// No confirm within the timeout.
    #[error(
        "RabbitMQ at {at} did not confirm the event within {} s: the broker may be \
         down, overloaded or blocked (low disk or memory)",
        timeout.as_secs_f32()
    )]
    Timeout {
        /// host:port.
        at: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The broker refused the user name or password.
    #[error(
        "RabbitMQ at {at} refused the login of user '{user}': check the user in the URL \
         and the password in Settings → Integrations (the user 'guest' only works on \
         127.0.0.1)"
    )]
    AuthRefused {
        /// host:port.
        at: String,
        /// The user name.
        user: String,
    },
    /// The user may not use the virtual host or exchange.
    #[error(
        "RabbitMQ at {at} does not let user '{user}' do this ({why}): grant the user \
         write permission on the virtual host and exchange"
    )]
    AccessRefused {
        /// host:port.
        at: String,
        /// The user name.
        user: String,
        /// What the broker said.
        why: String,
    },
    /// The virtual host does not exist.
    #[error(
        "RabbitMQ at {at} has no virtual host '{vhost}': fix the end of the URL (%2f is \
         the default '/') or create it"
    )]
    VhostMissing {
        /// host:port.
        at: String,
        /// The virtual host.
        vhost: String,
    },
    /// The exchange does not exist.
    #[error(
        "RabbitMQ at {at} has no exchange '{exchange}': create it, or set an existing \
         one (such as amq.topic) in Settings → Integrations"
    )]
    ExchangeMissing {
        /// host:port.
        at: String,
        /// The exchange.
        exchange: String,
    },
    /// The connection or channel went away during the publish.
    #[error("the connection to RabbitMQ at {at} dropped ({why}); the next try connects again")]
    Dropped {
        /// host:port.
        at: String,
        /// What lapin said.
        why: String,
    },
    /// The broker could not take the message (nack).
    #[error("RabbitMQ at {at} refused to store the event (nack); it will be sent again")]
    Nacked {
        /// host:port.
        at: String,
    },
    /// Anything else the broker or connection reported.
    #[error("RabbitMQ at {at}: {why}")]
    Broker {
        /// host:port.
        at: String,
        /// What went wrong.
        why: String,
        /// Whether publishing again could help.
        transient: bool,
    },
}

impl PublishError {
    /// Whether publishing the same event again later could succeed: broker
    /// down or unreachable, timeout, nack, a dropped connection. Bad URL,
    /// refused login or permissions, missing virtual host or exchange need
    /// the user first.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Runtime { .. }
            | Self::Unreachable { .. }
            | Self::Timeout { .. }
            | Self::Dropped { .. }
            | Self::Nacked { .. } => true,
            Self::Broker { transient, .. } => *transient,
            Self::BadUrl { .. }
            | Self::PasswordInUrl { .. }
            | Self::AuthRefused { .. }
            | Self::AccessRefused { .. }
            | Self::VhostMissing { .. }
            | Self::ExchangeMissing { .. } => false,
        }
    }
}

/// A broker address ready to connect to.
struct Target {
    uri: AMQPUri,
    /// host:port, for messages.
    at: String,
}

/// An open connection with a confirm-mode channel.
struct Link {
    connection: Connection,
    channel: Channel,
}

impl Link {
    fn is_open(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }
}

/// Publishes events to one exchange with one routing key, waiting for the
/// broker's confirm. Make a new one when the settings change.
///
/// Used from one thread (it is `Send`, not `Sync`).
pub struct Publisher {
    config: AmqpConfig,
    target: Result<Target, PublishError>,
    runtime: RefCell<Option<tokio::runtime::Runtime>>,
    link: RefCell<Option<Link>>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("config", &self.config)
            .field("connected", &self.link.borrow().is_some())
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher for `config`. Nothing connects yet: the URL is checked
    /// now but reported by the first [`Publisher::publish`].
    pub fn new(config: AmqpConfig) -> Self {
        let target = target(&config);
        Self {
            config,
            target,
            runtime: RefCell::new(None),
            link: RefCell::new(None),
        }
    }

    /// Publishes one event (`body`, JSON) as persistent `application/json`
    /// with `message_id` (the utterance id, for consumers to de-duplicate)
    /// and waits for the broker's confirm. Connects first when there is no
    /// open connection. Blocks at most the configured timeout; never
    /// retries.
    ///
    /// # Errors
    /// [`PublishError`]; [`PublishError::is_transient`] says whether
    /// publishing again could help.
    pub fn publish(&self, body: &[u8], message_id: &str) -> Result<(), PublishError> {
        let target = self.target.as_ref().map_err(Clone::clone)?;
        let mut slot = self.runtime.borrow_mut();
        let runtime = match &mut *slot {
            Some(runtime) => runtime,
            empty @ None => empty.insert(start_runtime()?),
        };
        let link = self.link.borrow_mut().take();
        let attempt = self.attempt(target, link, body, message_id);
        let outcome =
            runtime.block_on(async { tokio::time::timeout(self.config.timeout, attempt).await });
        match outcome {
            Ok((link, result)) => {
                *self.link.borrow_mut() = link;
                result
            }
            // The unfinished attempt and its connection were dropped with
            // the future: the next publish connects afresh.
            Err(_elapsed) => Err(PublishError::Timeout {
                at: target.at.clone(),
                timeout: self.config.timeout,
            }),
        }
    }

    /// Connects if needed and publishes; hands back the link when it is
    /// still good for the next event.
    async fn attempt(
        &self,
        target: &Target,
        link: Option<Link>,
        body: &[u8],
        message_id: &str,
    ) -> (Option<Link>, Result<(), PublishError>) {
        let link = match link {
            Some(link) if link.is_open() => link,
            _ => match self.connect(target).await {
                Ok(link) => link,
                Err(e) => return (None, Err(e)),
            },
        };
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id(message_id.into())
            .with_app_id(SOURCE.into())
            // 2 = persistent: kept on disk by durable queues across a broker restart.
            .with_delivery_mode(2);
        let published = link
            .channel
            .basic_publish(
                self.config.exchange.as_str().into(),
                self.config.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await;
        let confirm = match published {
            Ok(confirm) => confirm.await,
            Err(e) => Err(e),
        };
        match confirm {
            Ok(Confirmation::Ack(_)) => (Some(link), Ok(())),
            Ok(Confirmation::Nack(_)) => (
                Some(link),
                Err(PublishError::Nacked {
                    at: target.at.clone(),
                }),
            ),
            Ok(Confirmation::NotRequested) => (
                None,
                Err(PublishError::Broker {
                    at: target.at.clone(),
                    why: "the channel is not in confirm mode, so delivery is unknown".into(),
                    transient: true,
                }),
            ),
            Err(e) => (None, Err(self.error(target, &e))),
        }
    }

    async fn connect(&self, target: &Target) -> Result<Link, PublishError> {
        let properties = ConnectionProperties::default().with_connection_name(SOURCE.into());
        let connection = Connection::connect_uri(target.uri.clone(), properties)
            .await
            .map_err(|e| self.error(target, &e))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| self.error(target, &e))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.error(target, &e))?;
        // A missing exchange would otherwise surface as a closed channel on
        // the first publish; asking first gives the clear message. The
        // default exchange ("") always exists and cannot be declared.
        if !self.config.exchange.is_empty() {
            channel
                .exchange_declare(
                    self.config.exchange.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        passive: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| self.error(target, &e))?;
        }
        Ok(Link {
            connection,
            channel,
        })
    }

    /// Turns a lapin error into a message for the user.
    fn error(&self, target: &Target, error: &lapin::Error) -> PublishError {
        let at = target.at.clone();
        let user = target.uri.authority.userinfo.username.clone();
        let why = self.scrub(&error.to_string());
        match error.kind() {
            ErrorKind::IOError(io) => {
                use std::io::ErrorKind as K;
                match io.kind() {
                    K::TimedOut => PublishError::Timeout {
                        at,
                        timeout: self.config.timeout,
                    },
                    _ => PublishError::Unreachable {
                        at,
                        why: self.scrub(&io.to_string()),
                    },
                }
            }
            ErrorKind::ProtocolError(amqp) => {
                let said = self.scrub(amqp.get_message().as_str());
                match amqp.kind() {
                    AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
                    | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED)
                        if said.contains("Login was refused")
                            || said.contains("ACCESS_REFUSED - Login") =>
                    {
                        PublishError::AuthRefused { at, user }
                    }
                    AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) if said.contains("vhost") => {
                        PublishError::VhostMissing {
                            at,
                            vhost: target.uri.vhost.clone(),
                        }
                    }
                    AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
                    | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => {
                        PublishError::AccessRefused {
                            at,
                            user,
                            why: said,
                        }
                    }
                    AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND) if said.contains("exchange") => {
                        PublishError::ExchangeMissing {
                            at,
                            exchange: self.config.exchange.clone(),
                        }
                    }
                    // Other channel errors (bad routing, resource locked) and
                    // CONNECTION_FORCED on a broker shutdown: worth another try.
                    _ => PublishError::Broker {
                        at,
                        why: said,
                        transient: true,
                    },
                }
            }
            ErrorKind::AuthProviderError(_) => PublishError::AuthRefused { at, user },
            ErrorKind::InvalidProtocolVersion(_) | ErrorKind::ParsingError(_) => {
                PublishError::Broker {
                    at,
                    why: format!("{why}: is this address an AMQP 0-9-1 broker?"),
                    transient: false,
                }
            }
            ErrorKind::InvalidChannelState(..)
            | ErrorKind::InvalidConnectionState(_)
            | ErrorKind::InvalidChannel(_)
            | ErrorKind::MissingHeartbeatError => PublishError::Dropped { at, why },
            _ => PublishError::Broker {
                at,
                why,
                transient: true,
            },
        }
    }

    fn scrub(&self, text: &str) -> String {
        match self.config.password.as_ref().map(Secret::expose) {
            Some(password) if !password.is_empty() && text.contains(password) => {
                text.replace(password, "[redacted]")
            }
            _ => text.to_owned(),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let link = self.link.get_mut().take();
        let Some(runtime) = self.runtime.get_mut().take() else {
            return;
        };
        if let Some(link) = link {
            // Say goodbye so the broker does not log a lost connection; a
            // broker that does not answer is left behind after CLOSE_WAIT.
            let _ = runtime.block_on(async {
                tokio::time::timeout(CLOSE_WAIT, link.connection.close(200, "bye".into())).await
            });
        }
        runtime.shutdown_timeout(CLOSE_WAIT);
    }
}

fn start_runtime() -> Result<tokio::runtime::Runtime, PublishError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rabbitmq-io")
        .enable_all()
        .build()
        .map_err(|e| PublishError::Runtime { why: e.to_string() })
}

/// Parses and checks the URL and adds the password.
fn target(config: &AmqpConfig) -> Result<Target, PublishError> {
    let raw = config.url.trim();
    let shown = shown_url(raw);
    let authority = authority(raw);
    let userinfo = authority.rsplit_once('@').map(|(u, _)| u);
    if userinfo.is_some_and(|u| u.contains(':')) {
        return Err(PublishError::PasswordInUrl { shown });
    }
    let mut uri: AMQPUri = raw.parse().map_err(|why| PublishError::BadUrl {
        shown: shown.clone(),
        why,
    })?;
    // amq-protocol-uri takes the host from `Url::domain`, which is empty for
    // an IPv6 literal, and then falls back to "localhost": [fd00::5] would
    // silently become this machine. Take the host from the URL itself.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(h, _)| h),
        None => host_port.split_once(':').map_or(host_port, |(h, _)| h),
    };
    if host.is_empty() {
        return Err(PublishError::BadUrl {
            shown,
            why: "no host".into(),
        });
    }
    host.clone_into(&mut uri.authority.host);
    if let Some(password) = &config.password {
        password
            .expose()
            .clone_into(&mut uri.authority.userinfo.password);
    }
    let at = if host.contains(':') {
        format!("[{host}]:{}", uri.authority.port)
    } else {
        format!("{host}:{}", uri.authority.port)
    };
    Ok(Target { uri, at })
}

/// The authority part of a URL: between `scheme://` and the path or query.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// `url` without a password, query or fragment, for messages.
fn shown_url(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    if scheme.is_empty() {
        format!("{authority}{path}")
    } else {
        format!("{scheme}://{authority}{path}")
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    const PASSWORD: &str = "pw-Kx7-never-print-me";

    fn config(url: &str) -> AmqpConfig {
        AmqpConfig {
            url: url.to_owned(),
            password: Some(Secret::new(PASSWORD.to_owned())),
            exchange: "amq.topic".into(),
            routing_key: "thread.tonny.prompt".into(),
            timeout: Duration::from_secs(5),
        }
    }

    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    }

    #[test]
    fn event_is_the_request_plus_type() {
        let time: jiff::Timestamp = "2026-11-28T10:11:12Z".parse().expect("a time");
        let request = CommandRequest::at(time, "lights on", "default", 9, None);
        let value = serde_json::to_value(event(&request)).expect("serialises");
        assert_eq!(
            value,
            serde_json::json!({
                "type": "command",
                "text": "lights on",
                "timestamp": "2026-11-28T10:11:12.000Z",
                "source": "tonnytray",
                "profile": "default",
                "utterance_id": 9,
            })
        );
        let with_agent = CommandRequest::at(time, "x", "p", 1, Some("house".into()));
        let value = serde_json::to_value(event(&with_agent)).expect("serialises");
        assert_eq!(value["agent"], "house");
    }

    #[test]
    fn target_keeps_ip_hosts_and_adds_the_password() {
        let t = target(&config("amqp://tonny@10.0.0.5:5673/%2f")).map_err(|e| e.to_string());
        let t = t.expect("valid");
        assert_eq!(t.uri.authority.host, "10.0.0.5");
        assert_eq!(t.uri.authority.port, 5673);
        assert_eq!(t.uri.authority.userinfo.username, "tonny");
        assert_eq!(t.uri.authority.userinfo.password, PASSWORD);
        assert_eq!(t.uri.vhost, "/");
        assert_eq!(t.at, "10.0.0.5:5673");

        let t = target(&config("amqp://[::1]/prod")).map_err(|e| e.to_string());
        let t = t.expect("valid");
        assert_eq!(t.uri.authority.host, "::1");
        assert_eq!(t.at, "[::1]:5672");
        assert_eq!(t.uri.vhost, "prod");

        let t = target(&config("amqp://rabbit.lan")).map_err(|e| e.to_string());
        assert_eq!(t.expect("valid").at, "rabbit.lan:5672");
    }

    #[test]
    fn without_a_password_guest_is_assumed() {
        let mut c = config("amqp://guest@127.0.0.1:5672/%2f");
        c.password = None;
        let t = target(&c).map_err(|e| e.to_string()).expect("valid");
        assert_eq!(t.uri.authority.userinfo.password, "guest");
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_showing_it() {
        let error = target(&config("amqp://guest:hunter2@127.0.0.1:5672/%2f"))
            .err()
            .expect("refused");
        assert!(
            matches!(error, PublishError::PasswordInUrl { .. }),
            "{error:?}"
        );
        assert!(!error.is_transient());
        let text = format!("{error} {error:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("amqp://guest@127.0.0.1:5672/%2f"), "{text}");
    }

    #[test]
    fn a_bad_url_is_a_permanent_error_from_publish() {
        for url in [
            "http://127.0.0.1:5672",
            "not a url",
            "amqp://127.0.0.1:99999",
        ] {
            let error = Publisher::new(config(url))
                .publish(b"{}", "1")
                .expect_err("bad URL");
            assert!(
                matches!(error, PublishError::BadUrl { .. }),
                "{url}: {error:?}"
            );
            assert!(!error.is_transient(), "{url}");
        }
    }

    #[test]
    fn no_password_in_debug_output() {
        let c = config("amqp://tonny@127.0.0.1:5672/%2f");
        let publisher = Publisher::new(c.clone());
        let text = format!("{c:?} {publisher:?}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn publisher_can_move_to_its_thread() {
        fn assert_send<T: Send>(_: &T) {}
        assert_send(&Publisher::new(config("amqp://guest@127.0.0.1/%2f")));
    }

    #[test]
    fn configs_compare_by_password_too() {
        let a = config("amqp://tonny@127.0.0.1:5672/%2f");
        let mut b = a.clone();
        assert_eq!(a, b);
        b.password = Some(Secret::new("other".into()));
        assert_ne!(a, b);
    }

    #[test]
    fn broker_down_is_transient_and_named() {
        let port = free_port();
        let publisher = Publisher::new(config(&format!("amqp://guest@127.0.0.1:{port}/%2f")));
        let error = publisher.publish(b"{}", "1").expect_err("nothing listens");
        assert!(
            matches!(error, PublishError::Unreachable { .. }),
            "{error:?}"
        );
        assert!(error.is_transient());
        let text = error.to_string();
        assert!(
            text.contains(&format!("RabbitMQ at 127.0.0.1:{port} is not reachable")),
            "{text}"
        );
        assert!(!format!("{text} {error:?}").contains(PASSWORD));
    }

    #[test]
    fn a_silent_peer_times_out() {
        // Accepts TCP (the kernel's backlog) but never speaks AMQP.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let mut c = config(&format!("amqp://guest@127.0.0.1:{port}/%2f"));
        c.timeout = Duration::from_millis(300);
        let error = Publisher::new(c)
            .publish(b"{}", "1")
            .expect_err("no answer");
        assert!(matches!(error, PublishError::Timeout { .. }), "{error:?}");
        assert!(error.is_transient());
        assert!(error.to_string().contains("within 0.3 s"), "{error}");
        drop(listener);
    }
}
