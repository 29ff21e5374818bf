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

/// Reads audio until the end frame, sending `answer()` after every frame
/// and every `tick` without one, as a server reporting as it goes.
fn read_answering(ws: &mut Peer, tick: Duration, mut answer: impl FnMut() -> Message) -> Vec<i16> {
    ws.get_mut().set_read_timeout(Some(tick)).expect("timeout");
    let mut got = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) if b.is_empty() => return got,
            Ok(Message::Binary(b)) => {
                got.extend(b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])));
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
        ws.send(answer()).expect("send");
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
    run_with(config, source(samples))
}

fn run_with(config: AsrWorkerConfig, source: Source) -> Vec<PipelineEvent> {
    let pipeline = Pipeline::start(source, config, None).expect("pipeline starts");
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
        let stuck = Message::text(
            r#"{"status":"active_transcription","lines":[],"buffer_transcription":"","remaining_time_transcription_processing":30.0}"#,
        );
        // Every message claims 30 s of unprocessed audio, forever.
        let got = read_answering(&mut ws, Duration::from_millis(100), || stuck.clone());
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

fn warnings(events: &[PipelineEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::ServerWarning(w) => Some(w.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn garbage_truncated_and_out_of_order_messages_cost_no_words() {
    let samples = ramp();
    let (url, server) = serve(|listener| {
        let mut ws = accept(listener);
        let first = read_audio(&mut ws, Some(8_000));
        for junk in [
            Message::text("garbage \u{1F4A9} not json"),
            Message::text(r#"{"status":"active_transcription","lines":[{"speaker":1,"text":" Hel"#),
            Message::text(r#"{"lines":"oops"}"#),
            Message::binary(vec![1, 2, 3]),
        ] {
            ws.send(junk).expect("send");
        }
        // A newer update, then an older one arriving late, then a stray
        // end marker and a repeated config while audio still streams.
        ws.send(update(
            &[(" Please add apples", "0:00:00.00", "0:00:01.20")],
            " and",
        ))
        .expect("send");
        ws.send(update(&[(" Please", "0:00:00.00", "0:00:00.40")], " add"))
            .expect("send");
        ws.send(Message::text(r#"{"type":"ready_to_stop"}"#))
            .expect("send");
        ws.send(Message::text(
            r#"{"type":"config","useAudioWorklet":true,"mode":"full"}"#,
        ))
        .expect("send");
        ws.send(Message::text(r#"{"type":"speaker_change","who":2}"#))
            .expect("send");
        let rest = read_audio(&mut ws, None);
        finish_with(&mut ws, " Please add apples and bananas.", "0:00:02.90");
        vec![first, rest]
    });
    let events = run(url, &samples);
    let received = server.join().expect("server");
    let all: Vec<i16> = received.concat();
    assert_eq!(all, samples, "every sample went out once, in order");
    assert_eq!(final_text(&events), "Please add apples and bananas.");
    let warned = warnings(&events);
    assert!(
        warned
            .iter()
            .any(|w| w.contains("not valid JSON") && w.contains("garbage")),
        "the garbage is named: {warned:?}"
    );
    assert!(
        warned
            .iter()
            .any(|w| w.contains("not valid JSON") && w.contains("Hel")),
        "the cut message is named: {warned:?}"
    );
    assert!(
        warned.iter().any(|w| w.contains("`lines`")),
        "the bad field is named: {warned:?}"
    );
}

/// Reads audio until the end frame, or until `quiet` passes without any
/// frame (the client gave up on this connection).
fn read_until_quiet(ws: &mut Peer, quiet: Duration) -> Vec<i16> {
    ws.get_mut().set_read_timeout(Some(quiet)).expect("timeout");
    let mut got = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Binary(b)) if b.is_empty() => return got,
            Ok(Message::Binary(b)) => {
                got.extend(b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])));
            }
            Ok(_) => {}
            Err(_) => return got,
        }
    }
}

#[test]
fn a_server_that_stops_answering_with_the_socket_open_is_reported_and_replaced() {
    let samples = ramp();
    let (url, server) = serve(|listener| {
        // Takes the audio and says nothing, keeping the socket open.
        let mut mute = accept(listener);
        let (tx, rx) = std::sync::mpsc::channel();
        let listener = listener.try_clone().expect("listener");
        let second = std::thread::spawn(move || {
            // A live server: it answers as the audio comes.
            let mut ws = accept(&listener);
            let mut audio = Vec::new();
            loop {
                match ws.read().expect("read") {
                    Message::Binary(b) if b.is_empty() => break,
                    Message::Binary(b) => {
                        audio.extend(b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])));
                        ws.send(update(&[], " Every")).expect("send");
                    }
                    _ => {}
                }
            }
            finish_with(&mut ws, " Every word is here.", "0:00:02.90");
            tx.send(()).expect("done");
            audio
        });
        let heard = read_until_quiet(&mut mute, Duration::from_secs(20));
        let _ = rx.recv_timeout(Duration::from_secs(30));
        drop(mute);
        vec![heard, second.join().expect("second connection")]
    });
    let mut config = AsrWorkerConfig::new(url);
    config.reconnect.first_delay = Duration::from_millis(20);
    config.stall_warning = Duration::from_millis(400);
    config.stall_timeout = Duration::from_millis(1_200);
    let Source::Wav { path, audio, .. } = source(&samples) else {
        unreachable!()
    };
    // In real time, so the utterance is still streaming when the server
    // goes quiet.
    let live = Source::Wav {
        path,
        audio,
        realtime: true,
        gate: None,
    };
    let events = run_with(config, live);
    let received = server.join().expect("server");
    assert!(!received[0].is_empty(), "the mute server got audio");
    assert_eq!(
        received[1], samples,
        "the new connection got everything again"
    );
    assert_eq!(final_text(&events), "Every word is here.");
    let warned = warnings(&events);
    assert!(
        warned
            .iter()
            .any(|w| w.contains("no answer for 0 s") || w.contains("no answer for")),
        "the user was told: {warned:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            PipelineEvent::Disconnected { reason, .. } if reason.contains("stopped answering")
        )),
        "the quiet connection was given up: {events:#?}"
    );
}

#[test]
fn a_server_falling_behind_real_time_is_reported_once_and_loses_nothing() {
    let samples = ramp();
    let (url, server) = serve(|listener| {
        let mut ws = accept(listener);
        // The lag grows with every answer, as on a CPU too slow for the
        // model.
        let mut lag = 2.0_f64;
        let got = read_answering(&mut ws, Duration::from_millis(50), || {
            lag += 0.5;
            Message::text(format!(
                r#"{{"status":"active_transcription","lines":[],"buffer_transcription":"","remaining_time_transcription":{lag}}}"#
            ))
        });
        finish_with(&mut ws, " Late but whole.", "0:00:02.90");
        vec![got]
    });
    let events = run(url, &samples);
    let received = server.join().expect("server");
    assert_eq!(received[0], samples);
    assert_eq!(final_text(&events), "Late but whole.");
    let behind: Vec<&str> = warnings(&events)
        .into_iter()
        .filter(|w| w.contains("falling behind"))
        .collect();
    assert_eq!(behind.len(), 1, "told once: {behind:?}");
    assert!(behind[0].contains("none are lost"), "{}", behind[0]);
}

#[test]
fn a_server_that_accepts_but_never_answers_is_given_up_on_in_time() {
    let samples = ramp();
    let (url, _server) = serve(|listener| {
        // Every connection is accepted, gets the config, and then silence.
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            let Ok(mut ws) = tungstenite::accept(stream) else {
                continue;
            };
            let _ = ws.send(Message::text(
                r#"{"type":"config","useAudioWorklet":true,"mode":"full"}"#,
            ));
            held.push(ws);
        }
        Vec::new()
    });
    let mut config = AsrWorkerConfig::new(url);
    config.reconnect.first_delay = Duration::from_millis(20);
    config.reconnect.give_up_after = Duration::from_secs(3);
    config.stall_warning = Duration::from_millis(200);
    config.stall_timeout = Duration::from_millis(500);
    config.flush_timeout = Duration::from_secs(1);
    let Source::Wav { path, audio, .. } = source(&samples) else {
        unreachable!()
    };
    let pipeline = Pipeline::start(
        Source::Wav {
            path,
            audio,
            realtime: true,
            gate: None,
        },
        config,
        None,
    )
    .expect("pipeline starts");
    // give_up_after is 3 s; reconnecting forever would never end.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut events = Vec::new();
    while std::time::Instant::now() < deadline {
        match pipeline.events().recv_timeout(Duration::from_secs(1)) {
            Ok(e @ (PipelineEvent::Finished { .. } | PipelineEvent::Failed(..))) => {
                events.push(e);
                break;
            }
            Ok(e) => events.push(e),
            Err(_) => {}
        }
    }
    pipeline.shutdown();
    match events.last() {
        Some(PipelineEvent::Failed(kind, message)) => {
            assert_eq!(*kind, tonnytray::messages::FailureKind::ServerLost);
            assert!(message.contains("gave up"), "{message}");
        }
        other => panic!("not given up on: {other:?}"),
    }
}
