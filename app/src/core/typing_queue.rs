//! The order in which words go to the `typing` thread, on the core thread.
//! Committed words become [`TypeJob`]s (replacements applied, a space
//! between pieces); they are handed over in utterance order, words of a newer
//! utterance wait while an older one is still finishing (its last words
//! come with its final transcript), and everything waits while the
//! push-to-talk hotkey is held (the X server sends every key to the
//! hotkey's grab then, not to the focused window). A full typing queue
//! keeps the words here for the next round; a typing thread that is gone
//! or missing is reported per utterance, never silently.

use std::collections::VecDeque;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use super::replace;
use crate::config::settings::Settings;
use crate::integrations::typing::TypeJob;

/// How long a re-type waits before typing: the window hides itself when it
/// asks, and the focus must first go back to the window the user was in.
pub const RETYPE_FOCUS_WAIT: Duration = Duration::from_millis(400);

/// The typing job id of a re-typed utterance: after every live one, and
/// matching no session.
pub const RETYPE: u64 = u64::MAX;

/// Words that will not be typed, and why (for the utterance's log entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untyped {
    /// The utterance (session id).
    pub utterance: u64,
    /// Why, in words.
    pub why: String,
    /// Worth a notice too (the typing thread is gone).
    pub notice: bool,
}

/// Words waiting for the typing thread.
pub struct TypingQueue {
    typer: Option<SyncSender<TypeJob>>,
    waiting: VecDeque<TypeJob>,
    /// Something was typed before: the next piece starts with a space.
    typed_anything: bool,
}

impl TypingQueue {
    /// A queue feeding `typer` (`None`: there is no typing thread).
    #[must_use]
    pub fn new(typer: Option<SyncSender<TypeJob>>) -> Self {
        Self {
            typer,
            waiting: VecDeque::new(),
            typed_anything: false,
        }
    }

    /// Nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Queues newly committed words of utterance `id` (when typing is on).
    pub fn piece(&mut self, id: u64, piece: &str, settings: &Settings) {
        if !settings.typing.enabled {
            return;
        }
        let text = replace::apply(piece, &settings.replacements);
        let text = if self.typed_anything {
            format!(" {text}")
        } else {
            text
        };
        self.typed_anything = true;
        // In utterance order: an older utterance's last words (they come
        // with its final transcript) go before a newer one's that waited.
        let at = self
            .waiting
            .iter()
            .position(|j| j.utterance > id)
            .unwrap_or(self.waiting.len());
        self.waiting.insert(
            at,
            TypeJob {
                utterance: id,
                text,
                settings: settings.typing.clone(),
                focus_wait: Duration::ZERO,
            },
        );
    }

    /// Queues a stored utterance's words again (History → Type again),
    /// after the focus has had time to go back.
    pub fn retype(&mut self, text: &str, settings: &Settings) {
        self.waiting.push_back(TypeJob {
            utterance: RETYPE,
            text: replace::apply(text, &settings.replacements),
            settings: settings.typing.clone(),
            focus_wait: RETYPE_FOCUS_WAIT,
        });
    }

    /// Hands what may go to the typing thread: nothing while `held`
    /// (push-to-talk held), nothing newer than `oldest_finishing`. Returns
    /// the words that will never be typed.
    pub fn release(&mut self, held: bool, oldest_finishing: Option<u64>) -> Vec<Untyped> {
        let mut lost = Vec::new();
        if held {
            return lost;
        }
        while let Some(job) = self.waiting.front() {
            if oldest_finishing.is_some_and(|oldest| job.utterance > oldest) {
                break;
            }
            let Some(typer) = &self.typer else {
                lost.extend(self.drop_all("typing is unavailable", false));
                break;
            };
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            match typer.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(job)) => {
                    self.waiting.push_front(job);
                    break;
                }
                Err(TrySendError::Disconnected(job)) => {
                    self.waiting.push_front(job);
                    self.typer = None;
                    lost.extend(self.drop_all("the typing thread stopped; words not typed", true));
                    break;
                }
            }
        }
        lost
    }

    /// Drops every waiting job; one [`Untyped`] per utterance.
    fn drop_all(&mut self, why: &str, notice: bool) -> Vec<Untyped> {
        let mut lost: Vec<Untyped> = Vec::new();
        for job in self.waiting.drain(..) {
            if lost.iter().all(|l| l.utterance != job.utterance) {
                lost.push(Untyped {
                    utterance: job.utterance,
                    why: why.to_owned(),
                    notice,
                });
            }
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{self, Receiver};

    use super::*;
    use crate::config::settings::HotkeyMode;

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.hotkey.mode = HotkeyMode::PushToTalk;
        s.replacements = vec![crate::config::settings::Replacement {
            from: "tonny".into(),
            to: "Tonny".into(),
        }];
        s
    }

    fn typed(rx: &Receiver<TypeJob>) -> Vec<(u64, String)> {
        rx.try_iter().map(|j| (j.utterance, j.text)).collect()
    }

    #[test]
    fn pieces_go_in_order_with_a_space_between_and_replacements_applied() {
        let (tx, rx) = mpsc::sync_channel(8);
        let mut q = TypingQueue::new(Some(tx));
        let s = settings();
        q.piece(1, "hello tonny", &s);
        q.piece(1, "how are you", &s);
        assert!(q.release(false, None).is_empty());
        assert_eq!(
            typed(&rx),
            [(1, "hello Tonny".into()), (1, " how are you".into())]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn words_wait_while_push_to_talk_is_held() {
        let (tx, rx) = mpsc::sync_channel(8);
        let mut q = TypingQueue::new(Some(tx));
        q.piece(1, "held", &settings());
        assert!(q.release(true, None).is_empty());
        assert!(typed(&rx).is_empty());
        assert!(!q.is_empty());
        q.release(false, None);
        assert_eq!(typed(&rx), [(1, "held".into())]);
    }

    #[test]
    fn a_newer_utterance_waits_for_an_older_one_still_finishing() {
        let (tx, rx) = mpsc::sync_channel(8);
        let mut q = TypingQueue::new(Some(tx));
        let s = settings();
        q.piece(1, "first", &s);
        q.piece(2, "second", &s);
        q.release(false, Some(1));
        assert_eq!(typed(&rx), [(1, "first".into())]);
        // Utterance 1's last words arrive with its final transcript.
        q.piece(1, "end", &s);
        q.release(false, Some(1));
        assert_eq!(typed(&rx), [(1, " end".into())]);
        q.release(false, None);
        assert_eq!(typed(&rx), [(2, " second".into())]);
    }

    #[test]
    fn a_full_typing_queue_keeps_the_words_for_the_next_round() {
        let (tx, rx) = mpsc::sync_channel(1);
        let mut q = TypingQueue::new(Some(tx));
        let s = settings();
        q.piece(1, "one", &s);
        q.piece(1, "two", &s);
        assert!(q.release(false, None).is_empty());
        assert_eq!(typed(&rx), [(1, "one".into())]);
        q.release(false, None);
        assert_eq!(typed(&rx), [(1, " two".into())]);
    }

    #[test]
    fn missing_or_stopped_typing_is_reported_once_per_utterance() {
        let mut none = TypingQueue::new(None);
        let s = settings();
        none.piece(1, "a", &s);
        none.piece(1, "b", &s);
        none.piece(2, "c", &s);
        let lost = none.release(false, None);
        assert_eq!(lost.iter().map(|l| l.utterance).collect::<Vec<_>>(), [1, 2]);
        assert!(
            lost.iter()
                .all(|l| l.why == "typing is unavailable" && !l.notice)
        );
        assert!(none.is_empty());

        let (tx, rx) = mpsc::sync_channel(8);
        drop(rx);
        let mut stopped = TypingQueue::new(Some(tx));
        stopped.piece(3, "gone", &s);
        let lost = stopped.release(false, None);
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].utterance, 3);
        assert!(lost[0].notice && lost[0].why.contains("typing thread stopped"));
    }

    #[test]
    fn typing_off_queues_nothing_and_a_retype_waits_for_the_focus() {
        let (tx, rx) = mpsc::sync_channel(8);
        let mut q = TypingQueue::new(Some(tx));
        let mut s = settings();
        s.typing.enabled = false;
        q.piece(1, "not typed", &s);
        assert!(q.is_empty());
        s.typing.enabled = true;
        q.retype("again tonny", &s);
        q.release(false, None);
        let job = rx.try_recv().expect("a job");
        assert_eq!(
            (job.utterance, job.text.as_str(), job.focus_wait),
            (RETYPE, "again Tonny", RETYPE_FOCUS_WAIT)
        );
    }
}
