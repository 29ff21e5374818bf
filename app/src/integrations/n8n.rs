//! The n8n command webhook: one POST per command, with a timeout, and a
//! verdict on whether a retry could help.
//!
//! What this module owns: the body n8n receives ([`CommandRequest`]), which
//! URLs may carry the token ([`check_url`]), reading n8n's answer into a
//! [`Reply`], and turning every failure into a [`DeliveryError`] that names
//! the URL and the HTTP status but never the token.
//!
//! It sends once and never retries: the core's durable outbox owns retries,
//! backoff and the circuit breaker, and it needs an honest
//! [`DeliveryError::is_transient`] to decide. It touches neither the store
//! nor the UI.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secrets::Secret;

use crate::config::webhook_url::shown_url;
pub use crate::config::webhook_url::{UrlError, check_url};

/// The `source` every request carries, so a workflow can tell TonnyTray's
/// commands from other callers of the same webhook.
pub const SOURCE: &str = "tonnytray";

/// The largest reply read from n8n. A reply is shown and spoken: anything
/// near this size is a workflow answering with the wrong data, and reading
/// without a limit would let a broken server exhaust memory.
pub const REPLY_LIMIT: usize = 64 * 1024;

/// The text of the Settings "Test" request.
pub const TEST_TEXT: &str = "TonnyTray test";

/// How much of a server's error text goes into an error message.
const DETAIL_CHARS: usize = 200;

/// What n8n answers on its own when a webhook workflow has no "Respond to
/// Webhook" node (response mode "Immediately"): an acknowledgement, not a
/// reply to show or speak.
const N8N_STARTED: &str = "Workflow was started";

/// One voice command, as n8n receives it: serialised (JSON) exactly as
/// `{text, timestamp, source, profile, utterance_id, agent}`, `agent` left
/// out when there is none. The RabbitMQ event is the same plus `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRequest {
    /// What the user said, without the command prefix.
    pub text: String,
    /// When it was said: RFC 3339, UTC.
    pub timestamp: String,
    /// Always [`SOURCE`].
    pub source: String,
    /// The active profile's name.
    pub profile: String,
    /// The utterance's id in the history; consumers de-duplicate on it.
    pub utterance_id: u64,
    /// Which agent the prefix chose, when the profile names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

impl CommandRequest {
    /// A request for words said now.
    pub fn new(
        text: impl Into<String>,
        profile: impl Into<String>,
        utterance_id: u64,
        agent: Option<String>,
    ) -> Self {
        Self::at(jiff::Timestamp::now(), text, profile, utterance_id, agent)
    }

    /// A request for words said at `time` (the outbox keeps the original
    /// time when it sends again).
    pub fn at(
        time: jiff::Timestamp,
        text: impl Into<String>,
        profile: impl Into<String>,
        utterance_id: u64,
        agent: Option<String>,
    ) -> Self {
        Self {
            text: text.into(),
            // A Timestamp prints as RFC 3339 in UTC ("…Z"); milliseconds are
            // plenty for ordering and easier to read than nanoseconds.
            timestamp: format!("{time:.3}"),
            source: SOURCE.to_owned(),
            profile: profile.into(),
            utterance_id,
            agent,
        }
    }
}

/// What n8n answered to a delivered command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// Words to show and speak; `None` when n8n took the command and said
    /// nothing (an empty body, or n8n's own "Workflow was started" when the
    /// workflow does not respond itself).
    pub text: Option<String>,
    /// Set when n8n answered something that is not a reply to show (JSON
    /// without a reply field): what to change in the workflow. The command
    /// was delivered all the same; do not send it again.
    pub note: Option<String>,
}

impl Reply {
    fn said(text: &str) -> Self {
        let text = text.trim();
        Self {
            text: (!text.is_empty()).then(|| text.to_owned()),
            note: None,
        }
    }
}

fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Why a command did not reach n8n, or n8n's answer could not be read.
///
/// Every message names the URL (without credentials or query) and the
/// status, never the token; text quoted from the server has the token cut
/// out in case the server echoes request headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The URL was refused before sending.
    #[error(transparent)]
    BadUrl(#[from] UrlError),
    /// The token cannot be put in a header (a line break from pasting).
    #[error(
        "the n8n token contains characters that cannot be sent in an HTTP header \
         (a line break?): paste it again in Settings → Integrations"
    )]
    BadToken,
    /// No connection: refused, reset, network down.
    #[error(
        "n8n at {url} is not reachable ({why}): check that n8n is running and that \
         the URL in Settings → Integrations is right"
    )]
    Unreachable {
        /// The webhook URL.
        url: String,
        /// What the system said.
        why: String,
    },
    /// The host name did not resolve.
    #[error(
        "cannot find the n8n host of {url} (DNS lookup failed): check the URL in \
         Settings → Integrations and the network"
    )]
    HostNotFound {
        /// The webhook URL.
        url: String,
    },
    /// No complete answer within the timeout.
    #[error(
        "n8n at {url} did not answer within {} s: the workflow may be slow or stuck; \
         raise the timeout in Settings → Integrations if it is just slow",
        timeout.as_secs_f32()
    )]
    Timeout {
        /// The webhook URL.
        url: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The TLS handshake or certificate check failed.
    #[error(
        "secure connection to n8n at {url} failed ({why}): check that the server has a \
         valid certificate for this name"
    )]
    Tls {
        /// The webhook URL.
        url: String,
        /// What the TLS layer said.
        why: String,
    },
    /// 401 or 403: n8n's header auth refused the token (n8n answers 403
    /// "Authorization data is wrong!" for a missing or wrong token).
    #[error("{}", unauthorized_message(url, *status, *token_sent))]
    Unauthorized {
        /// The webhook URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// Whether a token was sent at all.
        token_sent: bool,
    },
    /// 404: no active workflow listens on this path.
    #[error(
        "n8n has no webhook at {url} (HTTP 404): the webhook path does not exist or the \
         workflow is not active; check the path and activate the workflow{}",
        quoted(detail)
    )]
    NotFound {
        /// The webhook URL.
        url: String,
        /// What n8n said, if anything.
        detail: String,
    },
    /// A redirect: the webhook moved; following it would resend the
    /// command (and the token) somewhere not checked.
    #[error(
        "n8n at {url} redirects (HTTP {status}) to {location}: put the final address \
         in Settings → Integrations"
    )]
    Redirect {
        /// The webhook URL.
        url: String,
        /// The 3xx status.
        status: u16,
        /// Where it points, as it may be shown.
        location: String,
    },
    /// 408 or 429: n8n or a proxy asks to come back later.
    #[error(
        "n8n at {url} asks to try again later (HTTP {status}){}",
        quoted(detail)
    )]
    Busy {
        /// The webhook URL.
        url: String,
        /// 408 or 429.
        status: u16,
        /// The server's Retry-After, when it gave one in seconds.
        retry_after: Option<Duration>,
        /// What the server said, if anything.
        detail: String,
    },
    /// Another 4xx: the request itself is refused; sending it again will not
    /// help.
    #[error(
        "n8n at {url} refused the command (HTTP {status}){}: check the workflow's \
         webhook settings (method POST, JSON body)",
        quoted(detail)
    )]
    Rejected {
        /// The webhook URL.
        url: String,
        /// The 4xx status.
        status: u16,
        /// What n8n said, if anything.
        detail: String,
    },
    /// 5xx: n8n or the workflow failed.
    #[error(
        "n8n at {url} failed (HTTP {status}){}: see the workflow's executions in n8n",
        quoted(detail)
    )]
    ServerError {
        /// The webhook URL.
        url: String,
        /// The 5xx status.
        status: u16,
        /// What n8n said, if anything.
        detail: String,
    },
    /// A reply over [`REPLY_LIMIT`]. n8n did take the command.
    #[error(
        "n8n took the command but its reply from {url} is larger than {} KiB: make the \
         workflow answer with a short text",
        REPLY_LIMIT / 1024
    )]
    ReplyTooLarge {
        /// The webhook URL.
        url: String,
    },
    /// A reply that is not UTF-8. n8n did take the command.
    #[error(
        "n8n took the command but its reply from {url} is not valid UTF-8 text (bad byte \
         at {at}): make the workflow answer with text or JSON"
    )]
    ReplyNotUtf8 {
        /// The webhook URL.
        url: String,
        /// Offset of the first bad byte.
        at: usize,
    },
    /// Anything else on the way (a broken HTTP answer, an I/O error).
    #[error("talking to n8n at {url} failed: {why}")]
    Other {
        /// The webhook URL.
        url: String,
        /// What went wrong.
        why: String,
        /// Whether sending again could help.
        transient: bool,
    },
}

fn unauthorized_message(url: &str, status: u16, token_sent: bool) -> String {
    if token_sent {
        format!(
            "n8n refused the token (HTTP {status}) at {url}: set the right token in \
             Settings → Integrations"
        )
    } else {
        format!(
            "n8n asks for a token (HTTP {status}) at {url} and none is set: set it in \
             Settings → Integrations"
        )
    }
}

fn quoted(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" — n8n says: \"{detail}\"")
    }
}

impl DeliveryError {
    /// Whether sending the same command again later could succeed: no
    /// connection, DNS, timeout, 5xx, 408 and 429. Everything else needs
    /// the user to change something first.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. }
            | Self::HostNotFound { .. }
            | Self::Timeout { .. }
            | Self::Busy { .. }
            | Self::ServerError { .. } => true,
            Self::Other { transient, .. } => *transient,
            Self::BadUrl(_)
            | Self::BadToken
            | Self::Tls { .. }
            | Self::Unauthorized { .. }
            | Self::NotFound { .. }
            | Self::Redirect { .. }
            | Self::Rejected { .. }
            | Self::ReplyTooLarge { .. }
            | Self::ReplyNotUtf8 { .. } => false,
        }
    }

    /// Whether n8n accepted the command (a 2xx) although its reply could not
    /// be read: the command ran, so it must not be sent again.
    pub fn was_delivered(&self) -> bool {
        matches!(self, Self::ReplyTooLarge { .. } | Self::ReplyNotUtf8 { .. })
    }

    /// How long the server asked to wait before trying again (429/408 with
    /// a Retry-After in seconds).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The n8n webhook of one settings version: URL, optional bearer token and
/// timeout. Cheap to clone; make a new one when the settings change.
#[derive(Clone)]
pub struct Webhook {
    url: String,
    shown: String,
    token: Option<Secret>,
    timeout: Duration,
    agent: ureq::Agent,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.shown)
            .field("token", &self.token)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A webhook at `url` (checked with [`check_url`]); `token` goes in an
    /// `Authorization: Bearer …` header; `timeout` bounds the whole
    /// exchange, from DNS to the last byte of the reply.
    ///
    /// # Errors
    /// When [`check_url`] refuses the URL.
    pub fn new(
        url: &str,
        allow_http: bool,
        token: Option<Secret>,
        timeout: Duration,
    ) -> Result<Self, UrlError> {
        check_url(url, allow_http)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Statuses are answers to interpret, not transport failures.
            .http_status_as_error(false)
            // A redirect would resend the command and token to an address
            // check_url never saw (and ureq turns a POST into a GET on 302).
            .max_redirects(0)
            .user_agent(concat!("tonnytray/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Self {
            url: url.trim().to_owned(),
            shown: shown_url(url),
            token: token.filter(|t| !t.expose().is_empty()),
            timeout,
            agent,
        })
    }

    /// The URL as messages show it (no credentials or query).
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// Sends one command and reads n8n's reply. Does not retry.
    ///
    /// # Errors
    /// [`DeliveryError`]; [`DeliveryError::is_transient`] says whether
    /// sending again could help.
    pub fn post(&self, req: &CommandRequest) -> Result<Reply, DeliveryError> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Accept", "application/json, text/plain;q=0.9, */*;q=0.1");
        if let Some(token) = &self.token {
            let token = token.expose();
            if !token
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
            {
                return Err(DeliveryError::BadToken);
            }
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request
            .send_json(req)
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(REPLY_LIMIT as u64)
            .read_to_vec();
        if (200..300).contains(&status) {
            let body = body.map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => DeliveryError::ReplyTooLarge {
                    url: self.shown.clone(),
                },
                other => self.transport_error(&other),
            })?;
            return self.reply(&body);
        }
        // An error's body is only for the message: a failure to read it
        // must not hide the status.
        let detail = self.detail(&body.unwrap_or_default());
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Err(self.status_error(status, detail, header("location"), header("retry-after")))
    }

    /// The Settings "Test" button: sends [`TEST_TEXT`] with utterance id 0
    /// and profile "test" (a workflow can recognise tests by the id).
    ///
    /// # Errors
    /// As [`Webhook::post`].
    pub fn test_connection(&self) -> Result<Reply, DeliveryError> {
        self.post(&CommandRequest::new(TEST_TEXT, "test", 0, None))
    }

    fn status_error(
        &self,
        status: u16,
        detail: String,
        location: Option<String>,
        retry_after: Option<String>,
    ) -> DeliveryError {
        let url = self.shown.clone();
        match status {
            300..=399 => DeliveryError::Redirect {
                url,
                status,
                location: location.map_or_else(|| "nowhere".to_owned(), |l| shown_url(&l)),
            },
            401 | 403 => DeliveryError::Unauthorized {
                url,
                status,
                token_sent: self.token.is_some(),
            },
            404 => DeliveryError::NotFound { url, detail },
            408 | 429 => DeliveryError::Busy {
                url,
                status,
                retry_after: retry_after
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
                detail,
            },
            400..=499 => DeliveryError::Rejected {
                url,
                status,
                detail,
            },
            500..=599 => DeliveryError::ServerError {
                url,
                status,
                detail,
            },
            // 1xx after the body or a made-up code: a broken server or proxy.
            _ => DeliveryError::Other {
                url,
                why: format!("unexpected HTTP status {status}"),
                transient: true,
            },
        }
    }

    fn transport_error(&self, error: &ureq::Error) -> DeliveryError {
        let url = self.shown.clone();
        match error {
            ureq::Error::Timeout(_) => DeliveryError::Timeout {
                url,
                timeout: self.timeout,
            },
            ureq::Error::HostNotFound => DeliveryError::HostNotFound { url },
            ureq::Error::Io(io) => {
                use std::io::ErrorKind as K;
                match io.kind() {
                    K::TimedOut => DeliveryError::Timeout {
                        url,
                        timeout: self.timeout,
                    },
                    K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::NetworkDown
                    | K::AddrNotAvailable => DeliveryError::Unreachable {
                        url,
                        why: self.scrub(&io.to_string()),
                    },
                    _ => DeliveryError::Other {
                        url,
                        why: self.scrub(&io.to_string()),
                        transient: true,
                    },
                }
            }
            ureq::Error::ConnectionFailed => DeliveryError::Unreachable {
                url,
                why: "connection failed".to_owned(),
            },
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
                DeliveryError::Tls {
                    url,
                    why: self.scrub(&error.to_string()),
                }
            }
            ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => {
                DeliveryError::BadUrl(UrlError::NotAUrl { shown: url })
            }
            ureq::Error::Http(_) => DeliveryError::BadToken,
            // Broken HTTP on the wire is most often a proxy or a server
            // restarting mid-answer: worth another try.
            other => DeliveryError::Other {
                url,
                why: self.scrub(&other.to_string()),
                transient: true,
            },
        }
    }

    /// Reads a 2xx body into a [`Reply`].
    pub(crate) fn reply(&self, body: &[u8]) -> Result<Reply, DeliveryError> {
        let text = std::str::from_utf8(body).map_err(|e| DeliveryError::ReplyNotUtf8 {
            url: self.shown.clone(),
            at: e.valid_up_to(),
        })?;
        let mut reply = parse_reply(text);
        reply.text = reply.text.map(|t| self.scrub(&t));
        Ok(reply)
    }

    /// What an error body says, short and without the token.
    pub(crate) fn detail(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        // n8n answers errors as {"code":…,"message":…,"hint":…}.
        let said = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| text.to_owned(), str::to_owned),
            _ => text.to_owned(),
        };
        let one_line = said.split_whitespace().collect::<Vec<_>>().join(" ");
        truncate(&self.scrub(&one_line), DETAIL_CHARS)
    }

    /// `text` with the token cut out, for servers that echo request headers.
    fn scrub(&self, text: &str) -> String {
        match self.token.as_ref().map(Secret::expose) {
            Some(token) if text.contains(token) => text.replace(token, "[redacted]"),
            _ => text.to_owned(),
        }
    }
}

/// Reads a reply body: a JSON object's first string field of `reply`,
/// `message` or `text` (also inside a one-item array, which n8n's "All
/// Incoming Items" gives), a JSON string, or plain text. Empty means
/// nothing to say.
fn parse_reply(text: &str) -> Reply {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Reply::default();
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(Value::String(said)) => Reply::said(&said),
        Ok(Value::Object(map)) => from_object(&map),
        Ok(Value::Array(items)) => match items.as_slice() {
            [Value::Object(map)] => from_object(map),
            _ => unreadable(),
        },
        // Numbers, booleans and plain text are shown as they came.
        _ => Reply::said(trimmed),
    }
}

fn from_object(map: &Map<String, Value>) -> Reply {
    for key in ["reply", "message", "text"] {
        if let Some(Value::String(said)) = map.get(key) {
            if key == "message" && map.len() == 1 && said == N8N_STARTED {
                return Reply::default();
            }
            return Reply::said(said);
        }
    }
    unreadable()
}

fn unreadable() -> Reply {
    Reply {
        text: None,
        note: Some(
            "n8n answered JSON without a \"reply\", \"message\" or \"text\" string: make \
             the workflow's Respond to Webhook node answer {\"reply\": \"…\"}"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread::JoinHandle;

    use super::*;

    const TOKEN: &str = "tok-Zq81-never-print-me";

    /// What the fake n8n saw of one request.
    #[derive(Debug)]
    struct Seen {
        authorization: Option<String>,
        content_type: Option<String>,
        body: Value,
    }

    /// A one-request webhook on loopback answering `status`, `body` and
    /// `headers`; reports what it received.
    fn serve(
        status: u16,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> (String, mpsc::Receiver<Seen>, JoinHandle<()>) {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind a loopback port");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let body = body.into();
        let headers: Vec<tiny_http::Header> = headers
            .iter()
            .map(|(k, v)| tiny_http::Header::from_bytes(*k, *v).expect("a valid header"))
            .collect();
        let (tx, rx) = mpsc::channel();
        let handle = crate::runtime::thread::spawn("test-n8n-peer", move || {
            let Ok(mut request) = server.recv() else {
                return;
            };
            let header = |name: &str| {
                request
                    .headers()
                    .iter()
                    .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                    .map(|h| h.value.to_string())
            };
            let authorization = header("Authorization");
            let content_type = header("Content-Type");
            let mut raw = String::new();
            request
                .as_reader()
                .read_to_string(&mut raw)
                .expect("a readable body");
            let _ = tx.send(Seen {
                authorization,
                content_type,
                body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            });
            let mut response = tiny_http::Response::from_data(body).with_status_code(status);
            for h in headers {
                response.add_header(h);
            }
            let _ = request.respond(response);
        })
        .expect("spawn");
        (
            format!("http://127.0.0.1:{port}/webhook/ask-tonny"),
            rx,
            handle,
        )
    }

    fn hook(url: &str, token: Option<&str>) -> Webhook {
        Webhook::new(
            url,
            true,
            token.map(|t| Secret::new(t.to_owned())),
            Duration::from_secs(5),
        )
        .expect("a loopback URL with http allowed")
    }

    fn request() -> CommandRequest {
        CommandRequest::new("turn on the kitchen lights", "default", 42, None)
    }

    /// Posts to a fake answering `status`/`body` with the secret token set.
    fn post_to(status: u16, body: &str, headers: &[(&str, &str)]) -> Result<Reply, DeliveryError> {
        let (url, _seen, server) = serve(status, body, headers);
        let result = hook(&url, Some(TOKEN)).post(&request());
        server.join().expect("the fake server thread");
        result
    }

    fn assert_no_token(text: &str) {
        assert!(!text.contains(TOKEN), "the token leaked into: {text}");
    }

    #[test]
    fn request_serialises_to_the_documented_fields() {
        let time: jiff::Timestamp = "2026-11-28T10:11:12.345678Z".parse().expect("a time");
        let with_agent = CommandRequest::at(time, "lights on", "kids", 7, Some("house".into()));
        assert_eq!(
            serde_json::to_value(&with_agent).expect("serialises"),
            serde_json::json!({
                "text": "lights on",
                "timestamp": "2026-11-28T10:11:12.345Z",
                "source": "tonnytray",
                "profile": "kids",
                "utterance_id": 7,
                "agent": "house",
            })
        );
        let without = CommandRequest::at(time, "lights on", "kids", 7, None);
        let value = serde_json::to_value(&without).expect("serialises");
        assert!(value.get("agent").is_none(), "agent is left out: {value}");
        assert_eq!(value.as_object().map(Map::len), Some(5));
    }

    #[test]
    fn new_request_has_a_utc_rfc3339_timestamp() {
        let req = request();
        assert!(req.timestamp.ends_with('Z'), "{}", req.timestamp);
        let parsed: jiff::Timestamp = req.timestamp.parse().expect("RFC 3339");
        assert!(parsed.as_second() > 1_700_000_000);
        assert_eq!(req.source, "tonnytray");
    }

    #[test]
    fn post_sends_json_and_the_bearer_token() {
        let (url, seen, server) = serve(200, r#"{"reply":"You said: hi"}"#, &[]);
        let reply = hook(&url, Some(TOKEN)).post(&request()).expect("delivered");
        server.join().expect("the fake server thread");
        assert_eq!(reply.text.as_deref(), Some("You said: hi"));
        let seen = seen.recv().expect("the server saw the request");
        assert_eq!(
            seen.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
        assert!(
            seen.content_type
                .is_some_and(|c| c.starts_with("application/json")),
            "JSON content type"
        );
        assert_eq!(seen.body["text"], "turn on the kitchen lights");
        assert_eq!(seen.body["utterance_id"], 42);
        assert_eq!(seen.body["source"], "tonnytray");
    }

    #[test]
    fn post_without_token_sends_no_authorization() {
        let (url, seen, server) = serve(200, "", &[]);
        let reply = hook(&url, None).post(&request()).expect("delivered");
        server.join().expect("the fake server thread");
        assert_eq!(reply, Reply::default());
        assert_eq!(seen.recv().expect("seen").authorization, None);
    }

    #[test]
    fn test_connection_posts_the_test_text_with_id_zero() {
        let (url, seen, server) = serve(200, "ok", &[]);
        let reply = hook(&url, None).test_connection().expect("delivered");
        server.join().expect("the fake server thread");
        assert_eq!(reply.text.as_deref(), Some("ok"));
        let seen = seen.recv().expect("seen");
        assert_eq!(seen.body["text"], TEST_TEXT);
        assert_eq!(seen.body["utterance_id"], 0);
    }

    #[test]
    fn reply_shapes() {
        let cases: [(&str, Option<&str>); 12] = [
            (r#"{"reply":"a"}"#, Some("a")),
            (r#"{"message":"b","text":"c"}"#, Some("b")),
            (r#"{"text":" c "}"#, Some("c")),
            (r#"{"reply":5,"text":"d"}"#, Some("d")),
            (r#""e""#, Some("e")),
            ("plain words\n", Some("plain words")),
            ("42", Some("42")),
            (r#"[{"reply":"f"}]"#, Some("f")),
            ("", None),
            ("  \n", None),
            (r#"{"message":"Workflow was started"}"#, None),
            (r#"{"reply":""}"#, None),
        ];
        for (body, want) in cases {
            let reply = parse_reply(body);
            assert_eq!(reply.text.as_deref(), want, "body {body:?}");
            assert_eq!(reply.note, None, "body {body:?}");
        }
    }

    #[test]
    fn json_without_a_reply_field_is_delivered_with_a_note() {
        for body in [r#"{"answer":"x"}"#, "[1,2]", r#"{"reply":null}"#] {
            let reply = parse_reply(body);
            assert_eq!(reply.text, None, "body {body}");
            assert!(
                reply
                    .note
                    .as_deref()
                    .is_some_and(|n| n.contains("Respond to Webhook")),
                "body {body}: {reply:?}"
            );
        }
    }

    #[test]
    fn reply_over_the_limit_is_a_permanent_delivered_error() {
        let big = "x".repeat(REPLY_LIMIT + 1);
        let error = post_to(200, &big, &[]).expect_err("too large");
        assert!(
            matches!(error, DeliveryError::ReplyTooLarge { .. }),
            "{error:?}"
        );
        assert!(!error.is_transient());
        assert!(error.was_delivered());
        assert!(error.to_string().contains("64 KiB"), "{error}");
        let exact = "y".repeat(REPLY_LIMIT);
        let reply = post_to(200, &exact, &[]).expect("exactly the limit is fine");
        assert_eq!(reply.text.map(|t| t.len()), Some(REPLY_LIMIT));
    }

    #[test]
    fn reply_that_is_not_utf8_names_it() {
        let (url, _seen, server) = serve(200, vec![b'o', b'k', 0xff, 0xfe], &[]);
        let error = hook(&url, None).post(&request()).expect_err("not UTF-8");
        server.join().expect("the fake server thread");
        assert!(
            matches!(error, DeliveryError::ReplyNotUtf8 { at: 2, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("UTF-8"), "{error}");
        assert!(!error.is_transient());
    }

    #[test]
    fn statuses_map_to_errors_and_retry_verdicts() {
        let cases: [(u16, bool); 10] = [
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (408, true),
            (422, false),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
        ];
        for (status, transient) in cases {
            let error = post_to(status, "", &[]).expect_err("an error status");
            assert_eq!(error.is_transient(), transient, "HTTP {status}: {error:?}");
            assert!(!error.was_delivered(), "HTTP {status}");
            let text = error.to_string();
            assert!(text.contains(&status.to_string()), "HTTP {status}: {text}");
            assert!(text.contains("127.0.0.1"), "names the URL: {text}");
        }
    }

    #[test]
    fn n8n_403_for_a_bad_token_points_to_settings() {
        let error = post_to(403, "Authorization data is wrong!", &[]).expect_err("refused");
        assert!(
            matches!(
                error,
                DeliveryError::Unauthorized {
                    status: 403,
                    token_sent: true,
                    ..
                }
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("refused the token"), "{text}");
        assert!(text.contains("Settings → Integrations"), "{text}");
    }

    #[test]
    fn n8n_404_explains_path_or_inactive_workflow() {
        let body = r#"{"code":404,"message":"The requested webhook \"POST ask-tonny\" is not registered.","hint":"Activate the workflow"}"#;
        let error = post_to(404, body, &[]).expect_err("not found");
        let text = error.to_string();
        assert!(
            text.contains("the webhook path does not exist or the workflow is not active"),
            "{text}"
        );
        assert!(text.contains("is not registered"), "quotes n8n: {text}");
    }

    #[test]
    fn too_many_requests_passes_retry_after_on() {
        let error = post_to(429, "slow down", &[("Retry-After", "7")]).expect_err("busy");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert!(error.is_transient());
    }

    #[test]
    fn redirect_is_not_followed() {
        let error = post_to(
            302,
            "",
            &[("Location", "http://other.example/hook?token=x")],
        )
        .expect_err("a redirect");
        assert!(
            matches!(error, DeliveryError::Redirect { status: 302, .. }),
            "{error:?}"
        );
        assert!(!error.is_transient());
        let text = error.to_string();
        assert!(text.contains("http://other.example/hook"), "{text}");
        assert!(!text.contains("token=x"), "query hidden: {text}");
    }

    #[test]
    fn refused_connection_is_transient() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let url = format!("http://127.0.0.1:{port}/webhook/ask-tonny");
        let error = hook(&url, Some(TOKEN))
            .post(&request())
            .expect_err("refused");
        assert!(
            matches!(error, DeliveryError::Unreachable { .. }),
            "{error:?}"
        );
        assert!(error.is_transient());
        assert!(error.to_string().contains("not reachable"), "{error}");
    }

    #[test]
    fn server_that_never_answers_times_out() {
        // The kernel completes the handshake into the backlog; nobody reads.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let url = format!("http://127.0.0.1:{port}/webhook/ask-tonny");
        let hook = Webhook::new(&url, true, None, Duration::from_millis(300)).expect("valid");
        let error = hook.post(&request()).expect_err("no answer");
        assert!(matches!(error, DeliveryError::Timeout { .. }), "{error:?}");
        assert!(error.is_transient());
        assert!(
            error.to_string().contains("did not answer within 0.3 s"),
            "{error}"
        );
        drop(listener);
    }

    #[test]
    fn the_token_appears_in_no_error_or_debug_text() {
        // A server that echoes the Authorization header back, as debugging
        // proxies and some frameworks' error pages do.
        let echoed = format!("bad request, you sent Authorization: Bearer {TOKEN}");
        let mut texts = Vec::new();
        for status in [200, 400, 401, 403, 404, 429, 500] {
            match post_to(status, &echoed, &[]) {
                Ok(reply) => texts.push(format!("{reply:?} {:?}", reply.text)),
                Err(error) => texts.push(format!("{error} {error:?}")),
            }
        }
        let refused = hook("http://127.0.0.1:9/x", Some(TOKEN))
            .post(&request())
            .expect_err("nothing listens on port 9");
        texts.push(format!("{refused} {refused:?}"));
        texts.push(format!("{:?}", hook("http://127.0.0.1:9/x", Some(TOKEN))));
        for text in &texts {
            assert_no_token(text);
        }
        assert!(
            texts.iter().any(|t| t.contains("[redacted]")),
            "an echoed token is replaced, not the whole text dropped: {texts:?}"
        );
    }

    #[test]
    fn a_token_with_a_line_break_is_refused_before_sending() {
        let hook = Webhook::new(
            "http://127.0.0.1:9/x",
            true,
            Some(Secret::new(format!("{TOKEN}\n"))),
            Duration::from_secs(1),
        )
        .expect("valid URL");
        let error = hook.post(&request()).expect_err("bad token");
        assert_eq!(error, DeliveryError::BadToken);
        assert_no_token(&format!("{error} {error:?}"));
    }
}
