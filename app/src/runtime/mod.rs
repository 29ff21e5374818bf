//! Every thread of the app and who owns it.
//!
//! - [`thread`]: the one place a thread is started (named).
//! - [`pipeline`]: one utterance's `audio` and `asr` threads (started and
//!   stopped by the core, or by the CLI).
//! - [`Runtime`]: the desktop app's long-lived threads. [`Runtime::start`]
//!   recovers settings and store ([`startup`]), claims the single-instance
//!   socket ([`socket`]) and starts, in this order: `store`, `typing`,
//!   `core` (which owns the `deliver-*`, `speech` and `notify` threads and
//!   each utterance's pipeline), the speech-server `supervisor`, the
//!   `settings` thread (`follow.rs`: the metrics endpoint and the server's
//!   plan follow applied settings), the `tray` and the hotkey (`hotkey` on X11,
//!   `hotkey-portal` on Wayland). [`Runtime::shutdown`] stops and joins
//!   them from the outside in: inputs first (socket, tray), then the
//!   supervisor (which stops the server it started), the core, typing, and
//!   the store last, so that nothing said is lost on the way out.
//!
//! The window ([`crate::desktop`]) gets a [`Window`]: the senders it needs
//! and the receivers it drains each frame. It never touches a thread.

mod follow;
pub mod latest;
pub mod pipeline;
pub mod socket;
pub mod startup;
pub mod thread;

pub use pipeline::Pipeline;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use crate::config::settings::Settings;
use crate::core::{self, Core, CoreInput, CoreOptions, SnapshotCell};
use crate::hotkey::Hotkey;
use crate::instance::{self, Claim};
use crate::integrations::typing;
use crate::messages::Command;
use crate::server;
use crate::store::worker::{StoreReply, StoreRequest, StoreWorker};
use crate::tray::{self, TrayHandle, TrayView, WindowRequest};

/// Wakes the window from any thread: set by the window once eframe has
/// made it (a repaint request), so that no thread here knows egui.
pub type Waker = Arc<OnceLock<Box<dyn Fn() + Send + Sync>>>;

/// A command for the core (or the supervisor), from any thread.
pub type ToCore = Arc<dyn Fn(Command) + Send + Sync>;

fn wake(waker: &Waker) {
    if let Some(wake) = waker.get() {
        wake();
    }
}

/// What the window is handed: where its requests go and what it drains.
pub struct Window {
    /// Commands for the core (and the supervisor's restart).
    pub to_core: ToCore,
    /// Requests for the store worker.
    pub to_store: Sender<StoreRequest>,
    /// The core's snapshots.
    pub snapshots: SnapshotCell,
    /// Requests from the tray and the socket (show, quit).
    pub requests: Receiver<WindowRequest>,
    /// Answers of the store worker.
    pub store_replies: Receiver<StoreReply>,
    /// The global hotkey (bound again when the settings change it; the
    /// window's thread is where some systems want that done).
    pub hotkey: Hotkey,
    /// Why the hotkey is not working, if it is not.
    pub hotkey_problem: Option<String>,
    /// The binding in force.
    pub binding: String,
    /// The tray's main-thread part (Windows, macOS).
    pub main_tray: Option<tray::MainTray>,
    /// Set to the window's context once it exists.
    pub waker: Waker,
    /// Start with the window hidden.
    pub hidden: bool,
}

/// How [`Runtime::start`] ended when there is no app to run.
pub enum NotStarted {
    /// Another instance runs; it was asked to show its window.
    AlreadyRunning,
    /// The core could not start, and why.
    Failed(String),
}

/// The desktop app's threads, owned until [`Runtime::shutdown`].
pub struct Runtime {
    instance: Option<instance::Server>,
    tray: Option<Arc<TrayHandle>>,
    follower: Option<follow::Follower>,
    supervisor: Option<server::Supervisor>,
    core: Core,
    typing: Option<JoinHandle<()>>,
    store: StoreWorker,
}

/// What the desktop app was asked to start with.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Settings file (default: the XDG config dir).
    pub settings: Option<PathBuf>,
    /// The history store (default: the XDG data dir, or `$TONNYTRAY_DB`).
    pub db: Option<PathBuf>,
    /// Start with the window hidden (also a setting).
    pub hidden: bool,
}

impl Runtime {
    /// Recovers settings and store, claims the single instance and starts
    /// every thread.
    ///
    /// # Errors
    /// When another instance runs, or the core cannot start.
    pub fn start(options: &StartOptions) -> Result<(Self, Window), NotStarted> {
        let waker: Waker = Arc::new(OnceLock::new());
        let (window_tx, window_rx) = mpsc::channel::<WindowRequest>();
        let to_window = window_sender(window_tx, Arc::clone(&waker));

        let (inbox, rx) = core::channel();
        let peers = Arc::new(socket::Peers {
            to_window: Arc::clone(&to_window),
            inbox: inbox.clone(),
            snapshots: OnceLock::new(),
            store: OnceLock::new(),
        });
        let claimed = {
            let peers = Arc::clone(&peers);
            instance::claim(move |line| socket::reply(line, &peers))
        };
        let instance = match claimed {
            Ok(Claim::AlreadyRunning) => return Err(NotStarted::AlreadyRunning),
            Ok(Claim::Mine(server)) => Some(server),
            Err(e) => {
                tracing::warn!("single-instance socket unavailable: {e}");
                None
            }
        };

        let path = options.settings.clone().or_else(Settings::default_path);
        let (loaded, notices) = startup::load_settings(path.as_deref());
        let mut notices = notices;
        let shared = startup::open_store(options.db.clone(), &loaded, &mut notices);

        let (replies_tx, store_replies) = mpsc::channel();
        let store = {
            let waker = Arc::clone(&waker);
            StoreWorker::spawn(shared.clone(), move |reply| {
                let _ = replies_tx.send(reply);
                wake(&waker);
            })
            .map_err(|e| NotStarted::Failed(format!("cannot start the store thread: {e}")))?
        };
        let _ = peers.store.set(store.sender());

        let (typer, typing) = start_typing(&inbox);
        let outputs = start_outputs(&inbox, &loaded);
        let core = Core::spawn(
            CoreOptions {
                settings: loaded.clone(),
                settings_path: path,
                notices,
                typer,
                store: shared,
                outputs,
                pipelines: None,
            },
            (inbox.clone(), rx),
        )
        .map_err(|e| NotStarted::Failed(e.to_string()))?;
        let _ = peers.snapshots.set(core.snapshots().clone());

        let supervisor = start_supervisor(&loaded, &inbox);
        let follower = follow::start(
            core.snapshots(),
            &loaded,
            inbox.clone(),
            supervisor.as_ref().map(server::Supervisor::sender),
        )
        .map_err(|e| tracing::error!("settings thread: {e}"))
        .ok();
        let to_core = route_commands(inbox, supervisor.as_ref());
        let (tray, main_tray) = start_tray(&to_core, to_window);
        watch(core.snapshots(), tray.clone(), Arc::clone(&waker));

        let mut hotkey = Hotkey::new(Arc::clone(&to_core));
        let hotkey_problem = hotkey.bind(&loaded.hotkey.binding).err();
        if let Some(p) = &hotkey_problem {
            tracing::warn!("{p}");
            to_core(Command::Notice(p.clone().into()));
        }

        let window = Window {
            to_core,
            to_store: store.sender(),
            snapshots: core.snapshots().clone(),
            requests: window_rx,
            store_replies,
            hotkey,
            hotkey_problem,
            binding: loaded.hotkey.binding.clone(),
            main_tray,
            waker,
            hidden: options.hidden || loaded.ui.start_hidden,
        };
        let runtime = Self {
            instance,
            tray,
            follower,
            supervisor,
            core,
            typing,
            store,
        };
        Ok((runtime, window))
    }

    /// Stops and joins every thread, inputs first and the store last.
    pub fn shutdown(self) {
        let Self {
            instance,
            tray,
            follower,
            supervisor,
            core,
            typing,
            store,
        } = self;
        drop(instance);
        if let Some(t) = &tray {
            t.stop();
        }
        // The metrics endpoint stops with it.
        drop(follower);
        // The server stops with the app: it was started for it.
        drop(supervisor);
        // The core stops its pipelines and outputs and hands typing its
        // last words; typing ends when the core's sender is gone.
        core.shutdown();
        if let Some(t) = typing {
            let _ = t.join();
        }
        drop(store);
    }
}

/// Where commands from the tray, hotkey and window go: the core, except a
/// server restart, which is the supervisor's.
fn route_commands(inbox: SyncSender<CoreInput>, supervisor: Option<&server::Supervisor>) -> ToCore {
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

/// Starts the speech server's supervisor, which reports to the core.
fn start_supervisor(
    settings: &Settings,
    inbox: &SyncSender<CoreInput>,
) -> Option<server::Supervisor> {
    let (plan, refused) = server::plan_for(&settings.server);
    if let Some(problem) = refused {
        let _ = inbox.try_send(CoreInput::Command(Command::Notice(problem.into())));
    }
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

/// Starts the tray; its problems become notices (the app works without it).
fn start_tray(
    to_core: &ToCore,
    to_window: Arc<dyn Fn(WindowRequest) + Send + Sync>,
) -> (Option<Arc<TrayHandle>>, Option<tray::MainTray>) {
    match tray::spawn(Arc::clone(to_core), to_window) {
        Ok((t, main)) => (Some(Arc::new(t)), Some(main)),
        Err(e) => {
            tracing::warn!("{e}");
            to_core(Command::Notice(e.into()));
            (None, None)
        }
    }
}

/// Sends requests to the window and wakes it (it may be hidden).
fn window_sender(
    tx: mpsc::Sender<WindowRequest>,
    waker: Waker,
) -> Arc<dyn Fn(WindowRequest) + Send + Sync> {
    Arc::new(move |request| {
        let _ = tx.send(request);
        wake(&waker);
    })
}

/// Starts the `typing` thread, which reports to the core.
fn start_typing(
    inbox: &SyncSender<CoreInput>,
) -> (Option<SyncSender<typing::TypeJob>>, Option<JoinHandle<()>>) {
    let inbox = inbox.clone();
    let report = move |result| {
        let _ = inbox.send(CoreInput::Typed(result));
    };
    match typing::spawn(report) {
        Ok((tx, handle)) => (Some(tx), Some(handle)),
        Err(e) => {
            tracing::error!("typing thread: {e}");
            (None, None)
        }
    }
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
