//! When to try the outbox's next delivery: exponential backoff and a circuit
//! breaker, one per destination (n8n, RabbitMQ). Pure: the core feeds it
//! outcomes and asks it whether to send.
//!
//! Jobs go out one at a time, oldest first, so commands arrive in the order
//! they were spoken. After a failure the head job waits 1 s, 2 s, 4 s …
//! (capped at [`MAX_DELAY`]). After [`BREAK_AFTER`] failures in a row the
//! breaker opens: the destination counts as down, new commands only queue,
//! and one probe is tried every [`OPEN_FOR`] until one succeeds. "Retry now"
//! (or new settings) closes the breaker at once.

use std::time::{Duration, Instant};

/// Longest wait between two attempts while the breaker is closed.
pub const MAX_DELAY: Duration = Duration::from_secs(16);
/// Failures in a row that open the breaker.
pub const BREAK_AFTER: u32 = 5;
/// How long an open breaker waits before the next probe.
pub const OPEN_FOR: Duration = Duration::from_secs(20);

/// The retry state of one destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
    in_flight: bool,
}

impl Backoff {
    /// May a job be sent now?
    #[must_use]
    pub fn ready(&self, now: Instant) -> bool {
        !self.in_flight && self.not_before.is_none_or(|t| now >= t)
    }

    /// A job was handed to the worker.
    pub fn sent(&mut self) {
        self.in_flight = true;
    }

    /// The job was delivered.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// The job failed; returns how long until the next attempt.
    pub fn failed(&mut self, now: Instant) -> Duration {
        self.in_flight = false;
        self.failures = self.failures.saturating_add(1);
        let delay = if self.failures >= BREAK_AFTER {
            OPEN_FOR
        } else {
            Duration::from_secs(1 << (self.failures - 1).min(8)).min(MAX_DELAY)
        };
        self.not_before = Some(now + delay);
        delay
    }

    /// Try again at once (the user asked, or the settings changed).
    pub fn reset(&mut self) {
        let in_flight = self.in_flight;
        *self = Self {
            in_flight,
            ..Self::default()
        };
    }

    /// The destination counts as down.
    #[must_use]
    pub fn open(&self) -> bool {
        self.failures >= BREAK_AFTER
    }

    /// Failures in a row.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next attempt may go (None: now, or one is in flight).
    #[must_use]
    pub fn next_attempt(&self) -> Option<Instant> {
        self.not_before
    }

    /// A job is being delivered.
    #[must_use]
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_the_breaker_opens_and_probes_slowly() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert!(b.ready(t0));
        let mut delays = Vec::new();
        for _ in 0..7 {
            b.sent();
            assert!(!b.ready(t0), "one job at a time");
            delays.push(b.failed(t0).as_secs());
        }
        assert_eq!(
            delays,
            [
                1,
                2,
                4,
                8,
                OPEN_FOR.as_secs(),
                OPEN_FOR.as_secs(),
                OPEN_FOR.as_secs()
            ]
        );
        assert!(b.open());
        assert!(!b.ready(t0 + OPEN_FOR - Duration::from_millis(1)));
        assert!(b.ready(t0 + OPEN_FOR));
        b.sent();
        b.succeeded();
        assert!(!b.open());
        assert!(b.ready(t0));
    }

    #[test]
    fn retry_now_closes_the_breaker_but_not_over_a_job_in_flight() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        for _ in 0..BREAK_AFTER {
            b.sent();
            b.failed(t0);
        }
        assert!(b.open() && !b.ready(t0));
        b.reset();
        assert!(!b.open() && b.ready(t0));
        b.sent();
        b.reset();
        assert!(!b.ready(t0), "the job in flight still has to report");
    }

    #[test]
    fn delays_never_pass_the_cap_before_the_breaker() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        for _ in 0..BREAK_AFTER - 1 {
            b.sent();
            assert!(b.failed(t0) <= MAX_DELAY);
        }
    }
}
