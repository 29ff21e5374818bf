//! The ElevenLabs HTTP API (a cloud service): listing voices and models,
//! checking a key, and streaming text-to-speech as raw PCM so playback can
//! start before the whole reply has arrived.
//!
//! Blocking (ureq), with a time limit on every phase of every call; it runs
//! on the speech thread. The API key travels only in the `xi-api-key` header:
//! it never appears in an error, a log line or `Debug` output, and it is only
//! sent over plain `http://` to a loopback address (the test fake).
//!
//! The contract is the official OpenAPI spec (paths, header, query, body);
//! [`ENDPOINTS`] lists what this client uses so a test can check each item
//! against the spec. The error codes (`invalid_api_key`, `quota_exceeded`, …)
//! are not in the spec: they come from the official SDKs and observed answers.

use std::fmt;
use std::io::Read;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The header that carries the API key.
pub const API_KEY_HEADER: &str = "xi-api-key";

/// The public ElevenLabs API.
pub const DEFAULT_BASE_URL: &str = "https://api.elevenlabs.io";

/// One HTTP operation this client performs, as the spec names it.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template as in the spec, e.g. `/v1/text-to-speech/{voice_id}/stream`.
    pub path: &'static str,
    /// Query parameters the client sends.
    pub query: &'static [&'static str],
    /// Top-level JSON body fields the client sends (empty: no body).
    pub body: &'static [&'static str],
}

const VOICES: Endpoint = Endpoint {
    method: "GET",
    path: "/v1/voices",
    query: &[],
    body: &[],
};
const MODELS: Endpoint = Endpoint {
    method: "GET",
    path: "/v1/models",
    query: &[],
    body: &[],
};
const USER: Endpoint = Endpoint {
    method: "GET",
    path: "/v1/user",
    query: &[],
    body: &[],
};
const STREAM: Endpoint = Endpoint {
    method: "POST",
    path: "/v1/text-to-speech/{voice_id}/stream",
    query: &["output_format"],
    body: &["text", "model_id", "voice_settings"],
};

/// Every operation this client calls; all send [`API_KEY_HEADER`]. The
/// contract test checks each against the official spec.
pub const ENDPOINTS: &[Endpoint] = &[VOICES, MODELS, USER, STREAM];

/// Time to open a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to send the request headers, and separately its body.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Time from the request to the answer's headers: for text-to-speech this is
/// how long the service may think before the first audio.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest silence inside a body before the stream counts as stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole body: a long spoken reply streams for a while.
const BODY_TIMEOUT: Duration = Duration::from_secs(180);
/// Largest audio body accepted: ~18 minutes of 24 kHz PCM.
const MAX_AUDIO_BYTES: u64 = 50 * 1024 * 1024;
/// Largest JSON or error body read.
const MAX_JSON_BYTES: u64 = 4 * 1024 * 1024;
/// Longest server-supplied text kept in an error message.
const MAX_DETAIL_CHARS: usize = 240;

/// What went wrong talking to ElevenLabs, worded for the user. No variant
/// ever holds the API key.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// No key configured.
    #[error("no ElevenLabs API key is set: add one in Settings → Integrations")]
    MissingKey,
    /// The key cannot be sent as a header (a pasted line break, say).
    #[error(
        "the ElevenLabs API key contains spaces or control characters: paste it again in Settings → Integrations"
    )]
    MalformedKey,
    /// 401 `invalid_api_key`.
    #[error("ElevenLabs rejected the API key: set a new one in Settings → Integrations")]
    BadKey,
    /// 401 `missing_permissions`: a valid key restricted from this call.
    #[error(
        "the ElevenLabs API key may not do this ({detail}): allow it in the ElevenLabs dashboard or use another key"
    )]
    MissingPermission {
        /// What the service said.
        detail: String,
    },
    /// 401 `quota_exceeded`.
    #[error("the ElevenLabs character quota is used up: wait for it to renew or upgrade the plan")]
    Quota,
    /// 429 `too_many_concurrent_requests` or `system_busy`.
    #[error("ElevenLabs is busy (too many requests at once): try again in a moment")]
    TooManyRequests,
    /// `voice_not_found`.
    #[error("ElevenLabs has no voice {voice_id:?}: pick another voice in Settings → Integrations")]
    VoiceNotFound {
        /// The voice asked for.
        voice_id: String,
    },
    /// 400/422: the request broke a rule (too long, bad model, bad value).
    #[error("ElevenLabs refused the request: {detail}")]
    Invalid {
        /// What the service said, e.g. `body.text: Field required`.
        detail: String,
    },
    /// The base URL cannot be used.
    #[error("the ElevenLabs address {url:?} cannot be used: {why}")]
    BadUrl {
        /// The configured base URL.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No answer: DNS, connection, TLS or a time limit.
    #[error("cannot reach ElevenLabs at {url}: {detail}; check the network connection")]
    Network {
        /// The base URL.
        url: String,
        /// What failed.
        detail: String,
    },
    /// Any other HTTP error status.
    #[error("ElevenLabs answered HTTP {status} ({detail}): try again later")]
    Server {
        /// HTTP status.
        status: u16,
        /// What the service said.
        detail: String,
    },
    /// A success status with a body this client cannot read.
    #[error("ElevenLabs sent an answer this app cannot read: {detail}")]
    Protocol {
        /// What did not parse.
        detail: String,
    },
}

impl TtsError {
    /// Whether the same request may succeed later unchanged (network, busy,
    /// a 5xx): an outbox should retry these and give up on the rest.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network { .. } | Self::TooManyRequests => true,
            Self::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// A voice the account can use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Voice {
    /// Id to pass to [`Client::stream`].
    pub voice_id: String,
    /// Display name.
    pub name: String,
    /// `premade`, `cloned`, `professional`, …
    #[serde(default)]
    pub category: Option<String>,
}

/// A model the account can use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Model {
    /// Id for [`TtsOptions::model_id`].
    pub model_id: String,
    /// Display name.
    pub name: String,
    /// Whether it turns text into speech (some only convert voices).
    #[serde(default)]
    pub can_do_text_to_speech: bool,
}

/// What `GET /v1/user` says about a key that works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// The key may read the user: fully usable.
    Full,
    /// A valid key restricted by the account owner (401 `missing_permissions`
    /// on the user endpoint); text-to-speech may still be allowed.
    Restricted,
}

/// Raw PCM sample rates the client asks for (mono, signed 16-bit little
/// endian). The higher rates of the spec need a paid tier, so they are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PcmFormat {
    /// 16 kHz.
    Hz16000,
    /// 22.05 kHz: the default, good quality at half the bytes of 44.1 kHz.
    #[default]
    Hz22050,
    /// 24 kHz.
    Hz24000,
}

impl PcmFormat {
    /// Samples per second.
    pub fn rate(self) -> u32 {
        match self {
            Self::Hz16000 => 16_000,
            Self::Hz22050 => 22_050,
            Self::Hz24000 => 24_000,
        }
    }

    /// The `output_format` query value.
    pub fn query_value(self) -> &'static str {
        match self {
            Self::Hz16000 => "pcm_16000",
            Self::Hz22050 => "pcm_22050",
            Self::Hz24000 => "pcm_24000",
        }
    }
}

/// How to speak.
#[derive(Debug, Clone, PartialEq)]
pub struct TtsOptions {
    /// Model, e.g. `eleven_multilingual_v2`.
    pub model_id: String,
    /// Speaking rate; 1.0 is the voice's own. ElevenLabs accepts about 0.7–1.2.
    pub speed: f32,
    /// Audio format of the answer.
    pub output_format: PcmFormat,
}

impl Default for TtsOptions {
    fn default() -> Self {
        Self {
            model_id: "eleven_multilingual_v2".to_owned(),
            speed: 1.0,
            output_format: PcmFormat::default(),
        }
    }
}

#[derive(Serialize)]
struct TtsBody<'a> {
    text: &'a str,
    model_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    voice_settings: Option<VoiceSettings>,
}

/// Only the speed is overridden; `None` keeps the voice's stored settings.
#[derive(Serialize)]
struct VoiceSettings {
    speed: f32,
}

impl VoiceSettings {
    /// 1.0 means "the voice's own speed": leave its stored settings alone.
    fn for_speed(speed: f32) -> Option<Self> {
        ((speed - 1.0).abs() > f32::EPSILON).then_some(Self { speed })
    }
}

/// A blocking ElevenLabs client.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    api_key: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("api_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base_url` (e.g. [`DEFAULT_BASE_URL`]) with `api_key`.
    /// Nothing is sent yet.
    ///
    /// # Errors
    /// [`TtsError::BadUrl`] for a URL that is not `https://` (or `http://` to
    /// a loopback address, where the key does not cross a network);
    /// [`TtsError::MissingKey`] / [`TtsError::MalformedKey`] for an unusable key.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, TtsError> {
        let base = check_base_url(base_url)?;
        let api_key = api_key.trim().to_owned();
        if api_key.is_empty() {
            return Err(TtsError::MissingKey);
        }
        if !api_key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(TtsError::MalformedKey);
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A redirect could carry the key header to another host.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_send_request(Some(SEND_TIMEOUT))
            .timeout_send_body(Some(SEND_TIMEOUT))
            .timeout_recv_response(Some(FIRST_BYTE_TIMEOUT))
            .timeout_per_read(Some(STALL_TIMEOUT))
            .timeout_recv_body(Some(BODY_TIMEOUT))
            .user_agent(concat!("tonnytray/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            agent,
            base,
            api_key,
        })
    }

    /// The voices this account can use (`GET /v1/voices`).
    ///
    /// # Errors
    /// Any [`TtsError`].
    pub fn voices(&self) -> Result<Vec<Voice>, TtsError> {
        #[derive(Deserialize)]
        struct Voices {
            voices: Vec<Voice>,
        }
        let resp = self.get(VOICES.path)?;
        Ok(self.read_json::<Voices>(resp)?.voices)
    }

    /// The models this account can use (`GET /v1/models`).
    ///
    /// # Errors
    /// Any [`TtsError`].
    pub fn models(&self) -> Result<Vec<Model>, TtsError> {
        let resp = self.get(MODELS.path)?;
        self.read_json(resp)
    }

    /// Checks that the key works (`GET /v1/user`).
    ///
    /// # Errors
    /// [`TtsError::BadKey`] for a wrong key; others for a service that cannot
    /// be asked.
    pub fn check_key(&self) -> Result<KeyStatus, TtsError> {
        match self.get(USER.path) {
            Ok(_) => Ok(KeyStatus::Full),
            Err(TtsError::MissingPermission { .. }) => Ok(KeyStatus::Restricted),
            Err(e) => Err(e),
        }
    }

    /// Starts speaking `text` with `voice_id`
    /// (`POST /v1/text-to-speech/{voice_id}/stream`). Returns once the
    /// answer's headers arrive; the samples follow through the [`PcmStream`]
    /// as the service produces them.
    ///
    /// # Errors
    /// Any [`TtsError`]; [`TtsError::VoiceNotFound`] names `voice_id`.
    pub fn stream(
        &self,
        voice_id: &str,
        text: &str,
        options: &TtsOptions,
    ) -> Result<PcmStream, TtsError> {
        let path = STREAM
            .path
            .replace("{voice_id}", &encode_path_segment(voice_id));
        let body = TtsBody {
            text,
            model_id: &options.model_id,
            voice_settings: VoiceSettings::for_speed(options.speed),
        };
        let format = options.output_format;
        let result = self
            .agent
            .post(format!("{}{path}", self.base))
            .header(API_KEY_HEADER, &self.api_key)
            .query(STREAM.query[0], format.query_value())
            .send_json(&body);
        let resp = self.check(result, Some(voice_id))?;
        let reader = resp
            .into_body()
            .into_with_config()
            .limit(MAX_AUDIO_BYTES)
            .reader();
        Ok(PcmStream::new(
            Box::new(reader),
            format.rate(),
            ErrorContext {
                url: self.base.clone(),
                key: self.api_key.clone(),
            },
        ))
    }

    fn get(&self, path: &str) -> Result<ureq::http::Response<ureq::Body>, TtsError> {
        let result = self
            .agent
            .get(format!("{}{path}", self.base))
            .header(API_KEY_HEADER, &self.api_key)
            .call();
        self.check(result, None)
    }

    /// Turns transport failures and error statuses into [`TtsError`].
    fn check(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        voice_id: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, TtsError> {
        let mut resp = result.map_err(|e| self.network(&e.to_string()))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(resp);
        }
        // An unreadable error body still has a status worth reporting.
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BYTES)
            .lossy_utf8(true)
            .read_to_string()
            .unwrap_or_default();
        Err(error_from_answer(status, &body, voice_id, &self.api_key))
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> Result<T, TtsError> {
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BYTES)
            .read_to_string()
            .map_err(|e| self.network(&e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| TtsError::Protocol {
            detail: e.to_string(),
        })
    }

    fn network(&self, detail: &str) -> TtsError {
        TtsError::Network {
            url: self.base.clone(),
            detail: scrub(detail, &self.api_key),
        }
    }
}

/// What a [`PcmStream`] needs to word a mid-stream failure.
pub(crate) struct ErrorContext {
    pub(crate) url: String,
    pub(crate) key: String,
}

/// Mono s16 samples of one spoken reply, read as they arrive.
pub struct PcmStream {
    reader: Box<dyn Read + Send>,
    rate: u32,
    /// A byte of a sample split across two reads.
    carry: Option<u8>,
    bytes: Vec<u8>,
    context: ErrorContext,
}

impl fmt::Debug for PcmStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcmStream")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl PcmStream {
    pub(crate) fn new(reader: Box<dyn Read + Send>, rate: u32, context: ErrorContext) -> Self {
        Self {
            reader,
            rate,
            carry: None,
            bytes: Vec::new(),
            context,
        }
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Fills the start of `out` with the next samples, waiting for at least
    /// one; returns how many, 0 at the end of the reply.
    ///
    /// # Errors
    /// [`TtsError::Network`] when the connection breaks or stalls.
    pub fn read(&mut self, out: &mut [i16]) -> Result<usize, TtsError> {
        if out.is_empty() {
            return Ok(0);
        }
        self.bytes.resize(out.len() * 2, 0);
        loop {
            let start = usize::from(self.carry.is_some());
            if let Some(b) = self.carry.take() {
                self.bytes[0] = b;
            }
            let n = match self.reader.read(&mut self.bytes[start..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    self.carry = (start == 1).then_some(self.bytes[0]);
                    continue;
                }
                Err(e) => {
                    return Err(TtsError::Network {
                        url: self.context.url.clone(),
                        detail: scrub(&format!("the audio stream broke: {e}"), &self.context.key),
                    });
                }
            };
            let have = start + n;
            if n == 0 {
                // A dangling half sample at the very end is dropped.
                return Ok(0);
            }
            let whole = have / 2;
            for (sample, pair) in out.iter_mut().zip(self.bytes[..whole * 2].chunks_exact(2)) {
                *sample = i16::from_le_bytes([pair[0], pair[1]]);
            }
            if have % 2 == 1 {
                self.carry = Some(self.bytes[have - 1]);
            }
            if whole > 0 {
                return Ok(whole);
            }
        }
    }

    /// Reads the whole reply.
    ///
    /// # Errors
    /// As [`PcmStream::read`].
    pub fn read_to_end(mut self) -> Result<Vec<i16>, TtsError> {
        let mut all = Vec::new();
        let mut buf = [0_i16; 4096];
        loop {
            let n = self.read(&mut buf)?;
            if n == 0 {
                return Ok(all);
            }
            all.extend_from_slice(&buf[..n]);
        }
    }
}

/// Checks and normalises the base URL (no trailing slash).
fn check_base_url(url: &str) -> Result<String, TtsError> {
    let bad = |why| TtsError::BadUrl {
        url: url.to_owned(),
        why,
    };
    let trimmed = url.trim().trim_end_matches('/');
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| bad("it must start with https://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    // Userinfo in the URL would end up in messages; a key belongs in the keyring.
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("it needs a host name and nothing else before the path"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => Ok(trimmed.to_owned()),
        "http" if is_loopback(authority) => Ok(trimmed.to_owned()),
        "http" => Err(bad(
            "the API key would cross the network unencrypted; use https://",
        )),
        _ => Err(bad("it must start with https://")),
    }
}

/// Whether `authority` (host with optional port) is this machine.
fn is_loopback(authority: &str) -> bool {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Percent-encodes everything but unreserved characters, so a voice id can
/// never change the path or add a query.
fn encode_path_segment(s: &str) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Server- or library-supplied text made safe for a message: the key (if
/// echoed) removed, one line, bounded length.
fn scrub(text: &str, key: &str) -> String {
    let text = if key.is_empty() {
        text.to_owned()
    } else {
        text.replace(key, "<redacted>")
    };
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > MAX_DETAIL_CHARS {
        let cut: String = one_line.chars().take(MAX_DETAIL_CHARS).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// The two error shapes ElevenLabs uses: `{"detail": {status|code, message}}`
/// and FastAPI's validation `{"detail": [{loc, msg, type}]}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    detail: Option<ErrorDetail>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorDetail {
    Items(Vec<ValidationItem>),
    Object(ErrorObject),
    Text(String),
}

#[derive(Deserialize)]
struct ValidationItem {
    #[serde(default)]
    loc: Vec<serde_json::Value>,
    #[serde(default)]
    msg: String,
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Classifies an error answer. `voice_id` is the voice a text-to-speech call
/// asked for; `key` is scrubbed from any text kept.
pub(crate) fn error_from_answer(
    status: u16,
    body: &str,
    voice_id: Option<&str>,
    key: &str,
) -> TtsError {
    let detail = serde_json::from_str::<ErrorEnvelope>(body)
        .ok()
        .and_then(|e| e.detail);
    let (code, message) = match detail {
        Some(ErrorDetail::Items(items)) => (None, validation_text(&items)),
        // Newer answers carry `code` beside `status`; `code` is the precise one.
        Some(ErrorDetail::Object(o)) => (o.code.or(o.status), o.message.unwrap_or_default()),
        Some(ErrorDetail::Text(t)) => (None, t),
        None => (None, body.to_owned()),
    };
    let message = scrub(&message, key);
    let message = if message.is_empty() {
        format!("HTTP {status}")
    } else {
        message
    };
    match code.as_deref() {
        Some("invalid_api_key") => return TtsError::BadKey,
        Some("quota_exceeded") => return TtsError::Quota,
        Some("too_many_concurrent_requests" | "system_busy") => return TtsError::TooManyRequests,
        Some("missing_permissions") => return TtsError::MissingPermission { detail: message },
        Some("voice_not_found") => {
            return TtsError::VoiceNotFound {
                voice_id: voice_id.unwrap_or_default().to_owned(),
            };
        }
        _ => {}
    }
    match status {
        401 => TtsError::BadKey,
        403 => TtsError::MissingPermission { detail: message },
        429 => TtsError::TooManyRequests,
        400 | 422 => TtsError::Invalid { detail: message },
        _ => TtsError::Server {
            status,
            detail: message,
        },
    }
}

/// `body.text: Field required; …` from a validation error list.
fn validation_text(items: &[ValidationItem]) -> String {
    items
        .iter()
        .map(|item| {
            let loc = item
                .loc
                .iter()
                .map(|l| match l {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".");
            if loc.is_empty() {
                item.msg.clone()
            } else {
                format!("{loc}: {}", item.msg)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk_secret_123";

    fn classify(status: u16, body: &str) -> TtsError {
        error_from_answer(status, body, Some("voice-x"), KEY)
    }

    #[test]
    fn invalid_key_object_is_bad_key_with_a_settings_hint() {
        let e = classify(
            401,
            r#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#,
        );
        assert!(matches!(e, TtsError::BadKey), "{e:?}");
        assert!(e.to_string().contains("Settings → Integrations"), "{e}");
    }

    #[test]
    fn quota_is_a_401_but_not_a_bad_key() {
        let e = classify(
            401,
            r#"{"detail":{"status":"quota_exceeded","message":"This request exceeds your quota."}}"#,
        );
        assert!(matches!(e, TtsError::Quota), "{e:?}");
    }

    #[test]
    fn code_wins_over_status_in_the_newer_shape() {
        let e = classify(
            429,
            r#"{"detail":{"type":"rate_limit_error","code":"system_busy","status":"x","message":"busy","request_id":"r1"}}"#,
        );
        assert!(matches!(e, TtsError::TooManyRequests), "{e:?}");
        assert!(e.is_retryable());
    }

    #[test]
    fn concurrent_limit_is_too_many_requests() {
        let e = classify(
            429,
            r#"{"detail":{"status":"too_many_concurrent_requests","message":"slow down"}}"#,
        );
        assert!(matches!(e, TtsError::TooManyRequests), "{e:?}");
    }

    #[test]
    fn voice_not_found_names_the_voice() {
        let e = classify(
            400,
            r#"{"detail":{"status":"voice_not_found","message":"A voice with that id was not found."}}"#,
        );
        assert!(
            matches!(&e, TtsError::VoiceNotFound { voice_id } if voice_id == "voice-x"),
            "{e:?}"
        );
        assert!(e.to_string().contains("\"voice-x\""), "{e}");
        assert!(!e.is_retryable());
    }

    #[test]
    fn validation_array_lists_location_and_message() {
        let e = classify(
            422,
            r#"{"detail":[{"loc":["body","text"],"msg":"Field required","type":"missing"},
                          {"loc":["query","output_format",0],"msg":"bad","type":"enum"}]}"#,
        );
        assert!(matches!(e, TtsError::Invalid { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("body.text: Field required"), "{text}");
        assert!(text.contains("query.output_format.0: bad"), "{text}");
    }

    #[test]
    fn restricted_key_is_a_missing_permission() {
        let e = classify(
            401,
            r#"{"detail":{"status":"missing_permissions","message":"The API key you used is missing the permission user_read"}}"#,
        );
        assert!(
            matches!(&e, TtsError::MissingPermission { detail } if detail.contains("user_read")),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_bodies_fall_back_to_the_status() {
        assert!(matches!(classify(401, "nope"), TtsError::BadKey));
        assert!(matches!(classify(429, ""), TtsError::TooManyRequests));
        let e = classify(503, "<html>Service Unavailable</html>");
        assert!(
            matches!(&e, TtsError::Server { status: 503, detail } if detail.contains("Unavailable")),
            "{e:?}"
        );
        assert!(e.is_retryable());
        let e = classify(500, "");
        assert!(e.to_string().contains("HTTP 500"), "{e}");
    }

    #[test]
    fn a_key_echoed_by_the_server_is_scrubbed() {
        let e = classify(
            400,
            &format!(r#"{{"detail":{{"status":"weird","message":"key {KEY} is odd"}}}}"#),
        );
        let text = e.to_string();
        assert!(!text.contains(KEY), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        let e = classify(502, &format!("proxy saw {KEY}"));
        assert!(!format!("{e} {e:?}").contains(KEY));
    }

    #[test]
    fn long_server_text_is_cut() {
        let long = "x".repeat(5_000);
        let text = classify(500, &long).to_string();
        assert!(text.len() < 600, "{} chars", text.len());
    }

    #[test]
    fn base_url_rules_protect_the_key() {
        assert_eq!(
            check_base_url("https://api.elevenlabs.io/").ok().as_deref(),
            Some("https://api.elevenlabs.io")
        );
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://localhost:1/x").is_ok());
        assert!(check_base_url("http://[::1]:9").is_ok());
        for bad in [
            "http://api.elevenlabs.io",
            "ftp://x",
            "api.elevenlabs.io",
            "https://",
            "https://user:pw@host",
        ] {
            let e = check_base_url(bad).expect_err(bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        assert!(matches!(
            Client::new(DEFAULT_BASE_URL, "  "),
            Err(TtsError::MissingKey)
        ));
        assert!(matches!(
            Client::new(DEFAULT_BASE_URL, "ab cd"),
            Err(TtsError::MalformedKey)
        ));
        let c = Client::new(DEFAULT_BASE_URL, &format!(" {KEY}\n")).expect("client");
        assert_eq!(c.api_key, KEY, "pasted whitespace is trimmed");
        assert!(!format!("{c:?}").contains(KEY));
    }

    #[test]
    fn voice_ids_cannot_escape_their_path_segment() {
        assert_eq!(
            encode_path_segment("21m00Tcm4TlvDq8ikWAM"),
            "21m00Tcm4TlvDq8ikWAM"
        );
        assert_eq!(encode_path_segment("a/b?c d"), "a%2Fb%3Fc%20d");
    }

    #[test]
    fn tts_body_sends_speed_only_when_changed() {
        let body = |speed| {
            serde_json::to_value(TtsBody {
                text: "hi",
                model_id: "m",
                voice_settings: VoiceSettings::for_speed(speed),
            })
            .expect("json")
        };
        assert_eq!(body(1.0), serde_json::json!({"text":"hi","model_id":"m"}));
        assert_eq!(
            body(1.1)["voice_settings"]["speed"]
                .as_f64()
                .map(|s| (s * 10.0).round()),
            Some(11.0)
        );
    }

    /// A reader that hands out its bytes in the given piece sizes.
    struct Pieces(Vec<Vec<u8>>);
    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let mut piece = self.0.remove(0);
            let n = piece.len().min(buf.len());
            buf[..n].copy_from_slice(&piece[..n]);
            if n < piece.len() {
                self.0.insert(0, piece.split_off(n));
            }
            Ok(n)
        }
    }

    fn stream_of(pieces: Vec<Vec<u8>>) -> PcmStream {
        PcmStream::new(
            Box::new(Pieces(pieces)),
            22_050,
            ErrorContext {
                url: "u".into(),
                key: KEY.into(),
            },
        )
    }

    #[test]
    fn samples_split_across_reads_are_joined() {
        let samples: Vec<i16> = vec![1, -2, 300, i16::MIN, i16::MAX, 7];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        // Odd piece sizes split samples between reads.
        let pieces = vec![
            bytes[..1].to_vec(),
            bytes[1..4].to_vec(),
            bytes[4..9].to_vec(),
            bytes[9..].to_vec(),
        ];
        let got = stream_of(pieces).read_to_end().expect("read");
        assert_eq!(got, samples);
    }

    #[test]
    fn small_output_buffers_get_every_sample() {
        let bytes: Vec<u8> = (0..100_i16).flat_map(i16::to_le_bytes).collect();
        let mut s = stream_of(vec![bytes]);
        let mut out = [0_i16; 3];
        let mut all = Vec::new();
        loop {
            let n = s.read(&mut out).expect("read");
            if n == 0 {
                break;
            }
            all.extend_from_slice(&out[..n]);
        }
        assert_eq!(all, (0..100).collect::<Vec<i16>>());
    }

    #[test]
    fn a_trailing_half_sample_is_dropped() {
        let got = stream_of(vec![vec![1, 0, 2]]).read_to_end().expect("read");
        assert_eq!(got, vec![1]);
    }

    #[test]
    fn formats_match_their_query_values() {
        for f in [PcmFormat::Hz16000, PcmFormat::Hz22050, PcmFormat::Hz24000] {
            assert_eq!(f.query_value(), format!("pcm_{}", f.rate()));
        }
    }
}
