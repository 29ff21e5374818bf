//! Helpers shared by the integration tests: the binary, spoken test audio
//! (espeak-ng + sox), word error rate, and the real peers' addresses.

pub mod peers;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `tonnytray` binary under test: this build's, or
/// `TONNYTRAY_TEST_APP_BIN` (the soak benchmark runs the release build; the
/// tests' own build has an unoptimised app crate).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("TONNYTRAY_TEST_APP_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tonnytray").to_owned())
    })
}

/// The real WhisperLiveKit server that `ci/check.sh` starts.
pub fn server_url() -> String {
    std::env::var("TONNYTRAY_TEST_SERVER_URL").expect(
        "TONNYTRAY_TEST_SERVER_URL is not set: end-to-end tests need the real speech \
         server; run them through ci/check.sh, which starts it",
    )
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Speaks `text` with espeak-ng `voice` into a WAV; with `rate`/`channels`,
/// converts it with sox (espeak-ng itself writes 22.05 kHz mono).
pub fn speak(
    dir: &Path,
    name: &str,
    voice: &str,
    text: &str,
    format: Option<(u32, u16)>,
) -> PathBuf {
    let raw = dir.join(format!("{name}-espeak.wav"));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "140", "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng runs (installed by scripts/install-deps.sh)");
    assert!(status.success(), "espeak-ng failed");
    let Some((rate, channels)) = format else {
        return raw;
    };
    let out = dir.join(format!("{name}.wav"));
    let status = Command::new("sox")
        .arg(&raw)
        .args(["-r", &rate.to_string(), "-c", &channels.to_string()])
        .arg(&out)
        .status()
        .expect("sox runs");
    assert!(status.success(), "sox failed");
    out
}

/// Words of `text`, lower case, without punctuation, with number words as digits.
pub fn normalise(text: &str) -> Vec<String> {
    const NUMBERS: [(&str, &str); 21] = [
        ("zero", "0"),
        ("one", "1"),
        ("two", "2"),
        ("three", "3"),
        ("four", "4"),
        ("five", "5"),
        ("six", "6"),
        ("seven", "7"),
        ("eight", "8"),
        ("nine", "9"),
        ("ten", "10"),
        ("eleven", "11"),
        ("twelve", "12"),
        ("thirteen", "13"),
        ("fourteen", "14"),
        ("fifteen", "15"),
        ("sixteen", "16"),
        ("seventeen", "17"),
        ("eighteen", "18"),
        ("nineteen", "19"),
        ("twenty", "20"),
    ];
    text.split(|c: char| c.is_whitespace() || c == '-')
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| {
            NUMBERS
                .iter()
                .find(|(word, _)| *word == w)
                .map_or(w, |(_, digit)| (*digit).to_owned())
        })
        .collect()
}

/// Word error rate of `hypothesis` against `reference`, after [`normalise`].
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = normalise(reference);
    let h = normalise(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len() as f64
}

/// Fails the test when a sentence of `said` is missing from `heard`: more
/// than half of the words only that sentence has must be there. A misheard
/// word ("timer" as "4.10", which tiny.en does when it hears a burst of
/// re-sent audio) passes; a lost sentence or half of one does not.
pub fn assert_every_sentence_heard(said: &str, heard: &str) {
    let sentences: Vec<Vec<String>> = said
        .split_inclusive(['.', '?', '!'])
        .map(normalise)
        .filter(|words| !words.is_empty())
        .collect();
    let heard_words = normalise(heard);
    for (i, sentence) in sentences.iter().enumerate() {
        let own: Vec<&String> = sentence
            .iter()
            .filter(|w| {
                sentences
                    .iter()
                    .enumerate()
                    .all(|(j, other)| j == i || !other.contains(w))
            })
            .collect();
        let found = own.iter().filter(|w| heard_words.contains(w)).count();
        assert!(
            found * 2 > own.len(),
            "the sentence {:?} was lost: only {found} of its words {own:?} were heard in {heard:?}",
            sentence.join(" ")
        );
    }
}

/// Fails the test unless `hypothesis` is within `max` word error rate.
pub fn assert_wer(reference: &str, hypothesis: &str, max: f64) {
    let rate = wer(reference, hypothesis);
    assert!(
        rate <= max,
        "word error rate {:.1} % > {:.1} %\n  said:  {reference}\n  heard: {hypothesis}",
        rate * 100.0,
        max * 100.0
    );
    eprintln!("WER {:.1} %: {hypothesis}", rate * 100.0);
}

#[test]
fn a_misheard_word_is_no_lost_sentence() {
    assert_every_sentence_heard(
        "Close the garage door. Turn on the lights and set a timer for ten minutes.",
        "Close the garage door. Turn on the lights and set a 4.10 minutes.",
    );
}

#[test]
#[should_panic(expected = "was lost")]
fn a_lost_sentence_is_found() {
    assert_every_sentence_heard(
        "Close the garage door. Turn on the lights and set a timer for ten minutes.",
        "Close the garage door. Turn on the minutes.",
    );
}
