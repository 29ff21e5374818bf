//! Transcript assembly: turns the server's stream of updates into committed
//! text, tentative text, and "what is new since last time".
//!
//! The server re-sends the whole transcript of the connection in every update,
//! and committed text can still be revised (the recipe saw "Turn on the living"
//! become "Turn on the living room lights."). So the transcript is rebuilt from
//! each update.
//!
//! Reconnects resume at a *checkpoint*: the end of the last committed
//! sentence, or of a line followed by silence. Measured against
//! WhisperLiveKit 0.2.26 with tiny.en: a stream that starts in the middle of a
//! sentence often loses that whole first fragment, while one that starts at a
//! sentence boundary keeps every word. So text after the checkpoint is dropped
//! on reconnect and its audio is transcribed again; repeated words at the seam
//! are removed.

use super::protocol::Update;

/// Words at most compared when joining text across a reconnect seam.
const SEAM_WORDS: usize = 4;

/// The transcript of one utterance, possibly spanning several connections.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// Committed text of earlier connections of this utterance.
    carried: String,
    /// Committed text of the current connection.
    session: String,
    /// Tentative text of the current connection.
    tentative: String,
    /// The latest checkpoint of the current connection: committed words
    /// before it, and its time in seconds of this connection's audio.
    checkpoint_words: usize,
    checkpoint_secs: f64,
}

impl Transcript {
    /// Replaces the current connection's view with a new update.
    pub fn apply(&mut self, update: &Update) {
        let speech = update.lines.iter().filter(|l| !l.is_silence());
        self.session = join_words(speech.map(|l| l.text.as_str()));
        self.tentative = normalise_spaces(&update.buffer);
        let mut words = 0;
        for (i, line) in update.lines.iter().enumerate() {
            words += line.text.split_whitespace().count();
            let followed = i + 1 < update.lines.len();
            let boundary = followed || line.is_silence() || ends_sentence(&line.text);
            // Checkpoints only move forward, even if the server revises times.
            if boundary && line.end >= self.checkpoint_secs {
                self.checkpoint_words = words;
                self.checkpoint_secs = line.end;
            }
        }
    }

    /// All committed text so far, across connections.
    pub fn committed(&self) -> String {
        join_at_seam(&self.carried, &self.session)
    }

    /// Tentative text that may still change.
    pub fn tentative(&self) -> &str {
        &self.tentative
    }

    /// Committed text followed by tentative text: what to show live.
    pub fn display(&self) -> String {
        join_at_seam(&self.committed(), &self.tentative)
    }

    /// Seconds of this connection's audio up to the latest checkpoint: audio
    /// before it never needs to be sent again.
    pub fn checkpoint_secs(&self) -> f64 {
        self.checkpoint_secs
    }

    /// Freezes the text up to the checkpoint when a connection is lost; it is
    /// carried into the next connection, which is sent the audio from the
    /// checkpoint on. Text after the checkpoint is dropped, because that audio
    /// is transcribed again.
    pub fn carry_over(&mut self) {
        let kept: Vec<&str> = self
            .session
            .split_whitespace()
            .take(self.checkpoint_words)
            .collect();
        self.carried = join_at_seam(&self.carried, &kept.join(" "));
        self.session.clear();
        self.tentative.clear();
        self.checkpoint_words = 0;
        self.checkpoint_secs = 0.0;
    }
}

fn ends_sentence(text: &str) -> bool {
    text.trim_end().ends_with(['.', '?', '!'])
}

/// Picks out the words that became final since the last call, for printing
/// or typing: text already handed out is never handed out again.
#[derive(Debug, Clone, Default)]
pub struct NewWords {
    emitted: usize,
    revisions: usize,
    last: Vec<String>,
}

impl NewWords {
    /// Returns the committed words not handed out yet, or `None`.
    ///
    /// Unless `is_final`, the last committed word is held back: the server
    /// often still extends or re-punctuates it.
    pub fn take(&mut self, committed: &str, is_final: bool) -> Option<String> {
        let words: Vec<&str> = committed.split_whitespace().collect();
        let ready = if is_final {
            words.len()
        } else {
            words.len().saturating_sub(1)
        };
        let revised = self
            .last
            .iter()
            .zip(&words)
            .take(self.emitted)
            .any(|(old, new)| comparable(old) != comparable(new));
        if revised {
            self.revisions += 1;
        }
        self.last = words.iter().map(|w| (*w).to_owned()).collect();
        if ready <= self.emitted {
            return None;
        }
        let out = words[self.emitted..ready].join(" ");
        self.emitted = ready;
        Some(out)
    }

    /// How often text already handed out was later revised by the server.
    pub fn revisions(&self) -> usize {
        self.revisions
    }
}

/// Joins pieces of transcript text with single spaces.
fn join_words<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for part in parts {
        for word in part.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

fn normalise_spaces(text: &str) -> String {
    join_words(std::iter::once(text))
}

/// Joins `before` and `after`, dropping the longest run (up to a few words) at
/// the start of `after` that repeats the end of `before`. Re-sent audio
/// overlaps the committed audio slightly, so its first words may repeat.
pub fn join_at_seam(before: &str, after: &str) -> String {
    let left: Vec<&str> = before.split_whitespace().collect();
    let right: Vec<&str> = after.split_whitespace().collect();
    let max = SEAM_WORDS.min(left.len()).min(right.len());
    let overlap = (1..=max)
        .rev()
        .find(|&n| {
            left[left.len() - n..]
                .iter()
                .zip(&right[..n])
                .all(|(a, b)| comparable(a) == comparable(b))
        })
        .unwrap_or(0);
    join_words(left.iter().copied().chain(right[overlap..].iter().copied()))
}

/// A word reduced to what matters when comparing: lowercase, no punctuation.
fn comparable(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric() || *c == '\'')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::protocol::{Line, SILENCE_SPEAKER};

    fn update(lines: &[(&str, f64)], buffer: &str) -> Update {
        Update {
            lines: lines
                .iter()
                .map(|(text, end)| Line {
                    speaker: if text.is_empty() { SILENCE_SPEAKER } else { 1 },
                    text: (*text).to_owned(),
                    start: 0.0,
                    end: *end,
                })
                .collect(),
            buffer: buffer.to_owned(),
            ..Update::default()
        }
    }

    #[test]
    fn committed_and_tentative_are_told_apart() {
        let mut t = Transcript::default();
        t.apply(&update(
            &[(" Turn on the living room", 1.28)],
            " lights and set",
        ));
        assert_eq!(t.committed(), "Turn on the living room");
        assert_eq!(t.tentative(), "lights and set");
        assert_eq!(t.display(), "Turn on the living room lights and set");
        // No sentence has ended yet: nothing is safe to skip on a reconnect.
        assert!(t.checkpoint_secs().abs() < 1e-9);
    }

    #[test]
    fn each_update_replaces_the_last_view() {
        let mut t = Transcript::default();
        t.apply(&update(&[(" Turn on the living", 1.0)], " room"));
        t.apply(&update(&[(" Turn on the living room lights.", 2.0)], ""));
        assert_eq!(t.committed(), "Turn on the living room lights.");
        assert_eq!(t.tentative(), "");
    }

    #[test]
    fn silence_lines_add_no_words_but_are_checkpoints() {
        let mut t = Transcript::default();
        t.apply(&update(&[(" Hello there", 1.0), ("", 3.5)], ""));
        assert_eq!(t.committed(), "Hello there");
        assert!((t.checkpoint_secs() - 3.5).abs() < 1e-9);
    }

    #[test]
    fn sentence_ends_are_checkpoints() {
        let mut t = Transcript::default();
        t.apply(&update(&[(" The fox jumps.", 2.5)], " Please"));
        assert!((t.checkpoint_secs() - 2.5).abs() < 1e-9);
        t.apply(&update(&[(" The fox jumps. Please remind me", 4.0)], ""));
        assert!(
            (t.checkpoint_secs() - 2.5).abs() < 1e-9,
            "mid-sentence is no checkpoint"
        );
        t.apply(&update(&[(" The fox jumps. Please remind me?", 4.6)], ""));
        assert!((t.checkpoint_secs() - 4.6).abs() < 1e-9);
    }

    #[test]
    fn carry_over_keeps_text_up_to_the_checkpoint_only() {
        let mut t = Transcript::default();
        t.apply(&update(&[(" The fox jumps.", 2.5)], ""));
        t.apply(&update(
            &[(" The fox jumps. Please remind me to", 4.0)],
            " water",
        ));
        t.carry_over();
        // The words after the checkpoint are heard again from the re-sent audio.
        assert_eq!(t.committed(), "The fox jumps.");
        assert_eq!(t.tentative(), "");
        assert!(t.checkpoint_secs().abs() < 1e-9);
        t.apply(&update(
            &[(" jumps. Please remind me to water the plants.", 3.0)],
            "",
        ));
        assert_eq!(
            t.committed(),
            "The fox jumps. Please remind me to water the plants."
        );
    }

    #[test]
    fn carry_over_without_checkpoint_keeps_nothing_of_this_connection() {
        let mut t = Transcript::default();
        t.apply(&update(&[(" Turn on the kitchen", 1.5)], " lights"));
        t.carry_over();
        assert_eq!(t.committed(), "");
        t.apply(&update(&[(" Turn on the kitchen lights please.", 2.2)], ""));
        assert_eq!(t.committed(), "Turn on the kitchen lights please.");
    }

    #[test]
    fn seam_drops_only_true_repeats() {
        assert_eq!(join_at_seam("a b c", "b c d"), "a b c d");
        assert_eq!(join_at_seam("a b c", "C. d"), "a b c d");
        assert_eq!(join_at_seam("a b c", "d e"), "a b c d e");
        assert_eq!(join_at_seam("", "d e"), "d e");
        assert_eq!(join_at_seam("a b", ""), "a b");
        // Longer than the seam window: not treated as a repeat.
        assert_eq!(
            join_at_seam("one two three four five", "one two three four five six"),
            "one two three four five one two three four five six"
        );
    }

    #[test]
    fn new_words_holds_back_the_last_word_until_final() {
        let mut n = NewWords::default();
        assert_eq!(n.take("Turn on the", false).as_deref(), Some("Turn on"));
        assert_eq!(n.take("Turn on the", false), None);
        assert_eq!(
            n.take("Turn on the living room", false).as_deref(),
            Some("the living")
        );
        assert_eq!(
            n.take("Turn on the living room.", true).as_deref(),
            Some("room.")
        );
        assert_eq!(n.take("Turn on the living room.", true), None);
        assert_eq!(n.revisions(), 0);
    }

    #[test]
    fn new_words_counts_revisions_and_never_repeats_output() {
        let mut n = NewWords::default();
        assert_eq!(n.take("I scream for", false).as_deref(), Some("I scream"));
        assert_eq!(n.take("Ice cream for you", false).as_deref(), Some("for"));
        assert_eq!(n.revisions(), 1);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = String> {
        "[a-z]{1,8}[.,?]?"
    }

    proptest! {
        /// However the committed text grows, the words handed out, in
        /// order, are the final text's words: none lost, none twice.
        #[test]
        fn every_final_word_is_handed_out_once(
            words in prop::collection::vec(word(), 0..40),
            mut cuts in prop::collection::vec(0usize..=40, 0..12),
        ) {
            cuts.sort_unstable();
            let mut new = NewWords::default();
            let mut out = Vec::new();
            for cut in cuts {
                let shown = words[..cut.min(words.len())].join(" ");
                out.extend(new.take(&shown, false));
            }
            out.extend(new.take(&words.join(" "), true));
            let handed: Vec<&str> = out.iter().flat_map(|s| s.split_whitespace()).collect();
            prop_assert_eq!(handed, words.iter().map(String::as_str).collect::<Vec<_>>());
        }

        /// Whatever the server sends (revisions, shorter texts), nothing is
        /// handed out twice and never more words than it ever committed.
        #[test]
        fn words_never_run_ahead_of_what_was_committed(
            texts in prop::collection::vec(prop::collection::vec(word(), 0..12), 1..10),
        ) {
            let mut new = NewWords::default();
            let mut handed = 0;
            let mut most = 0;
            for (i, words) in texts.iter().enumerate() {
                most = most.max(words.len());
                let out = new.take(&words.join(" "), i + 1 == texts.len());
                handed += out.map_or(0, |s| s.split_whitespace().count());
                prop_assert!(handed <= most, "{handed} words handed out, {most} committed");
            }
        }

        /// Re-sent audio repeats up to a few words of what was committed:
        /// the seam drops exactly that repeat (words here are distinct).
        #[test]
        fn the_seam_drops_the_repeated_words_only(
            before in 0usize..12,
            repeat in 0usize..=SEAM_WORDS,
            after in 0usize..12,
        ) {
            let left: Vec<String> = (0..before).map(|i| format!("w{i}")).collect();
            let repeat = repeat.min(before);
            let right: Vec<String> = left[before - repeat..]
                .iter()
                .cloned()
                .chain((0..after).map(|i| format!("v{i}")))
                .collect();
            let joined = join_at_seam(&left.join(" "), &right.join(" "));
            let expected: Vec<String> =
                left.iter().cloned().chain((0..after).map(|i| format!("v{i}"))).collect();
            prop_assert_eq!(joined, expected.join(" "));
        }
    }
}
