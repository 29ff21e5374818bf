//! WhisperLiveKit's `/asr` WebSocket protocol, as pure types.
//!
//! Client → server: binary frames of raw s16le 16 kHz mono PCM (the server runs
//! with `--pcm-input`); an empty binary frame ends the stream.
//! Server → client: JSON text messages, parsed here by [`parse`]. Nothing in this
//! module does I/O, so every message shape is unit-tested from recorded text.

use serde_json::Value;

/// Sample rate the server expects for PCM input.
pub const SAMPLE_RATE: u32 = 16_000;

/// Speaker id the server uses for a line that marks silence rather than speech.
pub const SILENCE_SPEAKER: i64 = -2;

/// How much of a bad message is quoted back in an error.
const EXCERPT_CHARS: usize = 120;

/// One message from the server, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// Sent once on connect: the server's session configuration.
    Config {
        /// Transcript mode the server chose (`full` or `diff`).
        mode: Option<String>,
    },
    /// A transcript update: committed lines plus tentative text.
    Update(Update),
    /// The server has flushed everything after the end-of-stream frame.
    ReadyToStop,
    /// The server reports a failure (`{"type":"error","error":"…"}`).
    Error(String),
    /// A message type this client does not know; kept so callers can log it.
    Unknown {
        /// The `type` field as sent.
        kind: String,
    },
}

/// A transcript update (`lines` + `buffer_transcription`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    /// `active_transcription`, `no_audio_detected`, … as sent.
    pub status: Option<String>,
    /// Committed lines, oldest first. Their text may still be revised by later updates.
    pub lines: Vec<Line>,
    /// Tentative text after the last committed line.
    pub buffer: String,
    /// A non-fatal error the server attached to this update.
    pub error: Option<String>,
    /// Seconds of received audio the model has not run over yet
    /// (`remaining_time_transcription_processing`, else
    /// `remaining_time_transcription`). Used to pace sending. (Audio that is
    /// transcribed but not yet agreed on, `…_policy`, is left out: it grows
    /// through any silence, and pausing on it stalled the stream.)
    pub backlog_secs: Option<f64>,
}

/// One committed line of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Speaker number; [`SILENCE_SPEAKER`] marks a stretch of silence.
    pub speaker: i64,
    /// The words, usually with a leading space.
    pub text: String,
    /// Start, in seconds from the start of this connection's audio.
    pub start: f64,
    /// End, in seconds from the start of this connection's audio.
    pub end: f64,
}

impl Line {
    /// True when the line marks silence rather than words.
    pub fn is_silence(&self) -> bool {
        self.speaker == SILENCE_SPEAKER
    }
}

/// Why a server message could not be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// The text is not JSON at all (or is cut short).
    #[error("server sent a message that is not valid JSON ({detail}): {excerpt:?}")]
    NotJson {
        /// What the JSON parser said.
        detail: String,
        /// The start of the offending message.
        excerpt: String,
    },
    /// The JSON is well formed but a field has the wrong shape.
    #[error("server message field `{field}` is invalid: {detail}")]
    BadField {
        /// Which field.
        field: &'static str,
        /// What was wrong with it.
        detail: String,
    },
}

type Object = serde_json::Map<String, Value>;

/// Decodes one text message from the server.
///
/// Unknown fields are ignored (the server adds diagnostics such as
/// `remaining_time_transcription`); an unknown `type` becomes
/// [`ServerMessage::Unknown`] rather than an error.
///
/// # Errors
/// [`ProtocolError`] naming the problem when the text is not JSON or a field
/// has the wrong shape. Never panics, whatever the input.
pub fn parse(text: &str) -> Result<ServerMessage, ProtocolError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ProtocolError::NotJson {
        detail: e.to_string(),
        excerpt: excerpt(text),
    })?;
    let Value::Object(obj) = value else {
        return Err(ProtocolError::BadField {
            field: "message",
            detail: format!("expected a JSON object, got {}", kind_of(&value)),
        });
    };
    let kind = string_field(&obj, "type")?;
    let lines = obj.get("lines").filter(|v| !v.is_null());
    match kind {
        Some("config") => Ok(ServerMessage::Config {
            mode: string_field(&obj, "mode")?.map(str::to_owned),
        }),
        Some("ready_to_stop") => Ok(ServerMessage::ReadyToStop),
        Some("error") => Ok(ServerMessage::Error(
            string_field(&obj, "error")?
                .unwrap_or("server reported an error without details")
                .to_owned(),
        )),
        Some(other) if lines.is_none() => Ok(ServerMessage::Unknown {
            kind: other.to_owned(),
        }),
        _ => update_from(&obj, lines).map(ServerMessage::Update),
    }
}

fn update_from(obj: &Object, lines: Option<&Value>) -> Result<Update, ProtocolError> {
    let lines = match lines {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(line_from).collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ProtocolError::BadField {
                field: "lines",
                detail: format!("expected a list, got {}", kind_of(other)),
            });
        }
    };
    Ok(Update {
        status: string_field(obj, "status")?.map(str::to_owned),
        lines,
        buffer: string_field(obj, "buffer_transcription")?
            .unwrap_or_default()
            .to_owned(),
        error: string_field(obj, "error")?
            .filter(|e| !e.trim().is_empty())
            .map(str::to_owned),
        // Diagnostics only: a malformed value is ignored rather than fatal.
        backlog_secs: backlog(obj),
    })
}

fn line_from(value: &Value) -> Result<Line, ProtocolError> {
    let Value::Object(obj) = value else {
        return Err(ProtocolError::BadField {
            field: "lines[]",
            detail: format!("expected an object, got {}", kind_of(value)),
        });
    };
    let speaker = match obj.get("speaker") {
        None | Some(Value::Null) => 1,
        Some(v) => v.as_i64().ok_or_else(|| ProtocolError::BadField {
            field: "lines[].speaker",
            detail: format!("expected a whole number, got {v}"),
        })?,
    };
    let start = time_field("lines[].start", obj.get("start"))?;
    let end = time_field("lines[].end", obj.get("end"))?;
    Ok(Line {
        speaker,
        text: string_field(obj, "text")
            .map_err(|_| ProtocolError::BadField {
                field: "lines[].text",
                detail: "expected a string".into(),
            })?
            .unwrap_or_default()
            .to_owned(),
        start,
        end: end.max(start),
    })
}

fn backlog(obj: &Object) -> Option<f64> {
    [
        "remaining_time_transcription_processing",
        "remaining_time_transcription",
    ]
    .iter()
    .find_map(|field| obj.get(*field).and_then(Value::as_f64))
    .filter(|v| v.is_finite() && *v >= 0.0)
}

/// A string field; absent or null is `None`, any other type an error.
fn string_field<'a>(
    obj: &'a Object,
    field: &'static str,
) -> Result<Option<&'a str>, ProtocolError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ProtocolError::BadField {
            field,
            detail: format!("expected a string, got {}", kind_of(other)),
        }),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn time_field(field: &'static str, value: Option<&Value>) -> Result<f64, ProtocolError> {
    match value {
        None | Some(Value::Null) => Ok(0.0),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| ProtocolError::BadField {
                field,
                detail: format!("{n} is not a time"),
            }),
        Some(Value::String(s)) => parse_clock(s).ok_or_else(|| ProtocolError::BadField {
            field,
            detail: format!("{s:?} is not a time like 0:00:01.28"),
        }),
        Some(other) => Err(ProtocolError::BadField {
            field,
            detail: format!("expected a time, got {}", kind_of(other)),
        }),
    }
}

/// Parses the server's `H:MM:SS.ss` clock strings (also `MM:SS.ss` and plain
/// seconds) into seconds.
pub fn parse_clock(s: &str) -> Option<f64> {
    let mut total = 0.0_f64;
    let mut parts = 0;
    for part in s.trim().split(':') {
        let value: f64 = part.parse().ok()?;
        if !value.is_finite() || value < 0.0 {
            return None;
        }
        total = total * 60.0 + value;
        parts += 1;
    }
    (parts <= 3).then_some(total)
}

fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// Encodes 16 kHz mono samples as the little-endian bytes of a binary frame.
pub fn encode_pcm(samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from whisperlivekit 0.2.26 with --pcm-input (see shared/recipes/asr-server.md).
    const CONFIG: &str = r#"{"type":"config","useAudioWorklet":true,"mode":"full"}"#;
    const UPDATE: &str = r#"{"status":"active_transcription","lines":[{"speaker":1,"text":" Turn on the living room","start":"0:00:00.00","end":"0:00:01.28"}],"buffer_transcription":" lights and set a timer for 10.","buffer_diarization":"","buffer_translation":"","remaining_time_transcription":1.7,"remaining_time_transcription_processing":1.1,"remaining_time_transcription_policy":1.8,"remaining_time_diarization":0}"#;
    const SILENCE: &str = r#"{"status":"active_transcription","lines":[{"speaker":-2,"text":"","start":"0:00:00.00","end":"0:00:02.10"},{"speaker":1,"text":" Hello.","start":"0:00:02.10","end":"0:00:02.90"}],"buffer_transcription":""}"#;
    const NO_AUDIO: &str = r#"{"status":"no_audio_detected","lines":[],"buffer_transcription":""}"#;

    #[test]
    fn config_message_is_recognised() {
        assert_eq!(
            parse(CONFIG),
            Ok(ServerMessage::Config {
                mode: Some("full".into())
            })
        );
    }

    #[test]
    fn update_carries_committed_lines_and_tentative_buffer() {
        let ServerMessage::Update(u) = parse(UPDATE).expect("parses") else {
            panic!("not an update")
        };
        assert_eq!(u.status.as_deref(), Some("active_transcription"));
        assert_eq!(u.lines.len(), 1);
        assert_eq!(u.lines[0].text, " Turn on the living room");
        assert!((u.lines[0].end - 1.28).abs() < 1e-9);
        assert_eq!(u.buffer, " lights and set a timer for 10.");
        assert_eq!(u.error, None);
        assert_eq!(u.backlog_secs, Some(1.1));
    }

    #[test]
    fn silence_lines_are_marked() {
        let ServerMessage::Update(u) = parse(SILENCE).expect("parses") else {
            panic!("not an update")
        };
        assert!(u.lines[0].is_silence());
        assert!(!u.lines[1].is_silence());
        assert!((u.lines[1].start - 2.1).abs() < 1e-9);
    }

    #[test]
    fn empty_update_is_valid() {
        let ServerMessage::Update(u) = parse(NO_AUDIO).expect("parses") else {
            panic!("not an update")
        };
        assert!(u.lines.is_empty());
        assert_eq!(u.status.as_deref(), Some("no_audio_detected"));
    }

    #[test]
    fn ready_to_stop_and_error_types() {
        assert_eq!(
            parse(r#"{"type":"ready_to_stop"}"#),
            Ok(ServerMessage::ReadyToStop)
        );
        assert_eq!(
            parse(r#"{"type":"error","error":"model failed"}"#),
            Ok(ServerMessage::Error("model failed".into()))
        );
        assert!(matches!(
            parse(r#"{"type":"error"}"#),
            Ok(ServerMessage::Error(m)) if m.contains("without details")
        ));
    }

    #[test]
    fn unknown_type_and_unknown_fields_are_tolerated() {
        assert_eq!(
            parse(r#"{"type":"speaker_change","who":3}"#),
            Ok(ServerMessage::Unknown {
                kind: "speaker_change".into()
            })
        );
        let ServerMessage::Update(u) = parse(
            r#"{"lines":[{"text":" hi","start":0.5,"end":1,"confidence":0.9}],"new_field":[1,2]}"#,
        )
        .expect("parses") else {
            panic!("not an update")
        };
        assert_eq!(u.lines[0].speaker, 1);
        assert!((u.lines[0].start - 0.5).abs() < 1e-9);
    }

    #[test]
    fn backlog_falls_back_and_ignores_nonsense() {
        let backlog = |text: &str| match parse(text) {
            Ok(ServerMessage::Update(u)) => u.backlog_secs,
            other => panic!("not an update: {other:?}"),
        };
        assert_eq!(
            backlog(r#"{"lines":[],"remaining_time_transcription":2.5}"#),
            Some(2.5)
        );
        assert_eq!(
            backlog(r#"{"lines":[],"remaining_time_transcription_processing":"x"}"#),
            None
        );
        assert_eq!(
            backlog(r#"{"lines":[],"remaining_time_transcription":-3}"#),
            None
        );
    }

    #[test]
    fn update_error_field_is_surfaced() {
        let ServerMessage::Update(u) =
            parse(r#"{"lines":[],"buffer_transcription":"","error":"decoder overloaded"}"#)
                .expect("parses")
        else {
            panic!("not an update")
        };
        assert_eq!(u.error.as_deref(), Some("decoder overloaded"));
        let ServerMessage::Update(u) = parse(r#"{"lines":[],"error":""}"#).expect("parses") else {
            panic!("not an update")
        };
        assert_eq!(u.error, None);
    }

    #[test]
    fn truncated_message_is_a_clear_error() {
        let cut = &UPDATE[..UPDATE.len() / 2];
        let err = parse(cut).expect_err("truncated JSON must fail");
        assert!(matches!(err, ProtocolError::NotJson { .. }));
        let text = err.to_string();
        assert!(text.contains("not valid JSON"), "{text}");
        assert!(
            text.contains("active_transcription"),
            "quotes the message: {text}"
        );
    }

    #[test]
    fn garbage_is_a_clear_error_not_a_panic() {
        for bad in [
            "",
            "null",
            "[]",
            "42",
            "\"text\"",
            "{",
            "\u{0}\u{1}",
            "{\"lines\":",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn wrong_field_shapes_name_the_field() {
        let err = parse(r#"{"lines":"oops"}"#).expect_err("lines must be a list");
        assert!(err.to_string().contains("lines"), "{err}");
        let err = parse(r#"{"lines":[{"text":" a","start":"yesterday","end":"0:00:01"}]}"#)
            .expect_err("bad time");
        assert!(err.to_string().contains("lines[].start"), "{err}");
        let err = parse(r#"{"lines":[{"text":" a","start":-1,"end":1}]}"#).expect_err("negative");
        assert!(err.to_string().contains("lines[].start"), "{err}");
        let err = parse(r#"{"lines":[],"buffer_transcription":7}"#).expect_err("buffer type");
        assert!(err.to_string().contains("buffer_transcription"), "{err}");
    }

    #[test]
    fn long_garbage_is_quoted_briefly() {
        let long = format!("{{{}", "x".repeat(10_000));
        let text = parse(&long).expect_err("bad").to_string();
        assert!(
            text.len() < 400,
            "error quotes too much: {} chars",
            text.len()
        );
    }

    #[test]
    fn clock_strings_parse() {
        assert_eq!(parse_clock("0:00:01.28"), Some(1.28));
        assert_eq!(parse_clock("1:02:03.5"), Some(3723.5));
        assert_eq!(parse_clock("02:03"), Some(123.0));
        assert_eq!(parse_clock("4.25"), Some(4.25));
        assert_eq!(parse_clock("1:2:3:4"), None);
        assert_eq!(parse_clock("a:00"), None);
        assert_eq!(parse_clock("-1"), None);
        assert_eq!(parse_clock("NaN"), None);
    }

    #[test]
    fn line_end_never_precedes_start() {
        let ServerMessage::Update(u) =
            parse(r#"{"lines":[{"text":" a","start":"0:00:02.00","end":"0:00:01.00"}]}"#)
                .expect("parses")
        else {
            panic!("not an update")
        };
        assert!(u.lines[0].end >= u.lines[0].start);
    }

    #[test]
    fn pcm_is_little_endian() {
        let mut out = Vec::new();
        encode_pcm(&[1, -2, 0x1234], &mut out);
        assert_eq!(out, vec![1, 0, 0xfe, 0xff, 0x34, 0x12]);
    }
}
