//! `tonnytray` with no subcommand: the desktop app. [`run`] has the
//! [`Runtime`] start every thread, then runs the eframe window on the main
//! thread until the user quits, and has the runtime stop them. The window
//! only draws snapshots, forwards the user's requests and drains the
//! answers it is sent; closing it hides it to the tray while dictation goes
//! on.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use crate::config::settings::Theme;
use crate::core::SnapshotCell;
use crate::hotkey::Hotkey;
use crate::integrations::typing;
use crate::messages::Command;
pub use crate::runtime::StartOptions as DesktopOptions;
use crate::runtime::{NotStarted, Runtime, ToCore};
use crate::store::worker::{StoreReply, StoreRequest};
use crate::telemetry::LogBuffer;
use crate::tray::{self, WindowRequest};
use crate::ui::{self, Tab, UiAction, UiState, View};

/// Runs the desktop app until the user quits.
pub fn run(options: &DesktopOptions, logs: LogBuffer) -> ExitCode {
    let started = std::time::Instant::now();
    if cfg!(target_os = "linux") && typing::Session::detect() == typing::Session::None {
        eprintln!(
            "tonnytray: no desktop session (neither DISPLAY nor WAYLAND_DISPLAY is set), so there is no window to show; `tonnytray listen` dictates in a terminal"
        );
        return ExitCode::from(crate::cli::exit::BAD_INPUT);
    }
    let (runtime, window) = match Runtime::start(options) {
        Ok(started) => started,
        Err(NotStarted::AlreadyRunning) => {
            eprintln!("tonnytray: already running; its window was brought forward");
            return ExitCode::SUCCESS;
        }
        Err(NotStarted::Failed(e)) => {
            eprintln!("tonnytray: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let waker = Arc::clone(&window.waker);
    let hidden = window.hidden;
    let app = DesktopApp {
        to_core: window.to_core,
        to_store: window.to_store,
        snapshots: window.snapshots,
        window_rx: window.requests,
        store_replies: window.store_replies,
        ui: UiState {
            hotkey_problem: window.hotkey_problem,
            ..UiState::default()
        },
        hotkey: window.hotkey,
        main_tray: window.main_tray,
        bound: window.binding,
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
            let ctx = cc.egui_ctx.clone();
            let _ = waker.set(Box::new(move || ctx.request_repaint()));
            Ok(Box::new(app))
        }),
    );
    runtime.shutdown();
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

/// The snapshot as JSON, for `tonnytray status`.
pub use crate::runtime::socket::status_json;

struct DesktopApp {
    to_core: ToCore,
    to_store: Sender<StoreRequest>,
    snapshots: SnapshotCell,
    window_rx: Receiver<WindowRequest>,
    store_replies: Receiver<StoreReply>,
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
        while let Ok(reply) = self.store_replies.try_recv() {
            match reply {
                StoreReply::History(page) => self.ui.history.show(*page),
                StoreReply::Done(note) => {
                    self.ui.store_busy = None;
                    (self.to_core)(Command::Notice(note));
                }
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
                (self.to_core)(Command::Notice(p.clone().into()));
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
                UiAction::SearchHistory(filter) => {
                    let _ = self.to_store.send(StoreRequest::Search(filter));
                }
                UiAction::BackupNow => {
                    self.ui.store_busy = Some("Backing up…");
                    let backup = snapshot.settings.backup.clone();
                    let _ = self.to_store.send(StoreRequest::Backup(backup));
                }
                UiAction::PruneBackups => {
                    self.ui.store_busy = Some("Deleting old backups…");
                    let backup = snapshot.settings.backup.clone();
                    let _ = self.to_store.send(StoreRequest::Prune(backup));
                }
                UiAction::Retype(id) => {
                    // Hidden first, so the words go to the window the user
                    // was in, not to ours (typing waits for the focus).
                    ui.ctx()
                        .send_viewport_cmd(egui::ViewportCommand::Visible(false));
                    self.monitor(None);
                    (self.to_core)(Command::Retype(id));
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
            Err(e) => (self.to_core)(Command::Notice(e.to_string().into())),
        }
    }
}
