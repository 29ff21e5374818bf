//! The WhisperLiveKit server as a child process: started when nothing
//! answers at a loopback URL, health-checked, restarted with backoff when
//! it crashes or hangs, its output sent to the log (and so to the logs
//! viewer). A remote URL is only watched, never managed.
//!
//! One thread (`asr-supervisor`) owns the child; others send it
//! [`Control`]s and hear [`ServerReport`]s through a callback. Nothing here
//! knows about dictation: when the server comes back, the speech worker
//! reconnects and re-sends its journal on its own.

mod plan;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use plan::{Backoff, Plan, find_script, plan};

use crate::telemetry::metrics;

/// How often a running server's health is checked.
const HEALTH_EVERY: Duration = Duration::from_secs(5);
/// Failed checks in a row (while the process lives) before it is called hung.
const HUNG_AFTER: u32 = 3;
/// How long a start may take: the first one may install the environment
/// (pip, several minutes) before loading the model.
const START_LIMIT: Duration = Duration::from_secs(900);

/// What a supervisor is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Stop the managed server and start it again now (tray's "Restart server").
    Restart,
    /// The server settings changed: stop a server of ours and begin again
    /// with this plan (a new port, model or language needs a new process;
    /// a remote URL is only watched). The same plan changes nothing.
    Replan(Box<Plan>),
    /// Stop it and end the thread.
    Shutdown,
}

/// Who runs the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// We started it and restart it.
    Managed,
    /// Something else runs it on a loopback port; we start ours if it goes.
    External,
    /// A remote server: only watched.
    Remote,
}

/// The server's state as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerReport {
    /// Who runs it.
    pub mode: Mode,
    /// Answers its health check.
    pub up: bool,
    /// One line: "running (pid 42)", "starting…", "crashed; restarting in 4 s".
    pub state: String,
    /// Restarts since the app started.
    pub restarts: u32,
    /// The managed child's process id.
    pub pid: Option<u32>,
}

/// The running supervisor thread; shut down when dropped.
pub struct Supervisor {
    control: Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    /// Starts the `asr-supervisor` thread for `plan`, telling `report` each
    /// change.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn start(
        plan: Plan,
        report: impl Fn(ServerReport) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (control, rx) = mpsc::channel();
        let thread = crate::runtime::thread::spawn("asr-supervisor", move || {
            Runner::new(plan, Box::new(report)).run(&rx);
        })?;
        Ok(Self {
            control,
            thread: Some(thread),
        })
    }

    /// A handle that sends controls (for the tray).
    #[must_use]
    pub fn sender(&self) -> Sender<Control> {
        self.control.clone()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Runner {
    plan: Plan,
    report: Box<dyn Fn(ServerReport) + Send>,
    child: Option<Child>,
    last: Option<ServerReport>,
    restarts: u32,
    /// A managed server ran before: the next start is a restart.
    started_once: bool,
    backoff: Backoff,
    agent: ureq::Agent,
}

/// What the thread waits for next.
enum Next {
    /// Check health at this time.
    Check(Instant),
    /// Start a server at this time.
    Start(Instant),
    /// Shutdown was asked for while waiting elsewhere: end the thread.
    Stop,
}

impl Next {
    /// When to act; `None` to end.
    fn at(&self) -> Option<Instant> {
        match self {
            Self::Check(t) | Self::Start(t) => Some(*t),
            Self::Stop => None,
        }
    }
}

impl Runner {
    fn new(plan: Plan, report: Box<dyn Fn(ServerReport) + Send>) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            plan,
            report,
            child: None,
            last: None,
            restarts: 0,
            started_once: false,
            backoff: Backoff::default(),
            agent,
        }
    }

    fn run(mut self, control: &Receiver<Control>) {
        let mut next = self.begin();
        let mut failed_checks = 0;
        while let Some(at) = next.at() {
            match control.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(Control::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Control::Restart) => {
                    if self.plan.manage {
                        tracing::info!("restarting the speech server as asked");
                        self.stop_child();
                        self.backoff = Backoff::default();
                        next = Next::Start(Instant::now());
                    } else {
                        tracing::warn!(
                            "the speech server at {} is not ours to restart",
                            self.plan.health_url
                        );
                    }
                    continue;
                }
                Ok(Control::Replan(plan)) => {
                    if let Some(n) = self.replan(*plan) {
                        next = n;
                        failed_checks = 0;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            next = match next {
                Next::Start(_) => self.start_child(control),
                Next::Check(_) => self.check(&mut failed_checks),
                Next::Stop => break,
            };
        }
        self.stop_child();
    }

    /// Where a plan starts: a server that answers is watched; otherwise
    /// ours is started (managed) or the remote one reported down.
    fn begin(&mut self) -> Next {
        if self.healthy() {
            let mode = if self.plan.manage {
                Mode::External
            } else {
                Mode::Remote
            };
            self.tell(mode, true, "running (started outside the app)".into());
            Next::Check(Instant::now() + HEALTH_EVERY)
        } else if self.plan.manage {
            Next::Start(Instant::now())
        } else {
            self.tell(Mode::Remote, false, "not answering".into());
            Next::Check(Instant::now() + HEALTH_EVERY)
        }
    }

    /// Takes new settings' plan: stops a server of ours and begins again.
    /// `None` when the plan is the one in force.
    fn replan(&mut self, plan: Plan) -> Option<Next> {
        if plan == self.plan {
            return None;
        }
        tracing::info!(
            "the speech server settings changed; now {} ({})",
            plan.health_url,
            if plan.manage { "managed" } else { "watched" }
        );
        self.stop_child();
        self.plan = plan;
        self.backoff = Backoff::default();
        // A start for new settings is not a crash restart.
        self.started_once = false;
        Some(self.begin())
    }

    /// One health check of a running (or watched) server; what to do next.
    fn check(&mut self, failed_checks: &mut u32) -> Next {
        let now = Instant::now();
        if let Some(next) = self.reap("exited") {
            return next;
        }
        if self.healthy() {
            *failed_checks = 0;
            self.backoff.healthy_for(HEALTH_EVERY);
            let mode = self.last.as_ref().map_or(Mode::Remote, |r| r.mode);
            let state = self.child.as_ref().map_or_else(
                || "running (started outside the app)".to_owned(),
                |c| format!("running (pid {})", c.id()),
            );
            self.tell(mode, true, state);
            return Next::Check(now + HEALTH_EVERY);
        }
        *failed_checks += 1;
        if self.child.is_some() {
            if *failed_checks >= HUNG_AFTER {
                tracing::warn!("the speech server stopped answering; restarting it");
                *failed_checks = 0;
                self.stop_child();
                return self.schedule_restart("stopped answering");
            }
            return Next::Check(now + HEALTH_EVERY);
        }
        if self.plan.manage && *failed_checks >= HUNG_AFTER {
            // An outside server went away (not just slow under load: three
            // checks in a row): from now on the app runs its own.
            *failed_checks = 0;
            tracing::warn!(
                "the speech server at {} went away; starting one",
                self.plan.health_url
            );
            return self.schedule_restart("went away");
        }
        let mode = self.last.as_ref().map_or(Mode::Remote, |r| r.mode);
        self.tell(mode, false, "not answering".into());
        Next::Check(now + HEALTH_EVERY)
    }

    /// When the managed child has exited: forgets it and schedules the
    /// restart (`what` says when it happened).
    fn reap(&mut self, what: &str) -> Option<Next> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        self.child = None;
        tracing::warn!("the speech server {what} ({status})");
        Some(self.schedule_restart(&format!("{what} ({status})")))
    }

    fn schedule_restart(&mut self, why: &str) -> Next {
        metrics::server_up(false);
        let wait = self.backoff.next_wait();
        self.tell(
            Mode::Managed,
            false,
            format!("{why}; restarting in {} s", wait.as_secs()),
        );
        Next::Start(Instant::now() + wait)
    }

    /// Starts the server and waits (answering controls) until it is healthy.
    fn start_child(&mut self, control: &Receiver<Control>) -> Next {
        if self.healthy() {
            // Someone else's server answered meanwhile (a user's, a test's).
            self.tell(
                Mode::External,
                true,
                "running (started outside the app)".into(),
            );
            return Next::Check(Instant::now() + HEALTH_EVERY);
        }
        let Some(script) = self.plan.script.clone() else {
            // The status line says it in the window; the log says it too,
            // since a headless user or a bug report only has the log.
            tracing::warn!(
                "cannot start the speech server: asr-server.sh not found (set server.script or TONNYTRAY_ASR_SCRIPT, or run scripts/install.sh)"
            );
            self.tell(
                Mode::Managed,
                false,
                "cannot start: asr-server.sh not found (set server.script, or run scripts/install.sh)".into(),
            );
            return Next::Check(Instant::now() + HEALTH_EVERY);
        };
        match self.spawn(&script) {
            Ok(child) => {
                if self.started_once {
                    self.restarts += 1;
                    metrics::server_restarted();
                }
                self.started_once = true;
                tracing::info!(
                    pid = child.id(),
                    "started the speech server: {}",
                    script.display()
                );
                self.child = Some(child);
            }
            Err(e) => {
                tracing::error!("cannot start the speech server {}: {e}", script.display());
                return self.schedule_restart(&format!("could not start ({e})"));
            }
        }
        let pid = self.child.as_ref().map(Child::id);
        self.tell(
            Mode::Managed,
            false,
            format!("starting (pid {})…", pid.unwrap_or(0)),
        );
        let deadline = Instant::now() + START_LIMIT;
        while Instant::now() < deadline {
            match control.recv_timeout(Duration::from_secs(1)) {
                Ok(Control::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    // The Shutdown is taken from the channel here, so the
                    // main loop must be told; the sender still lives
                    // while Supervisor::drop waits for this thread.
                    return Next::Stop;
                }
                Ok(Control::Restart) => {
                    self.stop_child();
                    return Next::Start(Instant::now());
                }
                Ok(Control::Replan(plan)) => {
                    if let Some(next) = self.replan(*plan) {
                        return next;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(next) = self.reap("exited while starting") {
                return next;
            }
            if self.healthy() {
                self.tell(
                    Mode::Managed,
                    true,
                    format!("running (pid {})", pid.unwrap_or(0)),
                );
                return Next::Check(Instant::now() + HEALTH_EVERY);
            }
        }
        self.stop_child();
        self.schedule_restart("did not become healthy in time")
    }

    fn spawn(&self, script: &std::path::Path) -> std::io::Result<Child> {
        let mut command = Command::new("bash");
        command
            .arg(script)
            .arg("--foreground")
            .args(self.plan.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        {
            // Its own process group: a Ctrl+C in the app's terminal is the
            // app's to handle, and the server is stopped by us.
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = command.spawn()?;
        if let Some(out) = child.stdout.take() {
            forward_lines(out, "stdout");
        }
        if let Some(err) = child.stderr.take() {
            forward_lines(err, "stderr");
        }
        Ok(child)
    }

    fn stop_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            // WhisperLiveKit keeps nothing worth a graceful stop; SIGKILL
            // also ends a server that hangs.
            let _ = child.kill();
            let _ = child.wait();
            tracing::info!(pid = child.id(), "stopped the speech server");
        }
    }

    fn healthy(&self) -> bool {
        let Ok(mut response) = self.agent.get(&self.plan.health_url).call() else {
            return false;
        };
        if response.status() != 200 {
            return false;
        }
        response
            .body_mut()
            .read_json::<serde_json::Value>()
            .is_ok_and(|v| v["status"] == "ok")
    }

    fn tell(&mut self, mode: Mode, up: bool, state: String) {
        metrics::server_up(up);
        let report = ServerReport {
            mode,
            up,
            state,
            restarts: self.restarts,
            pid: self.child.as_ref().map(Child::id),
        };
        if self.last.as_ref() != Some(&report) {
            self.last = Some(report.clone());
            (self.report)(report);
        }
    }
}

/// Sends the server's output lines to the log, from a thread of their own.
fn forward_lines(stream: impl std::io::Read + Send + 'static, which: &'static str) {
    let spawned = crate::runtime::thread::spawn(&format!("asr-server-{which}"), move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if !line.trim().is_empty() {
                tracing::info!(target: "asr_server", "asr-server: {line}");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("the speech server's {which} is not logged: {e}");
    }
}

/// TonnyTray's own start script, as this build ships it.
const SHIPPED_SCRIPT: &[u8] = include_bytes!("../../../scripts/asr-server.sh");

/// Why the script `server.script` names will not be run, if it will not.
///
/// A settings file can come from elsewhere (a copied profile, a backup
/// from another machine), and what it names is run as the user. So it may
/// name a copy of TonnyTray's own `asr-server.sh` anywhere, byte for byte,
/// and nothing else; a script of one's own is given by the user's
/// environment (`TONNYTRAY_ASR_SCRIPT`), which no settings file can set.
#[must_use]
pub fn settings_script_problem(setting: &str) -> Option<String> {
    let setting = setting.trim();
    if setting.is_empty() {
        return None;
    }
    let refused = |why: &str| {
        Some(format!(
            "server.script {setting:?} is not run: {why}; a settings file may only name a copy of TonnyTray's own asr-server.sh (set TONNYTRAY_ASR_SCRIPT for another script); using the installed one"
        ))
    };
    if let Some(why) = writable_by_others(Path::new(setting)) {
        return refused(&why);
    }
    match std::fs::metadata(setting) {
        Err(e) => refused(&format!("cannot read it ({e})")),
        Ok(m) if !m.is_file() => refused("it is not a file"),
        Ok(m) if m.len() != SHIPPED_SCRIPT.len() as u64 => {
            refused("it is not the asr-server.sh of this TonnyTray version")
        }
        Ok(_) => match std::fs::read(setting) {
            Ok(bytes) if bytes == SHIPPED_SCRIPT => None,
            Ok(_) => refused("it is not the asr-server.sh of this TonnyTray version"),
            Err(e) => refused(&format!("cannot read it ({e})")),
        },
    }
}

/// Why another user could change the script between its check and each
/// start (bash reads it again every time), if one could: the file and its
/// folder must belong to this user or root and be writable by no one else.
#[cfg(unix)]
fn writable_by_others(script: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::getuid().as_raw();
    let folder = script.parent().filter(|p| !p.as_os_str().is_empty())?;
    for (what, path) in [("it", script), ("its folder", folder)] {
        let Ok(m) = std::fs::metadata(path) else {
            continue;
        };
        if m.uid() != me && m.uid() != 0 {
            return Some(format!("{what} belongs to another user (uid {})", m.uid()));
        }
        if m.mode() & 0o022 != 0 {
            return Some(format!("{what} can be changed by other users"));
        }
    }
    None
}

/// Windows: the user's folders are private by their ACLs.
#[cfg(not(unix))]
fn writable_by_others(_: &Path) -> Option<String> {
    None
}

/// The plan for `settings`, with the script found where
/// [`script_candidates`] says, and why `server.script` is not used, if it
/// is not (for a notice).
#[must_use]
pub fn plan_for(settings: &crate::config::settings::ServerSettings) -> (Plan, Option<String>) {
    let problem = settings_script_problem(&settings.script);
    if let Some(p) = &problem {
        tracing::warn!("{p}");
    }
    let script = find_script(&script_candidates(&settings.script, problem.is_none()));
    (plan(settings, script), problem)
}

/// Where the script might be: the setting (when `setting_allowed`: see
/// [`settings_script_problem`]), `$TONNYTRAY_ASR_SCRIPT`, the data dir
/// (scripts/install.sh), the package's share dir, the checkout.
fn script_candidates(setting: &str, setting_allowed: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if setting_allowed && !setting.trim().is_empty() {
        out.push(PathBuf::from(setting.trim()));
        return out;
    }
    if let Some(env) = std::env::var_os("TONNYTRAY_ASR_SCRIPT") {
        out.push(PathBuf::from(env));
    }
    if let Some(d) = directories::ProjectDirs::from("", "", "tonnytray") {
        out.push(d.data_dir().join("asr-server.sh"));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(bin) = exe.parent()
    {
        out.push(bin.join("../share/tonnytray/asr-server.sh"));
        // target/debug or target/release inside a checkout.
        out.push(bin.join("../../scripts/asr-server.sh"));
    }
    out.push(PathBuf::from("/usr/share/tonnytray/asr-server.sh"));
    out
}

// Real processes, bash, python3 and /proc: Linux, where CI runs them.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A stand-in for `asr-server.sh --foreground`: a real process that
    /// answers `/health` like WhisperLiveKit (Python's http.server), so the
    /// supervisor's loop runs against real processes in milliseconds.
    const FAKE_SERVER: &str = r#"#!/usr/bin/env bash
port=""
while [ $# -gt 0 ]; do case "$1" in --port) port="$2"; shift 2 ;; *) shift ;; esac; done
echo "fake server on $port"
exec python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{\"status\": \"ok\"}")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$port"
"#;

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }

    type Reports = Arc<Mutex<Vec<ServerReport>>>;

    fn start(dir: &std::path::Path, manage: bool) -> (Supervisor, Reports, Plan) {
        let script = dir.join("asr-server.sh");
        std::fs::write(&script, FAKE_SERVER).expect("script");
        let port = free_port();
        let settings = crate::config::settings::ServerSettings {
            url: format!("ws://127.0.0.1:{port}/asr"),
            managed: manage,
            ..Default::default()
        };
        let plan = plan(&settings, Some(script));
        let reports: Reports = Arc::default();
        let sink = Arc::clone(&reports);
        let supervisor = Supervisor::start(plan.clone(), move |r| {
            sink.lock().expect("reports").push(r);
        })
        .expect("supervisor");
        (supervisor, reports, plan)
    }

    fn wait_for(
        reports: &Reports,
        what: &str,
        done: impl Fn(&ServerReport) -> bool,
    ) -> ServerReport {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(r) = reports.lock().expect("reports").last().filter(|r| done(r)) {
                return r.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no report of {what}: {:?}",
            reports.lock().expect("reports")
        );
    }

    fn alive(pid: u32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
    }

    #[test]
    fn a_killed_server_is_restarted_and_stopped_with_the_supervisor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (supervisor, reports, _) = start(dir.path(), true);
        let first = wait_for(&reports, "the first start", |r| {
            r.up && r.mode == Mode::Managed
        });
        assert_eq!(first.restarts, 0);
        let pid = first.pid.expect("pid");
        let killed = Command::new("kill").args(["-9", &pid.to_string()]).status();
        assert!(killed.is_ok_and(|s| s.success()));
        let again = wait_for(&reports, "the restart", |r| r.up && r.restarts == 1);
        let second = again.pid.expect("pid");
        assert_ne!(second, pid);
        assert!(
            reports
                .lock()
                .expect("reports")
                .iter()
                .any(|r| !r.up && r.state.contains("restarting in 1 s")),
            "the crash was not reported"
        );
        drop(supervisor);
        assert!(!alive(second), "the server outlived its supervisor");
    }

    #[test]
    fn restart_asked_for_replaces_the_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (supervisor, reports, _) = start(dir.path(), true);
        let first = wait_for(&reports, "the first start", |r| r.up);
        supervisor.sender().send(Control::Restart).expect("send");
        let again = wait_for(&reports, "the restart", |r| r.up && r.pid != first.pid);
        assert_eq!(again.restarts, 1);
        assert!(!alive(first.pid.expect("pid")));
    }

    #[test]
    fn new_settings_move_the_managed_server_and_a_remote_url_stops_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (supervisor, reports, first_plan) = start(dir.path(), true);
        let first = wait_for(&reports, "the first start", |r| r.up);
        let old_pid = first.pid.expect("pid");

        // A new port: the old process goes, one on the new port comes.
        let port = free_port();
        let moved = crate::config::settings::ServerSettings {
            url: format!("ws://127.0.0.1:{port}/asr"),
            ..Default::default()
        };
        let moved_plan = plan(&moved, first_plan.script.clone());
        supervisor
            .sender()
            .send(Control::Replan(Box::new(moved_plan.clone())))
            .expect("send");
        let again = wait_for(&reports, "the server on the new port", |r| {
            r.up && r.pid.is_some_and(|p| p != old_pid)
        });
        assert!(
            !alive(old_pid),
            "the server for the old settings still runs"
        );
        assert!(ureq::get(&moved_plan.health_url).call().is_ok());
        assert!(ureq::get(&first_plan.health_url).call().is_err());
        assert_eq!(again.restarts, 0, "new settings are not a crash restart");

        // The same plan again changes nothing.
        supervisor
            .sender()
            .send(Control::Replan(Box::new(moved_plan)))
            .expect("send");
        std::thread::sleep(Duration::from_millis(300));
        assert!(alive(again.pid.expect("pid")));

        // A remote URL: ours is stopped and the remote one only watched.
        let remote = crate::config::settings::ServerSettings {
            url: "wss://speech.invalid/asr".into(),
            ..Default::default()
        };
        supervisor
            .sender()
            .send(Control::Replan(Box::new(plan(&remote, None))))
            .expect("send");
        let watched = wait_for(&reports, "the remote server watched", |r| {
            r.mode == Mode::Remote
        });
        assert_eq!(watched.pid, None);
        assert!(!alive(again.pid.expect("pid")));
    }

    #[test]
    fn a_server_that_is_not_managed_is_only_watched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (supervisor, reports, plan) = start(dir.path(), false);
        let report = wait_for(&reports, "the first check", |r| r.mode == Mode::Remote);
        assert!(!report.up);
        assert_eq!(report.pid, None);
        supervisor.sender().send(Control::Restart).expect("send");
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            ureq::get(&plan.health_url).call().is_err(),
            "a server was started for an unmanaged URL"
        );
    }

    #[test]
    fn quitting_while_the_server_is_still_starting_stops_it_and_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("asr-server.sh");
        // Loads a "model" forever: never answers /health.
        std::fs::write(&script, "#!/usr/bin/env bash\nexec sleep 600\n").expect("script");
        let settings = crate::config::settings::ServerSettings {
            url: format!("ws://127.0.0.1:{}/asr", free_port()),
            ..Default::default()
        };
        let reports: Reports = Arc::default();
        let sink = Arc::clone(&reports);
        let supervisor = Supervisor::start(plan(&settings, Some(script)), move |r| {
            sink.lock().expect("reports").push(r);
        })
        .expect("supervisor");
        let starting = wait_for(&reports, "the start", |r| r.state.starts_with("starting"));
        let pid = starting.pid.expect("pid");
        let (done_tx, done_rx) = mpsc::channel();
        crate::runtime::thread::spawn("test-drop", move || {
            drop(supervisor);
            let _ = done_tx.send(());
        })
        .expect("spawn");
        // Not a speed check: a supervisor that never ends would hang the
        // app's quit, which is what this test is about.
        assert!(
            done_rx.recv_timeout(Duration::from_secs(30)).is_ok(),
            "the supervisor did not end while its server was starting"
        );
        assert!(!alive(pid), "the starting server outlived its supervisor");
    }

    #[test]
    fn a_settings_file_may_name_only_a_copy_of_the_shipped_script() {
        let dir = tempfile::tempdir().expect("dir");
        let copy = dir.path().join("asr-server.sh");
        std::fs::write(&copy, SHIPPED_SCRIPT).expect("copy");
        let copy = copy.display().to_string();
        assert_eq!(settings_script_problem(&copy), None);
        let mut settings = crate::config::settings::ServerSettings::default();
        settings.script.clone_from(&copy);
        assert_eq!(plan_for(&settings).0.script, Some(PathBuf::from(&copy)));

        let other = dir.path().join("other").join("asr-server.sh");
        std::fs::create_dir_all(other.parent().expect("dir")).expect("dir");
        let mut evil = SHIPPED_SCRIPT.to_vec();
        evil.extend_from_slice(b"\ntouch /tmp/pwned\n");
        std::fs::write(&other, &evil).expect("write");
        let other = other.display().to_string();
        let problem = settings_script_problem(&other).expect("refused");
        assert!(
            problem.contains("not run") && problem.contains(&other),
            "{problem}"
        );
        settings.script.clone_from(&other);
        let (plan, refused) = plan_for(&settings);
        assert_eq!(refused.as_deref(), Some(problem.as_str()));
        assert_ne!(plan.script, Some(PathBuf::from(&other)));
        assert!(settings_script_problem("/nonexistent/asr-server.sh").is_some());

        // A faithful copy in a folder others may write to could be swapped
        // after the check: refused too.
        use std::os::unix::fs::PermissionsExt;
        let open_dir = dir.path().join("open");
        std::fs::create_dir_all(&open_dir).expect("dir");
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let exposed = open_dir.join("asr-server.sh");
        std::fs::write(&exposed, SHIPPED_SCRIPT).expect("copy");
        let problem = settings_script_problem(&exposed.display().to_string()).expect("refused");
        assert!(
            problem.contains("its folder can be changed by other users"),
            "{problem}"
        );
        assert_eq!(settings_script_problem("  "), None);
    }

    #[test]
    fn a_missing_script_is_named_with_what_to_do() {
        let port = free_port();
        let settings = crate::config::settings::ServerSettings {
            url: format!("ws://127.0.0.1:{port}/asr"),
            ..Default::default()
        };
        let reports: Reports = Arc::default();
        let sink = Arc::clone(&reports);
        let _s = Supervisor::start(plan(&settings, None), move |r| {
            sink.lock().expect("reports").push(r);
        })
        .expect("supervisor");
        let r = wait_for(&reports, "the missing script", |r| {
            r.state.contains("not found")
        });
        assert!(r.state.contains("server.script"), "{r:?}");
    }
}
