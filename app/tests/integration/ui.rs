//! The window, driven by egui_kittest through its accessibility tree: every
//! control is found by its label, as a screen reader would find it.
//! The popover and settings are tested on snapshots; the state transitions
//! also run against the real core thread.

use crate::support::elevenlabs_fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tonnytray::config::settings::Settings;
use tonnytray::core::{self, Core, CoreOptions, Snapshot};
use tonnytray::messages::{Command, DictationState, TypedOutcome, Utterance};
use tonnytray::store;
use tonnytray::ui::history::HistoryFilter;
use tonnytray::ui::{self, Tab, UiAction, UiState, View};

struct Window {
    snapshot: Snapshot,
    ui: UiState,
    actions: Vec<UiAction>,
}

fn window(snapshot: Snapshot) -> Harness<'static, Window> {
    window_of_height(snapshot, 640.0)
}

/// A window tall enough to show the whole settings form without scrolling.
fn window_of_height(snapshot: Snapshot, height: f32) -> Harness<'static, Window> {
    Harness::builder()
        .with_size(egui::vec2(420.0, height))
        .build_ui_state(
            |ui, w: &mut Window| {
                let actions = ui::draw(ui, &w.snapshot, &mut w.ui);
                w.actions.extend(actions);
            },
            Window {
                snapshot,
                ui: UiState::default(),
                actions: Vec::new(),
            },
        )
}

fn snapshot(state: DictationState) -> Snapshot {
    Snapshot {
        state,
        status: "Ready: hold Ctrl+Shift+V to dictate".into(),
        settings: Arc::new(Settings::default()),
        ..Snapshot::default()
    }
}

#[test]
fn popover_offers_start_when_idle_and_sends_it() {
    let mut h = window(snapshot(DictationState::Idle));
    h.run();
    h.get_by_label("Idle");
    h.get_by_label("Input level");
    h.get_by_label("Waveform");
    h.get_by_label("Start recording").click();
    h.run();
    assert_eq!(h.state().actions, [UiAction::Core(Command::StartRecording)]);
}

#[test]
fn popover_shows_committed_and_tentative_text_apart_while_listening() {
    let mut s = snapshot(DictationState::Listening);
    s.committed = "Turn on the".into();
    s.tentative = "kitchen lights".into();
    let mut h = window(s);
    h.run();
    h.get_by_label("Listening");
    h.get_by_label("Committed: Turn on the");
    h.get_by_label("Tentative: kitchen lights");
    h.get_by_label("Stop recording").click();
    h.run();
    assert_eq!(h.state().actions, [UiAction::Core(Command::StopRecording)]);
}

#[test]
fn paused_popover_offers_resume_and_disables_recording() {
    let mut s = snapshot(DictationState::Disabled);
    s.paused = true;
    let mut h = window(s);
    h.run();
    h.get_by_label("Paused");
    assert!(
        h.get_by_label("Start recording")
            .accesskit_node()
            .is_disabled()
    );
    h.get_by_label("Resume").click();
    h.run();
    assert_eq!(
        h.state().actions,
        [UiAction::Core(Command::SetPaused(false))]
    );
}

#[test]
fn notices_are_shown_and_can_be_dismissed() {
    let mut s = snapshot(DictationState::Idle);
    s.notices = vec!["settings: typing.enabled: invalid type".into()];
    let mut h = window(s);
    h.run();
    h.get_by_label_contains("typing.enabled");
    h.get_by_label("Dismiss").click();
    h.run();
    assert_eq!(h.state().actions, [UiAction::Core(Command::DismissNotices)]);
}

/// A note reads calmly, a warning and an error say what they are in words
/// (not by colour alone).
#[test]
fn notices_say_how_much_they_matter() {
    use tonnytray::messages::Notice;
    let mut s = snapshot(DictationState::Idle);
    s.notices = vec![
        Notice::info("History backed up to /tmp/b.redb.gz"),
        Notice::warning("no system tray is running"),
        Notice::error("typing failed: no window has the focus"),
    ];
    let mut h = window(s);
    h.run();
    h.get_by_label("History backed up to /tmp/b.redb.gz");
    h.get_by_label("Warning: no system tray is running");
    h.get_by_label("Error: typing failed: no window has the focus");
}

#[test]
fn dashboard_lists_utterances_with_what_happened_and_copies_them() {
    let mut s = snapshot(DictationState::Idle);
    s.log = Arc::new(vec![Utterance {
        id: 1,
        at: std::time::SystemTime::UNIX_EPOCH,
        text: "Hello from the kitchen.".into(),
        typed: TypedOutcome::NotTyped("it matches the deny list".into()),
        saved: Some(1),
    }]);
    let mut h = window(s);
    h.run();
    h.get_by_label("Open dashboard").click();
    h.run();
    assert_eq!(h.state().ui.view, View::Dashboard(Tab::Transcript));
    h.get_by_label("Hello from the kitchen.");
    h.get_by_label_contains("deny list");
    h.get_by_label("Copy").click();
    h.run();
    assert_eq!(
        h.state().actions,
        [UiAction::Copy("Hello from the kitchen.".into())]
    );
    h.get_by_label("Logs").click();
    h.run();
    h.get_by_label("No log lines yet.");
}

#[test]
fn the_logs_tab_shows_the_speech_server_and_restarts_a_managed_one() {
    let mut snap = snapshot(DictationState::Idle);
    snap.server = Some(tonnytray::server::ServerReport {
        mode: tonnytray::server::Mode::Managed,
        up: false,
        state: "exited (signal: 9); restarting in 1 s".into(),
        restarts: 2,
        pid: None,
    });
    let mut h = window(snap);
    h.state_mut().ui.view = View::Dashboard(Tab::Logs);
    h.run();
    h.get_by_label_contains("restarting in 1 s");
    h.get_by_label_contains("restarted 2 time(s)");
    h.get_by_label("Restart").click();
    h.run();
    assert_eq!(h.state().actions, [UiAction::Core(Command::RestartServer)]);
}

#[test]
fn a_server_run_outside_the_app_has_no_restart_button() {
    let mut snap = snapshot(DictationState::Idle);
    snap.server = Some(tonnytray::server::ServerReport {
        mode: tonnytray::server::Mode::External,
        up: true,
        state: "running (started outside the app)".into(),
        restarts: 0,
        pid: None,
    });
    let mut h = window(snap);
    h.state_mut().ui.view = View::Dashboard(Tab::Logs);
    h.run();
    h.get_by_label_contains("run outside TonnyTray");
    assert!(h.query_by_label("Restart").is_none());
}

#[test]
fn settings_name_the_bad_key_and_apply_only_valid_changes() {
    let mut h = window(snapshot(DictationState::Idle));
    h.state_mut().ui.view = View::Dashboard(Tab::Settings);
    h.run();
    h.get_by_label("Settings are in use");
    assert!(h.get_by_label("Apply").accesskit_node().is_disabled());

    h.get_by_label("Server URL").focus();
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Server URL").type_text("http://nope");
    h.run();
    h.get_by_label_contains("server.url");
    assert!(h.get_by_label("Apply").accesskit_node().is_disabled());

    h.get_by_label("Server URL").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Server URL")
        .type_text("ws://10.0.0.5:8888/asr");
    h.get_by_label("Toggle (press to start and stop)")
        .scroll_to_me();
    h.run();
    h.get_by_label("Toggle (press to start and stop)").click();
    h.run();
    // Every control of a new replacement row has a name (the harness
    // refuses unnamed inputs), and the row is part of what is applied.
    h.get_by_label("Add replacement").scroll_to_me();
    h.run();
    h.get_by_label("Add replacement").click();
    h.run();
    h.get_by_label("Replace #1").scroll_to_me();
    h.run();
    h.get_by_label("Replace #1").focus();
    h.get_by_label("Replace #1").type_text("tony tray");
    h.run();
    h.get_by_label("with").focus();
    h.run();
    h.get_by_label("with").type_text("TonnyTray");
    h.run();
    h.get_by_label("Apply").click();
    h.run();
    let applied = applied_settings(&h);
    assert_eq!(applied.server.url, "ws://10.0.0.5:8888/asr");
    assert_eq!(
        applied.hotkey.mode,
        tonnytray::config::settings::HotkeyMode::Toggle
    );
    assert_eq!(applied.replacements.len(), 1);
    assert_eq!(applied.replacements[0].from, "tony tray");
    assert_eq!(applied.replacements[0].to, "TonnyTray");
}

/// The settings the window's Apply sent to the core.
fn applied_settings(h: &Harness<'static, Window>) -> Box<Settings> {
    h.state()
        .actions
        .iter()
        .find_map(|a| match a {
            UiAction::Core(Command::ApplySettings(s)) => Some(s.clone()),
            _ => None,
        })
        .expect("settings applied")
}

#[test]
fn the_speech_server_and_metrics_are_set_in_the_window() {
    let mut h = window(snapshot(DictationState::Idle));
    h.state_mut().ui.view = View::Dashboard(Tab::Settings);
    h.run();
    let managed =
        "Start and restart a local server when none answers (127.0.0.1 and localhost only)";
    h.get_by_label(managed).click();
    h.run();
    // The start script only matters for a managed server.
    assert!(
        h.get_by_label("Start script")
            .accesskit_node()
            .is_disabled()
    );
    let metrics = "Serve Prometheus metrics on this computer (127.0.0.1)";
    h.get_by_label(metrics).scroll_to_me();
    h.run();
    assert!(
        h.get_by_label("Metrics port")
            .accesskit_node()
            .is_disabled()
    );
    h.get_by_label(metrics).click();
    h.run();
    assert!(
        !h.get_by_label("Metrics port")
            .accesskit_node()
            .is_disabled()
    );
    h.get_by_label_contains("http://127.0.0.1:9477/metrics");
    h.get_by_label("Apply").click();
    h.run();
    let applied = applied_settings(&h);
    assert!(!applied.server.managed);
    assert!(applied.telemetry.metrics_enabled);
    assert_eq!(applied.telemetry.metrics_port, 9477);
}

/// The real core thread behind the window: pausing and resuming through
/// the buttons changes the state the core publishes, and the window follows.
#[test]
fn pause_and_resume_go_through_the_core_and_back() {
    let core = core_with(store::Shared::default());
    let mut h = window(core.snapshots().get().as_ref().clone());
    h.run();
    h.get_by_label("Idle");
    h.get_by_label("Pause").click();
    h.run();
    for action in std::mem::take(&mut h.state_mut().actions) {
        if let UiAction::Core(command) = action {
            core.send(command);
        }
    }
    let paused = wait_for(&core, DictationState::Disabled);
    assert!(paused.status.contains("Paused"), "{}", paused.status);
    h.state_mut().snapshot = paused;
    h.run();
    h.get_by_label("Paused");
    h.get_by_label("Resume").click();
    h.run();
    for action in std::mem::take(&mut h.state_mut().actions) {
        if let UiAction::Core(command) = action {
            core.send(command);
        }
    }
    h.state_mut().snapshot = wait_for(&core, DictationState::Idle);
    h.run();
    h.get_by_label("Idle");
    h.get_by_label("Start recording");
    core.shutdown();
}

/// The real core thread with default settings, no typing, and `store`.
fn core_with(store: store::Shared) -> Core {
    core_with_settings(Settings::default(), store)
}

/// The real core thread with `settings`, no typing, and `store`.
fn core_with_settings(settings: Settings, store: store::Shared) -> Core {
    Core::spawn(
        CoreOptions {
            settings,
            settings_path: None,
            notices: Default::default(),
            typer: None,
            store,
            outputs: Default::default(),
            pipelines: None,
        },
        core::channel(),
    )
    .expect("core")
}

/// The first snapshot for which `done` holds (5 s at most).
fn wait_until(core: &Core, what: &str, done: &dyn Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = core.snapshots().get();
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "never {what}: {s:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for(core: &Core, state: DictationState) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = core.snapshots().get();
        if s.state == state {
            return s.as_ref().clone();
        }
        assert!(
            Instant::now() < deadline,
            "core never reached {state:?}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stored(id: u64, text: &str, favourite: bool) -> store::Utterance {
    store::Utterance {
        id,
        profile: "default".into(),
        text: text.into(),
        favourite,
        duration_ms: 1_500,
        latency: store::Latencies {
            final_text_ms: Some(420),
            ..store::Latencies::default()
        },
        went: store::Destination::Typed,
    }
}

#[test]
fn history_tab_searches_and_acts_on_saved_utterances() {
    let mut h = window(snapshot(DictationState::Idle));
    h.state_mut().ui.view = View::Dashboard(Tab::History);
    h.run();
    // Opening the tab asks the window for the unfiltered history.
    assert_eq!(
        std::mem::take(&mut h.state_mut().actions),
        [UiAction::SearchHistory(HistoryFilter::default())]
    );
    h.get_by_label("Nothing saved yet. What you dictate is kept here.");
    // The window answers with results.
    // (as view rows, made the way the store worker makes them)
    h.state_mut().ui.history.results = vec![
        store::worker::row(&stored(2_000_000, "Add apples to the shopping list", true)),
        store::worker::row(&stored(1_000_000, "Turn on the kitchen lights", false)),
    ];
    h.run();
    h.get_by_label("2 matches");
    h.get_by_label("Turn on the kitchen lights");
    h.get_by_label("Mark as favourite").click();
    h.run();
    h.get_by_label("Remove from favourites").click();
    h.run();
    let actions = std::mem::take(&mut h.state_mut().actions);
    assert_eq!(
        actions,
        [
            UiAction::Core(Command::SetFavourite {
                id: 1_000_000,
                favourite: true
            }),
            UiAction::Core(Command::SetFavourite {
                id: 2_000_000,
                favourite: false
            }),
        ]
    );
    let delete = h.get_all_by_label("Delete").nth(1).expect("second Delete");
    delete.click();
    h.run();
    let again = h.get_all_by_label("Type again").next().expect("Type again");
    again.click();
    h.run();
    assert_eq!(
        std::mem::take(&mut h.state_mut().actions),
        [
            UiAction::Core(Command::DeleteUtterance(1_000_000)),
            UiAction::Retype(2_000_000)
        ]
    );
    // Typing in the search box asks again with the words.
    h.get_by_label("Search").click();
    h.run();
    h.get_by_label("Search").type_text("kitchen");
    h.run();
    let last = h.state().actions.last().cloned();
    assert_eq!(
        last,
        Some(UiAction::SearchHistory(HistoryFilter {
            text: "kitchen".into(),
            ..HistoryFilter::default()
        }))
    );
}

#[test]
fn history_tab_offers_undo_and_searches_again_when_the_history_changes() {
    let mut s = snapshot(DictationState::Idle);
    s.undo = Some("Turn on the kitchen lights".into());
    let mut h = window(s);
    h.state_mut().ui.view = View::Dashboard(Tab::History);
    h.run();
    h.state_mut().actions.clear();
    h.get_by_label("Deleted “Turn on the kitchen lights”");
    h.get_by_label("Undo delete").click();
    h.run();
    assert_eq!(
        std::mem::take(&mut h.state_mut().actions),
        [UiAction::Core(Command::UndoDelete)]
    );
    // A new revision of the history (something saved or changed) → search again.
    h.state_mut().snapshot.history_rev += 1;
    h.run();
    assert_eq!(
        h.state().actions,
        [UiAction::SearchHistory(HistoryFilter::default())]
    );
}

#[test]
fn statistics_view_lists_days_and_profiles() {
    let mut h = window(snapshot(DictationState::Idle));
    h.state_mut().ui.view = View::Dashboard(Tab::History);
    let mut day = store::DayStats::default();
    day.add(&stored(1, "one two three", false));
    day.add(&stored(2, "four five", false));
    h.state_mut().ui.history.stats = vec![store::worker::day_row(20_421, "kids", &day)];
    h.run();
    h.get_by_label("Statistics").click();
    h.run();
    h.get_by_label("2 utterances on 1 day(s), by day (UTC) and profile:");
    h.get_by_label("2025-11-29");
    h.get_by_label("kids");
    h.get_by_label("420 ms");
}

/// The real core thread with a real store file: favourite, delete and undo
/// change the file and the snapshot the window draws.
#[test]
fn favourite_delete_and_undo_go_through_the_core_to_the_store() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("history.redb");
    let file = store::Store::open(&path).expect("open");
    let id = file
        .add_utterance(&stored(
            1_700_000_000_000_000,
            "Hello from the kitchen",
            false,
        ))
        .expect("add");
    let shared = store::Shared::new(Some(path), Some(file));
    let core = core_with(shared.clone());
    let first = core.snapshots().get();
    assert_eq!(first.log.len(), 1, "the log starts from the store");
    assert_eq!(first.log[0].saved, Some(id));
    let wait = |what: &str, done: &dyn Fn(&Snapshot) -> bool| wait_until(&core, what, done);
    core.send(Command::SetFavourite {
        id,
        favourite: true,
    });
    wait("favourite", &|s| s.history_rev == 1);
    let store = shared.get().expect("store");
    assert!(store.utterance(id).expect("read").expect("there").favourite);
    core.send(Command::DeleteUtterance(id));
    let s = wait("delete", &|s| s.history_rev == 2);
    assert_eq!(s.undo.as_deref(), Some("Hello from the kitchen"));
    assert!(s.log.is_empty());
    assert_eq!(store.utterance(id).expect("read"), None);
    core.send(Command::UndoDelete);
    let s = wait("undo", &|s| s.history_rev == 3);
    assert_eq!(s.undo, None);
    assert_eq!(s.log.len(), 1);
    let back = store.utterance(id).expect("read").expect("back");
    assert!(back.favourite, "put back exactly as it was");
    core.shutdown();
}

#[test]
fn settings_edit_backup_retention_and_ask_for_a_backup() {
    let mut h = window_of_height(snapshot(DictationState::Idle), 2000.0);
    h.state_mut().ui.view = View::Dashboard(Tab::Settings);
    h.run();
    h.get_by_label("Back up now").click();
    h.run();
    h.get_by_label("Delete old backups").click();
    h.run();
    assert_eq!(
        h.state().actions,
        [UiAction::BackupNow, UiAction::PruneBackups]
    );
    h.get_by_label("Keep daily backups for (days)");
    h.get_by_label("Backup folder (empty: beside the history)")
        .click();
    h.run();
    h.get_by_label("Backup folder (empty: beside the history)")
        .type_text("/mnt/usb/backups");
    h.run();
    let draft = h.state().ui.draft.clone().expect("draft");
    assert_eq!(draft.backup.dir, "/mnt/usb/backups");
}

/// While the store worker backs up, the window says so and offers no
/// second backup; the worker's answer (a notice) ends it.
#[test]
fn a_backup_in_progress_is_shown_and_not_asked_twice() {
    let mut h = window_of_height(snapshot(DictationState::Idle), 2000.0);
    h.state_mut().ui.view = View::Dashboard(Tab::Settings);
    h.state_mut().ui.store_busy = Some("Backing up…");
    // The spinner repaints for ever: step, not run.
    h.run_steps(3);
    h.get_by_label("Backing up…");
    h.get_by_label("Back up now").click();
    h.run_steps(3);
    assert!(h.state().actions.is_empty(), "{:?}", h.state().actions);
    h.state_mut().ui.store_busy = None;
    h.run();
    assert!(h.query_by_label("Backing up…").is_none());
    h.get_by_label("Back up now").click();
    h.run();
    assert_eq!(h.state().actions, [UiAction::BackupNow]);
}

fn household(active: &str, admin_pin: &str) -> Settings {
    use tonnytray::config::profiles::{Profile, Role};
    let mut dad = Profile::new("Dad", Role::Admin);
    dad.pin_hash = tonnytray::core::policy::hash_pin(admin_pin).expect("hash");
    let mut kids = Profile::new("Kids", Role::Kid);
    kids.allow = vec!["play *".into()];
    Settings {
        profiles: vec![dad, kids],
        active_profile: active.into(),
        ..Settings::default()
    }
}

#[test]
fn a_new_pin_is_hashed_while_the_window_keeps_drawing_then_applied() {
    let mut s = snapshot(DictationState::Idle);
    s.settings = Arc::new(household("Dad", "1357"));
    s.profile = "Dad".into();
    let mut h = window_of_height(s, 4000.0);
    h.state_mut().ui.view = View::Dashboard(Tab::Settings);
    h.run();
    // Dad's row says his PIN is set; the Kids' row has none yet.
    h.get_by_label("PIN").click();
    h.run();
    h.get_by_label("PIN").type_text("2468");
    h.run();
    let set = h
        .get_all_by_label("Set PIN")
        .nth(1)
        .expect("the Kids' Set PIN");
    set.click();
    // Argon2 runs on its own thread: the window draws frames meanwhile.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut frames = 0;
    while h.get_all_by_label("PIN is set. New PIN").count() < 2 {
        assert!(Instant::now() < deadline, "the PIN was never hashed");
        std::thread::sleep(Duration::from_millis(20));
        h.step();
        frames += 1;
    }
    assert!(
        frames > 1,
        "the window waited for the hash instead of drawing"
    );
    h.run();
    assert!(
        h.state().ui.profile_pins.values().all(String::is_empty),
        "the PIN is not kept in the window"
    );
    h.get_by_label("Apply").click();
    h.run();
    let applied = applied_settings(&h);
    let kids = applied
        .profiles
        .iter()
        .find(|p| p.name == "Kids")
        .expect("Kids");
    assert!(tonnytray::core::policy::verify_pin(&kids.pin_hash, "2468"));
    assert!(!tonnytray::core::policy::verify_pin(&kids.pin_hash, "1357"));
}

#[test]
fn a_locked_profile_shows_a_pin_prompt_instead_of_the_settings() {
    let mut s = snapshot(DictationState::Idle);
    s.settings = Arc::new(household("Kids", "2468"));
    s.profile = "Kids".into();
    s.locked = true;
    let mut h = window(s);
    h.state_mut().ui.view = View::Dashboard(Tab::Settings);
    h.run();
    assert!(
        h.query_by_label("Apply").is_none(),
        "the form is behind the PIN"
    );
    h.get_by_label("PIN").click();
    h.run();
    h.get_by_label("PIN").type_text("2468");
    h.run();
    h.get_by_label("Unlock").click();
    h.run();
    let sent: Vec<_> = h
        .state()
        .actions
        .iter()
        .filter_map(|a| match a {
            UiAction::Core(Command::Unlock(pin)) => Some(pin.expose().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, ["2468"]);
    assert!(
        h.state().ui.pin_entry.is_empty(),
        "the PIN is not kept in the window"
    );
}

#[test]
fn the_popover_shows_the_reply_and_the_waiting_commands_and_retries_them() {
    use tonnytray::core::commands::{Pending, Reply};
    use tonnytray::store::outbox::JobKind;
    let mut s = snapshot(DictationState::Idle);
    s.reply = Some(Reply {
        command: "what time is it".into(),
        text: "It is half past four.".into(),
        at: std::time::SystemTime::now(),
        utterance_id: 7,
    });
    s.outbox = vec![Pending {
        id: 1,
        kind: JobKind::N8n,
        text: "lights on".into(),
        attempts: 3,
        last_error: "n8n is not reachable".into(),
    }];
    s.delivery_status = "1 command(s) wait for n8n; next try in 4 s.".into();
    let mut h = window(s);
    h.run();
    h.get_by_label("It is half past four.");
    h.get_by_label("1 command(s) waiting to be sent");
    h.get_by_label("Retry now").click();
    h.get_by_label("Stop speaking").click();
    h.run();
    let actions = &h.state().actions;
    assert!(
        actions.contains(&UiAction::Core(Command::RetryOutbox)),
        "{actions:?}"
    );
    assert!(
        actions.contains(&UiAction::Core(Command::StopSpeaking)),
        "{actions:?}"
    );
}

/// The PIN gate is the core's, not just the window's: a kid profile's
/// settings change and profile switch are refused without an admin's PIN.
#[test]
fn the_core_holds_the_pin_gate_for_settings_and_profile_switches() {
    use tonnytray::secrets::Secret;
    let core = core_with_settings(household("Kids", "2468"), store::Shared::new(None, None));
    let wait = |what: &str, done: &dyn Fn(&Snapshot) -> bool| wait_until(&core, what, done);
    assert!(core.snapshots().get().locked);
    let mut changed = household("Kids", "2468");
    changed.profiles[1].allow.push("*".into());
    core.send(Command::ApplySettings(Box::new(changed.clone())));
    let s = wait("refused the change", &|s| !s.notices.is_empty());
    assert!(s.notices[0].contains("PIN"), "{:?}", s.notices);
    assert_eq!(s.settings.profiles[1].allow, ["play *"]);
    core.send(Command::SwitchProfile {
        name: "Dad".into(),
        pin: Some(Secret::new("1111".into())),
    });
    let s = wait("refused the switch", &|s| s.notices.len() >= 2);
    assert_eq!(s.profile, "Kids");
    core.send(Command::Unlock(Secret::new("0000".into())));
    let s = wait("refused the PIN", &|s| s.notices.len() >= 3);
    assert!(s.locked);
    core.send(Command::Unlock(Secret::new("2468".into())));
    wait("unlocked", &|s| !s.locked);
    core.send(Command::ApplySettings(Box::new(changed)));
    wait("applied", &|s| s.settings.profiles[1].allow.len() == 2);
    core.send(Command::SwitchProfile {
        name: "Dad".into(),
        pin: None,
    });
    wait("switched", &|s| s.profile == "Dad" && !s.locked);
    core.shutdown();
}

/// `tonnytray profile` through the instance socket: the core itself answers
/// the request, a refusal with its reason (no polling of snapshots).
#[test]
fn the_core_answers_a_profile_switch_asked_through_the_socket() {
    use std::sync::OnceLock;
    use tonnytray::runtime::socket::{Peers, reply};
    let channel = core::channel();
    let inbox = channel.0.clone();
    let core = Core::spawn(
        CoreOptions {
            settings: household("Kids", "2468"),
            settings_path: None,
            notices: Default::default(),
            typer: None,
            store: store::Shared::new(None, None),
            outputs: Default::default(),
            pipelines: None,
        },
        channel,
    )
    .expect("core");
    let peers = Peers {
        to_window: Arc::new(|_| {}),
        inbox,
        snapshots: OnceLock::new(),
        store: OnceLock::new(),
    };
    let refused = reply(r#"profile {"name": "Dad", "pin": "1111"}"#, &peers);
    assert!(
        refused.starts_with("error: ") && refused.contains("PIN"),
        "{refused}"
    );
    assert_eq!(core.snapshots().get().profile, "Kids");
    assert_eq!(
        reply(r#"profile {"name": "Dad", "pin": "2468"}"#, &peers),
        "ok: profile Dad"
    );
    wait_until(&core, "the switch shown", &|s| s.profile == "Dad");
    assert!(
        reply("profile nonsense", &peers).contains("JSON"),
        "a request that is not JSON is named"
    );
    core.shutdown();
}

/// Guessing is slowed down: after three wrong PINs even the right one
/// waits.
#[test]
fn three_wrong_pins_make_even_the_right_one_wait() {
    use tonnytray::secrets::Secret;
    let core = core_with_settings(household("Kids", "2468"), store::Shared::new(None, None));
    for (i, pin) in ["1111", "2222", "3333", "2468"].iter().enumerate() {
        core.send(Command::Unlock(Secret::new((*pin).into())));
        let deadline = Instant::now() + Duration::from_secs(5);
        while core.snapshots().get().notices.len() <= i {
            assert!(Instant::now() < deadline, "no answer to PIN {i}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let s = core.snapshots().get();
    assert!(s.locked, "{s:?}");
    assert!(
        s.notices[3].contains("too many wrong PINs"),
        "{:?}",
        s.notices
    );
    core.shutdown();
}

/// The voice picker: "Load voices" asks the core, which lists them from
/// ElevenLabs (here the contract-following fake, the real service being
/// out of reach) with the key from the secret store; the picker then
/// offers them by name and sets the chosen id in the draft.
#[test]
fn voices_load_through_the_core_and_are_picked_by_name() {
    use tonnytray::secrets::{MemoryStore, Secret, SecretStore};
    let fake = elevenlabs_fake::FakeElevenLabs::start();
    let secrets: Arc<dyn SecretStore> = Arc::new(MemoryStore::new());
    secrets
        .set(
            tonnytray::secrets::ELEVENLABS_KEY,
            &Secret::new(elevenlabs_fake::GOOD_KEY.into()),
        )
        .expect("set");
    let mut settings = Settings::default();
    settings.elevenlabs.base_url = fake.url().to_owned();
    let core = Core::spawn(
        CoreOptions {
            settings,
            settings_path: None,
            notices: Default::default(),
            typer: None,
            store: store::Shared::new(None, None),
            outputs: tonnytray::core::commands::Outputs {
                secrets: Some(secrets),
                ..Default::default()
            },
            pipelines: None,
        },
        core::channel(),
    )
    .expect("core");
    let mut h = window_of_height(core.snapshots().get().as_ref().clone(), 2400.0);
    h.state_mut().ui.view = View::Dashboard(Tab::Settings);
    h.run();
    h.get_by_label("Load voices").click();
    h.run();
    for a in std::mem::take(&mut h.state_mut().actions) {
        if let UiAction::Core(c) = a {
            core.send(c);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while core.snapshots().get().voices.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no voices: {:?}",
            core.snapshots().get().notices
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    h.state_mut().snapshot = core.snapshots().get().as_ref().clone();
    h.run();
    h.get_by_label("Voice").click();
    h.run();
    h.get_by_label("Domi").click();
    h.run();
    let draft = h.state().ui.draft.clone().expect("draft");
    assert_eq!(draft.elevenlabs.voice_id, elevenlabs_fake::OTHER_VOICE_ID);
    assert!(fake.requests().iter().any(|r| r.path == "/v1/voices"));
    core.shutdown();
}
