//! The desktop app end to end against REAL peers: an X server (Xvfb), a real
//! StatusNotifier tray host (a panel, on the desktop's own session bus), an
//! xterm that receives the typed words, the
//! WhisperLiveKit server and the PulseAudio virtual microphone that
//! `ci/check.sh` starts. Hotkeys and tray clicks are sent with xdotool, as
//! a user's keyboard and mouse would send them. Ignored by a plain
//! `cargo test`; `ci/check.sh` runs them with `--run-ignored all`.
//!
//! What the app heard is read back through `tonnytray status` (the running
//! app's JSON snapshot); what it typed is read from the file the xterm's
//! `cat` writes. Screenshots go to `$TONNYTRAY_TEST_ARTIFACTS`, and to
//! `docs/screenshots/` when `TONNYTRAY_UPDATE_SCREENSHOTS=1`.

use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::common::{assert_wer, bin, server_url, speak};
use crate::desktop::*;
use serde_json::Value;

/// The app's process shows in the X server as a real window and a tray icon.
const IDLE: [u8; 3] = [0x5b, 0x8d, 0xef];
const LISTENING: [u8; 3] = [0xe5, 0x39, 0x35];

#[test]
#[ignore = "needs Xvfb, the StatusNotifier panel, the speech server and the virtual mic (ci/check.sh)"]
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
#[ignore = "needs Xvfb, the StatusNotifier panel, the speech server and the virtual mic (ci/check.sh)"]
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
#[ignore = "needs Xvfb, the StatusNotifier panel, the speech server and the virtual mic (ci/check.sh)"]
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
    // The menu opened next (drawn by the panel, another program) holds the
    // keyboard while words are still being typed: typing must pause while
    // it does, or X11 would hand those words to the menu.
    desktop.open_tray_menu();
    desktop.screenshot("tray-menu");
    desktop.run("xdotool", &["key", "Down", "Return"]);
    check_heard_and_typed(&desktop);
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb, the StatusNotifier panel, the speech server and the virtual mic (ci/check.sh)"]
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
#[ignore = "needs Xvfb and the StatusNotifier panel (ci/check.sh)"]
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
#[ignore = "needs Xvfb and the StatusNotifier panel (ci/check.sh)"]
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
#[ignore = "needs Xvfb, the StatusNotifier panel and the virtual mic (ci/check.sh)"]
fn the_tray_icon_opens_the_popover_and_its_menu_the_dashboard_and_settings() {
    let desktop = Desktop::start(&format!(
        "{}[ui]\nstart_hidden = true\n",
        settings("push_to_talk")
    ));
    let visible = || {
        let out = desktop
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", "^TonnyTray$"])
            .output()
            .expect("xdotool runs");
        !out.stdout.is_empty()
    };
    assert!(!visible(), "the window starts hidden");
    desktop.wait_tray_colour(IDLE, "idle blue");
    // A left click on the icon brings up the popover.
    desktop.click_tray_icon("1");
    desktop.wait_window("--name", "^TonnyTray$");
    sleep(Duration::from_millis(500));
    desktop.screenshot("popover-from-tray");
    // Keyboard navigation skips the disabled status lines:
    // Start recording, Pause, Open dashboard, Settings, Logs, Restart speech
    // server, Quit.
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
        !notices.contains("system tray"),
        "the panel hosts StatusNotifier items: {notices}"
    );
    assert!(
        status["log"].as_array().is_some_and(Vec::is_empty),
        "nothing was dictated"
    );
    desktop.click_tray_item(7);
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
#[ignore = "needs Xvfb, the StatusNotifier panel, the speech server and the virtual mic (ci/check.sh)"]
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
#[ignore = "needs Xvfb, the StatusNotifier panel, the speech server and the virtual mic (ci/check.sh)"]
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
        TrayHost::None,
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

#[test]
#[ignore = "needs Xvfb, trayer and the virtual mic (ci/check.sh)"]
fn an_old_style_tray_is_named_with_what_to_do_and_the_hotkey_and_ptt_commands_work() {
    let mut desktop = Desktop::start_with(&settings("push_to_talk"), TrayHost::XEmbed);
    let notices = desktop.status().expect("status")["notices"].to_string();
    assert!(
        notices.contains("old-style (XEmbed) tray, which cannot show TonnyTray's icon"),
        "{notices}"
    );
    assert!(notices.contains("StatusNotifier tray"), "{notices}");
    desktop.screenshot("xembed-tray-notice");
    // The global hotkey, held.
    desktop.run("xdotool", &["keydown", "ctrl+shift+v"]);
    wait_mic_open(&desktop);
    desktop.run("xdotool", &["keyup", "ctrl+shift+v"]);
    desktop.wait_status("idle after the hotkey", |s| s["state"] == "Idle");
    // What a compositor's key binding runs where there is no global
    // hotkey (Wayland): the same push-to-talk through the CLI.
    desktop.run(bin(), &["ptt", "press"]);
    wait_mic_open(&desktop);
    desktop.run(bin(), &["ptt", "release"]);
    desktop.wait_status("idle after ptt release", |s| s["state"] == "Idle");
    desktop.quit();
}

#[test]
#[ignore = "needs Xvfb, the desktop portal with KDE's backend, the speech server and the virtual mic (ci/check.sh)"]
fn the_desktop_portal_binds_the_hotkey_and_holding_it_dictates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "portal", "en-us", TEXT, None);
    let mut desktop = Desktop::start_with_portal(&settings("push_to_talk"));
    // The window names the path: the key the desktop bound for us.
    let status = desktop.wait_status("the portal to bind the hotkey", |s| {
        s["hotkey"]
            .as_str()
            .is_some_and(|h| h.contains("bound by the desktop portal"))
    });
    let path = status["hotkey"].as_str().unwrap_or_default();
    assert!(
        path.to_lowercase().starts_with("ctrl+shift+v"),
        "the desktop bound another key: {path}"
    );
    // KDE's daemon holds the key; its presses come back as the portal's
    // Activated and Deactivated signals (held: one press, one release).
    desktop.focus_target();
    dictate_holding_hotkey(&desktop, &wav);
    check_heard_and_typed(&desktop);
    desktop.quit();
}

#[test]
#[ignore = "needs sway, waybar, foot, a test user, the speech server and the virtual mic (ci/check.sh)"]
fn on_wayland_sway_bindings_run_ptt_and_the_words_are_typed_into_foot() {
    let Some(user) = wayland::test_user() else {
        eprintln!("TONNYTRAY_TEST_WAYLAND_USER is not set (ci/check.sh sets it): skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "wayland", "en-us", TEXT, None);
    // The app runs native on Wayland: its environment has WAYLAND_DISPLAY
    // and no DISPLAY, and sway here runs no X server.
    let sway = wayland::Sway::start(&user, &settings("toggle"));
    sway.wait_bar_colour(IDLE, "the idle tray icon on waybar");
    // waybar may register as a tray host after the app started: the app
    // then takes back its "no system tray" notice.
    sway.wait_status("no tray notice once waybar hosts the icon", |s| {
        !s["notices"].to_string().contains("system tray")
    });
    // No GlobalShortcuts portal on this session: the desktop's bindings.
    let status = sway.wait_status("the hotkey's path", |s| {
        s["hotkey"]
            .as_str()
            .is_some_and(|h| h.contains("your desktop's key bindings"))
    });
    let notices = status["notices"].to_string();
    assert!(
        notices.contains("on Wayland the hotkey is your desktop's")
            && notices.contains("tonnytray ptt press"),
        "the window names the hotkey's path: {notices}"
    );
    sway.focus_target();
    // Ctrl+Shift+V: sway's binding runs `tonnytray ptt press`, its release
    // `ptt release` (toggle mode: the press starts, the next press stops).
    sway.tap_hotkey();
    sway.wait_status("the microphone to open", |s| {
        s["state"] == "Listening"
            && s["status"]
                .as_str()
                .is_some_and(|t| t.starts_with("Listening on"))
    });
    sway.wait_bar_colour(LISTENING, "the listening tray icon on waybar");
    let played = Command::new("paplay")
        .args(["-d", "vmic_sink"])
        .arg(&wav)
        .status()
        .expect("paplay runs (PULSE_SERVER is set by ci/check.sh)");
    assert!(played.success(), "paplay failed");
    sleep(Duration::from_millis(800));
    sway.tap_hotkey();
    let status = sway.wait_status("the utterance to finish", |s| {
        s["state"] == "Idle" && s["log"].as_array().is_some_and(|l| !l.is_empty())
    });
    eprintln!("final status: {status}");
    let heard = status["log"][0]["text"].as_str().expect("text").to_owned();
    assert_wer(TEXT, &heard, MAX_WER);
    assert_eq!(status["log"][0]["typed"], "typed", "{status}");
    assert_same_words(|| sway.typed_text(), &heard);
    sway.quit();
}

#[test]
#[ignore = "needs sway, foot, wl-clipboard, a test user, the speech server and the virtual mic (ci/check.sh)"]
fn on_wayland_clipboard_typing_pastes_with_ctrl_v_and_gives_the_clipboard_back() {
    let Some(user) = wayland::test_user() else {
        eprintln!("TONNYTRAY_TEST_WAYLAND_USER is not set (ci/check.sh sets it): skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = speak(dir.path(), "wayland-paste", "en-us", TEXT, None);
    let mut sway = wayland::Sway::start(
        &user,
        &format!("{}method = \"clipboard\"\n", settings("push_to_talk")),
    );
    let pasted = sway.start_paste_target("pasted.txt");
    // What the user had on the clipboard before dictating. wl-copy leaves
    // a process serving it, which keeps its output open: not waited on.
    let copied = sway
        .command("wl-copy")
        .arg("the user's own clipboard")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("wl-copy runs");
    assert!(copied.success(), "wl-copy failed");
    // Push-to-talk: sway's binding runs `ptt press` when the keys go
    // down and its --release binding `ptt release` when they come up,
    // which is after the sentence has played (its length plus 3 s).
    let reader = hound::WavReader::open(&wav).expect("wav");
    let seconds = f64::from(reader.duration()) / f64::from(reader.spec().sample_rate);
    let mut held = sway.hold_hotkey(Duration::from_secs_f64(seconds + 3.0));
    sway.wait_status("the microphone to open", |s| {
        s["state"] == "Listening"
            && s["status"]
                .as_str()
                .is_some_and(|t| t.starts_with("Listening on"))
    });
    let played = Command::new("paplay")
        .args(["-d", "vmic_sink"])
        .arg(&wav)
        .status()
        .expect("paplay runs (PULSE_SERVER is set by ci/check.sh)");
    assert!(played.success(), "paplay failed");
    assert_eq!(
        sway.status().expect("status")["state"],
        "Listening",
        "the keys are still held"
    );
    assert!(held.wait().expect("wtype").success(), "wtype failed");
    // Then the data-control clipboard and Ctrl+V through wtype.
    let status = sway.wait_status("the utterance to be pasted", |s| {
        s["state"] == "Idle" && s["log"][0]["typed"] == "typed"
    });
    let heard = status["log"][0]["text"].as_str().expect("text").to_owned();
    assert_wer(TEXT, &heard, MAX_WER);
    assert_same_words(
        || std::fs::read_to_string(&pasted).unwrap_or_default(),
        &heard,
    );
    // The clipboard is given back a moment after the last paste.
    let clipboard = || {
        let out = sway
            .command("wl-paste")
            .arg("-n")
            .output()
            .expect("wl-paste");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while clipboard() != "the user's own clipboard" && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    assert_eq!(clipboard(), "the user's own clipboard");
    sway.quit();
}
