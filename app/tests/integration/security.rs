//! Local attackers: what another user on the same machine can reach.
//!
//! The instance socket reads history and writes files as its user (export,
//! backup, restore), so it must answer only that user. These tests run the
//! socket in this (root) process and knock on it as a second, unprivileged
//! user (`TONNYTRAY_TEST_WAYLAND_USER`, which ci/check.sh creates) with the
//! app's own CLI, run by `runuser`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonnytray::instance::{self, Claim};

use crate::common::bin;

fn second_user() -> Option<String> {
    std::env::var("TONNYTRAY_TEST_WAYLAND_USER")
        .ok()
        .filter(|u| !u.is_empty())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `tonnytray <args>` as `user`, aimed at the socket in `runtime` that
/// belongs to "root" (the name the client derives from `$USER`).
fn cli_as(user: &str, app: &Path, runtime: &Path, args: &[&str]) -> Output {
    Command::new("runuser")
        .args(["-u", user, "--", "env", "USER=root"])
        .arg(format!("XDG_RUNTIME_DIR={}", runtime.display()))
        .arg(app)
        .args(args)
        .output()
        .expect("runuser runs")
}

#[test]
#[ignore = "needs root and a second user (ci/check.sh)"]
fn the_instance_socket_answers_only_the_user_who_runs_the_app() {
    let Some(user) = second_user() else {
        panic!("TONNYTRAY_TEST_WAYLAND_USER is not set: run through ci/check.sh");
    };
    assert!(is_root(), "this test switches users: run it as root");
    // A runtime dir others can enter (as a badly set XDG_RUNTIME_DIR would
    // be), so that only the socket's own guards stand in the way.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    let app = dir.path().join("tonnytray");
    std::fs::copy(bin(), &app).expect("copy the app");
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let socket = dir.path().join("tonnytray-root.sock");

    let asked: Arc<Mutex<Vec<String>>> = Arc::default();
    let server = {
        let asked = Arc::clone(&asked);
        match instance::claim_at(&socket, move |line| {
            asked.lock().expect("lock").push(line.to_owned());
            format!("{{\"answered\":\"{line}\"}}")
        }) {
            Ok(Claim::Mine(server)) => server,
            Ok(Claim::AlreadyRunning) => panic!("a stale instance answered at {socket:?}"),
            Err(e) => panic!("cannot serve at {socket:?}: {e}"),
        }
    };
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the socket's mode is {mode:o}");

    // Its own user is served.
    let own = instance::request_at(&socket, "status", Duration::from_secs(5)).expect("own user");
    assert_eq!(own, "{\"answered\":\"status\"}");

    // Another user cannot even connect while the mode holds.
    let out = cli_as(&user, &app, dir.path(), &["quit"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(stderr.contains("ermission denied"), "{stderr}");

    // With the mode opened (a copied file, a umask of 0), the peer check
    // refuses them, names why, and runs nothing.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    for request in [
        vec!["quit"],
        vec!["toggle"],
        vec!["status"],
        vec!["ptt", "press"],
    ] {
        let out = cli_as(&user, &app, dir.path(), &request);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{request:?}: {out:?}");
        assert!(
            stderr.contains("refused") && stderr.contains("belongs to user id 0"),
            "{request:?}: {stderr}"
        );
    }
    assert_eq!(*asked.lock().expect("lock"), vec!["status".to_owned()]);

    // A request line without end is refused, not buffered without limit.
    let huge = "x".repeat(usize::try_from(instance::MAX_REQUEST).expect("fits") + 10);
    let reply = instance::request_at(&socket, &huge, Duration::from_secs(5)).expect("reply");
    assert!(reply.contains("longer than"), "{reply}");
    assert_eq!(asked.lock().expect("lock").len(), 1);
    drop(server);
}

/// `Max core file size` soft and hard, from `/proc/<pid>/limits`.
fn core_limit(pid: u32) -> Option<String> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))?;
    Some(
        line.split_whitespace()
            .skip(4)
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

#[test]
fn the_app_writes_no_core_file_whatever_limit_it_was_started_with() {
    let home = tempfile::tempdir().expect("home");
    // A shell that allows any core size, then the app in its place; the
    // app waits for the secret on its standard input meanwhile.
    let mut app = Command::new("bash")
        .arg("-c")
        .arg("ulimit -S -c unlimited 2>/dev/null || ulimit -S -c \"$(ulimit -H -c)\"; echo \"$(ulimit -S -c)\" >&2; exec \"$0\" secret set n8n-token")
        .arg(bin())
        .env("HOME", home.path())
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the app runs");
    let mut first = String::new();
    {
        use std::io::BufRead;
        let stderr = app.stderr.as_mut().expect("stderr");
        std::io::BufReader::new(stderr)
            .read_line(&mut first)
            .expect("the shell's limit");
    }
    let started_with = first.trim().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        seen = core_limit(app.id());
        if seen.as_deref() == Some("0 0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = app.kill();
    let _ = app.wait();
    assert_ne!(
        started_with, "0",
        "the shell could not allow core files: the test shows nothing"
    );
    assert_eq!(seen.as_deref(), Some("0 0"), "started with {started_with}");
}
