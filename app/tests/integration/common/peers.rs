//! The real n8n and RabbitMQ the integration tests talk to: the shared
//! instances `ci/check.sh` starts (their addresses come from the
//! environment), private n8n instances a test starts, stops and restarts
//! itself through `ci/n8n.sh`, and the test workflow's record of every
//! command it received.
//!
//! The test workflow (`ci/n8n/ask-tonny.json`) answers `POST
//! /webhook/ask-tonny` (and `/webhook/ask-tonny-secure`, behind a bearer
//! token) with `{"reply": "You said: <text>"}` and appends each command to a
//! record that `GET /webhook/tonny-received` returns, oldest first,
//! duplicates included. The record lives in the instance's directory, so it
//! survives a stop and start. Tests that share an instance find their own
//! commands by a [`unique_id`] prefix.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The test workflow's echo webhook, relative to an instance's base URL.
pub const ASK_PATH: &str = "/webhook/ask-tonny";
/// The same echo behind `Authorization: Bearer TOKEN` (403 without it).
pub const SECURE_PATH: &str = "/webhook/ask-tonny-secure";
/// Where the test workflow lists what it received.
pub const RECEIVED_PATH: &str = "/webhook/tonny-received";

/// How long a private instance may take to start (the first start imports
/// the workflow; two cores shared with the rest of the test run).
const START_WAIT_SECS: u32 = 300;

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The value of `name`; when it is missing, panics under CI (the peer must
/// be there) and otherwise says why the test is skipped and returns `None`.
fn peer_env(name: &str, what: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        _ => {
            assert!(
                !under_ci(),
                "{name} is not set under CI: {what} is missing. ci/check.sh starts it and \
                 sets {name}; run the tests through ci/check.sh"
            );
            eprintln!(
                "skipping: {name} is not set ({what}); run the tests through ci/check.sh \
                 to test against the real peer"
            );
            None
        }
    }
}

/// Base URL of the shared n8n (`http://127.0.0.1:PORT`, no trailing slash);
/// the echo webhook is at [`ASK_PATH`]. `None` (test skipped) only outside CI.
pub fn n8n_url() -> Option<String> {
    peer_env("TONNYTRAY_TEST_N8N_URL", "the shared n8n instance")
        .map(|u| u.trim_end_matches('/').to_owned())
}

/// The bearer token of the shared n8n's [`SECURE_PATH`].
pub fn n8n_token() -> Option<String> {
    peer_env(
        "TONNYTRAY_TEST_N8N_TOKEN",
        "the shared n8n instance's bearer token",
    )
}

/// AMQP URL of the shared RabbitMQ (`amqp://guest:guest@127.0.0.1:PORT/%2f`).
pub fn amqp_url() -> Option<String> {
    peer_env("TONNYTRAY_TEST_AMQP_URL", "the shared RabbitMQ broker")
}

/// `base` + [`ASK_PATH`].
pub fn ask_url(base: &str) -> String {
    format!("{}{ASK_PATH}", base.trim_end_matches('/'))
}

/// `base` + [`SECURE_PATH`].
pub fn secure_url(base: &str) -> String {
    format!("{}{SECURE_PATH}", base.trim_end_matches('/'))
}

/// An id no other test (or earlier run against the same instance) uses,
/// starting with `label`: use it as the prefix of your `utterance_id`s.
pub fn unique_id(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{label}-{}-{nanos}", std::process::id())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// Everything the test workflow of the instance at `base_url` received,
/// oldest first, duplicates included: objects with `utterance_id`, `text`,
/// `profile`, `agent`, `source`, `timestamp` (as posted, `null` when
/// absent), `webhook` (`ask-tonny` or `ask-tonny-secure`), `received_at`
/// and the whole posted `body`. Panics when the instance does not answer.
pub fn received(base_url: &str) -> Vec<Value> {
    let url = format!("{}{RECEIVED_PATH}", base_url.trim_end_matches('/'));
    let mut response = agent()
        .get(&url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url} failed: {e} (is the n8n instance running?)"));
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET {url}: reading the answer failed: {e}"));
    assert_eq!(status, 200, "GET {url} answered {status}: {body}");
    let value: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {url} answered something other than JSON ({e}): {body}"));
    match value.get("received") {
        Some(Value::Array(items)) => items.clone(),
        _ => panic!("GET {url} answered without a \"received\" list: {body}"),
    }
}

/// The `utterance_id`s in [`received`] that start with `prefix`, in order.
pub fn received_ids(base_url: &str, prefix: &str) -> Vec<String> {
    received(base_url)
        .iter()
        .filter_map(|r| r.get("utterance_id").and_then(Value::as_str))
        .filter(|id| id.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// POSTs `body` as JSON to `url` (with `Authorization: Bearer TOKEN` when
/// given) and returns the status and the answer's text; `Err` when nothing
/// answered (the instance is stopped, say).
pub fn post_json(url: &str, token: Option<&str>, body: &Value) -> Result<(u16, String), String> {
    let mut request = agent().post(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .send_json(body)
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("POST {url}: reading the answer: {e}"))?;
    Ok((status, text))
}

/// `ci/n8n.sh` (`TONNYTRAY_TEST_N8N_SCRIPT`, else the repository's).
fn n8n_script() -> PathBuf {
    std::env::var_os("TONNYTRAY_TEST_N8N_SCRIPT").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/n8n.sh"),
        PathBuf::from,
    )
}

/// `ci/n8n.sh` with the install directory the CI run uses.
fn script_command() -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(n8n_script());
    if let Some(home) = std::env::var_os("TONNYTRAY_TEST_N8N_HOME") {
        cmd.env("TONNYTRAY_N8N_HOME", home);
    }
    cmd
}

/// A loopback port nothing listens on now, below the ephemeral range so an
/// outgoing connection is unlikely to take it while an instance is stopped.
fn free_port() -> u16 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    for i in 0..200u32 {
        let Ok(port) = u16::try_from(11_000 + (seed.wrapping_add(i * 7919)) % 9_000) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port found in 11000-19999 for a private n8n instance");
}

/// A private n8n instance with the test workflow, in its own temporary
/// directory on a free loopback port. Dropping it stops it.
pub struct N8n {
    dir: tempfile::TempDir,
    port: u16,
    token: String,
    running: bool,
}

impl N8n {
    /// Starts a private instance whose secure webhook wants a fresh token
    /// ([`N8n::token`]). `None` (test skipped) only outside CI, when n8n is
    /// not installed (`ci/n8n.sh install`); panics when it does not start.
    pub fn start() -> Option<Self> {
        Self::start_with_token(&unique_id("token"))
    }

    /// [`N8n::start`] with the bearer token `token`.
    pub fn start_with_token(token: &str) -> Option<Self> {
        let installed = script_command()
            .arg("installed")
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            assert!(
                !under_ci(),
                "n8n is not installed under CI: ci/check.sh runs 'ci/n8n.sh install' \
                 (TONNYTRAY_TEST_N8N_HOME={:?})",
                std::env::var_os("TONNYTRAY_TEST_N8N_HOME")
            );
            eprintln!(
                "skipping: n8n is not installed; run 'bash ci/n8n.sh install' (about 12 minutes)"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tonnytray-n8n-")
            .tempdir()
            .expect("a temporary directory for the n8n instance");
        let mut n8n = Self {
            dir,
            port: 0,
            token: token.to_owned(),
            running: false,
        };
        // Another test may take the free port before n8n binds it: retry.
        let mut last_error = String::new();
        for _ in 0..3 {
            n8n.port = free_port();
            match n8n.run_start() {
                Ok(()) => return Some(n8n),
                Err(e) if e.contains("already in use") => last_error = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{last_error}");
    }

    fn run_start(&mut self) -> Result<(), String> {
        let output = script_command()
            .args(["start", "--port", &self.port.to_string(), "--dir"])
            .arg(self.dir.path())
            .args(["--wait", &START_WAIT_SECS.to_string()])
            .env("TONNYTRAY_N8N_TOKEN", &self.token)
            .output()
            .map_err(|e| format!("running {}: {e}", n8n_script().display()))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        eprint!("{stderr}");
        if !output.status.success() {
            return Err(format!(
                "ci/n8n.sh start on port {} failed ({}):\n{stderr}",
                self.port, output.status
            ));
        }
        self.running = true;
        Ok(())
    }

    /// Base URL, `http://127.0.0.1:PORT`; stays the same across restarts.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bearer token of [`SECURE_PATH`].
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stops the instance and waits until its port is free; its data stays.
    pub fn stop(&mut self) {
        let status = script_command()
            .args(["stop", "--dir"])
            .arg(self.dir.path())
            .status()
            .expect("ci/n8n.sh stop runs");
        assert!(status.success(), "ci/n8n.sh stop failed ({status})");
        self.running = false;
    }

    /// Starts the stopped instance again on the same port with its data.
    pub fn start_again(&mut self) {
        assert!(!self.running, "start_again: the instance is running");
        if let Err(e) = self.run_start() {
            panic!("{e}");
        }
    }
}

impl Drop for N8n {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The directory goes with this value: show the log first.
            let log = std::fs::read_to_string(self.dir.path().join("n8n.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- last lines of the private n8n's log ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        if self.running {
            // No panic in drop: a failed stop is reported, the test's own
            // result stands.
            let stopped = script_command()
                .args(["stop", "--dir"])
                .arg(self.dir.path())
                .status();
            if !stopped.is_ok_and(|s| s.success()) {
                eprintln!(
                    "could not stop the n8n instance in {}",
                    self.dir.path().display()
                );
            }
        }
    }
}
