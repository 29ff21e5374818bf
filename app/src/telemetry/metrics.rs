//! Prometheus metrics: the names, the recording helpers the workers call,
//! and the small HTTP thread that serves `/metrics` on 127.0.0.1.
//!
//! Off by default (`[telemetry] metrics_enabled`). Until [`install`] runs no
//! recorder exists and every helper here is a no-op, so the pipeline pays
//! nothing when nobody scrapes. The `metrics` crate keeps the values; the
//! Prometheus exporter renders them (text format 0.0.4, which promtool and
//! Prometheus 2.x accept); we serve them with `tiny_http` on a thread of our
//! own rather than the exporter's hyper/tokio listener, which would bring a
//! second async runtime for one GET.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Default port: unregistered and away from Prometheus's own 9090-9100.
pub const DEFAULT_PORT: u16 = 9477;

/// Seconds since the process started (set when scraped).
pub const UPTIME: &str = "tonnytray_uptime_seconds";
/// 1 while the speech server answers its health check, else 0.
pub const SERVER_UP: &str = "tonnytray_server_up";
/// Times the supervisor restarted the managed speech server.
pub const SERVER_RESTARTS: &str = "tonnytray_server_restarts_total";
/// WebSocket connections opened to the speech server.
pub const WS_CONNECTIONS: &str = "tonnytray_ws_connections_total";
/// Connections re-opened after the server was lost mid-dictation.
pub const WS_RECONNECTS: &str = "tonnytray_ws_reconnects_total";
/// 1 while a WebSocket to the speech server is open.
pub const WS_CONNECTED: &str = "tonnytray_ws_connected";
/// 16 kHz audio chunks sent on to the speech worker.
pub const AUDIO_FRAMES: &str = "tonnytray_audio_frames_total";
/// Capture overflows: samples the audio thread could not take in time.
pub const AUDIO_OVERFLOWS: &str = "tonnytray_audio_overflows_total";
/// Utterances finished (dictated or spoken commands).
pub const UTTERANCES: &str = "tonnytray_utterances_total";
/// Requests per integration (`integration` = n8n, rabbitmq, elevenlabs).
pub const INTEGRATION_REQUESTS: &str = "tonnytray_integration_requests_total";
/// Failed requests per integration.
pub const INTEGRATION_ERRORS: &str = "tonnytray_integration_errors_total";
/// End of speech to final text, seconds.
pub const FINAL_TEXT_LATENCY: &str = "tonnytray_final_text_latency_seconds";
/// A command's n8n round trip, seconds.
pub const N8N_LATENCY: &str = "tonnytray_n8n_latency_seconds";
/// Reply text to its first audio, seconds.
pub const TTS_LATENCY: &str = "tonnytray_tts_latency_seconds";
/// Commands waiting in the outbox.
pub const OUTBOX_PENDING: &str = "tonnytray_outbox_pending";

/// Histogram buckets (seconds) for the three latencies: from a fast final
/// (~0.1 s) to a slow webhook (30 s is the n8n timeout's order).
const BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0,
];

/// Integrations named in the `integration` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integration {
    /// The n8n webhook.
    N8n,
    /// The RabbitMQ publisher.
    RabbitMq,
    /// ElevenLabs text to speech.
    ElevenLabs,
}

impl Integration {
    fn label(self) -> &'static str {
        match self {
            Self::N8n => "n8n",
            Self::RabbitMq => "rabbitmq",
            Self::ElevenLabs => "elevenlabs",
        }
    }
}

struct Installed {
    handle: PrometheusHandle,
    started: Instant,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Why metrics could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Another recorder was installed first (only in tests that mix them).
    #[error("another metrics recorder is already installed")]
    Recorder,
    /// The port is taken or not ours to bind.
    #[error("cannot serve metrics on 127.0.0.1:{port}: {reason} (change telemetry.metrics_port)")]
    Bind {
        /// The port asked for.
        port: u16,
        /// What the OS said.
        reason: String,
    },
}

/// Installs the global recorder (once per process; later calls return the
/// same handle). Metrics recorded before this are lost, which is fine: the
/// app installs it at start when metrics are on.
///
/// # Errors
/// When a different recorder was installed first.
pub fn install() -> Result<&'static PrometheusHandle, MetricsError> {
    // Two threads installing at once must not both try the global slot.
    static FIRST: Mutex<()> = Mutex::new(());
    let _first = FIRST.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(done) = INSTALLED.get() {
        return Ok(&done.handle);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_latency_seconds".into()), BUCKETS)
        .map_err(|_| MetricsError::Recorder)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::Recorder)?;
    describe();
    let done = INSTALLED.get_or_init(|| Installed {
        handle,
        started: Instant::now(),
    });
    Ok(&done.handle)
}

/// The metrics in Prometheus text format, uptime brought up to date; empty
/// when nothing is installed.
#[must_use]
pub fn render() -> String {
    let Some(done) = INSTALLED.get() else {
        return String::new();
    };
    metrics::gauge!(UPTIME).set(done.started.elapsed().as_secs_f64());
    done.handle.run_upkeep();
    done.handle.render()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(UPTIME, Unit::Seconds, "Seconds since TonnyTray started.");
    describe_gauge!(SERVER_UP, "1 while the speech server answers /health.");
    describe_counter!(SERVER_RESTARTS, "Restarts of the managed speech server.");
    describe_counter!(
        WS_CONNECTIONS,
        "WebSocket connections to the speech server."
    );
    describe_counter!(
        WS_RECONNECTS,
        "Reconnections after the speech server was lost."
    );
    describe_gauge!(WS_CONNECTED, "1 while connected to the speech server.");
    describe_counter!(
        AUDIO_FRAMES,
        "Audio chunks (16 kHz) sent to the speech worker."
    );
    describe_counter!(AUDIO_OVERFLOWS, "Audio capture overflows.");
    describe_counter!(UTTERANCES, "Finished utterances.");
    describe_counter!(INTEGRATION_REQUESTS, "Requests per integration.");
    describe_counter!(INTEGRATION_ERRORS, "Failed requests per integration.");
    describe_histogram!(
        FINAL_TEXT_LATENCY,
        Unit::Seconds,
        "End of speech to final text."
    );
    describe_histogram!(N8N_LATENCY, Unit::Seconds, "n8n webhook round trip.");
    describe_histogram!(TTS_LATENCY, Unit::Seconds, "Reply text to first audio.");
    describe_gauge!(OUTBOX_PENDING, "Commands waiting in the outbox.");
    // Series a dashboard expects exist from the first scrape, at zero.
    for name in [
        SERVER_RESTARTS,
        WS_CONNECTIONS,
        WS_RECONNECTS,
        AUDIO_OVERFLOWS,
        UTTERANCES,
    ] {
        metrics::counter!(name).increment(0);
    }
    for integration in [
        Integration::N8n,
        Integration::RabbitMq,
        Integration::ElevenLabs,
    ] {
        metrics::counter!(INTEGRATION_REQUESTS, "integration" => integration.label()).increment(0);
        metrics::counter!(INTEGRATION_ERRORS, "integration" => integration.label()).increment(0);
    }
}

/// The speech server answered (or stopped answering) its health check.
pub fn server_up(up: bool) {
    metrics::gauge!(SERVER_UP).set(if up { 1.0 } else { 0.0 });
}

/// The supervisor restarted the managed server.
pub fn server_restarted() {
    metrics::counter!(SERVER_RESTARTS).increment(1);
}

/// A WebSocket to the speech server opened; `reconnect` when it replaces
/// one that was lost.
pub fn ws_connected(reconnect: bool) {
    metrics::counter!(WS_CONNECTIONS).increment(1);
    if reconnect {
        metrics::counter!(WS_RECONNECTS).increment(1);
    }
    metrics::gauge!(WS_CONNECTED).set(1.0);
}

/// The WebSocket closed or was lost.
pub fn ws_disconnected() {
    metrics::gauge!(WS_CONNECTED).set(0.0);
}

/// `n` audio chunks went to the speech worker.
pub fn audio_frames(n: u64) {
    metrics::counter!(AUDIO_FRAMES).increment(n);
}

/// The capture overflowed `n` more times.
pub fn audio_overflows(n: u64) {
    metrics::counter!(AUDIO_OVERFLOWS).increment(n);
}

/// An utterance finished; `final_text` is its end of speech → final text.
pub fn utterance(final_text: Option<Duration>) {
    metrics::counter!(UTTERANCES).increment(1);
    if let Some(latency) = final_text {
        metrics::histogram!(FINAL_TEXT_LATENCY).record(latency.as_secs_f64());
    }
}

/// One request to `integration` ended, `ok` or not.
pub fn integration_request(integration: Integration, ok: bool) {
    let label = integration.label();
    metrics::counter!(INTEGRATION_REQUESTS, "integration" => label).increment(1);
    if !ok {
        metrics::counter!(INTEGRATION_ERRORS, "integration" => label).increment(1);
    }
}

/// A command's n8n round trip.
pub fn n8n_latency(latency: Duration) {
    metrics::histogram!(N8N_LATENCY).record(latency.as_secs_f64());
}

/// A reply's text to first audio.
pub fn tts_latency(latency: Duration) {
    metrics::histogram!(TTS_LATENCY).record(latency.as_secs_f64());
}

/// Commands now waiting in the outbox.
pub fn outbox_pending(n: usize) {
    #[allow(clippy::cast_precision_loss)] // an outbox never nears 2^52
    metrics::gauge!(OUTBOX_PENDING).set(n as f64);
}

/// The `/metrics` endpoint's thread; stopped when dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    port: u16,
}

impl MetricsServer {
    /// Installs the recorder and serves `GET /metrics` on `127.0.0.1:port`
    /// (only loopback: the numbers say when the household talks).
    ///
    /// # Errors
    /// When the port cannot be bound or a recorder is already installed.
    pub fn start(port: u16) -> Result<Self, MetricsError> {
        install()?;
        let server =
            tiny_http::Server::http(("127.0.0.1", port)).map_err(|e| MetricsError::Bind {
                port,
                reason: e.to_string(),
            })?;
        let port = server.server_addr().to_ip().map_or(port, |a| a.port());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = crate::runtime::thread::spawn("metrics-http", move || serve(&server, &flag))
            .map_err(|e| MetricsError::Bind {
            port,
            reason: e.to_string(),
        })?;
        tracing::info!(port, "serving metrics on http://127.0.0.1:{port}/metrics");
        Ok(Self {
            stop,
            thread: Some(thread),
            port,
        })
    }

    /// The port served (the one asked for, or the OS's pick for 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `/metrics` as the settings say, following their changes: turned on,
/// off, or moved to another port while the app runs.
#[derive(Default)]
pub struct Endpoint {
    /// The port asked for last (`None`: off), served or not.
    wanted: Option<u16>,
    server: Option<MetricsServer>,
}

impl Endpoint {
    /// Serves on `port` when `enabled`, otherwise stops serving. The same
    /// settings again change nothing (and do not retry a port that failed).
    ///
    /// # Errors
    /// When the port cannot be bound; the endpoint is then off until the
    /// settings change.
    pub fn apply(&mut self, enabled: bool, port: u16) -> Result<(), MetricsError> {
        let wanted = enabled.then_some(port);
        if wanted == self.wanted {
            return Ok(());
        }
        self.wanted = wanted;
        // Dropping the old server ends its thread and frees its port first,
        // so the same port can be served again.
        self.server = None;
        if let Some(port) = wanted {
            self.server = Some(MetricsServer::start(port)?);
        }
        Ok(())
    }

    /// The port being served, if any.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.server.as_ref().map(MetricsServer::port)
    }
}

fn serve(server: &tiny_http::Server, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        // A short wait so dropping the server ends the thread promptly.
        let request = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("metrics endpoint stopped: {e}");
                return;
            }
        };
        let path = request.url().split('?').next().unwrap_or_default();
        let response = if *request.method() == tiny_http::Method::Get && path == "/metrics" {
            let content_type = tiny_http::Header::from_bytes(
                &b"Content-Type"[..],
                &b"text/plain; version=0.0.4; charset=utf-8"[..],
            )
            .ok();
            let mut r = tiny_http::Response::from_string(render());
            if let Some(h) = content_type {
                r = r.with_header(h);
            }
            r
        } else {
            tiny_http::Response::from_string("only GET /metrics is served here\n")
                .with_status_code(404)
        };
        if let Err(e) = request.respond(response) {
            tracing::debug!("metrics response not sent: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    }

    fn serves(port: u16) -> bool {
        ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
            .call()
            .is_ok()
    }

    #[test]
    fn the_endpoint_follows_the_settings_on_off_and_to_another_port() {
        let (a, b) = (free_port(), free_port());
        let mut endpoint = Endpoint::default();
        endpoint.apply(false, a).expect("off");
        assert!(!serves(a));
        endpoint.apply(true, a).expect("on");
        assert_eq!(endpoint.port(), Some(a));
        assert!(serves(a));
        endpoint.apply(true, b).expect("moved");
        assert!(serves(b));
        assert!(!serves(a), "the old port is still served");
        endpoint.apply(true, b).expect("unchanged");
        assert!(serves(b));
        endpoint.apply(false, b).expect("off again");
        assert_eq!(endpoint.port(), None);
        assert!(!serves(b));
        endpoint.apply(true, b).expect("the same port again");
        assert!(serves(b));

        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let err = endpoint.apply(true, port).expect_err("a taken port");
        assert!(err.to_string().contains("telemetry.metrics_port"), "{err}");
        assert_eq!(endpoint.port(), None);
        assert!(!serves(b));
    }

    #[test]
    fn the_endpoint_serves_every_series_in_prometheus_text_format() {
        let server = MetricsServer::start(0).expect("metrics server");
        utterance(Some(Duration::from_millis(420)));
        integration_request(Integration::N8n, false);
        n8n_latency(Duration::from_millis(80));
        outbox_pending(3);
        let url = format!("http://127.0.0.1:{}/metrics", server.port());
        let body = ureq::get(&url)
            .call()
            .expect("GET /metrics")
            .body_mut()
            .read_to_string()
            .expect("body");
        for series in [
            "tonnytray_uptime_seconds ",
            "tonnytray_utterances_total 1",
            "tonnytray_integration_errors_total{integration=\"n8n\"} 1",
            "tonnytray_integration_requests_total{integration=\"rabbitmq\"} 0",
            "tonnytray_final_text_latency_seconds_bucket{le=\"0.5\"} 1",
            "tonnytray_n8n_latency_seconds_count 1",
            "tonnytray_outbox_pending 3",
            "# TYPE tonnytray_final_text_latency_seconds histogram",
        ] {
            assert!(body.contains(series), "{series:?} missing from:\n{body}");
        }
        let missing = ureq::get(&format!("http://127.0.0.1:{}/other", server.port())).call();
        assert!(matches!(missing, Err(ureq::Error::StatusCode(404))));
    }

    #[test]
    fn a_taken_port_is_named_in_the_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let e = MetricsServer::start(port).err().expect("the port is taken");
        let text = e.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("telemetry.metrics_port"), "{text}");
    }
}
