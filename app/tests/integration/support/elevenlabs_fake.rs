//! A FAKE ElevenLabs API on 127.0.0.1, for tests only.
//!
//! ElevenLabs is a cloud service that cannot be reached from this machine or
//! from CI, so the tests talk to this stand-in instead. It is written from
//! the official contract: the OpenAPI spec published in the
//! `elevenlabs/elevenlabs-docs` repository (paths, the `xi-api-key` header,
//! the `output_format` query, body fields, the 422 validation shape) and,
//! for the error codes the spec does not list (`invalid_api_key`,
//! `quota_exceeded`, `too_many_concurrent_requests`, `voice_not_found`,
//! `missing_permissions`), the official SDKs. The contract test in
//! `tests/integration/elevenlabs.rs` checks [`ROUTES`] against the spec. It passing
//! says the app matches this fake and the spec, not that the live
//! service answers the same way today.
//!
//! What it does:
//! - `GET /v1/voices`, `GET /v1/models`, `GET /v1/user`,
//!   `POST /v1/text-to-speech/{voice_id}` and `…/stream`.
//! - Keys: [`GOOD_KEY`] works; [`RESTRICTED_KEY`] works but gets 401
//!   `missing_permissions` from `/v1/user`; [`QUOTA_KEY`] gets 401
//!   `quota_exceeded` and [`BUSY_KEY`] 429 `too_many_concurrent_requests`
//!   from text-to-speech; a missing or other key gets 401 `invalid_api_key`.
//! - Audio: a [`TONE_HZ`] sine at half scale, [`MS_PER_CHAR`] per character of
//!   text divided by `voice_settings.speed`, as raw s16le PCM at the asked
//!   rate (`pcm_16000|22050|24000`), or silent MP3 frames for
//!   `mp3_44100_128`; `/stream` sends it in chunked 100 ms pieces, flushed.
//! - Records every request (the key's value replaced by the name of the
//!   test key it matched) for assertions.
//! - [`FakeElevenLabs::hold_streams`] makes streams pause after their first
//!   piece until [`FakeElevenLabs::release_streams`]: a test can then prove
//!   audio arrives before the reply is complete, or stop a reply mid-way.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A key that works for everything.
pub const GOOD_KEY: &str = "good-key";
/// A valid key that may not read the user (`/v1/user` → 401 `missing_permissions`).
pub const RESTRICTED_KEY: &str = "restricted-key";
/// A key whose character quota is used up.
pub const QUOTA_KEY: &str = "quota-key";
/// A key that always has too many requests running.
pub const BUSY_KEY: &str = "busy-key";
/// Known keys, by name.
const KEYS: &[&str] = &[GOOD_KEY, RESTRICTED_KEY, QUOTA_KEY, BUSY_KEY];

/// Rachel, a premade voice.
pub const VOICE_ID: &str = "21m00Tcm4TlvDq8ikWAM";
/// Domi, a second premade voice.
pub const OTHER_VOICE_ID: &str = "AZnzlk1XvdvUeBnXmlld";
/// The tone every reply is made of.
pub const TONE_HZ: f64 = 440.0;
/// Peak amplitude of the tone, in s16 units (half scale).
pub const TONE_PEAK: i16 = 16_384;
/// Milliseconds of audio per character of text, at speed 1.0.
pub const MS_PER_CHAR: u64 = 40;
/// Shortest reply.
const MIN_MS: u64 = 200;
/// Longest text accepted (the multilingual v2 model's limit).
pub const MAX_CHARS: usize = 10_000;

/// Every (method, path template, query parameters) the fake serves; the
/// contract test checks each against the official spec.
pub const ROUTES: &[(&str, &str, &[&str])] = &[
    ("GET", "/v1/voices", &[]),
    ("GET", "/v1/models", &[]),
    ("GET", "/v1/user", &[]),
    ("POST", "/v1/text-to-speech/{voice_id}", &["output_format"]),
    (
        "POST",
        "/v1/text-to-speech/{voice_id}/stream",
        &["output_format"],
    ),
];

/// `output_format` values the fake produces.
pub const FORMATS: &[&str] = &["pcm_16000", "pcm_22050", "pcm_24000", "mp3_44100_128"];

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Headers, names lower case; `xi-api-key`'s value is `<redacted>`.
    pub headers: Vec<(String, String)>,
    /// Which test key was sent: its name, `<unknown>`, or `None` (no header).
    pub key: Option<&'static str>,
    /// Body as text.
    pub body: String,
}

impl Recorded {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter's value.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    hold: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running fake; stops when dropped.
pub struct FakeElevenLabs {
    url: String,
    server: Arc<tiny_http::Server>,
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

impl FakeElevenLabs {
    /// Starts the fake on a free loopback port.
    pub fn start() -> Self {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the fake ElevenLabs"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let shared: Shared = Arc::default();
        let thread = {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fake-elevenlabs".into())
                .spawn(move || {
                    for request in server.incoming_requests() {
                        let shared = Arc::clone(&shared);
                        // One thread per request: a held stream must not block the others.
                        let _ = std::thread::Builder::new()
                            .name("fake-elevenlabs-req".into())
                            .spawn(move || handle(request, &shared));
                    }
                })
                .expect("spawn the fake's thread")
        };
        Self {
            url: format!("http://127.0.0.1:{port}"),
            server,
            shared,
            thread: Some(thread),
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }

    /// Streams started from now on pause after their first 100 ms piece.
    pub fn hold_streams(&self) {
        lock(&self.shared).hold = true;
    }

    /// Lets held streams go on.
    pub fn release_streams(&self) {
        lock(&self.shared).hold = false;
        self.shared.1.notify_all();
    }
}

impl Drop for FakeElevenLabs {
    fn drop(&mut self) {
        self.release_streams();
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the fake answers.
enum Answer {
    Json(u16, serde_json::Value),
    Audio {
        format: String,
        samples: usize,
        stream: bool,
    },
}

fn handle(mut request: tiny_http::Request, shared: &Shared) {
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let recorded = record(&request, body);
    lock(shared).requests.push(recorded.clone());
    match answer(&recorded) {
        Answer::Json(status, json) => {
            let response = tiny_http::Response::from_string(json.to_string())
                .with_status_code(status)
                .with_header(header("Content-Type", "application/json"));
            let _ = request.respond(response);
        }
        Answer::Audio {
            format,
            samples,
            stream,
        } => {
            let writer = request.into_writer();
            let _ = send_audio(writer, &format, samples, stream, shared);
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn record(request: &tiny_http::Request, body: String) -> Recorded {
    let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect();
    let mut key = None;
    let headers = request
        .headers()
        .iter()
        .map(|h| {
            let name = h.field.as_str().as_str().to_ascii_lowercase();
            let value = h.value.as_str();
            if name == "xi-api-key" {
                key = Some(
                    KEYS.iter()
                        .copied()
                        .find(|k| *k == value)
                        .unwrap_or("<unknown>"),
                );
                (name, "<redacted>".to_owned())
            } else {
                (name, value.to_owned())
            }
        })
        .collect();
    Recorded {
        method: request.method().as_str().to_owned(),
        path: decode(path),
        query,
        headers,
        key,
        body,
    }
}

/// Percent-decoding (and `+` as space in queries).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn detail(status: u16, code: &str, message: &str) -> Answer {
    Answer::Json(
        status,
        serde_json::json!({"detail": {"status": code, "message": message}}),
    )
}

fn validation(loc: &[&str], msg: &str, kind: &str) -> Answer {
    Answer::Json(
        422,
        serde_json::json!({"detail": [{"loc": loc, "msg": msg, "type": kind}]}),
    )
}

fn answer(r: &Recorded) -> Answer {
    match r.key {
        None | Some("<unknown>") => {
            return detail(401, "invalid_api_key", "Invalid API key");
        }
        _ => {}
    }
    let segments: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    match (r.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "voices"]) => Answer::Json(200, voices()),
        ("GET", ["v1", "models"]) => Answer::Json(200, models()),
        ("GET", ["v1", "user"]) if r.key == Some(RESTRICTED_KEY) => detail(
            401,
            "missing_permissions",
            "The API key you used is missing the permission user_read to execute this operation.",
        ),
        ("GET", ["v1", "user"]) => Answer::Json(200, user()),
        ("POST", ["v1", "text-to-speech", voice]) => tts(r, voice, false),
        ("POST", ["v1", "text-to-speech", voice, "stream"]) => tts(r, voice, true),
        _ => Answer::Json(404, serde_json::json!({"detail": "Not Found"})),
    }
}

fn tts(r: &Recorded, voice: &str, stream: bool) -> Answer {
    if voice != VOICE_ID && voice != OTHER_VOICE_ID {
        return detail(
            400,
            "voice_not_found",
            &format!("A voice with the voice_id {voice} was not found."),
        );
    }
    let format = r.query_value("output_format").unwrap_or("mp3_44100_128");
    if !SPEC_FORMATS.contains(&format) {
        return validation(
            &["query", "output_format"],
            "Input should be one of the documented output formats",
            "enum",
        );
    }
    if !FORMATS.contains(&format) {
        return Answer::Json(
            501,
            serde_json::json!({"detail": format!("the fake does not produce {format}")}),
        );
    }
    let Ok(serde_json::Value::Object(body)) = serde_json::from_str::<serde_json::Value>(&r.body)
    else {
        return validation(&["body"], "JSON decode error", "json_invalid");
    };
    let text = match body.get("text") {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(_) => {
            return validation(
                &["body", "text"],
                "Input should be a valid string",
                "string_type",
            );
        }
        None => return validation(&["body", "text"], "Field required", "missing"),
    };
    if body.get("model_id").is_some_and(|m| !m.is_string()) {
        return validation(
            &["body", "model_id"],
            "Input should be a valid string",
            "string_type",
        );
    }
    let speed = match body.get("voice_settings").and_then(|v| v.get("speed")) {
        None | Some(serde_json::Value::Null) => 1.0,
        Some(s) => match s.as_f64() {
            Some(s) if s > 0.0 => s,
            _ => {
                return validation(
                    &["body", "voice_settings", "speed"],
                    "Input should be a valid number",
                    "float_type",
                );
            }
        },
    };
    if text.chars().count() > MAX_CHARS {
        return detail(
            400,
            "max_character_limit_exceeded",
            &format!("Text is too long: at most {MAX_CHARS} characters per request."),
        );
    }
    match r.key {
        Some(QUOTA_KEY) => {
            return detail(
                401,
                "quota_exceeded",
                "This request exceeds your quota of 10000. You have 0 credits remaining.",
            );
        }
        Some(BUSY_KEY) => {
            return detail(
                429,
                "too_many_concurrent_requests",
                "Too many concurrent requests for your subscription.",
            );
        }
        _ => {}
    }
    Answer::Audio {
        samples: samples_for(&text, speed, rate_of(format)),
        format: format.to_owned(),
        stream,
    }
}

/// The spec's `output_format` enum (snapshot of Aug 2025).
const SPEC_FORMATS: &[&str] = &[
    "mp3_22050_32",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_44100",
    "pcm_48000",
    "ulaw_8000",
    "alaw_8000",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
];

fn rate_of(format: &str) -> u32 {
    format
        .split('_')
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(44_100)
}

/// Samples of tone for `text` at `speed` and `rate`.
pub fn samples_for(text: &str, speed: f64, rate: u32) -> usize {
    let chars = u64::try_from(text.chars().count()).unwrap_or(u64::MAX);
    let ms = (chars * MS_PER_CHAR).max(MIN_MS);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let n = (ms as f64 / speed * f64::from(rate) / 1000.0).round() as usize;
    n
}

/// Sample `i` of the tone at `rate`.
pub fn tone_sample(i: usize, rate: u32) -> i16 {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let v = (2.0 * std::f64::consts::PI * TONE_HZ * i as f64 / f64::from(rate)).sin()
        * f64::from(TONE_PEAK);
    #[allow(clippy::cast_possible_truncation)]
    let s = v.round() as i16;
    s
}

/// One silent MPEG-1 Layer III frame, 128 kbit/s, 44.1 kHz, mono: a header
/// and zeroed side information decode to 1152 samples of silence.
fn silent_mp3_frame() -> Vec<u8> {
    let mut frame = vec![0_u8; 417]; // 144 × 128000 / 44100
    frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0xC4]);
    frame
}

/// The reply's bytes: s16le tone, or MP3 silence of about the same length.
fn audio_bytes(format: &str, samples: usize) -> Vec<u8> {
    if format.starts_with("mp3") {
        let frames = samples.div_ceil(1152).max(1);
        return silent_mp3_frame().repeat(frames);
    }
    let rate = rate_of(format);
    (0..samples)
        .flat_map(|i| tone_sample(i, rate).to_le_bytes())
        .collect()
}

/// Writes the whole HTTP answer by hand so each 100 ms piece is flushed as
/// its own chunk (tiny_http's own writer buffers 8 KiB first).
fn send_audio(
    mut w: Box<dyn Write + Send>,
    format: &str,
    samples: usize,
    stream: bool,
    shared: &Shared,
) -> std::io::Result<()> {
    let bytes = audio_bytes(format, samples);
    let mime = if format.starts_with("mp3") {
        "audio/mpeg"
    } else {
        "audio/pcm"
    };
    if !stream {
        write!(
            w,
            "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            bytes.len()
        )?;
        w.write_all(&bytes)?;
        return w.flush();
    }
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )?;
    let piece = (rate_of(format) as usize / 10) * 2; // 100 ms of s16
    for (i, chunk) in bytes.chunks(piece.max(2)).enumerate() {
        if i == 1 {
            let guard = lock(shared);
            let _unused = shared
                .1
                .wait_while(guard, |s| s.hold)
                .unwrap_or_else(PoisonError::into_inner);
        }
        write!(w, "{:x}\r\n", chunk.len())?;
        w.write_all(chunk)?;
        w.write_all(b"\r\n")?;
        w.flush()?;
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

fn voice(id: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "voice_id": id,
        "name": name,
        "category": "premade",
        "labels": {"accent": "american"},
        "available_for_tiers": [],
        "high_quality_base_model_ids": ["eleven_multilingual_v2"],
        "description": null,
        "preview_url": null,
    })
}

fn voices() -> serde_json::Value {
    serde_json::json!({"voices": [voice(VOICE_ID, "Rachel"), voice(OTHER_VOICE_ID, "Domi")]})
}

fn model(id: &str, name: &str, tts: bool) -> serde_json::Value {
    serde_json::json!({
        "model_id": id,
        "name": name,
        "can_be_finetuned": false,
        "can_do_text_to_speech": tts,
        "can_do_voice_conversion": !tts,
        "can_use_style": true,
        "can_use_speaker_boost": true,
        "serves_pro_voices": false,
        "token_cost_factor": 1.0,
        "description": name,
        "requires_alpha_access": false,
        "max_characters_request_free_user": 2_500,
        "max_characters_request_subscribed_user": MAX_CHARS,
        "maximum_text_length_per_request": MAX_CHARS,
        "languages": [{"language_id": "en", "name": "English"}],
        "model_rates": {"character_cost_multiplier": 1.0},
        "concurrency_group": "standard",
    })
}

fn models() -> serde_json::Value {
    serde_json::json!([
        model("eleven_multilingual_v2", "Eleven Multilingual v2", true),
        model("eleven_flash_v2_5", "Eleven Flash v2.5", true),
        model(
            "eleven_multilingual_sts_v2",
            "Eleven Multilingual v2 (speech to speech)",
            false
        ),
    ])
}

fn user() -> serde_json::Value {
    serde_json::json!({
        "user_id": "fake-user",
        "subscription": {
            "tier": "free",
            "character_count": 120,
            "character_limit": 10_000,
            "max_character_limit_extension": null,
            "can_extend_character_limit": false,
            "allowed_to_extend_character_limit": false,
            "voice_slots_used": 0,
            "professional_voice_slots_used": 0,
            "voice_limit": 3,
            "voice_add_edit_counter": 0,
            "professional_voice_limit": 0,
            "can_extend_voice_limit": false,
            "can_use_instant_voice_cloning": false,
            "can_use_professional_voice_cloning": false,
            "status": "free",
        },
        "is_new_user": false,
        "can_use_delayed_payment_methods": false,
        "is_onboarding_completed": true,
        "is_onboarding_checklist_completed": true,
        "created_at": 1_700_000_000,
    })
}

/// The fake's JSON answers by route, for the contract test to check
/// against the spec's response schemas.
pub fn sample_answers() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("/v1/voices", voices()),
        ("/v1/models", models()),
        ("/v1/user", user()),
    ]
}
