//! The dictation pipeline against a scripted WebSocket peer on loopback.
//!
//! These fast tests check, sample for sample, what is re-sent after a dropped
//! connection — something a real server cannot show deterministically. The
//! peer speaks WhisperLiveKit's message shapes as recorded from 0.2.26
//! (`shared/recipes/asr-server.md`); the behaviour against the real server is
//! covered by `e2e_speech.rs`.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tonnytray::asr::AsrWorkerConfig;
use tonnytray::audio::wav::WavAudio;
use tonnytray::audio::worker::Source;
use tonnytray::messages::PipelineEvent;
use tonnytray::runtime::Pipeline;
use tungstenite::{Message, WebSocket};

type Peer = WebSocket<TcpStream>;

/// Three seconds of 16 kHz mono audio whose every sample is distinct enough
/// to spot an offset.
fn ramp() -> Vec<i16> {
    (0..48_000_i32)
        .map(|i| ((i * 7) % 60_000 - 30_000) as i16)
        .collect()
}

fn source(samples: &[i16]) -> Source {
    Source::Wav {
        path: "ramp".into(),
        audio: Arc::new(WavAudio {
            samples: samples.iter().map(|&s| f32::from(s) / 32_768.0).collect(),
            sample_rate: 16_000,
            channels: 1,
        }),
        realtime: false,
        gate: None,
    }
}

fn accept(listener: &TcpListener) -> Peer {
    let (stream, _) = listener.accept().expect("client connects");
    let mut ws = tungstenite::accept(stream).expect("handshake");
    ws.send(Message::text(
        r#"{"type":"config","useAudioWorklet":true,"mode":"full"}"#,
    ))
    .expect("send config");
    ws
}

/// Reads binary frames as samples until `enough` samples arrived, or the
/// empty end frame when `enough` is `None`.
fn read_audio(ws: &mut Peer, enough: Option<usize>) -> Vec<i16> {
    let mut got = Vec::new();
    loop {
        match ws.read().expect("read") {
            Message::Binary(b) if b.is_empty() => return got,
            Message::Binary(b) => {
                got.extend(b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])));
                if enough.is_some_and(|n| got.len() >= n) {
                    return got;
                }
            }
            _ => {}
        }
    }
}

fn update(lines: &[(&str, &str, &str)], buffer: &str) -> Message {
    let lines: Vec<String> = lines
        .iter()
        .map(|(text, start, end)| {
            format!(r#"{{"speaker":1,"text":"{text}","start":"{start}","end":"{end}"}}"#)
        })
        .collect();
    Message::text(format!(
        r#"{{"status":"active_transcription","lines":[{}],"buffer_transcription":"{buffer}","remaining_time_transcription":0}}"#,
        lines.join(",")
    ))
}

/// Ends the utterance as the server does: the final text, then `ready_to_stop`.
fn finish_with(ws: &mut Peer, text: &str, end: &str) {
    ws.send(update(&[(text, "0:00:00.00", end)], ""))
        .expect("send");
    ws.send(Message::text(r#"{"type":"ready_to_stop"}"#))
        .expect("send");
}

fn run(url: String, samples: &[i16]) -> Vec<PipelineEvent> {
    let mut config = AsrWorkerConfig::new(url);
    config.reconnect.first_delay = Duration::from_millis(20);
    let pipeline = Pipeline::start(source(samples), config, None).expect("pipeline starts");
    let mut events = Vec::new();
    loop {
        let event = pipeline
            .events()
            .recv_timeout(Duration::from_secs(30))
            .expect("pipeline reports within 30 s");
        let done = matches!(
            event,
            PipelineEvent::Finished { .. } | PipelineEvent::Failed(..)
        );
        events.push(event);
        if done {
            break;
        }
    }
    pipeline.shutdown();
    events
}

fn serve(
    script: impl FnOnce(&TcpListener) -> Vec<Vec<i16>> + Send + 'static,
) -> (String, JoinHandle<Vec<Vec<i16>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("ws://{}/asr", listener.local_addr().expect("addr"));
    (url, std::thread::spawn(move || script(&listener)))
}

fn final_text(events: &[PipelineEvent]) -> &str {
    match events.last() {
        Some(PipelineEvent::Finished { text, .. }) => text,
        other => panic!("pipeline did not finish: {other:?}\n{events:#?}"),
    }
}

#[test]
fn all_audio_is_streamed_and_the_final_text_reported() {
    let samples = ramp();
    let (url, server) = serve(|listener| {
        let mut ws = accept(listener);
        let audio = read_audio(&mut ws, None);
        finish_with(&mut ws, " Hello there.", "0:00:02.90");
        vec![audio]
    });
    let events = run(url, &samples);
    let received = server.join().expect("server");
    assert_eq!(
        received[0], samples,
        "the server got exactly the input audio"
    );
    assert_eq!(final_text(&events), "Hello there.");
}

#[test]
fn dropped_connection_resends_everything_after_the_last_sentence() {
    let samples = ramp();
    let (url, server) = serve(|listener| {
        let mut first = accept(listener);
        let before = read_audio(&mut first, Some(16_000));
        // "Hello there." is committed up to 0.5 s; "How" is committed but
        // mid-sentence, "are" still tentative. Then the server dies.
        first
            .send(update(
                &[
                    (" Hello there.", "0:00:00.00", "0:00:00.50"),
                    (" How", "0:00:00.60", "0:00:00.90"),
                ],
                " are",
            ))
            .expect("send");
        // Let the client read the update before the connection vanishes.
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        let mut second = accept(listener);
        second.send(Message::text("{not json")).expect("send");
        let after = read_audio(&mut second, None);
        finish_with(&mut second, " How are you?", "0:00:02.60");
        vec![before, after]
    });
    let events = run(url, &samples);
    let received = server.join().expect("server");

    // Resumes 0.15 s before the end of the last committed sentence (0.5 s).
    let resume = 16_000 * 35 / 100;
    assert_eq!(
        received[1],
        samples[resume..],
        "re-sent audio starts at the checkpoint"
    );
    assert_eq!(final_text(&events), "Hello there. How are you?");
    assert!(
        events.iter().any(|e| matches!(
            e,
            PipelineEvent::Disconnected {
                ever_connected: true,
                ..
            }
        )),
        "the drop was reported: {events:#?}"
    );
    assert!(
        events.iter().any(
            |e| matches!(e, PipelineEvent::Connected { resending_secs } if *resending_secs > 0.0)
        ),
        "the reconnect said it re-sends audio: {events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PipelineEvent::ServerWarning(w) if w.contains("not valid JSON"))),
        "a malformed message is reported, not fatal: {events:#?}"
    );
}

#[test]
fn unreachable_server_fails_fast_when_asked() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}/asr", listener.local_addr().expect("addr"));
    drop(listener); // nobody listens there now
    let mut config = AsrWorkerConfig::new(url.clone());
    config.reconnect.fail_fast = true;
    let pipeline = Pipeline::start(source(&ramp()), config, None).expect("starts");
    let failure = loop {
        match pipeline
            .events()
            .recv_timeout(Duration::from_secs(30))
            .expect("event")
        {
            PipelineEvent::Failed(kind, message) => break (kind, message),
            PipelineEvent::Finished { .. } => panic!("finished without a server"),
            _ => {}
        }
    };
    pipeline.shutdown();
    assert_eq!(failure.0, tonnytray::messages::FailureKind::CannotConnect);
    assert!(failure.1.contains(&url), "{}", failure.1);
}

#[test]
fn a_server_stuck_reporting_a_backlog_cannot_stall_the_stream() {
    let samples: Vec<i16> = ramp()[..32_000].to_vec(); // 2 s: more than the initial lead
    let (url, server) = serve(|listener| {
        let mut ws = accept(listener);
        ws.get_mut()
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let stuck = Message::text(
            r#"{"status":"active_transcription","lines":[],"buffer_transcription":"","remaining_time_transcription_processing":30.0}"#,
        );
        let mut got = Vec::new();
        loop {
            match ws.read() {
                Ok(Message::Binary(b)) if b.is_empty() => break,
                Ok(Message::Binary(b)) => {
                    got.extend(b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
            // Every message claims 30 s of unprocessed audio, forever.
            ws.send(stuck.clone()).expect("send");
        }
        finish_with(&mut ws, " Done.", "0:00:01.90");
        vec![got]
    });
    let events = run(url, &samples);
    let received = server.join().expect("server");
    assert_eq!(
        received[0], samples,
        "all audio arrived despite the backlog reports"
    );
    assert_eq!(final_text(&events), "Done.");
}
