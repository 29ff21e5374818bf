//! Voice commands end to end against REAL peers: spoken "Computer, …" into
//! the PulseAudio virtual microphone, recognised by the real WhisperLiveKit
//! server, sent by the desktop app to a REAL n8n (the test workflow of
//! `ci/n8n/ask-tonny.json`, which echoes and records every command) and
//! published to a REAL RabbitMQ; the reply is shown (`tonnytray status`)
//! and spoken, heard on the null sink's monitor.
//!
//! ElevenLabs is a cloud service this machine cannot reach: the reply's
//! speech comes from a local FAKE that follows ElevenLabs' published API
//! contract (`tests/integration/support/elevenlabs_fake.rs`, checked against the
//! official OpenAPI spec by `tests/integration/elevenlabs.rs`). It answers with a 440 Hz
//! tone, which is what the monitor must hear.
//!
//! Ignored by a plain `cargo test`; `ci/check.sh` starts the peers and runs
//! them with `--run-ignored all`.

use crate::support::elevenlabs_fake;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::common::peers::{self, N8n};
use crate::common::{bin, server_url, speak};
use crate::desktop::{Desktop, TrayHost, dictate_holding_hotkey};
use elevenlabs_fake::FakeElevenLabs;
use serde_json::Value;

const KEY: &str = elevenlabs_fake::GOOD_KEY;
const N8N_TOKEN: &str = "test-n8n-token-5b1f";
const AMQP_PASSWORD: &str = "guest";

fn settings(n8n: &str, fake: &FakeElevenLabs, extra: &str) -> String {
    format!(
        "[server]\nurl = \"{}\"\n[typing]\ndelay_ms = 4\n\
         [commands]\nprefixes = [\"Computer\"]\nconfirmation = \"silent\"\n\
         [n8n]\nurl = \"{n8n}\"\nallow_http = true\ntimeout_secs = 10\n\
         [elevenlabs]\nbase_url = \"{}\"\nvoice_id = \"{}\"\n{extra}",
        server_url(),
        fake.url(),
        elevenlabs_fake::VOICE_ID,
    )
}

/// Records what the app plays (the null sink's monitor) into a raw file.
struct Recording {
    child: Child,
    file: PathBuf,
}

impl Recording {
    fn start(desktop: &Desktop) -> Self {
        let file = desktop.dir.path().join("played.raw");
        let child = desktop
            .command("parec")
            .args([
                "-d",
                "vspk.monitor",
                "--rate=16000",
                "--channels=1",
                "--format=s16le",
            ])
            .stdout(std::fs::File::create(&file).expect("recording file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("parec runs (pulseaudio-utils)");
        Self { child, file }
    }

    /// Stops and returns the recorded samples.
    fn stop(mut self) -> Vec<i16> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read(&self.file)
            .expect("recording")
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }
}

/// Power at `hz` relative to the whole signal's (Goertzel), over `samples`.
fn tone_share(samples: &[i16], hz: f64, rate: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / rate;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2, mut energy) = (0.0_f64, 0.0_f64, 0.0_f64);
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 {
        0.0
    } else {
        2.0 * power / (energy * samples.len() as f64)
    }
}

/// The longest run of 100 ms windows in which the 440 Hz tone dominates.
fn tone_ms(samples: &[i16]) -> usize {
    let mut best = 0;
    let mut run = 0;
    for w in samples.chunks_exact(1600) {
        let loud = w.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0) > 2000;
        if loud && tone_share(w, elevenlabs_fake::TONE_HZ, 16_000.0) > 0.8 {
            run += 100;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// The n8n test workflow's record of the commands with these utterance ids.
fn received_for(base: &str, ids: &[u64]) -> Vec<Value> {
    peers::received(base)
        .into_iter()
        .filter(|r| {
            r["utterance_id"]
                .as_u64()
                .is_some_and(|id| ids.contains(&id))
        })
        .collect()
}

/// The command utterances among the newest `limit` the app saved, oldest
/// first: `history --json`.
fn saved_commands(desktop: &Desktop, limit: usize) -> Vec<Value> {
    let out = desktop.run(bin(), &["history", "--json", "--limit", &limit.to_string()]);
    let history: Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    let mut list: Vec<Value> = history
        .as_array()
        .expect("a list")
        .iter()
        .filter(|u| u["went"] == "n8n")
        .cloned()
        .collect();
    list.reverse();
    list
}

/// A queue bound to `amq.topic` with the app's routing key, read with lapin.
struct Consumer {
    runtime: tokio::runtime::Runtime,
    channel: lapin::Channel,
    queue: String,
}

impl Consumer {
    fn bind(url: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let queue = format!("e2e-{}", std::process::id());
        let channel = runtime.block_on(async {
            let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
                .await
                .expect("RabbitMQ answers");
            let channel = conn.create_channel().await.expect("channel");
            channel
                .queue_declare(
                    queue.as_str().into(),
                    lapin::options::QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..Default::default()
                    },
                    lapin::types::FieldTable::default(),
                )
                .await
                .expect("queue");
            channel
                .queue_bind(
                    queue.as_str().into(),
                    "amq.topic".into(),
                    "thread.tonny.prompt".into(),
                    lapin::options::QueueBindOptions::default(),
                    lapin::types::FieldTable::default(),
                )
                .await
                .expect("bind");
            channel
        });
        Self {
            runtime,
            channel,
            queue,
        }
    }

    /// The next message within 30 s: (message id, JSON body).
    fn next(&self) -> (String, Value) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.runtime.block_on(self.channel.basic_get(
                self.queue.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            ));
            if let Ok(Some(m)) = got {
                let id = m
                    .delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let body = serde_json::from_slice(&m.delivery.data).expect("JSON event");
                return (id, body);
            }
            assert!(Instant::now() < deadline, "no event reached the queue");
            sleep(Duration::from_millis(200));
        }
    }
}

/// Every file under `dir` (recursively) whose bytes contain `needle`,
/// except the keyring's own (encrypted) store.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.components().any(|c| c.as_os_str() == "keyrings") {
            continue;
        }
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}

#[test]
#[ignore = "needs the speech server, n8n, RabbitMQ, Xvfb and the virtual mic (ci/check.sh)"]
fn a_spoken_command_reaches_n8n_and_rabbitmq_and_its_reply_is_shown_and_spoken() {
    let (Some(n8n), Some(amqp)) = (peers::n8n_url(), peers::amqp_url()) else {
        return;
    };
    let fake = FakeElevenLabs::start();
    let consumer = Consumer::bind(&amqp);
    let broker = amqp.replace("guest:guest@", "guest@");
    let extra = format!("[rabbitmq]\nenabled = true\nurl = \"{broker}\"\n");
    let desktop = Desktop::start_full(
        &settings(&peers::ask_url(&n8n), &fake, &extra),
        TrayHost::Sni,
        &[
            ("elevenlabs-api-key", KEY),
            ("n8n-token", N8N_TOKEN),
            ("rabbitmq-password", AMQP_PASSWORD),
        ],
    );
    let wav = speak(
        desktop.dir.path(),
        "command",
        "en-us",
        "Computer, turn on the kitchen lights.",
        None,
    );
    desktop.focus_target();
    let recording = Recording::start(&desktop);
    dictate_holding_hotkey(&desktop, &wav);
    let status = desktop.wait_status("the reply", |s| s["reply"]["text"].is_string());
    eprintln!("status with the reply: {status}");
    let reply = status["reply"]["text"].as_str().expect("reply");
    assert!(reply.starts_with("You said: "), "{reply}");
    assert!(reply.to_lowercase().contains("kitchen"), "{reply}");
    let id = status["reply"]["utterance_id"]
        .as_u64()
        .expect("utterance id");
    // n8n's workflow received it once, with its id, profile and source.
    let got = received_for(&n8n, &[id]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["source"], "tonnytray");
    assert_eq!(got[0]["profile"], "default");
    // Punctuation is the recogniser's ("turn on the kitchen. lights." was
    // heard once); the words are what must arrive.
    assert!(
        got[0]["text"].as_str().is_some_and(|t| t
            .to_lowercase()
            .replace(|c: char| c.is_ascii_punctuation(), "")
            .contains("kitchen lights")),
        "{got:?}"
    );
    // RabbitMQ: the same command, with the utterance id as message id.
    let (message_id, event) = consumer.next();
    assert_eq!(message_id, id.to_string());
    assert_eq!(event["utterance_id"], id);
    assert_eq!(event["type"], "command");
    // Spoken: the fake's tone comes out of the app's speakers.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fake.requests().iter().any(|r| r.path.ends_with("/stream")) && Instant::now() < deadline
    {
        sleep(Duration::from_millis(100));
    }
    sleep(Duration::from_secs(3));
    let played = recording.stop();
    let tts = fake.requests();
    let speech = tts
        .iter()
        .find(|r| r.path.ends_with("/stream"))
        .expect("a speech request");
    assert_eq!(speech.json()["text"], reply);
    assert!(
        tone_ms(&played) >= 500,
        "the reply's tone was not heard ({} ms)",
        tone_ms(&played)
    );
    // A command is not typed into the focused window.
    assert_eq!(desktop.typed_text(), "", "the command was typed");
    // The history has it, with its n8n latency.
    let saved = saved_commands(&desktop, 100);
    assert_eq!(
        saved.last().and_then(|u| u["id"].as_u64()),
        Some(id),
        "{saved:?}"
    );
    // No secret in the logs, the settings, the store or anything else the
    // app wrote (the keyring's encrypted file aside).
    drop(desktop_quit(desktop, |d| {
        for secret in [N8N_TOKEN, KEY] {
            let found = files_containing(d.dir.path(), secret);
            assert!(found.is_empty(), "{secret:?} found in {found:?}");
        }
    }));
}

/// Quits the app (so its files are complete), then runs `check`.
fn desktop_quit(mut desktop: Desktop, check: impl FnOnce(&Desktop)) -> Desktop {
    desktop.quit();
    if let Some(app) = desktop.app.as_mut() {
        crate::desktop::end_gracefully(app);
    }
    check(&desktop);
    desktop
}

#[test]
#[ignore = "needs the speech server, n8n, Xvfb and the virtual mic (ci/check.sh)"]
fn commands_spoken_while_n8n_is_down_all_arrive_in_order_once_it_is_back() {
    let Some(mut n8n) = N8n::start() else {
        return;
    };
    let fake = FakeElevenLabs::start();
    n8n.stop();
    let desktop = Desktop::start_full(
        &settings(&peers::ask_url(&n8n.url()), &fake, "[commands.extra]\n")
            .replace("[commands.extra]\n", ""),
        TrayHost::Sni,
        &[],
    );
    // CI speaks 20; `ci/reliability.sh commands-n8n-down 100` asks for
    // more (docs/RELIABILITY.md).
    let count: usize = std::env::var("TONNYTRAY_TEST_COMMANDS").map_or(20, |n| {
        n.parse().expect("TONNYTRAY_TEST_COMMANDS is a count")
    });
    for i in 0..count {
        let wav = speak(
            desktop.dir.path(),
            &format!("c{i}"),
            "en-us",
            &format!("Computer, add note number {}.", i + 1),
            None,
        );
        dictate_holding_hotkey(&desktop, &wav);
        desktop.wait_status("the command to be queued", |s| {
            s["state"] == "Idle" && s["log"].as_array().is_some_and(|l| l.len() > i)
        });
    }
    let status = desktop.wait_status("every command waiting", |s| {
        s["outbox"].as_array().is_some_and(|o| o.len() == count)
    });
    assert!(
        status["delivery_status"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{status}"
    );
    let saved: Vec<u64> = saved_commands(&desktop, count)
        .iter()
        .filter_map(|u| u["id"].as_u64())
        .collect();
    assert_eq!(
        saved.len(),
        count,
        "every utterance was heard as a command: {saved:?}"
    );
    n8n.start_again();
    desktop.wait_status("the outbox to empty", |s| {
        s["outbox"].as_array().is_some_and(Vec::is_empty)
    });
    let got: Vec<u64> = received_for(&n8n.url(), &saved)
        .iter()
        .filter_map(|r| r["utterance_id"].as_u64())
        .collect();
    assert_eq!(got, saved, "all {count}, in order, once each");
    eprintln!("{count} commands queued while n8n was down, all delivered in order, once each");
}

#[test]
#[ignore = "needs the speech server, n8n, Xvfb and the virtual mic (ci/check.sh)"]
fn a_kids_blocked_command_never_reaches_n8n_and_the_pin_gate_holds() {
    let Some(n8n) = peers::n8n_url() else {
        return;
    };
    let fake = FakeElevenLabs::start();
    let pin = "97531";
    let hash = tonnytray::core::policy::hash_pin(pin).expect("hash");
    let profiles = format!(
        "active_profile = \"Kids\"\n\
         [[profiles]]\nname = \"Dad\"\nrole = \"admin\"\npin_hash = \"{hash}\"\n\
         [[profiles]]\nname = \"Kids\"\nrole = \"kid\"\nallow = [\"play *\"]\nblock = [\"*door*\"]\n"
    );
    let text = settings(&peers::ask_url(&n8n), &fake, "");
    let desktop = Desktop::start_full(&format!("{profiles}{text}"), TrayHost::Sni, &[]);
    let wav = speak(
        desktop.dir.path(),
        "blocked",
        "en-us",
        "Computer, open the front door.",
        None,
    );
    dictate_holding_hotkey(&desktop, &wav);
    let status = desktop.wait_status("the refusal", |s| {
        s["state"] == "Idle" && s["log"].as_array().is_some_and(|l| !l.is_empty())
    });
    eprintln!("status: {status}");
    assert_eq!(status["profile"], "Kids");
    assert!(status["locked"].as_bool().unwrap_or(false), "{status}");
    let typed = status["log"][0]["typed"].as_str().unwrap_or("");
    assert!(typed.contains("refused"), "{status}");
    let id = status["log"][0]["saved"].as_u64().expect("saved");
    assert!(
        status["outbox"].as_array().is_some_and(Vec::is_empty),
        "{status}"
    );
    sleep(Duration::from_secs(2));
    assert!(
        received_for(&n8n, &[id]).is_empty(),
        "a blocked command reached n8n"
    );
    // The PIN gate: a switch without the admin's PIN is refused and the
    // kid profile stays; with it the switch happens.
    let switch = |pin: Option<&str>| {
        let mut args = vec!["profile", "Dad"];
        if let Some(p) = pin {
            args.extend(["--pin-stdin"]);
            let mut c = desktop.command(bin());
            c.args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c.spawn().expect("tonnytray profile");
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(p.as_bytes())
                .expect("pin");
            child.wait_with_output().expect("output")
        } else {
            desktop
                .command(bin())
                .args(&args)
                .output()
                .expect("tonnytray profile")
        }
    };
    let out = switch(None);
    assert!(!out.status.success(), "switched without a PIN");
    let out = switch(Some("11111"));
    assert!(!out.status.success(), "switched with a wrong PIN");
    assert_eq!(desktop.status().expect("status")["profile"], "Kids");
    let out = switch(Some(pin));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    desktop.wait_status("the switch", |s| {
        s["profile"] == "Dad" && s["locked"] == false
    });
    // The PIN itself is nowhere the app writes.
    drop(desktop_quit(desktop, |d| {
        let found = files_containing(d.dir.path(), pin);
        assert!(found.is_empty(), "the PIN found in {found:?}");
    }));
}
