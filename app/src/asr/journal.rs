//! The audio of the current utterance, kept until its words are committed.
//!
//! Positions are absolute sample indices from the start of the utterance
//! (16 kHz mono). A connection starts at some `origin`: the server's times are
//! relative to it. When the transcript reaches a checkpoint at time `t` (see
//! [`super::transcript`]), audio before `origin + t` (minus a small overlap) is
//! no longer needed. When a connection drops, the next one starts at the
//! checkpoint and everything after it is sent again, so no word is lost.

use super::protocol::SAMPLE_RATE;

/// Audio re-sent before the checkpoint after a reconnect, because the
/// server's word end times are approximate. Checkpoints sit at pauses, so this
/// is short; a repeated word is removed at the transcript seam.
pub const RESEND_OVERLAP_SECS: f64 = 0.15;

/// Uncommitted audio of one utterance.
#[derive(Debug, Default)]
pub struct Journal {
    /// Samples from `base` on.
    samples: Vec<i16>,
    /// Absolute index of `samples[0]`.
    base: u64,
    /// Absolute index where the current connection's audio starts.
    origin: u64,
    /// Absolute index up to which audio was sent on the current connection.
    sent: u64,
}

impl Journal {
    /// Appends newly captured audio.
    pub fn push(&mut self, samples: &[i16]) {
        self.samples.extend_from_slice(samples);
    }

    /// Absolute index one past the newest sample.
    pub fn end(&self) -> u64 {
        self.base + self.samples.len() as u64
    }

    /// Audio captured but not yet sent on the current connection, at most
    /// `max` samples; call [`Journal::mark_sent`] after sending it.
    pub fn unsent(&self, max: usize) -> &[i16] {
        let from = self.index(self.sent);
        let to = (from + max).min(self.samples.len());
        &self.samples[from..to]
    }

    /// Records that `n` more samples went out on the current connection.
    pub fn mark_sent(&mut self, n: usize) {
        self.sent = (self.sent + n as u64).min(self.end());
    }

    /// This connection's audio up to `secs` is transcribed for good: drop
    /// what lies before it (keeping the resend overlap).
    pub fn commit_until(&mut self, secs: f64) {
        let keep_from = self.origin + secs_to_samples(secs - RESEND_OVERLAP_SECS);
        let keep_from = keep_from.min(self.sent);
        if keep_from > self.base {
            let drop = self.index(keep_from);
            self.samples.drain(..drop);
            self.base = keep_from;
        }
    }

    /// Starts a new connection after a lost one whose checkpoint was at
    /// `secs`: everything after that point (less the overlap) will be sent
    /// again.
    pub fn restart_at(&mut self, secs: f64) {
        let from = self.origin + secs_to_samples(secs - RESEND_OVERLAP_SECS);
        let from = from.clamp(self.base, self.end());
        self.origin = from;
        self.sent = from;
    }

    /// Samples held (sent or not) that are not yet known to be committed.
    pub fn held(&self) -> usize {
        self.samples.len()
    }

    /// Samples not yet sent on the current connection.
    pub fn pending(&self) -> usize {
        (self.end() - self.sent) as usize
    }

    /// Forgets everything: the utterance is finished.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    fn index(&self, absolute: u64) -> usize {
        (absolute.saturating_sub(self.base) as usize).min(self.samples.len())
    }
}

fn secs_to_samples(secs: f64) -> u64 {
    if secs <= 0.0 {
        0
    } else {
        // Seconds of an utterance are far below u64's range; rounding is intended.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = (secs * f64::from(SAMPLE_RATE)).round() as u64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(from: i16, n: usize) -> Vec<i16> {
        (0..n).map(|i| from.wrapping_add(i as i16)).collect()
    }

    #[test]
    fn unsent_audio_is_handed_out_in_order() {
        let mut j = Journal::default();
        j.push(&ramp(0, 100));
        assert_eq!(j.unsent(40), &ramp(0, 40)[..]);
        j.mark_sent(40);
        assert_eq!(j.unsent(1000), &ramp(40, 60)[..]);
        j.mark_sent(60);
        assert!(j.unsent(10).is_empty());
        assert_eq!(j.pending(), 0);
    }

    #[test]
    fn committed_audio_is_dropped_but_the_overlap_kept() {
        let mut j = Journal::default();
        j.push(&vec![0; 32_000]); // 2 s
        j.mark_sent(32_000);
        j.commit_until(1.5);
        let overlap = secs_to_samples(RESEND_OVERLAP_SECS) as usize;
        assert_eq!(j.held(), 8_000 + overlap);
    }

    #[test]
    fn unsent_audio_is_never_dropped_by_a_commit() {
        let mut j = Journal::default();
        j.push(&vec![0; 16_000]);
        j.mark_sent(1_600);
        j.commit_until(5.0); // server claims more than it was sent
        assert_eq!(j.pending(), 16_000 - 1_600);
        assert!(j.held() >= j.pending());
    }

    #[test]
    fn reconnect_resends_everything_after_the_committed_point() {
        let mut j = Journal::default();
        let audio = ramp(0, 48_000); // 3 s
        j.push(&audio);
        j.mark_sent(48_000);
        j.commit_until(1.0);
        j.restart_at(1.0);
        let overlap = secs_to_samples(RESEND_OVERLAP_SECS) as usize;
        let resume = 16_000 - overlap;
        assert_eq!(j.unsent(usize::MAX), &audio[resume..]);
        // Times on the new connection are relative to the resume point.
        j.mark_sent(audio.len() - resume);
        j.commit_until(1.0);
        assert_eq!(j.held(), audio.len() - (resume + 16_000 - overlap));
    }

    #[test]
    fn reconnect_before_any_commit_resends_all() {
        let mut j = Journal::default();
        j.push(&ramp(7, 500));
        j.mark_sent(500);
        j.restart_at(0.0);
        assert_eq!(j.unsent(usize::MAX), &ramp(7, 500)[..]);
    }

    #[test]
    fn clear_resets() {
        let mut j = Journal::default();
        j.push(&ramp(0, 10));
        j.clear();
        assert_eq!(j.end(), 0);
        assert_eq!(j.held(), 0);
    }
}
