//! Pure parts of the supervisor: what to run for the settings (host, port,
//! model, script) and how long to wait between restarts.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::settings::ServerSettings;

/// The model `asr-server.sh` bundles offline; asking for it by name would
/// make the server download it from the hub.
const BUNDLED_MODEL: &str = "tiny.en";

/// What the supervisor watches and, when `manage`, runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Start and restart a server of our own when none answers.
    pub manage: bool,
    /// `http://host:port/health`.
    pub health_url: String,
    /// Host to bind the managed server to.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Whisper model (settings' `server.model`).
    pub model: String,
    /// Spoken language.
    pub language: String,
    /// The script that starts it, when found.
    pub script: Option<PathBuf>,
}

impl Plan {
    /// `asr-server.sh` arguments after `--foreground`.
    #[must_use]
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--host".to_owned(),
            self.host.clone(),
            "--port".to_owned(),
            self.port.to_string(),
            "--lang".to_owned(),
            self.language.clone(),
        ];
        if self.model != BUNDLED_MODEL {
            args.push("--model".to_owned());
            args.push(self.model.clone());
        }
        args
    }
}

/// The plan for these settings; `script` is where the script was found.
#[must_use]
pub fn plan(settings: &ServerSettings, script: Option<PathBuf>) -> Plan {
    let (host, port) = host_port(&settings.url);
    let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1" | "[::1]");
    Plan {
        manage: settings.managed && loopback,
        health_url: format!("http://{host}:{port}/health"),
        host: if host == "localhost" {
            "127.0.0.1".to_owned()
        } else {
            host
        },
        port,
        model: settings.model.clone(),
        language: settings.language.clone(),
        script,
    }
}

/// The first existing file among `candidates`.
#[must_use]
pub fn find_script(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|p| p.is_file()).cloned()
}

/// Host and port of a `ws://` or `wss://` URL (validated by the settings).
fn host_port(url: &str) -> (String, u16) {
    let (default_port, rest) = if let Some(r) = url.strip_prefix("wss://") {
        (443, r)
    } else {
        (80, url.strip_prefix("ws://").unwrap_or(url))
    };
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => {
            (h.to_owned(), p.parse().unwrap_or(default_port))
        }
        _ => (authority.to_owned(), default_port),
    }
}

/// Waits between restarts: 1, 2, 4 … 60 s, back to 1 s once the server has
/// stayed healthy for a minute (so one crash a day restarts at once, a crash
/// loop does not spin).
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
    healthy: Duration,
}

impl Backoff {
    const MAX: Duration = Duration::from_secs(60);
    const FORGIVE_AFTER: Duration = Duration::from_secs(60);

    /// The wait before the next start, counting this failure.
    pub fn next_wait(&mut self) -> Duration {
        let wait = Duration::from_secs(1u64 << self.failures.min(6)).min(Self::MAX);
        self.failures += 1;
        self.healthy = Duration::ZERO;
        wait
    }

    /// The server was healthy for `d` more.
    pub fn healthy_for(&mut self, d: Duration) {
        self.healthy += d;
        if self.healthy >= Self::FORGIVE_AFTER {
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> ServerSettings {
        ServerSettings {
            url: url.into(),
            ..ServerSettings::default()
        }
    }

    #[test]
    fn a_loopback_url_is_managed_and_a_remote_one_is_not() {
        let p = plan(&settings("ws://127.0.0.1:18888/asr"), None);
        assert!(p.manage);
        assert_eq!(p.health_url, "http://127.0.0.1:18888/health");
        assert_eq!(p.port, 18888);
        let p = plan(&settings("ws://localhost:8888/asr"), None);
        assert!(p.manage);
        assert_eq!(p.host, "127.0.0.1");
        let p = plan(&settings("wss://speech.example.org/asr"), None);
        assert!(!p.manage, "a remote server is only watched");
        assert_eq!(p.health_url, "http://speech.example.org:443/health");
        let off = ServerSettings {
            managed: false,
            ..settings("ws://127.0.0.1:8888/asr")
        };
        assert!(!plan(&off, None).manage);
    }

    #[test]
    fn the_bundled_model_is_not_named_and_others_are() {
        let p = plan(&settings("ws://127.0.0.1:9000/asr"), None);
        assert_eq!(
            p.args(),
            ["--host", "127.0.0.1", "--port", "9000", "--lang", "en"]
        );
        let base = ServerSettings {
            model: "base.en".into(),
            language: "de".into(),
            ..settings("ws://127.0.0.1:9000/asr")
        };
        let args = plan(&base, None).args();
        assert_eq!(&args[4..], ["--lang", "de", "--model", "base.en"]);
    }

    #[test]
    fn restarts_back_off_to_a_minute_and_a_healthy_minute_forgives() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| b.next_wait().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        b.healthy_for(Duration::from_secs(30));
        assert_eq!(b.next_wait().as_secs(), 60, "30 s is not long enough");
        b.healthy_for(Duration::from_secs(60));
        assert_eq!(b.next_wait().as_secs(), 1);
    }

    #[test]
    fn the_first_existing_script_is_chosen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let there = dir.path().join("asr-server.sh");
        std::fs::write(&there, "#!/bin/sh\n").expect("write");
        let found = find_script(&[dir.path().join("missing.sh"), there.clone()]);
        assert_eq!(found, Some(there));
        assert_eq!(find_script(&[dir.path().join("missing.sh")]), None);
    }
}
