//! Transcript assembly: turns the server's stream of updates into committed
//! text, tentative text, and "what is new since last time".
//!
//! The server re-sends the whole transcript of the connection in every update,
//! and committed text can still be revised (the recipe saw "Turn on the living"
//! become "Turn on the living room lights."). So the transcript is rebuilt from
//! each update, and text carried over from an earlier connection (after a
//! reconnect) is joined at a seam where repeated words are dropped.

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
    /// End of the committed audio of the current connection, in seconds.
    committed_end: f64,
}

impl Transcript {
    /// Replaces the current connection's view with a new update.
    pub fn apply(&mut self, update: &Update) {
        self.session = join_words(
            update
                .lines
                .iter()
                .filter(|l| !l.is_silence())
                .map(|l| l.text.as_str()),
        );
        self.tentative = normalise_spaces(&update.buffer);
        // Silence lines count too: silent audio needs no re-sending either.
        self.committed_end = update.lines.iter().map(|l| l.end).fold(0.0, f64::max);
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

    /// Seconds of this connection's audio whose words are committed.
    pub fn committed_end(&self) -> f64 {
        self.committed_end
    }

    /// Freezes the committed text when a connection is lost: it is carried
    /// into the next connection, and tentative text is dropped because its
    /// audio will be sent again.
    pub fn carry_over(&mut self) {
        self.carried = self.committed();
        self.session.clear();
        self.tentative.clear();
        self.committed_end = 0.0;
    }
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
        assert!((t.committed_end() - 1.28).abs() < 1e-9);
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
    fn silence_lines_add_no_words_but_count_as_committed_audio() {
        let mut t = Transcript::default();
        t.apply(&update(&[(" Hello.", 1.0), ("", 3.5)], ""));
        assert_eq!(t.committed(), "Hello.");
        assert!((t.committed_end() - 3.5).abs() < 1e-9);
    }

    #[test]
    fn carry_over_keeps_committed_and_drops_tentative() {
        let mut t = Transcript::default();
        t.apply(&update(&[(" Turn on the kitchen", 1.5)], " lights"));
        t.carry_over();
        assert_eq!(t.committed(), "Turn on the kitchen");
        assert_eq!(t.tentative(), "");
        assert!(t.committed_end().abs() < 1e-9);
        // The new connection re-hears the last word of the overlap.
        t.apply(&update(&[(" Kitchen lights please.", 1.2)], ""));
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
