//! `tonnytray` with no subcommand: the desktop app. Wires the threads
//! together (typing, core, tray, hotkey, single-instance socket) and runs
//! the eframe window on the main thread. The window only draws snapshots
//! and forwards the user's requests; closing it hides it to the tray while
//! dictation goes on.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::config::settings::{self, Settings, Theme};
use crate::core::{self, Core, CoreInput, CoreOptions, SnapshotCell};
use crate::hotkey::Hotkey;
use crate::instance::{self, Claim};
use crate::integrations::typing;
use crate::messages::Command;
use crate::server;
use crate::store;
use crate::telemetry::LogBuffer;
use crate::telemetry::metrics;
use crate::tray::{self, TrayHandle, TrayView, WindowRequest};
use crate::ui::{self, Tab, UiAction, UiState, View};

/// Options of the desktop app.
#[derive(Debug, Clone, Default)]
pub struct DesktopOptions {
    /// Settings file (default: the XDG config dir).
    pub settings: Option<PathBuf>,
    /// The history store (default: the XDG data dir, or `$TONNYTRAY_DB`).
    pub db: Option<PathBuf>,
    /// Start with the window hidden (also a setting).
    pub hidden: bool,
}

type Waker = Arc<OnceLock<egui::Context>>;

/// How long a re-type waits after hiding the window, for the focus to go
/// back to the window the user was in.
const RETYPE_FOCUS_WAIT: std::time::Duration = std::time::Duration::from_millis(400);

fn wake(waker: &Waker) {
    if let Some(ctx) = waker.get() {
        ctx.request_repaint();
    }
}

/// Runs the desktop app until the user quits.
pub fn run(options: &DesktopOptions, logs: LogBuffer) -> ExitCode {
    let started = std::time::Instant::now();
    if cfg!(target_os = "linux") && typing::Session::detect() == typing::Session::None {
        eprintln!(
            "tonnytray: no desktop session (neither DISPLAY nor WAYLAND_DISPLAY is set), so there is no window to show; `tonnytray listen` dictates in a terminal"
        );
        return ExitCode::from(crate::cli::exit::BAD_INPUT);
    }
    let waker: Waker = Arc::new(OnceLock::new());
    let (window_tx, window_rx) = mpsc::channel::<WindowRequest>();
    let to_window = window_sender(window_tx, Arc::clone(&waker));

    let (inbox, rx) = core::channel();
    let snapshots_for_socket: Arc<OnceLock<SnapshotCell>> = Arc::new(OnceLock::new());
    let store_for_socket: Arc<OnceLock<store::Shared>> = Arc::new(OnceLock::new());
    let claim = claim_instance(
        Arc::clone(&to_window),
        inbox.clone(),
        Arc::clone(&snapshots_for_socket),
        Arc::clone(&store_for_socket),
    );
    if let Ok(Claim::AlreadyRunning) = claim {
        eprintln!("tonnytray: already running; its window was brought forward");
        return ExitCode::SUCCESS;
    } else if let Err(e) = claim {
        tracing::warn!("single-instance socket unavailable: {e}");
    }

    let path = options.settings.clone().or_else(Settings::default_path);
    let (loaded_settings, mut notices) = load_settings(path.as_deref());
    let store = open_store(options.db.clone(), &loaded_settings, &mut notices);
    let _ = store_for_socket.set(store.clone());
    let hidden = options.hidden || loaded_settings.ui.start_hidden;

    let channel = (inbox.clone(), rx);
    let core = match start_core(
        loaded_settings.clone(),
        path,
        notices,
        channel,
        store.clone(),
    ) {
        Ok(core) => core,
        Err(e) => {
            eprintln!("tonnytray: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = snapshots_for_socket.set(core.snapshots().clone());
    serve_metrics(core.snapshots(), &loaded_settings, &inbox);
    let supervisor = start_supervisor(&loaded_settings, &inbox);
    if let Some(s) = &supervisor {
        follow_server_settings(core.snapshots(), s.sender(), &loaded_settings);
    }
    let to_core = route_commands(inbox, supervisor.as_ref());

    let (tray, main_tray) = start_tray(&to_core, to_window);
    watch(core.snapshots(), tray.clone(), Arc::clone(&waker));

    let mut hotkey = Hotkey::new(Arc::clone(&to_core));
    let hotkey_problem = hotkey.bind(&loaded_settings.hotkey.binding).err();
    if let Some(p) = &hotkey_problem {
        tracing::warn!("{p}");
        to_core(Command::Notice(p.clone()));
    }

    let app = DesktopApp {
        to_core,
        store,
        snapshots: core.snapshots().clone(),
        window_rx,
        ui: UiState {
            hotkey_problem,
            ..UiState::default()
        },
        hotkey,
        main_tray,
        bound: loaded_settings.hotkey.binding.clone(),
        theme: None,
        logs,
        quitting: false,
        monitoring: None,
        started: Some(started),
    };
    let result = eframe::run_native(
        "TonnyTray",
        native_options(hidden),
        Box::new(move |cc| {
            let _ = waker.set(cc.egui_ctx.clone());
            Ok(Box::new(app))
        }),
    );
    // The server stops with the app: it was started for it.
    drop(supervisor);
    core.shutdown();
    drop(tray);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "tonnytray: the window could not be shown: {e}; `tonnytray listen` works without one"
            );
            ExitCode::FAILURE
        }
    }
}

/// Where commands from the tray, hotkey and window go: the core, except a
/// server restart, which is the supervisor's.
fn route_commands(
    inbox: SyncSender<CoreInput>,
    supervisor: Option<&server::Supervisor>,
) -> Arc<dyn Fn(Command) + Send + Sync> {
    // Both senders are Sync: the closure shares them without a lock.
    let to_server = supervisor.map(server::Supervisor::sender);
    Arc::new(move |command| {
        if command == Command::RestartServer {
            if let Some(tx) = &to_server {
                let _ = tx.send(server::Control::Restart);
            }
            return;
        }
        let _ = inbox.try_send(CoreInput::Command(command));
    })
}

/// Serves `/metrics` as the settings in force say, from the start and
/// after every change; a port that cannot be used becomes a notice (the app
/// runs on without metrics).
fn serve_metrics(cell: &SnapshotCell, settings: &Settings, inbox: &SyncSender<CoreInput>) {
    let endpoint = Mutex::new(metrics::Endpoint::default());
    let inbox = inbox.clone();
    let apply = move |t: &settings::TelemetrySettings| {
        let mut endpoint = endpoint.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = endpoint.apply(t.metrics_enabled, t.metrics_port) {
            tracing::warn!("{e}");
            let _ = inbox.try_send(CoreInput::Command(Command::Notice(e.to_string())));
        }
    };
    apply(&settings.telemetry);
    cell.watch(Box::new(move |snapshot: &Arc<core::Snapshot>| {
        apply(&snapshot.settings.telemetry);
    }));
}

/// Starts the speech server's supervisor, which reports to the core.
fn start_supervisor(
    settings: &Settings,
    inbox: &SyncSender<CoreInput>,
) -> Option<server::Supervisor> {
    let script = server::find_script(&server::script_candidates(&settings.server.script));
    let plan = server::plan(&settings.server, script);
    let inbox = inbox.clone();
    let report = move |r: server::ServerReport| {
        let _ = inbox.send(CoreInput::Server(r));
    };
    match server::Supervisor::start(plan, report) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!("the speech server is not watched: {e}");
            None
        }
    }
}

/// Hands the supervisor a new plan when applied settings change the speech
/// server (URL, model, language, managed, script), so they take effect
/// without a restart of the app.
fn follow_server_settings(
    cell: &SnapshotCell,
    supervisor: std::sync::mpsc::Sender<server::Control>,
    initial: &Settings,
) {
    let last = Mutex::new(initial.server.clone());
    cell.watch(Box::new(move |snapshot: &Arc<core::Snapshot>| {
        let now = &snapshot.settings.server;
        let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
        if *last == *now {
            return;
        }
        *last = now.clone();
        let script = server::find_script(&server::script_candidates(&now.script));
        let _ = supervisor.send(server::Control::Replan(Box::new(server::plan(now, script))));
    }));
}

/// Makes a backup or prunes old ones, as the settings in force say; the
/// result in words for a notice.
fn backups(store: &store::Shared, action: &UiAction, settings: &Settings) -> String {
    let Some(s) = store.get() else {
        return "no backup: the history store is not available".into();
    };
    let dir = settings.backup.folder(s.path());
    if *action == UiAction::BackupNow {
        match store::backup::backup(&s, &dir) {
            Ok(file) => {
                let _ = s.log_activity("backup", &format!("made {}", file.display()));
                format!("History backed up to {}", file.display())
            }
            Err(e) => format!("backup failed: {e}"),
        }
    } else {
        match store::backup::prune(&dir, settings.backup.retention()) {
            Ok(removed) => format!(
                "Deleted {} old backup(s) in {}",
                removed.len(),
                dir.display()
            ),
            Err(e) => format!("old backups not deleted: {e}"),
        }
    }
}

/// The window: popover-sized, hidden when starting in the tray.
fn native_options(hidden: bool) -> eframe::NativeOptions {
    eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("TonnyTray")
            .with_app_id("tonnytray")
            .with_inner_size([400.0, 440.0])
            .with_min_inner_size([320.0, 300.0])
            .with_visible(!hidden),
        ..Default::default()
    }
}

/// Becomes the one instance; its socket answers `show`, `status`, … and
/// the store subcommands (run on this app's open store).
fn claim_instance(
    to_window: Arc<dyn Fn(WindowRequest) + Send + Sync>,
    inbox: std::sync::mpsc::SyncSender<CoreInput>,
    cell: Arc<OnceLock<SnapshotCell>>,
    store: Arc<OnceLock<store::Shared>>,
) -> std::io::Result<Claim> {
    instance::claim(move |line| {
        if let Some(request) = line.strip_prefix("store ") {
            let store = store.get().and_then(store::Shared::get);
            return crate::cli::store::answer(store.as_deref(), request);
        }
        answer(line, &to_window, &inbox, cell.get())
    })
}

/// Starts the tray; its problems become notices (the app works without it).
fn start_tray(
    to_core: &Arc<dyn Fn(Command) + Send + Sync>,
    to_window: Arc<dyn Fn(WindowRequest) + Send + Sync>,
) -> (Option<Arc<TrayHandle>>, Option<tray::MainTray>) {
    match tray::spawn(Arc::clone(to_core), to_window) {
        Ok((t, main)) => (Some(Arc::new(t)), Some(main)),
        Err(e) => {
            tracing::warn!("{e}");
            to_core(Command::Notice(e));
            (None, None)
        }
    }
}

/// Sends requests to the window and wakes it (it may be hidden).
fn window_sender(
    tx: mpsc::Sender<WindowRequest>,
    waker: Waker,
) -> Arc<dyn Fn(WindowRequest) + Send + Sync> {
    let tx = Mutex::new(tx);
    Arc::new(move |request| {
        let _ = tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(request);
        wake(&waker);
    })
}

/// Starts the `typing` thread and the `core` thread that it reports to.
fn start_core(
    settings: Settings,
    settings_path: Option<PathBuf>,
    notices: Vec<String>,
    channel: core::coordinator::Channel,
    store: store::Shared,
) -> std::io::Result<Core> {
    let inbox = channel.0.clone();
    let report = move |result| {
        let _ = inbox.send(CoreInput::Typed(result));
    };
    let typer = match typing::spawn(report) {
        Ok((tx, _handle)) => Some(tx),
        Err(e) => {
            tracing::error!("typing thread: {e}");
            None
        }
    };
    let outputs = start_outputs(&channel.0, &settings);
    Core::spawn(
        CoreOptions {
            settings,
            settings_path,
            notices,
            typer,
            store,
            outputs,
        },
        channel,
    )
}

/// Starts the threads commands use: delivery (n8n, RabbitMQ), speech and
/// notifications, each reporting to the core's inbox. One that cannot
/// start is logged and left out; dictation works without all of them.
fn start_outputs(inbox: &SyncSender<CoreInput>, settings: &Settings) -> core::commands::Outputs {
    let secrets = crate::secrets::default_store();
    let deliverer = {
        let inbox = inbox.clone();
        crate::integrations::deliver::Deliverer::spawn(Arc::clone(&secrets), move |d| {
            let _ = inbox.send(CoreInput::Delivered(d));
        })
        .map_err(|e| tracing::error!("delivery threads: {e}"))
        .ok()
    };
    let speaker = {
        let inbox = inbox.clone();
        crate::integrations::speech::Speaker::spawn(
            core::commands::speech_config(settings, &*secrets),
            move |event| {
                let _ = inbox.send(CoreInput::Speech(event));
            },
        )
        .map_err(|e| tracing::error!("speech thread: {e}"))
        .ok()
    };
    let notifier = crate::integrations::notify::Notifier::spawn()
        .map_err(|e| tracing::error!("notification thread: {e}"))
        .ok();
    core::commands::Outputs {
        deliverer,
        speaker,
        notifier,
        secrets: Some(secrets),
    }
}

/// Adds the utterances an earlier run could not save (written beside the
/// store at quit), then deletes their files.
fn import_unsaved(s: &store::Store, notices: &mut Vec<String>) {
    let Some(dir) = s.path().parent() else { return };
    for file in store::export::unsaved_files(dir) {
        match store::export::import(s, &file) {
            Ok(c) => {
                let _ = std::fs::remove_file(&file);
                notices.push(format!(
                    "saved {} utterance(s) that the last run kept aside in {}",
                    c.utterances,
                    file.display()
                ));
            }
            Err(e) => notices.push(format!(
                "utterances kept aside in {} could not be added yet: {e}",
                file.display()
            )),
        }
    }
}

/// Opens the history store. A damaged file is moved aside (kept for
/// recovery), a fresh one started, and the newest backup offered; a file
/// from a newer version is left alone and nothing is saved this run. Every
/// problem becomes a notice.
fn open_store(
    db: Option<PathBuf>,
    settings: &Settings,
    notices: &mut Vec<String>,
) -> store::Shared {
    let Some(path) = db.or_else(store::Store::default_path) else {
        notices.push("no data folder is known (HOME unset?); the history will not be saved".into());
        return store::Shared::new(None, None);
    };
    let opened = match store::Store::open(&path) {
        Err(e @ store::StoreError::Damaged { .. }) => {
            let offer = store::backup::restore_offer(&settings.backup.folder(&path));
            match store::backup::set_aside(&path) {
                Ok(aside) => {
                    notices.push(format!(
                        "{e}. It was moved to {} and a new history was started; {offer}",
                        aside.display()
                    ));
                    store::Store::open(&path)
                }
                Err(move_err) => {
                    notices.push(format!("{e}; {move_err}; {offer}"));
                    Err(e)
                }
            }
        }
        other => other,
    };
    match opened {
        Ok(s) => {
            if let Ok(toml) = toml::to_string(settings) {
                let _ = s.save_settings(&toml);
            }
            import_unsaved(&s, notices);
            let _ = s.log_activity("start", "TonnyTray started");
            store::Shared::new(Some(path), Some(s))
        }
        Err(e @ store::StoreError::Newer { .. }) => {
            notices.push(format!("{e}; this run does not save the history"));
            store::Shared::new(None, None)
        }
        Err(store::StoreError::Damaged { .. }) => store::Shared::new(None, None),
        Err(e) => {
            notices.push(format!(
                "the history cannot be opened yet ({e}); what you say is kept in memory and saved when it can be"
            ));
            store::Shared::new(Some(path), None)
        }
    }
}

/// Loads the settings, turning every problem into a notice for the user.
fn load_settings(path: Option<&std::path::Path>) -> (Settings, Vec<String>) {
    let Some(path) = path else {
        return (
            Settings::default(),
            vec!["no config directory is known (HOME unset?); settings will not be saved".into()],
        );
    };
    let loaded = settings::load(path);
    let mut notices: Vec<String> = loaded
        .problems
        .iter()
        .map(|p| format!("settings: {p}"))
        .collect();
    if let Some(copy) = &loaded.kept_copy {
        notices.push(format!(
            "the settings file had problems; the original is kept at {}",
            copy.display()
        ));
    }
    for n in &notices {
        tracing::warn!("{n}");
    }
    (loaded.settings, notices)
}

/// Keeps the tray in step with the core and wakes the window on each change.
fn watch(cell: &SnapshotCell, tray: Option<Arc<TrayHandle>>, waker: Waker) {
    let last: Mutex<Option<TrayView>> = Mutex::new(None);
    let observer = move |snapshot: &Arc<core::Snapshot>| {
        wake(&waker);
        let Some(tray) = &tray else { return };
        let view = TrayView {
            state: snapshot.state,
            paused: snapshot.paused,
            status: snapshot.status.clone(),
            last: snapshot.last_transcript().map(str::to_owned),
        };
        let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.as_ref() != Some(&view) {
            *last = Some(view.clone());
            tray.show(view);
        }
    };
    // The core published its first snapshot before anyone watched.
    observer(&cell.get());
    cell.watch(Box::new(observer));
}

/// Answers a request on the single-instance socket.
fn answer(
    line: &str,
    to_window: &Arc<dyn Fn(WindowRequest) + Send + Sync>,
    inbox: &std::sync::mpsc::SyncSender<CoreInput>,
    cell: Option<&SnapshotCell>,
) -> String {
    match line {
        "show" => {
            to_window(WindowRequest::Show(None));
            "ok".into()
        }
        "quit" => {
            to_window(WindowRequest::Quit);
            "ok".into()
        }
        "toggle" => send(inbox, Command::ToggleRecording),
        // A compositor's key binding standing in for the global hotkey.
        "ptt press" => send(inbox, Command::HotkeyPressed),
        "ptt release" => send(inbox, Command::HotkeyReleased),
        "status" => cell.map_or_else(
            || "error: starting".into(),
            |cell| status_json(&cell.get()).to_string(),
        ),
        other => match (other.strip_prefix("profile "), cell) {
            (Some(request), Some(cell)) => switch_profile(request, inbox, cell),
            _ => format!("error: unknown request {other:?}"),
        },
    }
}

/// Hands a command to the core; the socket's answer.
fn send(inbox: &std::sync::mpsc::SyncSender<CoreInput>, command: Command) -> String {
    match inbox.try_send(CoreInput::Command(command)) {
        Ok(()) => "ok".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// `profile {"name": …, "pin": …}`: asks the core to switch and waits (up
/// to 5 s) for the switch or the notice that refused it.
fn switch_profile(
    request: &str,
    inbox: &std::sync::mpsc::SyncSender<CoreInput>,
    cell: &SnapshotCell,
) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(request) else {
        return "error: a profile request is JSON with a name".into();
    };
    let Some(name) = v["name"].as_str().map(str::to_owned) else {
        return "error: a profile request needs a name".into();
    };
    let pin = v["pin"]
        .as_str()
        .map(|p| crate::secrets::Secret::new(p.to_owned()));
    let notices_before = cell.get().notices.len();
    let command = Command::SwitchProfile {
        name: name.clone(),
        pin,
    };
    if let Err(e) = inbox.try_send(CoreInput::Command(command)) {
        return format!("error: {e}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        let s = cell.get();
        if s.profile == name {
            return format!("ok: profile {name}");
        }
        if s.notices.len() > notices_before {
            return format!(
                "error: {}",
                s.notices.last().map_or("refused", String::as_str)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    "error: the app did not answer in time".into()
}

/// The snapshot as JSON, for `tonnytray status`.
#[must_use]
pub fn status_json(s: &core::Snapshot) -> serde_json::Value {
    let log: Vec<_> = s
        .log
        .iter()
        .map(|u| {
            serde_json::json!({
                "id": u.id,
                "text": u.text,
                "typed": u.typed.describe(),
                "saved": u.saved,
            })
        })
        .collect();
    serde_json::json!({
        "state": s.state.label(),
        "status": s.status,
        "committed": s.committed,
        "tentative": s.tentative,
        "level": s.level.peak,
        "log": log,
        "unsaved": s.unsaved,
        "notices": s.notices,
        "hotkey": s.hotkey,
        "profile": s.profile,
        "locked": s.locked,
        "outbox": s.outbox.iter().map(|p| serde_json::json!({
            "id": p.id,
            "kind": p.kind.label(),
            "text": p.text,
            "attempts": p.attempts,
            "last_error": p.last_error,
        })).collect::<Vec<_>>(),
        "delivery_status": s.delivery_status,
        "server": s.server,
        "reply": s.reply.as_ref().map(|r| serde_json::json!({
            "command": r.command,
            "text": r.text,
            "utterance_id": r.utterance_id,
        })),
    })
}

struct DesktopApp {
    to_core: Arc<dyn Fn(Command) + Send + Sync>,
    store: store::Shared,
    snapshots: SnapshotCell,
    window_rx: Receiver<WindowRequest>,
    ui: UiState,
    hotkey: Hotkey,
    main_tray: Option<tray::MainTray>,
    bound: String,
    theme: Option<Theme>,
    logs: LogBuffer,
    quitting: bool,
    /// The microphone whose level the settings tab shows.
    monitoring: Option<String>,
    /// When the app started, until the first frame is drawn (then `None`).
    started: Option<std::time::Instant>,
}

impl eframe::App for DesktopApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if let Some(t) = &self.main_tray {
            t.pump();
        }
        while let Ok(request) = self.window_rx.try_recv() {
            match request {
                WindowRequest::Show(tab) => {
                    if let Some(tab) = tab {
                        self.ui.view = View::Dashboard(tab);
                    }
                    ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
                    ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
                }
                WindowRequest::Quit => self.quit(ctx),
            }
        }
        if ctx.input(|i| i.viewport().close_requested()) && !self.quitting {
            // Closing hides to the tray; Quit is in the tray menu and the window.
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            ctx.send_viewport_cmd(egui::ViewportCommand::Visible(false));
            self.monitor(None);
        }
        let snapshot = self.snapshots.get();
        if snapshot.settings.hotkey.binding != self.bound {
            self.bound.clone_from(&snapshot.settings.hotkey.binding);
            self.ui.hotkey_problem = self.hotkey.bind(&self.bound).err();
            if let Some(p) = &self.ui.hotkey_problem {
                (self.to_core)(Command::Notice(p.clone()));
            }
        }
        if self.theme != Some(snapshot.settings.ui.theme) {
            self.theme = Some(snapshot.settings.ui.theme);
            ctx.set_theme(ui::theme_preference(snapshot.settings.ui.theme));
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if let Some(started) = self.started.take() {
            // `ci/bench.sh desktop` reads this line for the start-up time.
            tracing::info!(
                "first frame drawn {} ms after start",
                started.elapsed().as_millis()
            );
        }
        let snapshot = self.snapshots.get();
        match self.ui.view {
            View::Dashboard(Tab::Logs) => self.ui.logs = self.logs.lines(),
            View::Dashboard(Tab::Settings) if self.ui.devices.is_empty() => self.refresh_devices(),
            _ => {}
        }
        for action in ui::draw(ui, &snapshot, &mut self.ui) {
            match action {
                UiAction::Core(command) => (self.to_core)(command),
                UiAction::Copy(text) => ui.ctx().copy_text(text),
                UiAction::RefreshDevices => self.refresh_devices(),
                UiAction::Hide => {
                    ui.ctx()
                        .send_viewport_cmd(egui::ViewportCommand::Visible(false));
                    self.monitor(None);
                    return;
                }
                UiAction::Quit => self.quit(ui.ctx()),
                UiAction::SearchHistory(filter) => self.search_history(&filter),
                UiAction::BackupNow | UiAction::PruneBackups => {
                    let note = backups(&self.store, &action, &snapshot.settings);
                    (self.to_core)(Command::Notice(note));
                }
                UiAction::Retype(id) => {
                    // Hidden first, so the words go to the window the user
                    // was in, not to ours.
                    ui.ctx()
                        .send_viewport_cmd(egui::ViewportCommand::Visible(false));
                    self.monitor(None);
                    let to_core = Arc::clone(&self.to_core);
                    std::thread::spawn(move || {
                        std::thread::sleep(RETYPE_FOCUS_WAIT);
                        to_core(Command::Retype(id));
                    });
                    return;
                }
            }
        }
        let wanted = match (self.ui.view, &self.ui.draft) {
            (View::Dashboard(Tab::Settings), Some(draft)) => Some(draft.audio.device.clone()),
            _ => None,
        };
        self.monitor(wanted);
    }
}

impl DesktopApp {
    /// Runs a History tab search on the store and gives the tab its results.
    fn search_history(&mut self, filter: &ui::history::HistoryFilter) {
        let view = &mut self.ui.history;
        let Some(store) = self.store.get() else {
            view.error = Some("the history store is not available (see the notices)".into());
            view.results.clear();
            return;
        };
        let day = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
        let (since, until) = (day(&filter.since), day(&filter.until));
        let query = match store::records::id_range(since.as_deref(), until.as_deref()) {
            Ok((since, until)) => store::Query {
                text: filter.text.clone(),
                since,
                until,
                profile: (!filter.profile.is_empty()).then(|| filter.profile.clone()),
                favourites: filter.favourites,
                limit: ui::history::PAGE + 1,
            },
            Err(e) => {
                view.error = Some(e);
                return;
            }
        };
        match store.search(&query).and_then(|r| Ok((r, store.stats(0)?))) {
            Ok((mut results, stats)) => {
                view.more = results.len() > ui::history::PAGE;
                results.truncate(ui::history::PAGE);
                view.results = results;
                view.stats = stats;
                view.error = None;
            }
            Err(e) => view.error = Some(e.to_string()),
        }
    }

    /// Asks the core to show `device`'s level (settings tab open) or stop.
    fn monitor(&mut self, device: Option<String>) {
        if self.monitoring != device {
            self.monitoring.clone_from(&device);
            (self.to_core)(Command::MonitorMic(device));
        }
    }

    fn quit(&mut self, ctx: &egui::Context) {
        self.quitting = true;
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    fn refresh_devices(&mut self) {
        match crate::audio::capture::list_input_devices() {
            Ok(devices) => {
                self.ui.devices = devices
                    .into_iter()
                    .map(|d| {
                        let mark = if d.is_default { " (default)" } else { "" };
                        (d.id, format!("{}{mark}", d.name))
                    })
                    .collect();
            }
            Err(e) => (self.to_core)(Command::Notice(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_store_is_set_aside_and_the_newest_backup_offered() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tonnytray.redb");
        let settings = Settings::default();
        let backup = {
            let s = store::Store::open(&path).expect("open");
            s.add_utterance(&store::testing::utterance(42, "keep me"))
                .expect("add");
            store::backup::backup(&s, &settings.backup.folder(&path)).expect("backup")
        };
        std::fs::write(&path, vec![0x5a; 8192]).expect("damage");
        let mut notices = Vec::new();
        let shared = open_store(Some(path.clone()), &settings, &mut notices);
        let notice = notices.join("\n");
        assert!(notice.contains("is damaged"), "{notice}");
        assert!(notice.contains(&backup.display().to_string()), "{notice}");
        let aside = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().contains(".damaged-"))
            .expect("the damaged file was kept aside");
        assert_eq!(std::fs::read(aside.path()).expect("read"), vec![0x5a; 8192]);
        // A fresh store took its place and works.
        let fresh = shared.get().expect("a fresh store");
        assert_eq!(fresh.count().expect("count"), 0);
        drop(fresh);
        drop(shared);
        store::backup::restore(&path, &backup, &settings.backup.folder(&path)).expect("restore");
        let back = store::Store::open(&path).expect("open");
        assert_eq!(back.count().expect("count"), 1);
    }

    #[test]
    fn back_up_now_and_delete_old_backups_follow_the_settings() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tonnytray.redb");
        let shared = store::Shared::new(
            Some(path.clone()),
            Some(store::Store::open(&path).expect("open")),
        );
        let mut settings = Settings::default();
        settings.backup.dir = dir.path().join("kept").display().to_string();
        settings.backup.keep_daily = 1;
        settings.backup.keep_weekly = 0;
        settings.backup.keep_monthly = 0;
        let note = backups(&shared, &UiAction::BackupNow, &settings);
        assert!(note.starts_with("History backed up to "), "{note}");
        let old = dir.path().join("kept/tonnytray-20200101T000000Z.redb.gz");
        std::fs::write(&old, b"old").expect("write");
        let note = backups(&shared, &UiAction::PruneBackups, &settings);
        assert!(note.starts_with("Deleted 1 old backup(s)"), "{note}");
        assert!(!old.exists());
        let none = store::Shared::new(None, None);
        assert!(backups(&none, &UiAction::BackupNow, &settings).contains("not available"));
    }

    #[test]
    fn utterances_kept_aside_at_quit_are_added_at_the_next_start() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tonnytray.redb");
        let kept = store::testing::utterance(7, "said while the disk was full");
        let file = dir.path().join("unsaved-1.json");
        store::export::write_unsaved(&file, vec![kept.clone()]).expect("write");
        let mut notices = Vec::new();
        let shared = open_store(Some(path), &Settings::default(), &mut notices);
        assert!(
            notices.iter().any(|n| n.contains("saved 1 utterance(s)")),
            "{notices:?}"
        );
        assert!(!file.exists());
        let s = shared.get().expect("store");
        assert_eq!(s.utterance(7).expect("read"), Some(kept));
    }
}
