//! The desktop app end to end against REAL peers: an X server (Xvfb), a real
//! tray host (trayer), an xterm that receives the typed words, the
//! WhisperLiveKit server and the PulseAudio virtual microphone that
//! `ci/check.sh` starts. Hotkeys and tray clicks are sent with xdotool, as
//! a user's keyboard and mouse would send them. Ignored by a plain
//! `cargo test`; `ci/check.sh` runs them with `--run-ignored all`.
//!
//! What the app heard is read back through `tonnytray status` (the running
//! app's JSON snapshot); what it typed is read from the file the xterm's
//! `cat` writes. Screenshots go to `$TONNYTRAY_TEST_ARTIFACTS`, and to
//! `docs/screenshots/` when `TONNYTRAY_UPDATE_SCREENSHOTS=1`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{assert_wer, bin, repo_root, server_url, speak};
use serde_json::Value;

/// These tests check that what was heard is what was typed, word for word;
/// how well tiny.en hears is `e2e_speech`'s concern (15 % there). Here the
/// error rate only shows the words came from this speech: tiny.en now and
/// then mishears the first words of a sentence whose audio starts the
/// stream ("Please, now that will" for "Please add apples and").
const MAX_WER: f64 = 0.35;
const TEXT: &str = "Please add apples and bananas to the shopping list. \
    Remind me to call my sister after dinner tonight.";

/// One private desktop: X server, tray host, target window, the app.
struct Desktop {
    dir: tempfile::TempDir,
    display: String,
    children: Vec<Child>,
    /// The app, under its own dbus-run-session.
    app: Option<Child>,
    typed: PathBuf,
}

impl Desktop {
    fn start(settings: &str) -> Self {
        Self::start_with(settings, true)
    }

    /// With or without a tray host.
    fn start_with(settings: &str, tray_host: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = dir.path().join("xdg");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        set_private(&runtime);
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs (installed by scripts/install-deps.sh)");
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("display number");
        let display = format!(":{}", line.trim());
        let mut me = Self {
            typed: dir.path().join("typed.txt"),
            dir,
            display,
            children: vec![xvfb],
            app: None,
        };
        if tray_host {
            let trayer = me
                .command("trayer")
                .args([
                    "--edge",
                    "top",
                    "--align",
                    "right",
                    "--widthtype",
                    "request",
                ])
                .args([
                    "--height",
                    "32",
                    "--transparent",
                    "false",
                    "--tint",
                    "0xffffff",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("trayer runs");
            me.children.push(trayer);
            me.wait_window("--class", "trayer");
        }
        let typed = me.typed.display().to_string();
        let xterm = me
            .command("xterm")
            .args([
                "-geometry",
                "100x8+0+560",
                "-title",
                "target",
                "-e",
                "sh",
                "-c",
            ])
            .arg(format!("stty raw -echo; exec cat > '{typed}'"))
            .spawn()
            .expect("xterm runs");
        me.children.push(xterm);
        let settings_path = me.dir.path().join("settings.toml");
        std::fs::write(&settings_path, settings).expect("settings");
        let app = me
            .command("dbus-run-session")
            .arg("--")
            .arg(bin())
            .arg("--settings")
            .arg(&settings_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(me.dir.path().join("app.log")).expect("log"))
            .spawn()
            .expect("the app starts");
        me.app = Some(app);
        me.wait_status("the app to start", |s| s["state"] == "Idle");
        me.wait_window("--name", "TonnyTray");
        me
    }

    /// A command in this desktop's session.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("DISPLAY", &self.display)
            .env("XDG_RUNTIME_DIR", self.dir.path().join("xdg"))
            .env("TONNYTRAY_DB", self.dir.path().join("history.redb"))
            .env_remove("WAYLAND_DISPLAY");
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn status(&self) -> Option<Value> {
        let out = self.command(bin()).arg("status").output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(s) = self.status() {
                if done(&s) {
                    return s;
                }
                last = Some(s);
            }
            sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.path().join("app.log")).unwrap_or_default();
        panic!("timed out waiting for {what}; last status {last:?}\napp log:\n{log}");
    }

    fn wait_window(&self, how: &str, name: &str) -> String {
        let out = self.run("xdotool", &["search", "--sync", "--onlyvisible", how, name]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("a window")
            .to_owned()
    }

    /// Gives the keyboard to the xterm, as a user clicking into it would.
    fn focus_target(&self) {
        let target = self.wait_window("--name", "target");
        self.run("xdotool", &["windowfocus", "--sync", &target]);
    }

    /// The centre of the tray icon, from the tray host's window.
    fn tray_icon_centre(&self) -> (i32, i32) {
        let trayer = self.wait_window("--class", "trayer");
        let out = self.run("xdotool", &["getwindowgeometry", "--shell", &trayer]);
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |k: &str| -> i32 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{k} in {text}"))
        };
        (get("X") + get("WIDTH") / 2, get("Y") + get("HEIGHT") / 2)
    }

    /// The colour at the tray icon's left edge (inside the disc, beside the
    /// microphone glyph), as the X server shows it.
    fn tray_colour(&self) -> [u8; 3] {
        let (x, y) = self.tray_icon_centre();
        let crop = format!("1x1+{}+{y}", x - 8);
        let out = self.run(
            "import",
            &["-window", "root", "-crop", &crop, "-depth", "8", "rgb:-"],
        );
        match out.stdout[..] {
            [r, g, b, ..] => [r, g, b],
            _ => panic!("no pixel from import: {:?}", out.stdout),
        }
    }

    fn wait_tray_colour(&self, expected: [u8; 3], what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = [0; 3];
        while Instant::now() < deadline {
            seen = self.tray_colour();
            if seen.iter().zip(expected).all(|(a, b)| a.abs_diff(b) <= 24) {
                return;
            }
            sleep(Duration::from_millis(100));
        }
        panic!("tray icon should be {what} {expected:?}, is {seen:?}");
    }

    /// Clicks the tray icon and waits for the menu to be on screen: keys
    /// sent before it is would go to the focused window instead.
    fn open_tray_menu(&self) {
        let (x, y) = self.tray_icon_centre();
        self.run(
            "xdotool",
            &["mousemove", &x.to_string(), &y.to_string(), "click", "1"],
        );
        // GTK names its menu windows after the program; the app's own window
        // has an empty instance name and the GTK leader window is unmapped.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self
                .command("xdotool")
                .args(["search", "--onlyvisible", "--classname", "^tonnytray$"])
                .output()
                .expect("xdotool runs");
            if !out.stdout.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "the tray menu did not open");
            sleep(Duration::from_millis(50));
        }
        // The menu maps, then grabs the pointer and keyboard.
        sleep(Duration::from_millis(200));
    }

    fn click_tray_item(&self, downs: usize) {
        self.open_tray_menu();
        for _ in 0..downs {
            self.run("xdotool", &["key", "Down"]);
        }
        self.run("xdotool", &["key", "Return"]);
    }

    fn screenshot(&self, name: &str) {
        let mut targets = Vec::new();
        if let Some(dir) = std::env::var_os("TONNYTRAY_TEST_ARTIFACTS") {
            targets.push(PathBuf::from(dir));
        }
        if std::env::var_os("TONNYTRAY_UPDATE_SCREENSHOTS").is_some() {
            targets.push(repo_root().join("docs/screenshots"));
        }
        for dir in targets {
            std::fs::create_dir_all(&dir).expect("screenshot dir");
            let path = dir.join(format!("{name}.png"));
            self.run("import", &["-window", "root", &path.display().to_string()]);
        }
    }

    fn typed_text(&self) -> String {
        std::fs::read_to_string(&self.typed).unwrap_or_default()
    }

    fn quit(&mut self) {
        let _ = self.command(bin()).arg("quit").output();
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        // The app (under dbus-run-session) must end by itself: killing
        // dbus-run-session would orphan its bus and the accessibility
        // daemons, which pile up and exhaust the inotify limit.
        self.quit();
        if let Some(app) = self.app.as_mut() {
            end_gracefully(app);
        }
        // A failed test leaves the app's log beside its screenshots.
        if let (true, Some(dir)) = (
            std::thread::panicking(),
            std::env::var_os("TONNYTRAY_TEST_ARTIFACTS"),
        ) {
            let name = std::thread::current().name().unwrap_or("test").to_owned();
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::copy(
                self.dir.path().join("app.log"),
                PathBuf::from(dir).join(format!("{name}-app.log")),
            );
        }
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for a process that was asked to quit; kills it after 10 s.
fn end_gracefully(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
}

fn settings(mode: &str) -> String {
    format!(
        "[server]\nurl = \"{}\"\n[hotkey]\nmode = \"{mode}\"\n[typing]\ndelay_ms = 4\n",
        server_url()
    )
}

fn play(desktop: &Desktop, wav: &Path) {
    let status = desktop
        .command("paplay")
        .args(["-d", "vmic_sink"])
        .arg(wav)
        .status()
        .expect("paplay runs (PULSE_SERVER is set by ci/check.sh)");
    assert!(status.success(), "paplay failed");
}

/// Waits until the microphone is really open (the status names it), so the
/// speech played next is heard from its first word.
fn wait_mic_open(desktop: &Desktop) {
    desktop.wait_status("the microphone to open", |s| {
        s["state"] == "Listening"
            && s["status"]
                .as_str()
                .is_some_and(|t| t.starts_with("Listening on"))
    });
}

/// Waits for the first utterance to finish; the app's status then.
fn wait_utterance(desktop: &Desktop) -> Value {
    desktop.wait_status("the utterance to finish", |s| {
        s["state"] == "Idle" && s["log"].as_array().is_some_and(|l| !l.is_empty())
    })
}

/// Holds the hotkey while `wav` plays into the microphone.
fn dictate_holding_hotkey(desktop: &Desktop, wav: &Path) {
    desktop.run("xdotool", &["keydown", "ctrl+shift+v"]);
    wait_mic_open(desktop);
    play(desktop, wav);
    sleep(Duration::from_millis(800));
    desktop.run("xdotool", &["keyup", "ctrl+shift+v"]);
}

/// Starts the Tk entry of `app/tests/fixtures/paste_target.py`, focused;
/// the file it writes its text to.
fn start_tk_target(desktop: &mut Desktop, file: &str) -> PathBuf {
    let out = desktop.dir.path().join(file);
    let target = desktop
        .command("/usr/bin/python3")
        .arg(repo_root().join("app/tests/fixtures/paste_target.py"))
        .arg(&out)
        .spawn()
        .expect("python3-tk runs (installed by scripts/install-deps.sh)");
    desktop.children.push(target);
    let window = desktop.wait_window("--name", "paste-target");
    desktop.run("xdotool", &["windowfocus", "--sync", &window]);
    out
}

/// Waits for the utterance to finish, then checks what was heard and typed.
fn check_heard_and_typed(desktop: &Desktop) {
    let status = wait_utterance(desktop);
    let heard = status["log"][0]["text"].as_str().expect("text").to_owned();
    eprintln!("final status: {status}");
    assert_wer(TEXT, &heard, MAX_WER);
    assert_eq!(status["log"][0]["typed"], "typed", "{status}");
    assert_same_words(|| desktop.typed_text(), &heard);
    assert_in_history(desktop, &status);
}

/// The finished utterance was saved before it was reported, and `tonnytray
/// history` (answered by the running app, which holds the store) finds it.
fn assert_in_history(desktop: &Desktop, status: &Value) {
    let saved = status["log"][0]["saved"].as_u64();
    assert!(saved.is_some(), "reported before it was saved: {status}");
    let out = desktop.run(bin(), &["history", "--json", "--limit", "1"]);
    let history: Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    assert_eq!(history[0]["id"].as_u64(), saved, "{history}");
    assert_eq!(history[0]["text"], status["log"][0]["text"], "{history}");
    assert_eq!(history[0]["went"], "typed", "{history}");
}

/// A backup made while the app runs (through its socket) holds the
/// utterance, and restores into another store file.
fn assert_backup_while_running(desktop: &Desktop, text: &Value) {
    let backups = desktop.dir.path().join("backups");
    let out = desktop.run(
        bin(),
        &["backup", "--dir", backups.to_str().expect("utf-8")],
    );
    let file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(file.ends_with(".redb.gz"), "{file}");
    let copy = desktop.dir.path().join("restored.redb");
    let out = desktop.run(
        bin(),
        &["--db", copy.to_str().expect("utf-8"), "restore", &file],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("restored 1 utterances"),
        "{out:?}"
    );
    let out = desktop.run(
        bin(),
        &["--db", copy.to_str().expect("utf-8"), "history", "--json"],
    );
    let history: Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    assert_eq!(&history[0]["text"], text, "{history}");
}

/// Every heard word must arrive in the target, in order: a key lost to a
/// menu or a grab, or typed out of order, shows here even when the speech
/// itself was misheard.
fn assert_same_words(read: impl Fn() -> String, heard: &str) {
    let words = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(20);
    while words(&read()) != words(heard) && Instant::now() < deadline {
        sleep(Duration::from_millis(200));
    }
    assert_eq!(
        words(&read()),
        words(heard),
        "the typed words are not the heard ones"
    );
}

/// The app's process shows in the X server as a real window and a tray icon.
const IDLE: [u8; 3] = [0x5b, 0x8d, 0xef];
const LISTENING: [u8; 3] = [0xe5, 0x39, 0x35];

#[test]
#[ignore = "needs Xvfb, trayer, the speech server and the virtual mic (ci/check.sh)"]
fn holding_the_hotkey_dictates_and_types_into_the_focused_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "ptt", "en-us", TEXT, None);
    let mut desktop = Desktop::start(&settings("push_to_talk"));
    desktop.wait_tray_colour(IDLE, "idle blue");
    desktop.focus_target();
    desktop.run("xdotool", &["keydown", "ctrl+shift+v"]);
    wait_mic_open(&desktop);
    desktop.wait_tray_colour(LISTENING, "listening red");
    play(&desktop, &wav);
    desktop.screenshot("popover");
    sleep(Duration::from_millis(800));
    desktop.run("xdotool", &["keyup", "ctrl+shift+v"]);
    check_heard_and_typed(&desktop);
    desktop.wait_tray_colour(IDLE, "idle blue again");
    let status = desktop.status().expect("status");
    assert_backup_while_running(&desktop, &status["log"][0]["text"]);
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb, trayer, the speech server and the virtual mic (ci/check.sh)"]
fn pressing_the_hotkey_twice_in_toggle_mode_dictates_and_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "toggle", "en-gb", TEXT, Some((44_100, 2)));
    let mut desktop = Desktop::start(&settings("toggle"));
    desktop.focus_target();
    desktop.run("xdotool", &["key", "ctrl+shift+v"]);
    wait_mic_open(&desktop);
    play(&desktop, &wav);
    sleep(Duration::from_millis(800));
    desktop.run("xdotool", &["key", "ctrl+shift+v"]);
    check_heard_and_typed(&desktop);
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb, trayer, the speech server and the virtual mic (ci/check.sh)"]
fn the_tray_menu_starts_and_stops_recording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "tray", "en-us", TEXT, None);
    // Slow typing keeps words in flight when the menu is clicked open.
    let slow = settings("push_to_talk").replace("delay_ms = 4", "delay_ms = 60");
    let mut desktop = Desktop::start(&slow);
    desktop.focus_target();
    desktop.click_tray_item(1);
    wait_mic_open(&desktop);
    desktop.wait_tray_colour(LISTENING, "listening red");
    play(&desktop, &wav);
    sleep(Duration::from_millis(800));
    // The menu opened next holds the keyboard while words are still being
    // typed: the click must wait for the word in flight and typing for the
    // menu to close, or X11 would hand those words to the menu.
    desktop.open_tray_menu();
    desktop.screenshot("tray-menu");
    desktop.run("xdotool", &["key", "Down", "Return"]);
    check_heard_and_typed(&desktop);
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb, trayer, the speech server and the virtual mic (ci/check.sh)"]
fn voice_activation_dictates_without_any_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "vad", "en-us", TEXT, None);
    let mut desktop = Desktop::start(&format!(
        "{}[voice_activation]\nenabled = true\nsilence_stop_secs = 1.5\n",
        settings("push_to_talk")
    ));
    desktop.focus_target();
    desktop.wait_status("voice activation to listen for speech", |s| {
        s["state"] == "Idle"
            && s["status"]
                .as_str()
                .is_some_and(|t| t.contains("Listening for speech on"))
    });
    play(&desktop, &wav);
    check_heard_and_typed(&desktop);
    // Ready for the next utterance without a key.
    desktop.wait_status("voice activation to listen again", |s| {
        s["status"]
            .as_str()
            .is_some_and(|t| t.contains("Listening for speech on"))
    });
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb and trayer (ci/check.sh)"]
fn a_bad_settings_file_names_the_bad_keys_keeps_a_copy_and_the_app_still_starts() {
    let bad = format!(
        "[server]\nurl = \"{}\"\n[hotkey]\nmode = \"toggle\"\n[typing]\ndelay_ms = \"fast\"\n\
         [voice_activation]\nsensitivity = 7.0\n",
        server_url()
    );
    let mut desktop = Desktop::start(&bad);
    let status = desktop.status().expect("status");
    let notices = status["notices"].to_string();
    assert!(notices.contains("typing.delay_ms"), "{notices}");
    assert!(
        notices.contains("voice_activation.sensitivity"),
        "{notices}"
    );
    assert!(notices.contains("settings.toml.bad-"), "{notices}");
    // The good keys are in force: toggle mode from the same file.
    assert!(
        status["status"]
            .as_str()
            .is_some_and(|s| s.contains("press Ctrl+Shift+V")),
        "{status}"
    );
    let copies: Vec<_> = std::fs::read_dir(desktop.dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("settings.toml.bad-")
        })
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        std::fs::read_to_string(copies[0].path()).expect("copy"),
        bad
    );
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb and trayer (ci/check.sh)"]
fn a_second_launch_shows_the_first_and_a_taken_hotkey_is_reported() {
    let mut desktop = Desktop::start(&settings("push_to_talk"));
    let settings_path = desktop.dir.path().join("settings.toml");
    let second = desktop
        .command("dbus-run-session")
        .arg("--")
        .arg(bin())
        .arg("--settings")
        .arg(&settings_path)
        .output()
        .expect("second launch");
    assert!(second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already running"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(desktop.status().expect("first still runs")["state"], "Idle");

    // Another program on the same display (here: a second TonnyTray in its
    // own session) cannot have Ctrl+Shift+V, and says so.
    let other_runtime = desktop.dir.path().join("other-xdg");
    std::fs::create_dir_all(&other_runtime).expect("dir");
    set_private(&other_runtime);
    let mut other = desktop
        .command("dbus-run-session")
        .env("XDG_RUNTIME_DIR", &other_runtime)
        .arg("--")
        .arg(bin())
        .args(["--hidden", "--settings"])
        .arg(desktop.dir.path().join("other.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("other instance");
    let deadline = Instant::now() + Duration::from_secs(30);
    let notices = loop {
        let out = desktop
            .command(bin())
            .env("XDG_RUNTIME_DIR", &other_runtime)
            .arg("status")
            .output()
            .expect("status");
        let status: Option<Value> = serde_json::from_slice(&out.stdout).ok();
        let notices = status.map(|s| s["notices"].to_string()).unwrap_or_default();
        if notices.contains("already taken") || Instant::now() > deadline {
            break notices;
        }
        sleep(Duration::from_millis(200));
    };
    let _ = desktop
        .command(bin())
        .env("XDG_RUNTIME_DIR", &other_runtime)
        .arg("quit")
        .output();
    end_gracefully(&mut other);
    assert!(
        notices.contains("Ctrl+Shift+V is already taken"),
        "{notices}"
    );
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb and trayer (ci/check.sh)"]
fn the_tray_menu_opens_the_dashboard_and_settings() {
    let desktop = Desktop::start(&settings("push_to_talk"));
    // Keyboard navigation skips the disabled status lines:
    // Start recording, Pause, Open dashboard, Settings, Logs, Quit.
    desktop.click_tray_item(3);
    sleep(Duration::from_millis(800));
    desktop.screenshot("dashboard");
    desktop.click_tray_item(4);
    sleep(Duration::from_millis(800));
    // The settings tab's meter shows the microphone while nothing records.
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(
        dir.path(),
        "meter",
        "en-us",
        "Testing the microphone level.",
        None,
    );
    let player = desktop
        .command("paplay")
        .args(["-d", "vmic_sink"])
        .arg(&wav)
        .spawn()
        .expect("paplay");
    let status = desktop.wait_status("the settings meter to move", |s| {
        s["level"].as_f64().is_some_and(|l| l > 0.05)
    });
    desktop.screenshot("settings");
    let _ = player.wait_with_output();
    assert_eq!(status["state"], "Idle");
    let notices = status["notices"].to_string();
    assert!(
        !notices.contains("no system tray"),
        "trayer is a tray: {notices}"
    );
    assert!(
        status["log"].as_array().is_some_and(Vec::is_empty),
        "nothing was dictated"
    );
    desktop.click_tray_item(6);
    let deadline = Instant::now() + Duration::from_secs(10);
    while desktop.status().is_some() && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    assert!(
        desktop.status().is_none(),
        "Quit in the tray menu ends the app"
    );
}

#[test]
#[ignore = "needs Xvfb, trayer, the speech server and the virtual mic (ci/check.sh)"]
fn clipboard_typing_pastes_the_words_and_gives_the_clipboard_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "paste", "en-us", TEXT, None);
    let mut desktop = Desktop::start(&format!(
        "{}method = \"clipboard\"\n",
        settings("push_to_talk")
    ));
    let pasted = start_tk_target(&mut desktop, "pasted.txt");
    // What the user had on the clipboard before dictating.
    let mut xclip = desktop
        .command("xclip")
        .args(["-selection", "clipboard", "-i"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("xclip");
    std::io::Write::write_all(
        xclip.stdin.as_mut().expect("stdin"),
        b"the user's own clipboard",
    )
    .expect("write");
    drop(xclip.stdin.take());
    xclip.wait().expect("xclip");

    dictate_holding_hotkey(&desktop, &wav);
    let status = wait_utterance(&desktop);
    assert_eq!(status["log"][0]["typed"], "typed", "{status}");
    let heard = status["log"][0]["text"].as_str().expect("text").to_owned();
    assert_wer(TEXT, &heard, MAX_WER);
    assert_same_words(
        || std::fs::read_to_string(&pasted).unwrap_or_default(),
        &heard,
    );
    // The clipboard is given back a moment after the last paste.
    let clipboard = || {
        let out = desktop.run("xclip", &["-selection", "clipboard", "-o"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while clipboard() != "the user's own clipboard" && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    assert_eq!(clipboard(), "the user's own clipboard");
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb, trayer, the speech server and the virtual mic (ci/check.sh)"]
fn letters_the_keyboard_layout_lacks_are_typed_through_a_spare_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "accents", "en-us", TEXT, None);
    // A replacement brings in letters and signs the US layout has no key
    // for; XTEST types them by mapping a spare keycode for a moment.
    let to = "bananes naïves à 5 € — déjà";
    let mut desktop = Desktop::start(&format!(
        "{}[[replacements]]\nfrom = \"bananas\"\nto = \"{to}\"\n",
        settings("push_to_talk")
    ));
    let typed = start_tk_target(&mut desktop, "accents.txt");
    dictate_holding_hotkey(&desktop, &wav);
    let status = wait_utterance(&desktop);
    assert_eq!(status["log"][0]["typed"], "typed", "{status}");
    let heard = status["log"][0]["text"].as_str().expect("text").to_owned();
    let rule = tonnytray::config::settings::Replacement {
        from: "bananas".into(),
        to: to.into(),
    };
    let expected = tonnytray::core::replace::apply(&heard, &[rule]);
    assert!(
        expected.contains(to),
        "the recogniser did not hear \"bananas\", so nothing tests the accents: {heard}"
    );
    assert_same_words(
        || std::fs::read_to_string(&typed).unwrap_or_default(),
        &expected,
    );
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb, the speech server and the virtual mic (ci/check.sh)"]
fn without_a_tray_host_the_app_says_so_and_works_from_its_window() {
    let mut desktop = Desktop::start_with(
        &format!(
            "{}[voice_activation]\nsilent_mic_warning_secs = 2.0\n",
            settings("toggle")
        ),
        false,
    );
    let status = desktop.status().expect("status");
    let notices = status["notices"].to_string();
    assert!(notices.contains("no system tray is running"), "{notices}");
    // The hotkey still drives dictation; nothing is played into the
    // microphone, so after two seconds the app warns that it is silent.
    desktop.run("xdotool", &["key", "ctrl+shift+v"]);
    wait_mic_open(&desktop);
    desktop.wait_status("the silent-microphone warning", |s| {
        s["notices"].to_string().contains("has been silent for 2 s")
    });
    desktop.run("xdotool", &["key", "ctrl+shift+v"]);
    desktop.wait_status("idle again", |s| s["state"] == "Idle");
    desktop.quit();
}
