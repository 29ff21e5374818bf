//! The core's whole dictation lifecycle, deterministically: the real
//! `core` thread with its pipeline starter injected (a WAV file instead of
//! the microphone, the same audio and speech-worker threads) against a
//! scripted WebSocket peer on loopback that answers each utterance with the
//! transcript the test chose. The typing thread is a channel the test
//! reads, so what would be typed, and when, is seen exactly.
//!
//! The peer speaks WhisperLiveKit's message shapes as recorded from 0.2.26
//! (`shared/recipes/asr-server.md`); the same lifecycle against the real
//! server and a real window is in `e2e_desktop.rs`.

use std::collections::VecDeque;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonnytray::audio::vad::VadConfig;
use tonnytray::audio::wav::WavAudio;
use tonnytray::audio::worker::Source;
use tonnytray::config::settings::{HotkeyMode, Settings};
use tonnytray::core::coordinator::PipelineStarter;
use tonnytray::core::{self, Core, CoreOptions, Snapshot};
use tonnytray::integrations::typing::TypeJob;
use tonnytray::messages::{Command, TypedOutcome};
use tonnytray::runtime::Pipeline;
use tonnytray::store;
use tungstenite::Message;

/// What the peer answers one utterance: live lines while the audio comes,
/// then the final text when the stream ends.
struct Answer {
    live: &'static str,
    last: &'static str,
}

/// A scripted speech server: each connection that sends audio takes the
/// next answer (a connection that closes without audio takes none).
struct Peer {
    url: String,
}

fn peer(answers: Vec<Answer>) -> Peer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("ws://{}/asr", listener.local_addr().expect("addr"));
    let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answers = Arc::clone(&answers);
            std::thread::spawn(move || serve(stream, &answers));
        }
    });
    Peer { url }
}

fn serve(stream: TcpStream, answers: &Mutex<VecDeque<Answer>>) {
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    let config = r#"{"type":"config","useAudioWorklet":true,"mode":"full"}"#;
    if ws.send(Message::text(config)).is_err() {
        return;
    }
    // The first audio decides that this connection is an utterance.
    let mut ended = loop {
        match ws.read() {
            Ok(Message::Binary(b)) if b.is_empty() => break true,
            Ok(Message::Binary(_)) => break false,
            Ok(_) => {}
            Err(_) => return,
        }
    };
    let Some(answer) = answers.lock().expect("answers").pop_front() else {
        return;
    };
    let _ = ws.send(update(answer.live));
    while !ended {
        match ws.read() {
            Ok(Message::Binary(b)) if b.is_empty() => ended = true,
            Ok(_) => {}
            Err(_) => return,
        }
    }
    let _ = ws.send(update(answer.last));
    let _ = ws.send(Message::text(r#"{"type":"ready_to_stop"}"#));
    // Let the client close.
    while ws.read().is_ok() {}
}

fn update(text: &str) -> Message {
    Message::text(format!(
        r#"{{"status":"active_transcription","lines":[{{"speaker":1,"text":"{text}","start":"0:00:00.00","end":"0:00:02.00"}}],"buffer_transcription":"","remaining_time_transcription":0}}"#
    ))
}

/// `secs` of 16 kHz audio: a 440 Hz tone at `amplitude` (0: silence).
fn tone(secs: f32, amplitude: f32) -> Vec<f32> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = (secs * 16_000.0) as usize;
    (0..n)
        .map(|i| {
            #[allow(clippy::cast_precision_loss)]
            let t = i as f32 / 16_000.0;
            amplitude * (t * 440.0 * std::f32::consts::TAU).sin()
        })
        .collect()
}

fn wav(samples: Vec<f32>, realtime: bool, gate: Option<VadConfig>) -> Source {
    Source::Wav {
        path: "test.wav".into(),
        audio: Arc::new(WavAudio {
            samples,
            sample_rate: 16_000,
            channels: 1,
        }),
        realtime,
        gate,
    }
}

/// What the core asked the starter for, per session: gated (waiting for
/// speech) or not.
type Starts = Arc<Mutex<Vec<bool>>>;

/// A starter that plays `sound(gated, n)` (n: the how-manyth start) instead
/// of the microphone, to `url`.
fn starter(
    url: &str,
    starts: &Starts,
    sound: impl Fn(Option<VadConfig>, usize) -> Source + Send + Sync + 'static,
) -> PipelineStarter {
    let url = url.to_owned();
    let starts = Arc::clone(starts);
    Arc::new(move |source, mut config| {
        let Source::Microphone { gate, .. } = source else {
            panic!("the core starts sessions from the microphone");
        };
        let n = {
            let mut starts = starts.lock().expect("starts");
            starts.push(gate.is_some());
            starts.len()
        };
        config.url.clone_from(&url);
        config.reconnect.first_delay = Duration::from_millis(20);
        Pipeline::start(sound(gate, n), config, None)
    })
}

/// A live, unpaced microphone for a dictation: `secs` of a loud tone, then
/// it goes on (paced) until the session stops it.
fn speaking(secs: f32) -> Source {
    let mut samples = tone(secs, 0.3);
    samples.extend(tone(60.0, 0.0));
    wav(samples, true, None)
}

fn core(settings: Settings, starter: PipelineStarter) -> (Core, Receiver<TypeJob>) {
    let (typer, typed) = mpsc::sync_channel(64);
    let core = Core::spawn(
        CoreOptions {
            settings,
            settings_path: None,
            notices: Default::default(),
            typer: Some(typer),
            store: store::Shared::new(None, None),
            outputs: Default::default(),
            pipelines: Some(starter),
        },
        core::channel(),
    )
    .expect("core");
    (core, typed)
}

/// Waits (up to 30 s) for a snapshot that passes `done`.
fn wait(core: &Core, what: &str, done: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = core.snapshots().get();
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "waited 30 s for {what}; last snapshot: status {:?}, committed {:?}, log {:?}, notices {:?}",
            s.status,
            s.committed,
            s.log,
            s.notices
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn jobs(typed: &Receiver<TypeJob>) -> Vec<(u64, String)> {
    typed.try_iter().map(|j| (j.utterance, j.text)).collect()
}

#[test]
fn push_to_talk_holds_typing_until_release_then_types_every_word_in_order() {
    let peer = peer(vec![Answer {
        live: "hello there my friend",
        last: "hello there my friend again",
    }]);
    let starts = Starts::default();
    let mut settings = Settings::default();
    settings.hotkey.mode = HotkeyMode::PushToTalk;
    let (core, typed) = core(settings, starter(&peer.url, &starts, |_, _| speaking(1.0)));
    core.send(Command::HotkeyPressed);
    wait(&core, "the live words", |s| {
        s.committed == "hello there my friend"
    });
    // Words are committed, but the key is held: nothing may be typed (the
    // X server would send it to the hotkey's grab).
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(jobs(&typed), []);
    core.send(Command::HotkeyReleased);
    wait(&core, "the finished utterance", |s| s.log.len() == 1);
    let all = jobs(&typed);
    let text: String = all.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "hello there my friend again");
    assert!(all.iter().all(|(u, _)| *u == all[0].0), "{all:?}");
    let s = core.snapshots().get();
    assert_eq!(s.log[0].text, "hello there my friend again");
    assert_eq!(s.log[0].typed, TypedOutcome::Typed);
    assert_eq!(*starts.lock().expect("starts"), [false]);
    core.shutdown();
}

#[test]
fn a_command_is_never_typed_and_dictation_after_it_is() {
    let peer = peer(vec![
        Answer {
            live: "Computer turn on the",
            last: "Computer turn on the kitchen lights",
        },
        Answer {
            live: "please type these words",
            last: "please type these words now",
        },
    ]);
    let starts = Starts::default();
    let (core, typed) = core(
        Settings::default(),
        starter(&peer.url, &starts, |_, _| speaking(0.5)),
    );
    core.send(Command::ToggleRecording);
    wait(&core, "the command's words", |s| {
        s.committed.starts_with("Computer turn")
    });
    core.send(Command::ToggleRecording);
    let s = wait(&core, "the command finished", |s| s.log.len() == 1);
    assert!(
        matches!(&s.log[0].typed, TypedOutcome::NotTyped(why) if why.starts_with("command")),
        "{:?}",
        s.log[0].typed
    );
    core.send(Command::ToggleRecording);
    wait(&core, "the dictation's words", |s| {
        s.committed.starts_with("please")
    });
    core.send(Command::ToggleRecording);
    wait(&core, "the dictation finished", |s| s.log.len() == 2);
    let text: String = jobs(&typed).into_iter().map(|(_, t)| t).collect();
    assert_eq!(text, "please type these words now");
    assert_eq!(*starts.lock().expect("starts"), [false, false]);
    core.shutdown();
}

#[test]
fn voice_activation_dictates_when_speech_starts_and_waits_again_after() {
    let peer = peer(vec![Answer {
        live: "spoken without a key",
        last: "spoken without a key today",
    }]);
    let starts = Starts::default();
    let mut settings = Settings::default();
    settings.voice_activation.enabled = true;
    settings.voice_activation.silence_stop_secs = 0.5;
    let sound = |gate: Option<VadConfig>, n: usize| {
        assert!(gate.is_some(), "voice activation starts gated sessions");
        if n == 1 {
            // Quiet, speech, then silence long enough to end the utterance.
            let mut samples = tone(0.5, 0.0);
            samples.extend(tone(1.5, 0.3));
            samples.extend(tone(2.0, 0.0));
            wav(samples, true, gate)
        } else {
            // The next wait for speech: silence until the test ends.
            wav(tone(60.0, 0.0), true, gate)
        }
    };
    let (core, typed) = core(settings, starter(&peer.url, &starts, sound));
    wait(&core, "the utterance heard by voice activation", |s| {
        s.log.len() == 1
    });
    let text: String = jobs(&typed).into_iter().map(|(_, t)| t).collect();
    assert_eq!(text, "spoken without a key today");
    // Re-armed: a new session waits for speech.
    let deadline = Instant::now() + Duration::from_secs(10);
    while starts.lock().expect("starts").len() < 2 {
        assert!(
            Instant::now() < deadline,
            "voice activation was not re-armed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(*starts.lock().expect("starts"), [true, true]);
    core.shutdown();
}

#[test]
fn a_silent_microphone_is_named_while_dictating() {
    let peer = peer(vec![Answer { live: "", last: "" }]);
    let starts = Starts::default();
    let mut settings = Settings::default();
    settings.voice_activation.silent_mic_warning_secs = 1.0;
    let (core, _typed) = core(
        settings,
        starter(&peer.url, &starts, |_, _| wav(tone(60.0, 0.0), true, None)),
    );
    core.send(Command::ToggleRecording);
    let s = wait(&core, "the silent-microphone warning", |s| {
        s.notices.iter().any(|n| n.contains("has been silent"))
    });
    assert!(
        s.notices
            .iter()
            .any(|n| n.contains("test.wav has been silent for 1 s")),
        "{:?}",
        s.notices
    );
    core.send(Command::ToggleRecording);
    wait(&core, "the utterance ended", |s| {
        s.state == tonnytray::messages::DictationState::Idle
    });
    core.shutdown();
}
