//! The operations side end to end, against REAL peers: a real Prometheus
//! (Debian's package) scrapes the running desktop app's `/metrics`, and the
//! WhisperLiveKit server the app starts itself is killed mid-dictation and
//! restarted by the app's supervisor without losing a word. Ignored by a
//! plain `cargo test`; `ci/check.sh` runs them with `--run-ignored all`
//! (the speech server's environment, the virtual mic, Xvfb and trayer).

use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::common::speak;
use crate::desktop::*;
use serde_json::Value;

/// A port nobody listens on now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A child process killed when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_json(url: &str) -> Option<Value> {
    let mut r = ureq::get(url).call().ok()?;
    r.body_mut().read_json().ok()
}

/// One instant query against Prometheus: the result vector.
fn query(prometheus: u16, promql: &str) -> Vec<Value> {
    let url = format!(
        "http://127.0.0.1:{prometheus}/api/v1/query?query={}",
        promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    );
    get_json(&url)
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
}

fn value_of(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
#[ignore = "needs Prometheus, Xvfb, trayer, the speech server and the virtual mic (ci/check.sh)"]
fn prometheus_scrapes_the_running_apps_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "metrics", "en-us", TEXT, None);
    let metrics_port = free_port();
    let settings = format!(
        "{}[telemetry]\nmetrics_enabled = true\nmetrics_port = {metrics_port}\n",
        settings("push_to_talk")
    );
    let mut desktop = Desktop::start(&settings);
    desktop.focus_target();
    dictate_holding_hotkey(&desktop, &wav);
    let status = wait_utterance(&desktop);
    let said = status["log"][0]["text"].as_str().unwrap_or("").to_owned();

    let prometheus_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: tonnytray\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .expect("config");
    let _prometheus = Guard(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).expect("log"))
            .spawn()
            .expect("prometheus runs (Debian package, installed by scripts/install-deps.sh)"),
    );

    // Scraped at least once with the utterance counted.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut utterances = Vec::new();
    while Instant::now() < deadline {
        utterances = query(prometheus_port, "tonnytray_utterances_total");
        if utterances.first().is_some_and(|s| value_of(s) >= 1.0) {
            break;
        }
        sleep(Duration::from_millis(500));
    }
    let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    assert!(
        utterances.first().is_some_and(|s| value_of(s) >= 1.0),
        "Prometheus did not see the utterance: {utterances:?}\n{log}"
    );
    let up = query(prometheus_port, "up{job=\"tonnytray\"}");
    assert_eq!(up.first().map(value_of), Some(1.0), "{up:?}");

    let names: Vec<String> = query(
        prometheus_port,
        "count by (__name__) ({__name__=~\"tonnytray_.+\"})",
    )
    .iter()
    .filter_map(|s| s["metric"]["__name__"].as_str().map(str::to_owned))
    .collect();
    for expected in [
        "tonnytray_uptime_seconds",
        "tonnytray_server_up",
        "tonnytray_server_restarts_total",
        "tonnytray_ws_connections_total",
        "tonnytray_ws_reconnects_total",
        "tonnytray_audio_frames_total",
        "tonnytray_audio_overflows_total",
        "tonnytray_utterances_total",
        "tonnytray_integration_requests_total",
        "tonnytray_integration_errors_total",
        "tonnytray_final_text_latency_seconds_bucket",
        "tonnytray_final_text_latency_seconds_count",
        "tonnytray_outbox_pending",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not scraped; have {names:?}"
        );
    }
    // The shared server answers: the supervisor says so.
    let server_up = query(prometheus_port, "tonnytray_server_up");
    assert_eq!(server_up.first().map(value_of), Some(1.0), "{server_up:?}");
    let frames = query(prometheus_port, "tonnytray_audio_frames_total");
    assert!(
        frames.first().is_some_and(|s| value_of(s) > 10.0),
        "{frames:?}"
    );
    let labels = query(prometheus_port, "tonnytray_integration_requests_total");
    assert_eq!(labels.len(), 3, "one series per integration: {labels:?}");

    assert_json_logs(&desktop, metrics_port);
    assert_metrics_hold_no_words(metrics_port, &said);
    desktop.quit();
}

/// The endpoint is open to every local user (and to Prometheus): it must
/// count what was said, never show it.
fn assert_metrics_hold_no_words(metrics_port: u16, said: &str) {
    let body = ureq::get(&format!("http://127.0.0.1:{metrics_port}/metrics"))
        .call()
        .expect("GET /metrics")
        .into_body()
        .read_to_string()
        .expect("body");
    assert!(body.contains("tonnytray_utterances_total"), "{body}");
    // The samples (names, labels, values): `# HELP` lines are fixed text
    // of the app's own and may well use an everyday word.
    let lower: String = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    // Words long enough not to occur in metric names by chance.
    let words: Vec<String> = said
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 5)
        .map(str::to_lowercase)
        .collect();
    assert!(
        words.len() >= 3,
        "too few words were heard to check: {said:?}"
    );
    for word in &words {
        assert!(
            !lower.contains(word.as_str()),
            "/metrics shows what was said ({word}):\n{body}"
        );
    }
}

/// The desktop app also logs JSON lines to daily files in its data dir.
fn assert_json_logs(desktop: &Desktop, metrics_port: u16) {
    let logs = desktop.dir.path().join("home/.local/share/tonnytray/logs");
    let file = std::fs::read_dir(&logs)
        .expect("log dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a JSON log file");
    let text = std::fs::read_to_string(&file).expect("log");
    let line: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert!(
        line["level"].is_string() && line["timestamp"].is_string(),
        "{line}"
    );
    assert!(
        text.contains(&format!(
            "serving metrics on http://127.0.0.1:{metrics_port}/metrics"
        )),
        "{text}"
    );
}

/// Sentences with one key word each, long enough to kill the server in the
/// middle of them.
const LONG_TEXT: &str = "The quick brown fox jumps over the lazy dog. \
    Remind me to call my sister after dinner tonight. \
    Close the garage door and turn off the kitchen lights. \
    Turn on the living room lights and set a timer for ten minutes. \
    Please add apples and bananas to the shopping list. \
    What is the weather going to be like tomorrow morning?";

/// Ends the managed server on `port` if the app could not (a failed test).
struct ServerOnPort(u16);

impl Drop for ServerOnPort {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args([
                "-9",
                "-f",
                &format!("whisperlivekit-server.*--port {}", self.0),
            ])
            .status();
    }
}

/// Waits up to `secs` for the app's status to satisfy `done`.
fn wait_long(desktop: &Desktop, secs: u64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Some(s) = desktop.status() {
            if done(&s) {
                return s;
            }
            last = s;
        }
        sleep(Duration::from_millis(500));
    }
    panic!("timed out waiting for {what}; last status: {last}");
}

#[test]
#[ignore = "needs the speech server's environment, Xvfb, trayer and the virtual mic (ci/check.sh)"]
fn a_killed_managed_server_is_restarted_and_dictation_loses_no_words() {
    let port: u16 = std::env::var("TONNYTRAY_TEST_MANAGED_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(18892);
    let _cleanup = ServerOnPort(port);
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "long", "en-gb", LONG_TEXT, None);
    let settings = format!(
        "[server]\nurl = \"ws://127.0.0.1:{port}/asr\"\n[hotkey]\nmode = \"push_to_talk\"\n[typing]\ndelay_ms = 4\n"
    );
    let mut desktop = Desktop::start(&settings);
    // Nothing answered on the port: the app started its own server.
    let status = wait_long(&desktop, 600, "the managed server to be up", |s| {
        s["server"]["mode"] == "managed" && s["server"]["up"] == true
    });
    let first_pid = status["server"]["pid"].as_u64().expect("pid");
    assert_eq!(status["server"]["restarts"], 0, "{status}");

    desktop.focus_target();
    desktop.run("xdotool", &["keydown", "ctrl+shift+v"]);
    wait_mic_open(&desktop);
    let mut player = desktop
        .command("paplay")
        .args(["-d", "vmic_sink"])
        .arg(&wav)
        .spawn()
        .expect("paplay");
    // Mid-way through the second sentence, as a crash would.
    sleep(Duration::from_secs(6));
    let killed = Command::new("kill")
        .args(["-9", &first_pid.to_string()])
        .status()
        .expect("kill");
    assert!(
        killed.success(),
        "the server's pid {first_pid} was not there"
    );
    assert!(player.wait().expect("paplay").success());
    sleep(Duration::from_millis(800));
    desktop.run("xdotool", &["keyup", "ctrl+shift+v"]);

    let status = wait_long(&desktop, 600, "the utterance to finish", |s| {
        s["state"] == "Idle" && s["log"].as_array().is_some_and(|l| !l.is_empty())
    });
    eprintln!("final status: {status}");
    let server = &status["server"];
    assert_eq!(server["mode"], "managed", "{status}");
    assert_eq!(server["up"], true, "{status}");
    assert!(
        server["restarts"].as_u64().is_some_and(|n| n >= 1),
        "{status}"
    );
    assert_ne!(server["pid"].as_u64(), Some(first_pid), "{status}");

    let heard = status["log"][0]["text"].as_str().expect("text").to_owned();
    crate::common::assert_wer(LONG_TEXT, &heard, MAX_WER);
    // Beyond the error rate: not one sentence may be missing, heard or typed.
    assert_same_words(|| desktop.typed_text(), &heard);
    crate::common::assert_every_sentence_heard(LONG_TEXT, &heard);
    // The app's log viewer and files have the server's own output.
    let log = std::fs::read_to_string(desktop.dir.path().join("app.log")).unwrap_or_default();
    assert!(
        log.contains("asr-server:"),
        "the server's output is not logged"
    );

    desktop.quit();
    // Quitting the app stops the server it started.
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = format!("http://127.0.0.1:{port}/health");
    while Instant::now() < deadline && ureq::get(&health).call().is_ok() {
        sleep(Duration::from_millis(500));
    }
    assert!(
        ureq::get(&health).call().is_err(),
        "the managed server outlived the app"
    );
}
