//! The ElevenLabs client, the speech thread and the player.
//!
//! ElevenLabs is a cloud service that cannot be reached from here or from
//! CI: these tests run against a local FAKE (`support/elevenlabs_fake.rs`)
//! written from the official API contract. The contract test below checks
//! that everything the client and the fake use (paths, methods, query,
//! header, body and response fields, audio formats) exists in the official
//! OpenAPI spec, so neither can drift from it unnoticed. Passing here says
//! the app speaks the published contract, not that the live service
//! answers exactly so today.
//!
//! The tests marked `#[ignore]` need a PulseAudio server (`PULSE_SERVER`,
//! which `ci/virtual-mic.sh` exports); they record the default sink's
//! monitor with `parec` and look for the fake's 440 Hz tone in it.

use crate::support::elevenlabs_fake;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use elevenlabs_fake::{
    BUSY_KEY, FakeElevenLabs, GOOD_KEY, OTHER_VOICE_ID, QUOTA_KEY, RESTRICTED_KEY, VOICE_ID,
};
use serde_json::Value;
use tonnytray::integrations::elevenlabs::{
    API_KEY_HEADER, Client, ENDPOINTS, KeyStatus, PcmFormat, TtsError, TtsOptions,
};
use tonnytray::integrations::speech::{Speaker, SpeechConfig, SpeechEvent};

/// A key that looks real, to prove it never leaks into an error.
const SECRET_LOOKING_KEY: &str = "sk_0123456789abcdef_do_not_print";

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn client(fake: &FakeElevenLabs, key: &str) -> Client {
    Client::new(fake.url(), key).expect("client")
}

fn options(format: PcmFormat, speed: f32) -> TtsOptions {
    TtsOptions {
        output_format: format,
        speed,
        ..TtsOptions::default()
    }
}

/// Asserts `e` does not show `key`, in its message or its Debug form.
fn assert_no_key(e: &TtsError, key: &str) {
    let shown = format!("{e} | {e:?}");
    assert!(!shown.contains(key), "the key leaked: {shown}");
}

// ---------------------------------------------------------------- contract

/// The official spec: `ELEVENLABS_OPENAPI` (e.g. the whole published spec),
/// else the repository's fixture — the excerpt of it for the endpoints the
/// app uses (see `tests/fixtures/README.md`).
fn spec() -> Option<Value> {
    let candidates = [
        std::env::var("ELEVENLABS_OPENAPI").ok().map(PathBuf::from),
        Some(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/elevenlabs-openapi.json"),
        ),
    ];
    let Some(path) = candidates.into_iter().flatten().find(|p| p.is_file()) else {
        assert!(
            !under_ci(),
            "the ElevenLabs OpenAPI spec is missing under CI: put it at \
             app/tests/fixtures/elevenlabs-openapi.json or set ELEVENLABS_OPENAPI"
        );
        eprintln!("skipping: no ElevenLabs OpenAPI spec found (set ELEVENLABS_OPENAPI)");
        return None;
    };
    let text = std::fs::read_to_string(&path).expect("read the spec");
    Some(serde_json::from_str(&text).expect("the spec is JSON"))
}

/// Follows `$ref`s and a nullable `anyOf: [{$ref}, {type: null}]`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let mut node = spec;
        for part in r.trim_start_matches("#/").split('/') {
            node = &node[part];
        }
        return resolve(spec, node);
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array)
        && let Some(object) = options
            .iter()
            .find(|o| o.get("type") != Some(&Value::from("null")))
    {
        return resolve(spec, object);
    }
    schema
}

fn operation<'a>(spec: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &spec["paths"][path][method.to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {path} is not in the spec");
    op
}

fn has_parameter(op: &Value, location: &str, name: &str) -> bool {
    op["parameters"].as_array().into_iter().flatten().any(|p| {
        p["in"] == location
            && p["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

fn output_formats(spec: &Value) -> Vec<String> {
    let op = operation(spec, "POST", "/v1/text-to-speech/{voice_id}/stream");
    let param = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "output_format")
        .expect("output_format parameter");
    param["schema"]["enum"]
        .as_array()
        .expect("an enum of formats")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn response_schema<'a>(spec: &'a Value, path: &str) -> &'a Value {
    let op = operation(spec, "GET", path);
    resolve(
        spec,
        &op["responses"]["200"]["content"]["application/json"]["schema"],
    )
}

/// Checks `value` has every field `schema` requires, through objects and
/// arrays; returns the paths of missing fields.
fn missing_required(spec: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(spec, schema);
    let mut missing = Vec::new();
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, v) in values.iter().enumerate() {
            missing.extend(missing_required(spec, items, v, &format!("{at}[{i}]")));
        }
    }
    for field in schema["required"].as_array().into_iter().flatten() {
        let Some(name) = field.as_str() else { continue };
        match value.get(name) {
            None => missing.push(format!("{at}.{name}")),
            Some(v) => missing.extend(missing_required(
                spec,
                &schema["properties"][name],
                v,
                &format!("{at}.{name}"),
            )),
        }
    }
    missing
}

#[test]
fn contract_the_client_uses_only_what_the_spec_defines() {
    let Some(spec) = spec() else { return };
    for e in ENDPOINTS {
        let op = operation(&spec, e.method, e.path);
        assert!(
            has_parameter(op, "header", API_KEY_HEADER),
            "{} {}: no {API_KEY_HEADER} header in the spec",
            e.method,
            e.path
        );
        for q in e.query {
            assert!(
                has_parameter(op, "query", q),
                "{} {}: no query {q}",
                e.method,
                e.path
            );
        }
        if e.body.is_empty() {
            continue;
        }
        let body = resolve(
            &spec,
            &op["requestBody"]["content"]["application/json"]["schema"],
        );
        for field in e.body {
            assert!(
                body["properties"][field].is_object(),
                "{} {}: no body field {field}",
                e.method,
                e.path
            );
        }
        let settings = resolve(&spec, &body["properties"]["voice_settings"]);
        assert!(
            settings["properties"]["speed"].is_object(),
            "speed belongs in voice_settings"
        );
    }
    let formats = output_formats(&spec);
    for f in [PcmFormat::Hz16000, PcmFormat::Hz22050, PcmFormat::Hz24000] {
        assert!(
            formats.iter().any(|x| x == f.query_value()),
            "{} not in the spec",
            f.query_value()
        );
    }
    // Fields the client reads from answers.
    let voice = resolve(
        &spec,
        &response_schema(&spec, "/v1/voices")["properties"]["voices"]["items"],
    );
    for field in ["voice_id", "name", "category"] {
        assert!(voice["properties"][field].is_object(), "voice.{field}");
    }
    let model = resolve(&spec, &response_schema(&spec, "/v1/models")["items"]);
    for field in ["model_id", "name", "can_do_text_to_speech"] {
        assert!(model["properties"][field].is_object(), "model.{field}");
    }
}

#[test]
fn contract_the_fake_serves_only_what_the_spec_defines() {
    let Some(spec) = spec() else { return };
    for (method, path, query) in elevenlabs_fake::ROUTES {
        let op = operation(&spec, method, path);
        assert!(
            has_parameter(op, "header", API_KEY_HEADER),
            "{method} {path}"
        );
        for q in *query {
            assert!(
                has_parameter(op, "query", q),
                "{method} {path}: no query {q}"
            );
        }
    }
    let formats = output_formats(&spec);
    for f in elevenlabs_fake::FORMATS {
        assert!(
            formats.iter().any(|x| x == f),
            "the fake serves {f}, not in the spec"
        );
    }
    for (path, answer) in elevenlabs_fake::sample_answers() {
        let missing = missing_required(&spec, response_schema(&spec, path), &answer, path);
        assert!(
            missing.is_empty(),
            "the fake's {path} answer lacks {missing:?}"
        );
    }
}

// ---------------------------------------------------------------- client

#[test]
fn voices_are_listed_with_the_key_in_its_header() {
    let fake = FakeElevenLabs::start();
    let voices = client(&fake, GOOD_KEY).voices().expect("voices");
    let ids: Vec<&str> = voices.iter().map(|v| v.voice_id.as_str()).collect();
    assert_eq!(ids, [VOICE_ID, OTHER_VOICE_ID]);
    assert_eq!(voices[0].name, "Rachel");
    assert_eq!(voices[0].category.as_deref(), Some("premade"));
    let r = &fake.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/v1/voices"));
    assert_eq!(r.key, Some(GOOD_KEY));
    assert_eq!(r.header(API_KEY_HEADER), Some("<redacted>"));
}

#[test]
fn models_are_listed() {
    let fake = FakeElevenLabs::start();
    let models = client(&fake, GOOD_KEY).models().expect("models");
    let tts: Vec<&str> = models
        .iter()
        .filter(|m| m.can_do_text_to_speech)
        .map(|m| m.model_id.as_str())
        .collect();
    assert_eq!(tts, ["eleven_multilingual_v2", "eleven_flash_v2_5"]);
}

#[test]
fn key_check_tells_full_restricted_and_wrong_keys_apart() {
    let fake = FakeElevenLabs::start();
    assert_eq!(
        client(&fake, GOOD_KEY).check_key().expect("full"),
        KeyStatus::Full
    );
    assert_eq!(
        client(&fake, RESTRICTED_KEY)
            .check_key()
            .expect("restricted"),
        KeyStatus::Restricted
    );
    let e = client(&fake, SECRET_LOOKING_KEY)
        .check_key()
        .expect_err("wrong key");
    assert!(matches!(e, TtsError::BadKey), "{e:?}");
    assert_eq!(
        e.to_string(),
        "ElevenLabs rejected the API key: set a new one in Settings → Integrations"
    );
    assert_no_key(&e, SECRET_LOOKING_KEY);
    assert_eq!(fake.requests()[2].key, Some("<unknown>"));
}

#[test]
fn stream_yields_the_exact_tone_at_each_rate() {
    let fake = FakeElevenLabs::start();
    let c = client(&fake, GOOD_KEY);
    let text = "Turning on the kitchen lights.";
    for format in [PcmFormat::Hz16000, PcmFormat::Hz22050, PcmFormat::Hz24000] {
        let stream = c
            .stream(VOICE_ID, text, &options(format, 1.0))
            .expect("stream");
        assert_eq!(stream.sample_rate(), format.rate());
        let samples = stream.read_to_end().expect("audio");
        let rate = format.rate();
        assert_eq!(samples.len(), elevenlabs_fake::samples_for(text, 1.0, rate));
        let expected: Vec<i16> = (0..samples.len())
            .map(|i| elevenlabs_fake::tone_sample(i, rate))
            .collect();
        assert!(
            samples == expected,
            "{rate} Hz: the samples differ from the tone sent"
        );
    }
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    for (r, format) in requests.iter().zip(["pcm_16000", "pcm_22050", "pcm_24000"]) {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, format!("/v1/text-to-speech/{VOICE_ID}/stream"));
        assert_eq!(r.query_value("output_format"), Some(format));
        assert_eq!(r.key, Some(GOOD_KEY));
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{:?}",
            r.headers
        );
        let body = r.json();
        assert_eq!(body["text"], text);
        assert_eq!(body["model_id"], "eleven_multilingual_v2");
        assert!(
            body.get("voice_settings").is_none(),
            "speed 1.0 keeps the voice's settings: {body}"
        );
    }
}

#[test]
fn speed_travels_in_voice_settings() {
    let fake = FakeElevenLabs::start();
    let text = "A little faster, please.";
    let samples = client(&fake, GOOD_KEY)
        .stream(OTHER_VOICE_ID, text, &options(PcmFormat::Hz22050, 1.2))
        .expect("stream")
        .read_to_end()
        .expect("audio");
    let body = fake.requests()[0].json();
    let speed = body["voice_settings"]["speed"].as_f64().expect("a speed");
    assert!((speed - 1.2).abs() < 1e-6, "{body}");
    // The fake speaks faster too: fewer samples than at 1.0.
    assert_eq!(
        samples.len(),
        elevenlabs_fake::samples_for(text, speed, 22_050)
    );
    assert!(samples.len() < elevenlabs_fake::samples_for(text, 1.0, 22_050));
}

#[test]
fn audio_arrives_before_the_reply_is_complete() {
    let fake = FakeElevenLabs::start();
    fake.hold_streams();
    let text = "This reply is long enough to come in many pieces over the network.";
    let mut stream = client(&fake, GOOD_KEY)
        .stream(VOICE_ID, text, &options(PcmFormat::Hz22050, 1.0))
        .expect("stream");
    // The fake sends one 100 ms piece and then waits: reading it must not
    // wait for the rest (if it did, the read would time out and fail).
    let mut first = vec![0_i16; 22_050];
    let mut got = 0;
    while got < 2_205 {
        let n = stream.read(&mut first[got..]).expect("the first piece");
        assert!(n > 0, "the reply ended early");
        got += n;
    }
    assert_eq!(
        got, 2_205,
        "exactly the first 100 ms arrived while the fake held the rest"
    );
    fake.release_streams();
    let rest = stream.read_to_end().expect("the rest");
    assert_eq!(
        got + rest.len(),
        elevenlabs_fake::samples_for(text, 1.0, 22_050)
    );
}

#[test]
fn each_error_class_has_its_own_message_and_never_the_key() {
    let fake = FakeElevenLabs::start();
    let say = |key: &str, voice: &str, text: &str| {
        client(&fake, key)
            .stream(voice, text, &options(PcmFormat::Hz22050, 1.0))
            .expect_err("must fail")
    };

    let e = say(SECRET_LOOKING_KEY, VOICE_ID, "hi");
    assert!(matches!(e, TtsError::BadKey), "{e:?}");
    assert!(!e.is_retryable());
    assert_no_key(&e, SECRET_LOOKING_KEY);

    let e = say(QUOTA_KEY, VOICE_ID, "hi");
    assert!(matches!(e, TtsError::Quota), "{e:?}");
    assert!(e.to_string().contains("quota is used up"), "{e}");
    assert!(!e.is_retryable());
    assert_no_key(&e, QUOTA_KEY);

    let e = say(BUSY_KEY, VOICE_ID, "hi");
    assert!(matches!(e, TtsError::TooManyRequests), "{e:?}");
    assert!(e.to_string().contains("try again"), "{e}");
    assert!(e.is_retryable());
    assert_no_key(&e, BUSY_KEY);

    let e = say(GOOD_KEY, "no-such-voice", "hi");
    assert!(
        matches!(&e, TtsError::VoiceNotFound { voice_id } if voice_id == "no-such-voice"),
        "{e:?}"
    );
    assert!(e.to_string().contains("pick another voice"), "{e}");

    let e = say(
        GOOD_KEY,
        VOICE_ID,
        &"x".repeat(elevenlabs_fake::MAX_CHARS + 1),
    );
    assert!(
        matches!(&e, TtsError::Invalid { detail } if detail.contains("too long")),
        "{e:?}"
    );

    // A server that answers nothing useful: a wrong base path gives a 404.
    let e = Client::new(&format!("{}/not-the-api", fake.url()), GOOD_KEY)
        .expect("client")
        .voices()
        .expect_err("404");
    assert!(matches!(e, TtsError::Server { status: 404, .. }), "{e:?}");

    // Nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{closed}");
    let e = Client::new(&url, SECRET_LOOKING_KEY)
        .expect("client")
        .voices()
        .expect_err("nobody listens");
    assert!(matches!(e, TtsError::Network { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(e.to_string().contains(&url), "{e}");
    assert_no_key(&e, SECRET_LOOKING_KEY);
}

#[test]
fn the_fake_answers_validation_errors_as_the_spec_shapes_them() {
    // The client always sends `text`; a raw request checks the fake's 422
    // shape that the client's parser (unit-tested) relies on.
    let fake = FakeElevenLabs::start();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let url = format!(
        "{}/v1/text-to-speech/{VOICE_ID}/stream?output_format=pcm_22050",
        fake.url()
    );
    let mut resp = agent
        .post(&url)
        .header(API_KEY_HEADER, GOOD_KEY)
        .send_json(serde_json::json!({"model_id": "eleven_multilingual_v2"}))
        .expect("an answer");
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.body_mut().read_json().expect("json");
    assert_eq!(
        body["detail"][0]["loc"],
        serde_json::json!(["body", "text"])
    );
    assert_eq!(body["detail"][0]["type"], "missing");

    let mut resp = agent
        .get(&format!("{}/v1/voices", fake.url()))
        .call()
        .expect("an answer");
    assert_eq!(resp.status().as_u16(), 401, "no key header");
    let body: Value = resp.body_mut().read_json().expect("json");
    assert_eq!(body["detail"]["status"], "invalid_api_key");
}

// ---------------------------------------------------------------- speech thread

fn speech_config(fake: &FakeElevenLabs, key: &str) -> SpeechConfig {
    SpeechConfig {
        base_url: fake.url().to_owned(),
        api_key: tonnytray::secrets::Secret::new(key.to_owned()),
        model_id: "eleven_multilingual_v2".into(),
        volume: 1.0,
        speed: 1.0,
        output_format: PcmFormat::Hz22050,
    }
}

fn spawn_speaker(config: SpeechConfig) -> (Speaker, mpsc::Receiver<SpeechEvent>) {
    let (tx, rx) = mpsc::channel();
    let speaker = Speaker::spawn(config, move |e| {
        let _ = tx.send(e);
    })
    .expect("speech thread");
    (speaker, rx)
}

fn next_event(rx: &mpsc::Receiver<SpeechEvent>) -> SpeechEvent {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("a speech event")
}

#[test]
fn speaker_reports_service_errors_per_job_and_takes_new_settings() {
    // These fail before any audio device is opened, so no sound server is needed.
    let fake = FakeElevenLabs::start();
    let (speaker, rx) = spawn_speaker(speech_config(&fake, BUSY_KEY));
    speaker.say(1, "hello", VOICE_ID).expect("queued");
    match next_event(&rx) {
        SpeechEvent::Failed {
            job_id: 1,
            error,
            retryable: true,
        } => assert!(error.contains("busy"), "{error}"),
        other => panic!("expected job 1 to fail as busy: {other:?}"),
    }
    speaker.set_config(speech_config(&fake, QUOTA_KEY));
    speaker.say(2, "hello", VOICE_ID).expect("queued");
    match next_event(&rx) {
        SpeechEvent::Failed {
            job_id: 2,
            error,
            retryable: false,
        } => assert!(error.contains("quota"), "{error}"),
        other => panic!("expected job 2 to fail on quota: {other:?}"),
    }
    let keys: Vec<Option<&str>> = fake.requests().iter().map(|r| r.key).collect();
    assert_eq!(
        keys,
        [Some(BUSY_KEY), Some(QUOTA_KEY)],
        "the new key was used"
    );
}

// ---------------------------------------------------------------- real sound server

/// `PULSE_SERVER`, or `None` (skipped) outside CI.
fn pulse_server() -> Option<String> {
    match std::env::var("PULSE_SERVER") {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                !under_ci(),
                "PULSE_SERVER is not set under CI: the playback tests need the PulseAudio \
                 server that ci/virtual-mic.sh starts; run them through ci/check.sh"
            );
            eprintln!(
                "skipping: PULSE_SERVER is not set (source ci/virtual-mic.sh and start_virtual_mic DIR)"
            );
            None
        }
    }
}

/// Sound tests share one sink: run them one at a time, or one test would
/// hear the other's tone.
static SOUND: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn sound_lock() -> std::sync::MutexGuard<'static, ()> {
    SOUND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records the default sink's monitor as 16 kHz mono s16.
struct Recorder(Child);

const RECORD_RATE: u32 = 16_000;

impl Recorder {
    /// Starts `parec` and returns once audio flows (the null sink's monitor
    /// sends silence continuously), so nothing played afterwards is missed.
    fn start() -> Self {
        let mut child = Command::new("parec")
            .args([
                "-d",
                "@DEFAULT_MONITOR@",
                "--raw",
                "--format=s16le",
                "--channels=1",
                &format!("--rate={RECORD_RATE}"),
                "--latency-msec=20",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("parec runs (pulseaudio-utils)");
        let mut first = [0_u8; 2];
        child
            .stdout
            .as_mut()
            .expect("parec's output")
            .read_exact(&mut first)
            .expect("parec records");
        Self(child)
    }

    /// Stops recording; returns the samples.
    fn stop(mut self) -> Vec<i16> {
        let _ = self.0.kill();
        let mut bytes = Vec::new();
        let _ = self
            .0
            .stdout
            .take()
            .expect("parec's output")
            .read_to_end(&mut bytes);
        let _ = self.0.wait();
        bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

/// Power of `freq` in `samples` (Goertzel), normalised by length.
fn goertzel(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in samples {
        let s = f64::from(x) / 32_768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    #[allow(clippy::cast_precision_loss)]
    let n = samples.len().max(1) as f64;
    power / (n * n)
}

/// Samples louder than a quarter of the tone's peak: how much tone was heard.
fn loud_samples(samples: &[i16]) -> usize {
    samples
        .iter()
        .filter(|s| s.unsigned_abs() > elevenlabs_fake::TONE_PEAK.unsigned_abs() / 4)
        .count()
}

fn assert_tone(recording: &[i16]) {
    let tone = goertzel(recording, RECORD_RATE, elevenlabs_fake::TONE_HZ);
    let off = goertzel(recording, RECORD_RATE, 1_000.0);
    eprintln!(
        "recorded {} samples: power {tone:e} at 440 Hz, {off:e} at 1 kHz, {} loud samples",
        recording.len(),
        loud_samples(recording)
    );
    assert!(
        tone > 1e-4 && tone > 100.0 * off,
        "no 440 Hz tone in the recording: power {tone:e} at 440 Hz, {off:e} at 1 kHz, {} samples",
        recording.len()
    );
}

#[test]
#[ignore = "needs a PulseAudio server; run through ci/check.sh"]
fn player_plays_a_tone_on_the_default_device() {
    use tonnytray::audio::playback::{CutSignal, Player};
    if pulse_server().is_none() {
        return;
    }
    let _one_at_a_time = sound_lock();
    let rate = 22_050;
    let tone: Vec<i16> = (0..rate as usize)
        .map(|i| elevenlabs_fake::tone_sample(i, rate))
        .collect();
    let recorder = Recorder::start();
    let mut player = Player::open(CutSignal::new()).expect("open the default output");
    player.play(&tone, rate).expect("play");
    // `play` returns once the clip has been heard: closing the device right
    // away (as a one-shot beep does) must not clip its end.
    drop(player);
    std::thread::sleep(Duration::from_millis(300));
    let recording = recorder.stop();
    assert_tone(&recording);
    let heard = loud_samples(&recording);
    let full = loud_samples(
        &(0..RECORD_RATE as usize)
            .map(|i| elevenlabs_fake::tone_sample(i, RECORD_RATE))
            .collect::<Vec<_>>(),
    );
    assert!(
        heard * 100 >= full * 97,
        "only {heard} of {full} loud samples of a one-second tone were recorded"
    );
}

/// Loud samples in the fake's tone for `text`, at the recording's rate.
fn loud_samples_of_reply(text: &str) -> usize {
    let n = elevenlabs_fake::samples_for(text, 1.0, RECORD_RATE);
    loud_samples(
        &(0..n)
            .map(|i| elevenlabs_fake::tone_sample(i, RECORD_RATE))
            .collect::<Vec<_>>(),
    )
}

#[test]
#[ignore = "needs a PulseAudio server; run through ci/check.sh"]
fn speaker_plays_replies_whole_and_in_order() {
    if pulse_server().is_none() {
        return;
    }
    let _one_at_a_time = sound_lock();
    let fake = FakeElevenLabs::start();
    let (speaker, rx) = spawn_speaker(speech_config(&fake, GOOD_KEY));
    let texts = ["First reply, about one second.", "Second reply."];
    let recorder = Recorder::start();
    speaker.say(1, texts[0], VOICE_ID).expect("queued");
    speaker.say(2, texts[1], OTHER_VOICE_ID).expect("queued");
    let events: Vec<SpeechEvent> = (0..4).map(|_| next_event(&rx)).collect();
    let order: Vec<(&str, u64)> = events
        .iter()
        .map(|e| match e {
            SpeechEvent::Started { job_id } => ("started", *job_id),
            SpeechEvent::Finished { job_id, .. } => ("finished", *job_id),
            SpeechEvent::Failed { job_id, .. } => ("failed", *job_id),
            SpeechEvent::Cancelled { job_id } => ("cancelled", *job_id),
        })
        .collect();
    assert_eq!(
        order,
        [
            ("started", 1),
            ("finished", 1),
            ("started", 2),
            ("finished", 2)
        ],
        "{events:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let recording = recorder.stop();
    assert_tone(&recording);
    // Both replies were heard whole: as many loud samples as their tones hold.
    let full: usize = texts.iter().map(|t| loud_samples_of_reply(t)).sum();
    let heard = loud_samples(&recording);
    assert!(
        heard * 100 >= full * 97 && heard <= full * 103 / 100,
        "{heard} loud samples recorded, {full} in the two replies"
    );
    let voices: Vec<&str> = fake
        .requests()
        .iter()
        .map(|r| r.path.rsplit('/').nth(1).unwrap_or_default().to_owned())
        .map(|v| if v == VOICE_ID { "rachel" } else { "domi" })
        .collect();
    assert_eq!(voices, ["rachel", "domi"]);
}

#[test]
#[ignore = "needs a PulseAudio server; run through ci/check.sh"]
fn speaker_stop_cuts_the_reply_and_cancels_the_queue() {
    if pulse_server().is_none() {
        return;
    }
    let _one_at_a_time = sound_lock();
    let fake = FakeElevenLabs::start();
    let (speaker, rx) = spawn_speaker(speech_config(&fake, GOOD_KEY));

    // Stop in the middle of a reply the fake holds back: it and the reply
    // queued behind it are cancelled (4 is never even requested); a reply
    // queued afterwards plays.
    fake.hold_streams();
    let long = "A very long reply that would go on. ".repeat(5);
    speaker.say(3, &long, VOICE_ID).expect("queued");
    speaker.say(4, "Never heard.", VOICE_ID).expect("queued");
    assert_eq!(next_event(&rx), SpeechEvent::Started { job_id: 3 });
    speaker.stop();
    fake.release_streams();
    assert_eq!(next_event(&rx), SpeechEvent::Cancelled { job_id: 3 });
    assert_eq!(next_event(&rx), SpeechEvent::Cancelled { job_id: 4 });
    speaker.say(5, "After the stop.", VOICE_ID).expect("queued");
    assert_eq!(next_event(&rx), SpeechEvent::Started { job_id: 5 });
    assert!(matches!(
        next_event(&rx),
        SpeechEvent::Finished { job_id: 5, .. }
    ));
    assert_eq!(fake.requests().len(), 2, "job 4 was never requested");

    // Stop cuts a reply that is playing. Half a second into a ten-second
    // reply, stop, then listen for a second more: a cut leaves about half a
    // second of tone; without it the second of audio already queued for the
    // device would play on, giving about one and a half.
    let ten_seconds = "x".repeat(250); // 250 × 40 ms
    let recorder = Recorder::start();
    speaker.say(6, &ten_seconds, VOICE_ID).expect("queued");
    assert_eq!(next_event(&rx), SpeechEvent::Started { job_id: 6 });
    std::thread::sleep(Duration::from_millis(500));
    speaker.stop();
    assert_eq!(next_event(&rx), SpeechEvent::Cancelled { job_id: 6 });
    std::thread::sleep(Duration::from_secs(1));
    let heard = loud_samples(&recorder.stop());
    let one_second = loud_samples_of_reply(&"x".repeat(25)); // 25 × 40 ms
    eprintln!("after stop: {heard} loud samples recorded; one second of tone has {one_second}");
    assert!(heard > 0, "the reply never played");
    assert!(
        heard < one_second,
        "the stopped reply went on playing: {heard} loud samples recorded"
    );
}
