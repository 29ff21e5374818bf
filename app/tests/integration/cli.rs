//! Fast command-line tests that need no peers: bad input gives the promised
//! exit code and a message that names the problem and what to do.

use std::process::{Command, Output};

use crate::common::{bin, normalise, wer};

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

/// Runs a store subcommand on the store `db`, with no running app to ask
/// (a private runtime dir) and no user settings.
fn store_cmd(dir: &std::path::Path, args: &[&str]) -> Output {
    let runtime = dir.join("run");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    Command::new(bin())
        .arg("--db")
        .arg(dir.join("history.redb"))
        .args(args)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .output()
        .expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn history_import_backup_and_restore_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/fixtures/schema-1.json"
    );
    let o = store_cmd(d, &["import", fixture]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("imported 3 utterances"),
        "{}",
        stdout(&o)
    );
    let o = store_cmd(d, &["history", "search", "KITCHEN", "--json"]);
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["text"], "Turn on the kitchen lights");
    let o = store_cmd(d, &["history", "--profile", "kids"]);
    assert!(stdout(&o).contains("dinosaur"), "{}", stdout(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));

    let o = store_cmd(d, &["backup"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let backup = stdout(&o).trim().to_owned();
    assert!(backup.ends_with(".redb.gz"), "{backup}");
    let listed = stdout(&store_cmd(d, &["backup", "--list"]));
    assert!(listed.contains(&backup), "{listed}");

    // Change, then restore: the change is gone, and the replaced file was kept.
    let extra = d.join("extra.json");
    std::fs::write(
        &extra,
        r#"{"format":"tonnytray-export","version":1,"settings":null,"utterances":[{"id":5,"profile":"default","text":"an extra one","favourite":false,"duration_ms":1,"latency":{"final_text_ms":null,"typing_ms":null,"command_ms":null},"went":"typed"}]}"#,
    )
    .expect("write");
    assert!(
        store_cmd(d, &["import", extra.to_str().expect("utf-8")])
            .status
            .success()
    );
    assert!(stdout(&store_cmd(d, &["history"])).contains("an extra one"));
    let o = store_cmd(d, &["restore", &backup]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the replaced store was kept as"),
        "{}",
        stderr(&o)
    );
    let after = stdout(&store_cmd(d, &["history"]));
    assert!(!after.contains("an extra one"), "{after}");
    assert_eq!(after.lines().count(), 3, "{after}");
    assert_eq!(
        stdout(&store_cmd(d, &["backup", "--list"])).lines().count(),
        2
    );

    let o = store_cmd(d, &["migrate", "--status"]);
    assert!(
        stdout(&o).starts_with("schema version 1;"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_store_input_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let o = store_cmd(d, &["history", "--since", "last tuesday"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("\"last tuesday\" is not a date"),
        "{}",
        stderr(&o)
    );
    let notes = d.join("notes.json");
    std::fs::write(&notes, "{\"shopping\": [\"milk\"]}").expect("write");
    let o = store_cmd(d, &["import", notes.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a TonnyTray export"),
        "{}",
        stderr(&o)
    );
    // A damaged store file is named, and the newest backup offered.
    std::fs::write(d.join("history.redb"), vec![0x5a; 8192]).expect("write");
    let o = store_cmd(d, &["history"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("history.redb is damaged"), "{err}");
    assert!(err.contains("there is no backup to restore"), "{err}");
}
