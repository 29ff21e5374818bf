//! The bytes inside the store's tables, and the types they decode to.
//!
//! Every value is one **encoding version byte** followed by a body in
//! [postcard](https://postcard.jamesmunns.com/wire-format) (varint integers,
//! length-prefixed UTF-8 strings, fields in declaration order). Version 1:
//!
//! - utterance: `profile: str, text: str, favourite: bool, duration_ms: u32,
//!   final_text_ms: Option<u32>, typing_ms: Option<u32>, command_ms:
//!   Option<u32>, went: Destination` where `Destination` is a variant index
//!   (0 typed, 1 n8n, 2 nowhere) and, for 2, a `why: str`. The key is the id:
//!   microseconds since the Unix epoch when the utterance finished.
//! - daily statistics: `count, words, audio_ms, final_text_ms_sum,
//!   final_text_n, typing_ms_sum, typing_n, command_ms_sum, command_n` (all
//!   u64). Key: (days since the epoch in UTC, profile).
//! - activity entry: `kind: str, message: str`. Key: µs since the epoch.
//!
//! Profile text and transcript come first so that search reads only the
//! head of each value. A change to any encoding gets a new version byte and a
//! decoder for the old one; the migrations crate re-encodes if it must.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The encoding this build writes.
pub const ENCODING: u8 = 1;

/// A value that could not be decoded: names what and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {key} cannot be read: {why}")]
pub struct DecodeError {
    /// The kind of record.
    pub what: &'static str,
    /// Its key, as text.
    pub key: String,
    /// What is wrong.
    pub why: String,
}

pub use crate::config::profiles::DEFAULT_PROFILE;

/// Where an utterance's words went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Typed into the focused window.
    Typed,
    /// Sent to the n8n webhook as a command.
    N8n,
    /// Nowhere, and why (typing off, typing failed, …).
    Nowhere {
        /// Why not.
        why: String,
    },
}

impl Destination {
    /// A short phrase for lists.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Typed => "typed".into(),
            Self::N8n => "sent to n8n".into(),
            Self::Nowhere { why } => format!("not typed: {why}"),
        }
    }
}

/// How long each stage took, where measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Latencies {
    /// End of speech (source stopped) → final text from the server.
    pub final_text_ms: Option<u32>,
    /// Final text → typed into the window.
    pub typing_ms: Option<u32>,
    /// Final text → reply from the command webhook.
    pub command_ms: Option<u32>,
    /// Reply → first sound of its spoken version. Stored as a trailing
    /// extension after the version-1 body (see [`encode_utterance`]).
    #[serde(default)]
    pub speech_ms: Option<u32>,
}

impl Latencies {
    /// "text 420 ms · n8n 90 ms · speech 1200 ms", or `None` when nothing
    /// was measured.
    #[must_use]
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = [
            ("text", self.final_text_ms),
            ("typing", self.typing_ms),
            ("n8n", self.command_ms),
            ("speech", self.speech_ms),
        ]
        .into_iter()
        .filter_map(|(name, ms)| ms.map(|ms| format!("{name} {ms} ms")))
        .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

/// The version-1 encoding of [`Latencies`] (without the extensions).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct LatenciesV1 {
    final_text_ms: Option<u32>,
    typing_ms: Option<u32>,
    command_ms: Option<u32>,
}

/// One finished utterance, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utterance {
    /// Microseconds since the Unix epoch when it finished; unique.
    pub id: u64,
    /// Whose it is.
    pub profile: String,
    /// Every committed word.
    pub text: String,
    /// Marked by the user.
    pub favourite: bool,
    /// Length of the audio.
    pub duration_ms: u32,
    /// Stage latencies.
    pub latency: Latencies,
    /// Where the words went.
    pub went: Destination,
}

impl Utterance {
    /// When it finished.
    #[must_use]
    pub fn at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.id)
    }

    /// Its words, counted at spaces.
    #[must_use]
    pub fn words(&self) -> u64 {
        self.text.split_whitespace().count() as u64
    }
}

/// Microseconds since the epoch of `t` (0 before the epoch).
#[must_use]
pub fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The local (system time zone) time of an id, in `strftime` `format`.
#[must_use]
pub fn local_time(id: u64, format: &str) -> String {
    i64::try_from(id)
        .ok()
        .and_then(|us| jiff::Timestamp::from_microsecond(us).ok())
        .map(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime(format)
                .to_string()
        })
        .unwrap_or_default()
}

/// The local date or time `s` as µs since the epoch; `end` moves a plain
/// date to the start of the next day (an inclusive "until").
fn parse_date(s: &str, end: bool) -> Result<u64, String> {
    let tz = jiff::tz::TimeZone::system();
    let ts = if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        ts
    } else {
        let date: jiff::civil::Date = s.parse().map_err(|e| {
            format!("{s:?} is not a date: use YYYY-MM-DD or an RFC 3339 time ({e})")
        })?;
        let date = if end {
            date.tomorrow().map_err(|e| e.to_string())?
        } else {
            date
        };
        date.to_zoned_datetime(tz)
            .map_err(|e| e.to_string())?
            .timestamp()
    };
    u64::try_from(ts.as_microsecond()).map_err(|_| format!("{s:?} is before 1970"))
}

/// The ids (µs since the epoch) from the start of the day `since` to the
/// end of the day `until`, each a local date (YYYY-MM-DD) or an RFC 3339
/// time; either may be absent.
///
/// # Errors
/// Names the value that is neither, or is before 1970.
pub fn id_range(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<u64>, Option<u64>), String> {
    Ok((
        since.map(|s| parse_date(s, false)).transpose()?,
        until.map(|s| parse_date(s, true)).transpose()?,
    ))
}

/// Days since the epoch (UTC) of an id or activity key.
#[must_use]
pub fn day_of(micros: u64) -> u32 {
    u32::try_from(micros / 86_400_000_000).unwrap_or(u32::MAX)
}

#[derive(Serialize)]
struct UtteranceBody<'a> {
    profile: &'a str,
    text: &'a str,
    favourite: bool,
    duration_ms: u32,
    latency: LatenciesV1,
    went: &'a Destination,
}

#[derive(Deserialize)]
struct UtteranceOwned {
    profile: String,
    text: String,
    favourite: bool,
    duration_ms: u32,
    latency: LatenciesV1,
    went: Destination,
}

/// The first fields of an utterance, borrowed: what search looks at.
#[derive(Debug, Deserialize)]
pub struct Head<'a> {
    /// Whose it is.
    pub profile: &'a str,
    /// The words.
    pub text: &'a str,
    /// Marked by the user.
    pub favourite: bool,
}

pub(crate) fn with_version(body: Result<Vec<u8>, postcard::Error>) -> Vec<u8> {
    // Encoding plain structs to a Vec cannot fail.
    let mut out = vec![ENCODING];
    out.extend(body.unwrap_or_default());
    out
}

pub(crate) fn body<'a>(
    what: &'static str,
    key: String,
    bytes: &'a [u8],
) -> Result<&'a [u8], DecodeError> {
    match bytes.split_first() {
        Some((&ENCODING, rest)) => Ok(rest),
        Some((v, _)) => Err(DecodeError {
            what,
            key,
            why: format!("encoding version {v} is unknown to this TonnyTray"),
        }),
        None => Err(DecodeError {
            what,
            key,
            why: "the value is empty".into(),
        }),
    }
}

pub(crate) fn bad(what: &'static str, key: String, e: &postcard::Error) -> DecodeError {
    DecodeError {
        what,
        key,
        why: e.to_string(),
    }
}

/// Encodes an utterance's value (the id is the key).
///
/// Fields added after version 1 follow its body as trailing extensions
/// (today: `speech_ms: Option<u32>`, written only when set). Older builds
/// ignore bytes after the body, and a body without them decodes the
/// extensions as absent, so no version bump or migration is needed.
#[must_use]
pub fn encode_utterance(u: &Utterance) -> Vec<u8> {
    let mut out = with_version(postcard::to_stdvec(&UtteranceBody {
        profile: &u.profile,
        text: &u.text,
        favourite: u.favourite,
        duration_ms: u.duration_ms,
        latency: LatenciesV1 {
            final_text_ms: u.latency.final_text_ms,
            typing_ms: u.latency.typing_ms,
            command_ms: u.latency.command_ms,
        },
        went: &u.went,
    }));
    if u.latency.speech_ms.is_some() {
        out.extend(postcard::to_stdvec(&u.latency.speech_ms).unwrap_or_default());
    }
    out
}

/// Decodes an utterance stored under `id`.
///
/// # Errors
/// When the bytes are not a known encoding.
pub fn decode_utterance(id: u64, bytes: &[u8]) -> Result<Utterance, DecodeError> {
    let body = body("utterance", id.to_string(), bytes)?;
    let (o, rest): (UtteranceOwned, _) =
        postcard::take_from_bytes(body).map_err(|e| bad("utterance", id.to_string(), &e))?;
    let speech_ms = if rest.is_empty() {
        None
    } else {
        postcard::take_from_bytes::<Option<u32>>(rest)
            .map_err(|e| bad("utterance", id.to_string(), &e))?
            .0
    };
    Ok(Utterance {
        id,
        profile: o.profile,
        text: o.text,
        favourite: o.favourite,
        duration_ms: o.duration_ms,
        latency: Latencies {
            final_text_ms: o.latency.final_text_ms,
            typing_ms: o.latency.typing_ms,
            command_ms: o.latency.command_ms,
            speech_ms,
        },
        went: o.went,
    })
}

/// Decodes only the head of an utterance (no allocation).
///
/// # Errors
/// When the bytes are not a known encoding.
pub fn decode_head(id: u64, bytes: &[u8]) -> Result<Head<'_>, DecodeError> {
    let body = body("utterance", id.to_string(), bytes)?;
    postcard::take_from_bytes(body)
        .map(|(h, _)| h)
        .map_err(|e| bad("utterance", id.to_string(), &e))
}

/// One day's statistics for one profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayStats {
    /// Utterances.
    pub count: u64,
    /// Words in them.
    pub words: u64,
    /// Audio length.
    pub audio_ms: u64,
    /// Sum of end-of-speech → final text latencies.
    pub final_text_ms_sum: u64,
    /// How many of those were measured.
    pub final_text_n: u64,
    /// Sum of typing latencies.
    pub typing_ms_sum: u64,
    /// How many were measured.
    pub typing_n: u64,
    /// Sum of command latencies.
    pub command_ms_sum: u64,
    /// How many were measured.
    pub command_n: u64,
}

impl DayStats {
    /// Counts one utterance in.
    pub fn add(&mut self, u: &Utterance) {
        self.count += 1;
        self.words += u.words();
        self.audio_ms += u64::from(u.duration_ms);
        for (ms, sum, n) in [
            (
                u.latency.final_text_ms,
                &mut self.final_text_ms_sum,
                &mut self.final_text_n,
            ),
            (
                u.latency.typing_ms,
                &mut self.typing_ms_sum,
                &mut self.typing_n,
            ),
            (
                u.latency.command_ms,
                &mut self.command_ms_sum,
                &mut self.command_n,
            ),
        ] {
            if let Some(ms) = ms {
                *sum += u64::from(ms);
                *n += 1;
            }
        }
    }

    /// Mean end-of-speech → final text latency, in ms.
    #[must_use]
    pub fn mean_final_text_ms(&self) -> Option<u64> {
        (self.final_text_n > 0).then(|| self.final_text_ms_sum / self.final_text_n)
    }
}

/// Encodes daily statistics.
#[must_use]
pub fn encode_stats(s: &DayStats) -> Vec<u8> {
    with_version(postcard::to_stdvec(s))
}

/// Decodes daily statistics.
///
/// # Errors
/// When the bytes are not a known encoding.
pub fn decode_stats(day: u32, profile: &str, bytes: &[u8]) -> Result<DayStats, DecodeError> {
    let key = format!("day {day} of {profile}");
    let b = body("statistics", key.clone(), bytes)?;
    postcard::take_from_bytes(b)
        .map(|(s, _)| s)
        .map_err(|e| bad("statistics", key, &e))
}

/// One line of the activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// µs since the epoch; unique.
    pub at: u64,
    /// A short kind: `start`, `backup`, `restore`, `store`, …
    pub kind: String,
    /// What happened.
    pub message: String,
}

#[derive(Serialize)]
struct ActivityBody<'a> {
    kind: &'a str,
    message: &'a str,
}

#[derive(Deserialize)]
struct ActivityOwned {
    kind: String,
    message: String,
}

/// Encodes an activity entry's value.
#[must_use]
pub fn encode_activity(a: &Activity) -> Vec<u8> {
    with_version(postcard::to_stdvec(&ActivityBody {
        kind: &a.kind,
        message: &a.message,
    }))
}

/// Decodes an activity entry.
///
/// # Errors
/// When the bytes are not a known encoding.
pub fn decode_activity(at: u64, bytes: &[u8]) -> Result<Activity, DecodeError> {
    let b = body("activity entry", at.to_string(), bytes)?;
    let (o, _): (ActivityOwned, _) =
        postcard::take_from_bytes(b).map_err(|e| bad("activity entry", at.to_string(), &e))?;
    Ok(Activity {
        at,
        kind: o.kind,
        message: o.message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Utterance {
        Utterance {
            id: 1_764_000_000_000_000,
            profile: "kids".into(),
            text: "Turn on the lights — s'il vous plaît".into(),
            favourite: true,
            duration_ms: 2_500,
            latency: Latencies {
                final_text_ms: Some(420),
                typing_ms: None,
                command_ms: Some(90),
                speech_ms: Some(1_200),
            },
            went: Destination::Nowhere {
                why: "typing off".into(),
            },
        }
    }

    #[test]
    fn utterances_round_trip_and_the_head_reads_alone() {
        let u = sample();
        let bytes = encode_utterance(&u);
        assert_eq!(bytes[0], ENCODING);
        assert_eq!(decode_utterance(u.id, &bytes), Ok(u.clone()));
        let head = decode_head(u.id, &bytes).expect("head");
        assert_eq!(
            (head.profile, head.text, head.favourite),
            ("kids", u.text.as_str(), true)
        );
    }

    #[test]
    fn the_version_1_layout_is_stable() {
        // The documented layout, byte for byte: a change here needs a new
        // encoding version, not an edit of this test.
        let u = Utterance {
            id: 7,
            profile: "a".into(),
            text: "hi".into(),
            favourite: false,
            duration_ms: 300,
            latency: Latencies {
                final_text_ms: Some(5),
                typing_ms: None,
                command_ms: None,
                speech_ms: None,
            },
            went: Destination::Typed,
        };
        assert_eq!(
            encode_utterance(&u),
            [1, 1, b'a', 2, b'h', b'i', 0, 0xac, 0x02, 1, 5, 0, 0, 0]
        );
    }

    #[test]
    fn unknown_versions_and_garbage_are_named() {
        let err = decode_utterance(9, &[7, 1, 2]).expect_err("version");
        assert_eq!(
            err.to_string(),
            "utterance 9 cannot be read: encoding version 7 is unknown to this TonnyTray"
        );
        let err = decode_utterance(9, &[]).expect_err("empty");
        assert!(err.to_string().contains("the value is empty"), "{err}");
        let err = decode_utterance(9, &[1, 200]).expect_err("truncated");
        assert!(
            err.to_string().starts_with("utterance 9 cannot be read"),
            "{err}"
        );
    }

    #[test]
    fn dates_are_local_days_and_until_includes_the_day() {
        let a = parse_date("2026-11-29", false).expect("since");
        let b = parse_date("2026-11-29", true).expect("until");
        assert_eq!(b - a, 86_400_000_000);
        assert_eq!(
            parse_date("2026-11-29T10:00:00Z", false).expect("rfc"),
            1_795_946_400_000_000
        );
        let err = parse_date("yesterday", false).expect_err("bad");
        assert!(err.contains("is not a date"), "{err}");
    }

    #[test]
    fn id_ranges_take_either_end_and_name_a_bad_one() {
        assert_eq!(id_range(None, None), Ok((None, None)));
        let (since, until) = id_range(Some("2026-11-29"), Some("2026-11-29")).expect("range");
        assert_eq!(
            until.expect("until") - since.expect("since"),
            86_400_000_000
        );
        let err = id_range(None, Some("last tuesday")).expect_err("bad");
        assert!(err.contains("\"last tuesday\" is not a date"), "{err}");
    }

    #[test]
    fn statistics_add_up_and_round_trip() {
        let mut s = DayStats::default();
        s.add(&sample());
        s.add(&sample());
        assert_eq!((s.count, s.words, s.audio_ms), (2, 16, 5_000));
        assert_eq!(s.mean_final_text_ms(), Some(420));
        assert_eq!((s.typing_n, s.command_n), (0, 2));
        assert_eq!(decode_stats(3, "x", &encode_stats(&s)), Ok(s));
        let a = Activity {
            at: 5,
            kind: "backup".into(),
            message: "made".into(),
        };
        assert_eq!(decode_activity(5, &encode_activity(&a)), Ok(a));
    }
}
