//! Fast command-line tests that need no peers: bad input gives the promised
//! exit code and a message that names the problem and what to do.

mod common;

use std::process::{Command, Output};

use common::{bin, normalise, wer};

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("TONNYTRAY_SERVER_URL")
        .output()
        .expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_wav_exits_2_naming_the_file() {
    let o = run(&["transcribe", "/nonexistent/dir/speech.wav"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/dir/speech.wav"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn non_wav_file_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.wav");
    std::fs::write(&path, "shopping list: milk, eggs").expect("write");
    let o = run(&["transcribe", path.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a readable WAV file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn directory_instead_of_file_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = run(&["transcribe", dir.path().to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn bad_server_url_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = write_silence(dir.path());
    let o = run(&["transcribe", &wav, "--server", "http://127.0.0.1:8888/asr"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("ws://"), "{}", stderr(&o));
}

#[test]
fn unreachable_server_exits_3_naming_url_and_remedy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = write_silence(dir.path());
    // Port 9 (discard) is closed on loopback here: the connection is refused.
    let url = "ws://127.0.0.1:9/asr";
    let o = run(&["transcribe", &wav, "--server", url]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains(url), "{err}");
    assert!(err.contains("scripts/asr-server.sh"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn server_url_comes_from_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = write_silence(dir.path());
    let url = "ws://127.0.0.1:9/from-env";
    let o = Command::new(bin())
        .args(["transcribe", &wav])
        .env("TONNYTRAY_SERVER_URL", url)
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains(url), "{}", stderr(&o));
}

#[test]
fn help_lists_the_subcommands() {
    let o = run(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for sub in ["transcribe", "listen", "devices"] {
        assert!(text.contains(sub), "{sub} missing from help:\n{text}");
    }
}

#[test]
fn listen_rejects_a_non_positive_duration() {
    let o = run(&["listen", "--seconds", "-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn word_error_rate_normalises_case_punctuation_and_numbers() {
    assert_eq!(
        normalise("Set a timer for ten minutes."),
        ["set", "a", "timer", "for", "10", "minutes"]
    );
    assert!(wer("set a timer for ten minutes", "Set a timer for 10 minutes.").abs() < 1e-9);
    assert!((wer("one two three four", "one too three four") - 0.25).abs() < 1e-9);
    assert!((wer("a b", "") - 1.0).abs() < 1e-9);
    assert!((wer("a b", "a b c d") - 1.0).abs() < 1e-9);
}

fn write_silence(dir: &std::path::Path) -> String {
    let path = dir.join("silence.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("create");
    for _ in 0..1_600 {
        w.write_sample(0_i16).expect("write");
    }
    w.finalize().expect("finalize");
    path.to_str().expect("utf-8").to_owned()
}

#[test]
fn the_desktop_app_without_a_display_says_how_to_dictate_instead() {
    let o = Command::new(bin())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("binary runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tonnytray listen"), "{}", stderr(&o));
}

#[test]
fn status_without_a_running_app_exits_3_and_says_how_to_start_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Command::new(bin())
        .arg("status")
        .env("XDG_RUNTIME_DIR", dir.path())
        .output()
        .expect("binary runs");
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("not running"), "{}", stderr(&o));
}
