//! Answers the single-instance socket's requests (`show`, `quit`,
//! `toggle`, `ptt press|release`, `status`, `profile …`, `store …`) on the
//! `instance` thread: window requests and commands are handed on, the
//! status is read from the latest snapshot, and store requests go to the
//! store worker (this thread never touches redb).

use std::sync::mpsc::{self, Sender, SyncSender};
use std::sync::{Arc, OnceLock};

use crate::core::{self, CoreInput, SnapshotCell};
use crate::messages::Command;
use crate::store::worker::StoreRequest;
use crate::tray::WindowRequest;

/// What the socket hands requests to; filled in as the app starts (the
/// socket is claimed first, so that a second launch is told at once).
pub struct Peers {
    /// Shows or quits the window.
    pub to_window: Arc<dyn Fn(WindowRequest) + Send + Sync>,
    /// The core's inbox.
    pub inbox: SyncSender<CoreInput>,
    /// The core's snapshots, once it runs.
    pub snapshots: OnceLock<SnapshotCell>,
    /// The store worker, once it runs.
    pub store: OnceLock<Sender<StoreRequest>>,
}

/// Answers one request line.
pub fn reply(line: &str, peers: &Peers) -> String {
    if let Some(request) = line.strip_prefix("store ") {
        return store(request, peers.store.get());
    }
    answer(line, &peers.to_window, &peers.inbox, peers.snapshots.get())
}

/// A store subcommand, run by the store worker; waits for its reply line.
fn store(request: &str, worker: Option<&Sender<StoreRequest>>) -> String {
    let Some(worker) = worker else {
        return crate::cli::store::answer(None, request);
    };
    let (tx, rx) = mpsc::channel();
    let sent = worker.send(StoreRequest::Socket {
        request: request.to_owned(),
        reply: tx,
    });
    match sent.ok().and_then(|()| rx.recv().ok()) {
        Some(line) => line,
        None => crate::cli::store::answer(None, request),
    }
}

/// Answers a request other than a store one.
fn answer(
    line: &str,
    to_window: &Arc<dyn Fn(WindowRequest) + Send + Sync>,
    inbox: &SyncSender<CoreInput>,
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
        other => match other.strip_prefix("profile ") {
            Some(request) => switch_profile(request, inbox),
            None => format!("error: unknown request {other:?}"),
        },
    }
}

/// Hands a command to the core; the socket's answer.
fn send(inbox: &SyncSender<CoreInput>, command: Command) -> String {
    match inbox.try_send(CoreInput::Command(command)) {
        Ok(()) => "ok".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// `profile {"name": …, "pin": …}`: asks the core to switch and waits (up
/// to 5 s) for its answer: the switch, or why it was refused.
fn switch_profile(request: &str, inbox: &SyncSender<CoreInput>) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(request) else {
        return "error: a profile request is JSON with a name".into();
    };
    let Some(name) = v["name"].as_str().map(str::to_owned) else {
        return "error: a profile request needs a name".into();
    };
    let pin = v["pin"]
        .as_str()
        .map(|p| crate::secrets::Secret::new(p.to_owned()));
    let (reply, answer) = mpsc::sync_channel(1);
    let asked = CoreInput::SwitchProfile {
        name: name.clone(),
        pin,
        reply,
    };
    if let Err(e) = inbox.try_send(asked) {
        return format!("error: {e}");
    }
    match answer.recv_timeout(std::time::Duration::from_secs(5)) {
        Ok(Ok(())) => format!("ok: profile {name}"),
        Ok(Err(why)) => format!("error: {why}"),
        Err(_) => "error: the app did not answer in time".into(),
    }
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
