//! The `asr` thread: streams audio chunks to WhisperLiveKit over a WebSocket
//! (ewebsock) and reports the transcript as it grows.
//!
//! It owns the connection, the [`Journal`] of uncommitted audio and the
//! [`Transcript`]. A lost connection is retried with exponential backoff; the
//! new connection is sent every sample whose words were not committed, so the
//! final transcript holds every word. The thread sleeps on its inbox, where
//! audio and socket events arrive in order ([`AsrInput::Socket`]).

use crate::telemetry::metrics;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::ops::ControlFlow;

use ewebsock::{WsEvent, WsMessage, WsSender};

use super::journal::Journal;
use super::protocol::{self, SAMPLE_RATE, ServerMessage};
use super::transcript::Transcript;
use crate::messages::{AsrInput, AudioChunk, FailureKind, PipelineEvent, SocketEvent};

/// Sending is paced, because WhisperLiveKit's local-agreement policy throws
/// its whole buffer away when 15 s of it yield no committed word. A burst of
/// re-sent audio after a reconnect did exactly that in testing (a cold server
/// got 10 s at once and lost it). Audio therefore goes out at most this much
/// faster than real time, after an initial lead…
const MAX_SEND_RATE: f64 = 1.5;
const SEND_LEAD_SECS: f64 = 1.0;
/// …and not at all while the server reports more than this much audio that
/// the model has not run over yet (a fresh report only)…
const MAX_SERVER_BACKLOG_SECS: f64 = 4.0;
const BACKLOG_REPORT_TRUST: Duration = Duration::from_secs(2);
/// …but never held back longer than this in one go, so a server whose
/// reports are stuck cannot stall the stream (it happened with another
/// backlog measure during silence).
const MAX_HOLD: Duration = Duration::from_secs(5);

/// How often to look again when sending waits for the pacing.
const PACING_TICK: Duration = Duration::from_millis(50);

/// When to retry a lost connection and when to give up.
#[derive(Debug, Clone)]
pub struct ReconnectPolicy {
    /// Wait before the first retry; doubled after each failure.
    pub first_delay: Duration,
    /// Longest wait between retries.
    pub max_delay: Duration,
    /// Give up after the server has been unreachable this long (the audio is
    /// held in memory meanwhile).
    pub give_up_after: Duration,
    /// Give up at once when the very first connection of an utterance fails
    /// (the command line wants a quick, clear error; the app keeps trying).
    pub fail_fast: bool,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            give_up_after: Duration::from_secs(600),
            fail_fast: false,
        }
    }
}

/// Settings of the `asr` worker.
#[derive(Debug, Clone)]
pub struct AsrWorkerConfig {
    /// `ws://host:port/asr`.
    pub url: String,
    /// Retry behaviour.
    pub reconnect: ReconnectPolicy,
    /// Largest frame when catching up on a backlog (live chunks go out as
    /// they come): large frames, because ewebsock sends at most one message
    /// per read-timeout tick.
    pub backlog_frame_samples: usize,
    /// A connection that has not opened by then is abandoned and retried.
    pub connect_timeout: Duration,
    /// After the end-of-stream frame, the transcript must change (or the
    /// server finish) within this long, or the connection counts as lost.
    pub flush_timeout: Duration,
    /// While audio streams, a server silent this long is reported (it may
    /// have hung with the socket open)…
    pub stall_warning: Duration,
    /// …and given up on after this long: the connection is dropped and the
    /// audio after the last checkpoint goes to a new one.
    pub stall_timeout: Duration,
    /// A server reporting more than this many seconds of audio not yet
    /// transcribed is falling behind real time: the user is told once per
    /// utterance.
    pub lag_warning_secs: f64,
}

impl AsrWorkerConfig {
    /// Defaults for the given server URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            reconnect: ReconnectPolicy::default(),
            backlog_frame_samples: SAMPLE_RATE as usize,
            connect_timeout: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(30),
            // WhisperLiveKit answers every second or so while audio flows
            // (its lag figures change even in silence); these leave room.
            stall_warning: Duration::from_secs(15),
            stall_timeout: Duration::from_secs(45),
            lag_warning_secs: 8.0,
        }
    }
}

/// One frame handed to the socket, for latency measurement.
#[derive(Debug, Clone, Copy)]
pub struct FrameSent {
    /// When the newest input sample of the frame entered the ring buffer.
    pub entered_at: Instant,
    /// When the frame was handed to the WebSocket.
    pub sent_at: Instant,
}

/// Called for every live frame sent (not for re-sent backlog).
pub type FrameObserver = Box<dyn Fn(FrameSent) + Send>;

/// Where the current utterance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No utterance in progress.
    Idle,
    /// Audio is flowing.
    Streaming,
    /// The source ended; waiting for the server to flush.
    Ending,
}

struct Connection {
    sender: WsSender,
    id: u64,
    opened: bool,
    started: Instant,
    end_sent_at: Option<Instant>,
}

/// The worker's state; lives on the `asr` thread only.
struct Worker {
    config: AsrWorkerConfig,
    events: SyncSender<PipelineEvent>,
    inbox: SyncSender<AsrInput>,
    next_conn: u64,
    observer: Option<FrameObserver>,
    phase: Phase,
    conn: Option<Connection>,
    journal: Journal,
    transcript: Transcript,
    retry_at: Option<Instant>,
    backoff: Duration,
    down_since: Option<Instant>,
    ever_connected: bool,
    last_progress: Instant,
    /// When the current connection last sent anything.
    last_heard: Instant,
    stall_warned: bool,
    lag_warned: bool,
    dropped_updates: u64,
    pacing: Pacing,
}

/// Paces sending on one connection (see [`MAX_SEND_RATE`]).
#[derive(Debug, Clone, Copy)]
struct Pacing {
    opened: Instant,
    sent: usize,
    backlog_secs: f64,
    reported_at: Instant,
    held_since: Option<Instant>,
}

impl Pacing {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            sent: 0,
            backlog_secs: 0.0,
            reported_at: Instant::now(),
            held_since: None,
        }
    }

    fn report(&mut self, backlog_secs: f64) {
        self.backlog_secs = backlog_secs;
        self.reported_at = Instant::now();
    }

    /// Samples that may be sent now.
    fn budget(&mut self) -> usize {
        let backed_up = self.backlog_secs > MAX_SERVER_BACKLOG_SECS
            && self.reported_at.elapsed() < BACKLOG_REPORT_TRUST;
        let held_since = *self.held_since.get_or_insert_with(Instant::now);
        if backed_up && held_since.elapsed() < MAX_HOLD {
            return 0;
        }
        self.held_since = None;
        let allowed = SEND_LEAD_SECS + MAX_SEND_RATE * self.opened.elapsed().as_secs_f64();
        // Seconds of one connection: far inside usize.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let allowed = (allowed * f64::from(SAMPLE_RATE)) as usize;
        allowed.saturating_sub(self.sent)
    }
}

/// Starts the `asr` thread. `to_inbox` must feed `inbox`: socket events
/// are delivered through it.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn(
    config: AsrWorkerConfig,
    inbox: Receiver<AsrInput>,
    to_inbox: SyncSender<AsrInput>,
    events: SyncSender<PipelineEvent>,
    observer: Option<FrameObserver>,
) -> std::io::Result<JoinHandle<()>> {
    let backoff = config.reconnect.first_delay;
    let worker = Worker {
        config,
        events,
        inbox: to_inbox,
        next_conn: 0,
        observer,
        phase: Phase::Idle,
        conn: None,
        journal: Journal::default(),
        transcript: Transcript::default(),
        retry_at: None,
        backoff,
        down_since: None,
        ever_connected: false,
        last_progress: Instant::now(),
        last_heard: Instant::now(),
        stall_warned: false,
        lag_warned: false,
        dropped_updates: 0,
        pacing: Pacing::new(),
    };
    crate::runtime::thread::spawn("asr", move || worker.run(&inbox))
}

impl Worker {
    fn run(mut self, inbox: &Receiver<AsrInput>) {
        loop {
            let input = match self.next_deadline() {
                Some(at) => inbox.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match input {
                Ok(AsrInput::Audio(chunk)) => self.on_audio(&chunk),
                Ok(AsrInput::EndOfStream) => self.on_end(),
                Ok(AsrInput::Socket { conn, event }) => self.on_socket(conn, event),
                Err(RecvTimeoutError::Timeout) => {}
                Ok(AsrInput::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            }
            self.on_tick();
        }
        if self.dropped_updates > 0 {
            tracing::debug!(
                dropped = self.dropped_updates,
                "live transcript updates skipped (a later one superseded them)"
            );
        }
    }

    /// The next moment something must happen without any input arriving.
    fn next_deadline(&self) -> Option<Instant> {
        let mut at = self.retry_at;
        if let Some(conn) = &self.conn {
            if !conn.opened {
                at = earliest(at, conn.started + self.config.connect_timeout);
            } else if conn.end_sent_at.is_some() {
                at = earliest(at, self.last_progress + self.config.flush_timeout);
            }
            if conn.opened && self.journal.pending() > 0 {
                // Sending waits for the server to catch up.
                at = earliest(at, Instant::now() + PACING_TICK);
            }
            if self.watching_for_stall() {
                let wait = if self.stall_warned {
                    self.config.stall_timeout
                } else {
                    self.config.stall_warning
                };
                at = earliest(at, self.last_heard + wait);
            }
        }
        at
    }

    /// Whether the server owes an answer: audio went out on an open
    /// connection while the utterance streams (after the end frame the
    /// flush timeout watches instead).
    fn watching_for_stall(&self) -> bool {
        self.phase == Phase::Streaming
            && self
                .conn
                .as_ref()
                .is_some_and(|c| c.opened && c.end_sent_at.is_none())
            && self.pacing.sent > 0
    }

    /// Reports a server that has gone quiet, then gives up on it.
    /// Returns whether the connection was dropped.
    fn check_stall(&mut self, now: Instant) -> bool {
        if !self.watching_for_stall() {
            return false;
        }
        let quiet = now.duration_since(self.last_heard);
        if quiet >= self.config.stall_timeout {
            let secs = self.config.stall_timeout.as_secs_f64();
            self.connection_lost(format!(
                "the server stopped answering for {secs:.0} s with the connection open"
            ));
            return true;
        }
        if quiet >= self.config.stall_warning && !self.stall_warned {
            self.stall_warned = true;
            let secs = self.config.stall_warning.as_secs_f64();
            self.emit(PipelineEvent::ServerWarning(format!(
                "no answer for {secs:.0} s: still recording, and every word is kept to be sent again if it does not recover"
            )));
        }
        false
    }

    fn on_audio(&mut self, chunk: &AudioChunk) {
        if self.phase == Phase::Idle {
            self.phase = Phase::Streaming;
        }
        let was_pending = self.journal.pending();
        self.journal.push(&chunk.samples);
        if self.conn.is_none() && self.retry_at.is_none() {
            self.connect();
            return;
        }
        let live = was_pending == 0;
        if self.conn.as_ref().is_some_and(|c| c.opened) {
            self.send_unsent();
            if live
                && self.journal.pending() == 0
                && let Some(observer) = &self.observer
            {
                observer(FrameSent {
                    entered_at: chunk.entered_at,
                    sent_at: Instant::now(),
                });
            }
        }
    }

    fn on_end(&mut self) {
        match self.phase {
            Phase::Idle => self.emit(PipelineEvent::Finished {
                text: String::new(),
                flush_time: Duration::ZERO,
            }),
            Phase::Ending => {}
            Phase::Streaming => {
                self.phase = Phase::Ending;
                if self.conn.as_ref().is_some_and(|c| c.opened) {
                    self.send_unsent();
                    self.send_end_frame();
                } else if self.conn.is_none() && self.retry_at.is_none() {
                    self.connect();
                }
            }
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if self.retry_at.is_some_and(|at| at <= now) {
            self.retry_at = None;
            if self.phase != Phase::Idle {
                self.connect();
            }
        }
        if self.check_stall(now) {
            return;
        }
        let Some(conn) = &self.conn else { return };
        if conn.opened && self.journal.pending() > 0 {
            self.send_unsent();
            if self.phase == Phase::Ending {
                self.send_end_frame();
            }
            return;
        }
        if !conn.opened && now >= conn.started + self.config.connect_timeout {
            let secs = self.config.connect_timeout.as_secs();
            self.connection_lost(format!("no answer within {secs} s"));
        } else if conn.end_sent_at.is_some()
            && now >= self.last_progress + self.config.flush_timeout
        {
            let secs = self.config.flush_timeout.as_secs();
            self.connection_lost(format!("server made no progress for {secs} s"));
        }
    }

    fn connect(&mut self) {
        self.next_conn += 1;
        let id = self.next_conn;
        let inbox = self.inbox.clone();
        // Socket events go through the worker's own inbox, in order with the
        // audio. (ewebsock's wake-up callback runs before its event is
        // queued, so waking on it and then polling lost events in testing.)
        let on_event = Box::new(move |event: WsEvent| {
            let event = match event {
                WsEvent::Opened => SocketEvent::Opened,
                WsEvent::Message(WsMessage::Text(text)) => SocketEvent::Text(text),
                WsEvent::Message(_) => return ControlFlow::Continue(()),
                WsEvent::Error(e) => SocketEvent::Closed(e),
                WsEvent::Closed => SocketEvent::Closed("the server closed the connection".into()),
            };
            match inbox.send(AsrInput::Socket { conn: id, event }) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        tracing::debug!(url = %self.config.url, id, "connecting");
        match ewebsock::ws_connect(
            self.config.url.clone(),
            ewebsock::Options::default(),
            on_event,
        ) {
            Ok(sender) => {
                self.conn = Some(Connection {
                    sender,
                    id,
                    opened: false,
                    started: Instant::now(),
                    end_sent_at: None,
                });
            }
            Err(e) => self.connection_lost(e),
        }
    }

    fn on_socket(&mut self, conn: u64, event: SocketEvent) {
        if self.conn.as_ref().is_none_or(|c| c.id != conn) {
            return; // from a connection already given up
        }
        match event {
            SocketEvent::Opened => self.on_opened(),
            SocketEvent::Text(text) => self.on_text(&text),
            SocketEvent::Closed(reason) => self.connection_lost(reason),
        }
    }

    fn on_opened(&mut self) {
        let Some(conn) = &mut self.conn else { return };
        conn.opened = true;
        let reconnect = self.ever_connected;
        // Audio queued while the first connection opened is not a re-send.
        let resending_secs = if self.ever_connected {
            self.journal.pending() as f64 / f64::from(SAMPLE_RATE)
        } else {
            0.0
        };
        self.ever_connected = true;
        // `down_since` stays until the server sends an update: a server
        // that accepts connections and then never answers must still be
        // given up on after `give_up_after`.
        self.backoff = self.config.reconnect.first_delay;
        self.last_progress = Instant::now();
        self.last_heard = Instant::now();
        self.stall_warned = false;
        self.pacing = Pacing::new();
        tracing::info!(url = %self.config.url, resending_secs, "connected");
        metrics::ws_connected(reconnect);
        self.emit(PipelineEvent::Connected { resending_secs });
        self.send_unsent();
        if self.phase == Phase::Ending {
            self.send_end_frame();
        }
    }

    fn on_text(&mut self, text: &str) {
        self.last_heard = Instant::now();
        if self.stall_warned {
            self.stall_warned = false;
            tracing::info!("the speech server answers again");
        }
        match protocol::parse(text) {
            Ok(ServerMessage::Update(update)) => {
                // A transcript update (not the config sent on connect) is
                // what shows the server works again.
                self.down_since = None;
                let before = self.transcript.display();
                self.transcript.apply(&update);
                // Only changing text counts as progress: a server that repeats
                // the same update forever must still hit the flush timeout.
                if self.transcript.display() != before {
                    self.last_progress = Instant::now();
                }
                self.journal.commit_until(self.transcript.checkpoint_secs());
                if let Some(backlog) = update.backlog_secs {
                    self.pacing.report(backlog);
                    self.check_lag(backlog);
                }
                if let Some(error) = update.error {
                    self.emit(PipelineEvent::ServerWarning(error));
                }
                tracing::trace!(
                    checkpoint = self.transcript.checkpoint_secs(),
                    display = %self.transcript.display(),
                    "update"
                );
                let live = PipelineEvent::Transcript {
                    committed: self.transcript.committed(),
                    tentative: self.transcript.tentative().to_owned(),
                };
                if let Err(TrySendError::Full(_)) = self.events.try_send(live) {
                    self.dropped_updates += 1;
                }
            }
            // Only an answer to our end frame ends the utterance: one that
            // comes while audio is still held back (pacing) would drop it.
            Ok(ServerMessage::ReadyToStop)
                if self.phase == Phase::Ending
                    && self.conn.as_ref().is_some_and(|c| c.end_sent_at.is_some()) =>
            {
                self.finish();
            }
            Ok(ServerMessage::ReadyToStop) => {
                tracing::debug!("ready_to_stop before the end frame: ignored");
            }
            Ok(ServerMessage::Error(e)) => {
                self.emit(PipelineEvent::ServerWarning(format!(
                    "speech server error: {e}"
                )));
            }
            Ok(other) => tracing::debug!(?other, "server message"),
            Err(e) => self.emit(PipelineEvent::ServerWarning(e.to_string())),
        }
    }

    /// Tells the user, once per utterance, that the server falls behind
    /// real time (on a slow CPU WhisperLiveKit's lag can grow without
    /// bound). Sending already waits for it (see [`Pacing`]); nothing is
    /// dropped.
    fn check_lag(&mut self, backlog_secs: f64) {
        if backlog_secs > self.config.lag_warning_secs && !self.lag_warned {
            self.lag_warned = true;
            tracing::warn!(backlog_secs, "the speech server is falling behind");
            self.emit(PipelineEvent::ServerWarning(format!(
                "falling behind: {backlog_secs:.0} s of speech not transcribed yet. The words will come late and none are lost; a smaller model keeps up better on this computer"
            )));
        }
    }

    fn finish(&mut self) {
        let flush_time = self
            .conn
            .as_ref()
            .and_then(|c| c.end_sent_at)
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let text = self.transcript.display();
        self.reset();
        self.emit(PipelineEvent::Finished { text, flush_time });
    }

    fn reset(&mut self) {
        self.conn = None;
        self.journal.clear();
        self.transcript = Transcript::default();
        self.phase = Phase::Idle;
        self.retry_at = None;
        self.down_since = None;
        self.ever_connected = false;
        self.lag_warned = false;
        self.stall_warned = false;
        self.backoff = self.config.reconnect.first_delay;
    }

    fn connection_lost(&mut self, reason: String) {
        self.conn = None;
        if self.phase == Phase::Idle {
            return;
        }
        // Everything after the checkpoint goes out again on the next connection.
        self.journal.restart_at(self.transcript.checkpoint_secs());
        self.transcript.carry_over();
        let now = Instant::now();
        let down_since = *self.down_since.get_or_insert(now);
        let policy = self.config.reconnect.clone();
        if !self.ever_connected && policy.fail_fast {
            let url = self.config.url.clone();
            self.reset();
            self.emit(PipelineEvent::Failed(
                FailureKind::CannotConnect,
                format!(
                    "cannot connect to the speech server at {url}: {reason}. \
                     Start a local one with scripts/asr-server.sh, or point \
                     TONNYTRAY_SERVER_URL / --server at a running WhisperLiveKit"
                ),
            ));
            return;
        }
        if now.duration_since(down_since) >= policy.give_up_after {
            let held = self.journal.held() as f64 / f64::from(SAMPLE_RATE);
            let text = self.transcript.committed();
            let url = self.config.url.clone();
            self.reset();
            self.emit(PipelineEvent::Failed(
                FailureKind::ServerLost,
                format!(
                    "gave up on the speech server at {url} after {} s ({reason}); \
                     {held:.1} s of audio were not transcribed. Text so far: {text:?}",
                    policy.give_up_after.as_secs()
                ),
            ));
            return;
        }
        let retry_in = self.backoff;
        self.backoff = (self.backoff * 2).min(policy.max_delay);
        self.retry_at = Some(now + retry_in);
        tracing::debug!(%reason, ?retry_in, "speech server connection lost");
        metrics::ws_disconnected();
        self.emit(PipelineEvent::Disconnected {
            reason,
            retry_in,
            ever_connected: self.ever_connected,
        });
    }

    /// Sends what the journal holds, as far as the pacing budget allows.
    fn send_unsent(&mut self) {
        let Some(conn) = &mut self.conn else { return };
        loop {
            let max = self.config.backlog_frame_samples.min(self.pacing.budget());
            let frame = self.journal.unsent(max);
            if frame.is_empty() {
                break;
            }
            let mut bytes = Vec::new();
            protocol::encode_pcm(frame, &mut bytes);
            let n = frame.len();
            conn.sender.send(WsMessage::Binary(bytes));
            self.journal.mark_sent(n);
            self.pacing.sent += n;
        }
    }

    /// Sends the end-of-stream frame once all audio went out.
    fn send_end_frame(&mut self) {
        if self.journal.pending() > 0 {
            return;
        }
        let Some(conn) = &mut self.conn else { return };
        if conn.end_sent_at.is_none() {
            conn.sender.send(WsMessage::Binary(Vec::new()));
            conn.end_sent_at = Some(Instant::now());
            self.last_progress = Instant::now();
        }
    }

    fn emit(&self, event: PipelineEvent) {
        // The receiver may be gone when the caller stopped listening; nothing to do then.
        let _ = self.events.send(event);
    }
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}
