//! Fuzz targets: every parser of input that comes from outside the app, as
//! a function of bytes that must not panic, hang or break its promise
//! (named in each). Compiled for the tests and for `cargo fuzz` (which
//! builds with `--cfg fuzzing`), never into the app.
//!
//! - `app/fuzz/` is the cargo-fuzz crate: one libFuzzer binary per target,
//!   for campaigns on the nightly toolchain (docs/RELIABILITY.md has the
//!   commands and the recorded runs).
//! - `app/fuzz/corpus/<target>/` is the committed corpus: real examples,
//!   what campaigns kept, and every input that once crashed (named
//!   `crash-*`), so each crash found stays a regression test.
//! - The unit tests below replay that corpus and a few thousand mutations
//!   of it on the stable toolchain ([`mutate`]), which is what CI has:
//!   seconds per target.

#[cfg(test)]
mod mutate;

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock, mpsc};
use std::time::Duration;

use crate::asr::protocol::{self, ServerMessage};
use crate::asr::transcript::{NewWords, Transcript};
use crate::config::profiles::{CommandPattern, HoursWindow};
use crate::config::settings;
use crate::integrations::{elevenlabs, n8n};
use crate::runtime::socket;
use crate::secrets::Secret;
use crate::store::{Destination, Latencies, Query, Store, StoreError, Utterance, backup, export};

/// A target: its name (the corpus folder and the cargo-fuzz binary) and
/// its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: [Target; 10] = [
    ("asr_messages", asr_messages),
    ("wav", wav),
    ("settings", settings),
    ("profiles", profiles),
    ("n8n_reply", n8n_reply),
    ("elevenlabs", elevenlabs),
    ("export", export),
    ("socket_request", socket_request),
    ("store_file", store_file),
    ("backup", backup),
];

/// The token and key the HTTP targets hold; no message may show them.
const TOKEN: &str = "tok3n";

/// WhisperLiveKit's messages, one per line (a WebSocket text frame each),
/// through the parser and the transcript assembly the `asr` thread runs.
/// Promise: an error names the message in one bounded excerpt.
pub fn asr_messages(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut transcript = Transcript::default();
    let mut words = NewWords::default();
    for message in text.split('\n') {
        let _ = protocol::parse_clock(message);
        match protocol::parse(message) {
            Ok(ServerMessage::Update(update)) => {
                transcript.apply(&update);
                let _ = (transcript.display(), transcript.tentative());
                let _ = transcript.checkpoint_secs();
                let _ = words.take(&transcript.committed(), false);
            }
            Ok(ServerMessage::ReadyToStop) => {
                let _ = words.take(&transcript.committed(), true);
                transcript.carry_over();
            }
            Ok(_) => {}
            Err(e) => {
                // 120 characters quoted with `{:?}`, each escaped to at most
                // 10 (`\u{10ffff}`), and the parser's own words.
                let said = e.to_string();
                assert!(said.chars().count() <= 2_000, "{said}");
            }
        }
    }
}

/// A WAV file (`tonnytray transcribe`). Promise: decoding never makes more
/// samples than the file has bytes (a lying header cannot make it
/// allocate without end).
pub fn wav(data: &[u8]) {
    if let Ok(audio) = crate::audio::wav::decode(data, Path::new("fuzz.wav")) {
        assert!(audio.samples.len() <= data.len());
        let _ = audio.duration();
    }
}

/// The settings file. Promise: whatever was read, the app would save in a
/// form that reads back the same with no problem (nothing saved is lost
/// on the next start).
pub fn settings(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (read, problems) = settings::parse(text);
    for p in &problems {
        assert!(!p.key.is_empty());
    }
    let saved = toml::to_string_pretty(&read).expect("the settings read can be saved");
    let (again, problems) = settings::parse(&saved);
    assert!(problems.is_empty(), "{problems:?} in\n{saved}");
    assert_eq!(again, read, "saved as\n{saved}");
}

/// A profile's command pattern or hours window (first line), and a spoken
/// text to match (the rest).
pub fn profiles(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (rule, spoken) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(pattern) = CommandPattern::parse(rule) {
        let _ = pattern.matches(spoken);
    }
    if let Ok(window) = HoursWindow::parse(rule) {
        let minute = data.first().copied().unwrap_or(0);
        let time = jiff::civil::Time::new(
            i8::try_from(minute % 24).unwrap_or(0),
            i8::try_from(minute % 60).unwrap_or(0),
            0,
            0,
        )
        .unwrap_or_default();
        let _ = window.contains(time);
    }
}

fn webhook() -> &'static n8n::Webhook {
    static HOOK: OnceLock<n8n::Webhook> = OnceLock::new();
    HOOK.get_or_init(|| {
        n8n::Webhook::new(
            "http://127.0.0.1:9/webhook/fuzz",
            true,
            Some(Secret::new(TOKEN.into())),
            Duration::from_secs(1),
        )
        .expect("a loopback URL")
    })
}

/// An n8n webhook's answer body. Promise: the token never shows in what is
/// kept or said (servers echo headers back).
pub fn n8n_reply(data: &[u8]) {
    let hook = webhook();
    match hook.reply(data) {
        Ok(reply) => {
            for said in [&reply.text, &reply.note].into_iter().flatten() {
                assert!(!said.contains(TOKEN), "{said}");
            }
        }
        Err(e) => assert!(!e.to_string().contains(TOKEN), "{e}"),
    }
    let detail = hook.detail(data);
    assert!(!detail.contains(TOKEN), "{detail}");
}

/// Hands out `data` in reads of the sizes its own bytes pick, as a network
/// stream would.
struct Chunks {
    data: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = &self.data[self.at..];
        let want = usize::from(left.first().copied().unwrap_or(1) % 7) + 1;
        let n = want.min(left.len()).min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        self.at += n;
        Ok(n)
    }
}

/// An ElevenLabs answer: two bytes of HTTP status, then the body, read as
/// an error answer, as the voices and models lists, and as streamed PCM.
/// Promises: the key never shows in an error; the stream yields exactly
/// the body's whole little-endian samples, however the reads split them.
pub fn elevenlabs(data: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Voices {
        #[allow(dead_code)] // Parsed, as the client does.
        voices: Vec<elevenlabs::Voice>,
    }
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
        _ => (500, data),
    };
    let text = String::from_utf8_lossy(body);
    let e = elevenlabs::error_from_answer(status, &text, Some("voice"), TOKEN);
    assert!(!e.to_string().contains(TOKEN), "{e}");
    let _ = serde_json::from_slice::<Voices>(body);
    let _ = serde_json::from_slice::<Vec<elevenlabs::Model>>(body);

    let stream = elevenlabs::PcmStream::new(
        Box::new(Chunks {
            data: body.to_vec(),
            at: 0,
        }),
        22_050,
        elevenlabs::ErrorContext {
            url: "http://127.0.0.1:9".into(),
            key: TOKEN.into(),
        },
    );
    let samples = stream
        .read_to_end()
        .expect("an in-memory stream cannot break");
    let expected: Vec<i16> = body
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect();
    assert_eq!(samples, expected);
}

/// An export file (`tonnytray import`).
pub fn export(data: &[u8]) {
    if let Err(e) = export::read_export(data, Path::new("fuzz.json")) {
        assert!(matches!(e, StoreError::Damaged { .. }), "{e}");
    }
}

/// One request line on the instance socket, as the desktop app answers it
/// (its core and store are not running here, so nothing is carried out).
/// Promise: the answer is one line (the protocol is one line each way).
pub fn socket_request(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    let line = line.split('\n').next().unwrap_or_default().trim();
    let (inbox, _) = mpsc::sync_channel(1);
    let peers = socket::Peers {
        to_window: Arc::new(|_| {}),
        inbox,
        snapshots: OnceLock::new(),
        store: OnceLock::new(),
    };
    let reply = socket::reply(line, &peers);
    assert!(!reply.contains('\n'), "{reply:?}");
}

/// A folder of its own for one run of a target, removed after. (tempfile
/// is only a dev-dependency, and cargo-fuzz builds the library without
/// those.)
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let dir = std::env::temp_dir()
                .join(format!("tonnytray-fuzz-{}-{n}-{nanos}", std::process::id()));
            // A new folder of our own, never one that was already there
            // (or a link someone put in its place).
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&dir) {
                Ok(()) => return Self(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => panic!("a scratch folder in {}: {e}", dir.display()),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads everything a store holds, as the app and the CLI would.
fn read_all(store: &Store) -> Result<u64, StoreError> {
    let all = store.search(&Query::default())?;
    for u in &all {
        let _ = store.utterance(u.id)?;
    }
    store.count()
}

/// A history store file as found on disk (damaged, foreign, cut short).
/// Promise: opening and reading it fails with an error, never a panic.
pub fn store_file(data: &[u8]) {
    let dir = Scratch::new();
    let path = dir.path().join("history.redb");
    std::fs::write(&path, data).expect("write");
    if let Ok(store) = Store::open(&path) {
        let _ = read_all(&store);
    }
}

/// A backup file restored over a store holding one utterance. Promise: a
/// backup that is refused leaves the current history as it was; one that
/// is taken keeps the old history in a safety backup.
pub fn backup(data: &[u8]) {
    let dir = Scratch::new();
    let store_path = dir.path().join("history.redb");
    let backups = dir.path().join("backups");
    {
        let store = Store::open(&store_path).expect("a new store");
        store
            .add_utterance(&Utterance {
                id: 1_000,
                profile: crate::store::records::DEFAULT_PROFILE.into(),
                text: "kept words".into(),
                favourite: false,
                duration_ms: 1_000,
                latency: Latencies::default(),
                went: Destination::Typed,
            })
            .expect("add");
    }
    let from = dir.path().join("tonnytray-20260101T000000Z.redb.gz");
    std::fs::write(&from, data).expect("write");
    match backup::restore(&store_path, &from, &backups) {
        Ok(restored) => {
            let store = Store::open(&store_path).expect("the restored store opens");
            assert_eq!(read_all(&store).ok(), Some(restored.utterances));
            let safety = restored.safety.expect("a safety backup of the old store");
            assert!(safety.exists());
        }
        Err(_) => {
            let store = Store::open(&store_path).expect("the old store still opens");
            let kept = store.utterance(1_000).expect("read");
            assert_eq!(kept.map(|u| u.text).as_deref(), Some("kept words"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TARGETS;
    use super::mutate::smoke;

    fn target(name: &str) -> fn(&[u8]) {
        TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .expect("a target")
    }

    macro_rules! smoke_tests {
        ($($name:ident: $iterations:expr),* $(,)?) => {$(
            #[test]
            fn $name() {
                smoke(stringify!($name), target(stringify!($name)), $iterations);
            }
        )*};
    }

    // Iterations per target: a few seconds each in a debug build.
    smoke_tests! {
        asr_messages: 20_000,
        wav: 100_000,
        settings: 5_000,
        profiles: 40_000,
        n8n_reply: 100_000,
        elevenlabs: 50_000,
        export: 100_000,
        socket_request: 100_000,
        store_file: 3_000,
        backup: 300,
    }

    /// Writes the corpus seeds that real code makes (a settings file with
    /// every section, WAV files of each sample format, an export, a store
    /// file and its backup). Run once by hand when their formats change:
    /// `cargo test -p tonnytray --lib -- --ignored write_generated_seeds`.
    #[test]
    #[ignore = "writes into app/fuzz/corpus"]
    fn write_generated_seeds() {
        use crate::config::profiles::{Profile, Role};
        use crate::store::{Destination, Latencies, Store, Utterance};
        let dir = |name: &str| {
            let d = super::mutate::corpus_dir(name);
            std::fs::create_dir_all(&d).expect("corpus dir");
            d
        };
        let s = crate::config::settings::Settings {
            profiles: vec![
                Profile::new("Parent", Role::Admin),
                Profile::new("Kid", Role::Kid),
            ],
            active_profile: "Kid".into(),
            ..Default::default()
        };
        std::fs::write(
            dir("settings").join("generated-full.toml"),
            toml::to_string_pretty(&s).expect("toml"),
        )
        .expect("write");

        let wavs = dir("wav");
        for (name, bits, format, channels) in [
            ("s16-mono", 16, hound::SampleFormat::Int, 1),
            ("u8-stereo", 8, hound::SampleFormat::Int, 2),
            ("s24-mono", 24, hound::SampleFormat::Int, 1),
            ("f32-mono", 32, hound::SampleFormat::Float, 1),
        ] {
            let spec = hound::WavSpec {
                channels,
                sample_rate: 16_000,
                bits_per_sample: bits,
                sample_format: format,
            };
            let path = wavs.join(format!("generated-{name}.wav"));
            let mut w = hound::WavWriter::create(&path, spec).expect("wav");
            for i in 0..32_i32 {
                for _ in 0..channels {
                    match format {
                        hound::SampleFormat::Float => w.write_sample(i as f32 / 32.0).expect("s"),
                        hound::SampleFormat::Int if bits == 8 => {
                            w.write_sample(i8::try_from(i * 3).unwrap_or(0)).expect("s");
                        }
                        hound::SampleFormat::Int => w.write_sample(i * 1_000).expect("s"),
                    }
                }
            }
            w.finalize().expect("finalize");
        }

        let scratch = super::Scratch::new();
        let db = scratch.path().join("history.redb");
        {
            let store = Store::open(&db).expect("store");
            for (id, text) in [
                (1_000_u64, "Please add apples"),
                (2_000, "Computer, lights on"),
            ] {
                store
                    .add_utterance(&Utterance {
                        id,
                        profile: "Kid".into(),
                        text: text.into(),
                        favourite: id == 2_000,
                        duration_ms: 1_200,
                        latency: Latencies::default(),
                        went: Destination::Typed,
                    })
                    .expect("add");
            }
            crate::store::export::export(&store, &dir("export").join("generated.json"))
                .expect("export");
            let made = crate::store::backup::backup(&store, scratch.path()).expect("backup");
            std::fs::copy(made, dir("backup").join("generated.redb.gz")).expect("copy");
        }
        std::fs::copy(&db, dir("store_file").join("generated.redb")).expect("copy");
    }

    #[test]
    fn every_target_has_a_smoke_test_and_a_corpus() {
        for (name, _) in TARGETS {
            let dir = super::mutate::corpus_dir(name);
            let files = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .count();
            assert!(files > 0, "{} is empty", dir.display());
        }
    }
}
