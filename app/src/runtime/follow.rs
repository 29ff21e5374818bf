//! The `settings` thread: what applied settings change outside the core,
//! done off the core thread. The core's snapshot observer only notices
//! that the settings changed and wakes this thread over a one-slot channel
//! (a wake already waiting is enough: the thread reads the newest settings
//! when it runs), so the core never waits on a port being bound or a
//! server being replanned. Here: the `/metrics` endpoint (on, off, another
//! port; a port that cannot be used becomes a notice) and the speech
//! server's plan (URL, model, language, managed, script take effect
//! without a restart of the app).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::config::settings::Settings;
use crate::core::{CoreInput, Snapshot, SnapshotCell};
use crate::messages::Command;
use crate::server;
use crate::telemetry::metrics;

/// The running `settings` thread; dropping it stops and joins it.
pub struct Follower {
    stop: Arc<AtomicBool>,
    wake: SyncSender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Applies `initial` at once, then every change the core publishes.
///
/// # Errors
/// When the thread cannot be started.
pub fn start(
    cell: &SnapshotCell,
    initial: &Settings,
    inbox: SyncSender<CoreInput>,
    supervisor: Option<Sender<server::Control>>,
) -> std::io::Result<Follower> {
    let (wake, woken) = mpsc::sync_channel::<()>(1);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (cell, stop, initial) = (cell.clone(), Arc::clone(&stop), initial.clone());
        super::thread::spawn("settings", move || {
            let mut endpoint = metrics::Endpoint::default();
            let mut server_now = initial.server.clone();
            apply_metrics(&mut endpoint, &initial, &inbox);
            while woken.recv().is_ok() && !stop.load(Ordering::SeqCst) {
                let settings = Arc::clone(&cell.get().settings);
                apply_metrics(&mut endpoint, &settings, &inbox);
                if let Some(supervisor) = &supervisor
                    && settings.server != server_now
                {
                    server_now = settings.server.clone();
                    let (plan, refused) = server::plan_for(&server_now);
                    if let Some(problem) = refused {
                        let _ = inbox.try_send(CoreInput::Command(Command::Notice(problem.into())));
                    }
                    let _ = supervisor.send(server::Control::Replan(Box::new(plan)));
                }
            }
        })?
    };
    // The observer runs on the core thread: it only compares pointers and
    // wakes the thread.
    let last: Mutex<Option<Arc<Settings>>> = Mutex::new(None);
    let signal = wake.clone();
    cell.watch(Box::new(move |snapshot: &Arc<Snapshot>| {
        let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
        if last
            .as_ref()
            .is_some_and(|l| Arc::ptr_eq(l, &snapshot.settings))
        {
            return;
        }
        *last = Some(Arc::clone(&snapshot.settings));
        let _ = signal.try_send(());
    }));
    Ok(Follower {
        stop,
        wake,
        thread: Some(thread),
    })
}

/// Serves `/metrics` as `settings` say; a port that cannot be used becomes
/// a notice (the app runs on without metrics).
fn apply_metrics(
    endpoint: &mut metrics::Endpoint,
    settings: &Settings,
    inbox: &SyncSender<CoreInput>,
) {
    let t = &settings.telemetry;
    if let Err(e) = endpoint.apply(t.metrics_enabled, t.metrics_port) {
        tracing::warn!("{e}");
        let _ = inbox.try_send(CoreInput::Command(Command::Notice(e.to_string().into())));
    }
}
