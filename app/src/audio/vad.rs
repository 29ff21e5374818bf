//! Energy-based voice activation, as a pure gate over 100 ms chunks: it
//! holds audio back (keeping a short pre-roll so the first syllable is not
//! cut) until the level stays above the threshold, passes speech through,
//! and closes after a stretch of silence. No threads, no I/O: the `audio`
//! thread drives it and tests feed it chunks directly.

use std::collections::VecDeque;

use crate::messages::AudioChunk;

/// How the gate decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// RMS (linear full scale) at or above which a chunk counts as speech.
    pub threshold_rms: f32,
    /// Consecutive loud chunks that open the gate.
    pub start_chunks: usize,
    /// Consecutive quiet chunks that close it.
    pub stop_chunks: usize,
    /// Chunks before the opening that are sent too.
    pub preroll_chunks: usize,
}

impl VadConfig {
    /// From the user's settings: `sensitivity` 0.0 needs about −20 dBFS RMS
    /// (a loud voice close to the mic), 1.0 about −60 dBFS (a whisper).
    #[must_use]
    pub fn from_settings(sensitivity: f32, silence_stop_secs: f32) -> Self {
        let s = sensitivity.clamp(0.0, 1.0);
        let db = -20.0 - 40.0 * s;
        // 100 ms chunks: seconds × 10, at least one.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let stop_chunks = (silence_stop_secs.max(0.1) * 10.0).round() as usize;
        Self {
            threshold_rms: 10_f32.powf(db / 20.0),
            start_chunks: 2,
            stop_chunks: stop_chunks.max(1),
            preroll_chunks: 5,
        }
    }
}

/// What the gate does with a chunk.
#[derive(Debug)]
pub enum GateOutput {
    /// Not speech yet: keep it back.
    Hold,
    /// Speech began: send these (pre-roll and the triggering chunks), in order.
    Opened(Vec<AudioChunk>),
    /// Speech goes on: send it.
    Pass(AudioChunk),
    /// Speech ended with this chunk: send it, then end the utterance.
    Closed(AudioChunk),
}

/// The gate's state.
#[derive(Debug)]
pub struct Gate {
    config: VadConfig,
    held: VecDeque<AudioChunk>,
    loud_run: usize,
    open: bool,
    quiet_run: usize,
}

impl Gate {
    /// A closed gate.
    #[must_use]
    pub fn new(config: VadConfig) -> Self {
        Self {
            config,
            held: VecDeque::new(),
            loud_run: 0,
            open: false,
            quiet_run: 0,
        }
    }

    /// Whether speech is passing.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Takes the next chunk.
    pub fn push(&mut self, chunk: AudioChunk) -> GateOutput {
        let loud = chunk.level.rms >= self.config.threshold_rms;
        if self.open {
            // Half the threshold to stay open: speech dips between words.
            if chunk.level.rms >= self.config.threshold_rms / 2.0 {
                self.quiet_run = 0;
            } else {
                self.quiet_run += 1;
            }
            if self.quiet_run >= self.config.stop_chunks {
                self.open = false;
                self.quiet_run = 0;
                self.loud_run = 0;
                return GateOutput::Closed(chunk);
            }
            return GateOutput::Pass(chunk);
        }
        self.loud_run = if loud { self.loud_run + 1 } else { 0 };
        self.held.push_back(chunk);
        let keep = self.config.preroll_chunks + self.config.start_chunks;
        while self.held.len() > keep {
            self.held.pop_front();
        }
        if self.loud_run >= self.config.start_chunks {
            self.open = true;
            self.quiet_run = 0;
            return GateOutput::Opened(self.held.drain(..).collect());
        }
        GateOutput::Hold
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::messages::Level;

    fn chunk(seq: u64, rms: f32) -> AudioChunk {
        AudioChunk {
            seq,
            samples: vec![0; 1600],
            level: Level { rms, peak: rms },
            entered_at: Instant::now(),
        }
    }

    fn config() -> VadConfig {
        VadConfig {
            threshold_rms: 0.1,
            start_chunks: 2,
            stop_chunks: 3,
            preroll_chunks: 2,
        }
    }

    #[test]
    fn silence_is_held_and_never_opens() {
        let mut g = Gate::new(config());
        for i in 0..50 {
            assert!(matches!(g.push(chunk(i, 0.01)), GateOutput::Hold));
        }
        assert!(!g.is_open());
    }

    #[test]
    fn one_click_is_not_speech() {
        let mut g = Gate::new(config());
        assert!(matches!(g.push(chunk(0, 0.5)), GateOutput::Hold));
        assert!(matches!(g.push(chunk(1, 0.0)), GateOutput::Hold));
        assert!(matches!(g.push(chunk(2, 0.5)), GateOutput::Hold));
        assert!(!g.is_open());
    }

    #[test]
    fn speech_opens_with_its_preroll_and_closes_after_silence() {
        let mut g = Gate::new(config());
        for i in 0..5 {
            assert!(matches!(g.push(chunk(i, 0.0)), GateOutput::Hold));
        }
        assert!(matches!(g.push(chunk(5, 0.3)), GateOutput::Hold));
        let GateOutput::Opened(sent) = g.push(chunk(6, 0.3)) else {
            panic!("should open")
        };
        let seqs: Vec<u64> = sent.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, [3, 4, 5, 6], "two pre-roll chunks, then the speech");
        // A dip between words above half the threshold keeps it open.
        assert!(matches!(g.push(chunk(7, 0.06)), GateOutput::Pass(_)));
        assert!(matches!(g.push(chunk(8, 0.0)), GateOutput::Pass(_)));
        assert!(matches!(g.push(chunk(9, 0.0)), GateOutput::Pass(_)));
        assert!(matches!(g.push(chunk(10, 0.0)), GateOutput::Closed(c) if c.seq == 10));
        assert!(!g.is_open());
        assert!(matches!(g.push(chunk(11, 0.0)), GateOutput::Hold));
    }

    #[test]
    fn sensitivity_maps_to_a_threshold_between_minus_20_and_minus_60_db() {
        let loud = VadConfig::from_settings(0.0, 1.5);
        let soft = VadConfig::from_settings(1.0, 1.5);
        assert!((loud.threshold_rms - 0.1).abs() < 1e-4);
        assert!((soft.threshold_rms - 0.001).abs() < 1e-6);
        assert_eq!(loud.stop_chunks, 15);
        assert_eq!(VadConfig::from_settings(0.5, 0.0).stop_chunks, 1);
    }
}
