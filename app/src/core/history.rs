//! The history's lifecycle on the core thread: the transcript log the
//! window shows (the newest [`LOG_LEN`] utterances), saving each finished
//! utterance durably before it is reported, keeping in memory, in order,
//! what the store cannot take and trying again every [`SAVE_RETRY`],
//! writing what is still unsaved beside the store at quit (the next start
//! adds it), and the user's edits: favourite, delete with undo, what typing
//! did to an utterance. Problems become notices; nothing said is dropped.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::messages::{Notice, Notices, TypedOutcome, Utterance};
use crate::store::{self, records};

/// Finished utterances kept in the snapshot's log.
pub const LOG_LEN: usize = 200;
/// How often utterances the store could not take are tried again.
pub const SAVE_RETRY: Duration = Duration::from_secs(2);

/// The store, the log, and what waits for the store.
pub struct History {
    store: store::Shared,
    log: Arc<Vec<Utterance>>,
    /// Finished utterances waiting for the store, oldest first, with their
    /// session ids.
    unsaved: VecDeque<(u64, store::Utterance)>,
    next_save: Option<Instant>,
    /// Bumped on every change to the stored history (the History tab
    /// searches again).
    rev: u64,
    /// The last deleted utterance, for undo.
    deleted: Option<store::Utterance>,
}

impl History {
    /// Starts the log with the newest stored utterances.
    pub fn open(store: store::Shared, notices: &mut Notices) -> Self {
        let mut log = Vec::new();
        if let Some(s) = store.get() {
            let query = store::Query {
                limit: LOG_LEN,
                ..store::Query::default()
            };
            match s.search(&query) {
                Ok(found) => log = found.into_iter().rev().map(log_entry).collect(),
                Err(e) => notices.push(format!("the history could not be read: {e}")),
            }
        }
        Self {
            store,
            log: Arc::new(log),
            unsaved: VecDeque::new(),
            next_save: None,
            rev: 0,
            deleted: None,
        }
    }

    /// The store (for the command outbox, settings and the activity log).
    pub fn store(&self) -> &store::Shared {
        &self.store
    }

    /// The transcript log, oldest first.
    pub fn log(&self) -> &Arc<Vec<Utterance>> {
        &self.log
    }

    /// How many finished utterances wait for the store.
    pub fn unsaved(&self) -> usize {
        self.unsaved.len()
    }

    /// The stored history's revision.
    pub fn rev(&self) -> u64 {
        self.rev
    }

    /// The text an undo would put back.
    pub fn undo_text(&self) -> Option<String> {
        self.deleted.as_ref().map(|u| u.text.clone())
    }

    /// When unsaved utterances are tried again.
    pub fn next_save(&self) -> Option<Instant> {
        self.next_save
    }

    /// Adds one utterance to the store, opening it if needed; `Ok(None)`
    /// when there is no store at all.
    fn add(&self, record: &store::Utterance) -> Result<Option<u64>, store::StoreError> {
        self.store
            .get_or_open()?
            .map(|s| s.add_utterance(record))
            .transpose()
    }

    /// Saves a finished utterance (durably) before it is reported; keeps
    /// it in memory when the store cannot take it. Returns its store id.
    pub fn save(
        &mut self,
        session: u64,
        record: store::Utterance,
        notices: &mut Notices,
    ) -> Option<u64> {
        if !self.unsaved.is_empty() {
            // Keep the order: older unsaved utterances go first.
            self.unsaved.push_back((session, record));
            self.flush(notices);
            return None;
        }
        match self.add(&record) {
            Ok(Some(id)) => Some(id),
            Ok(None) => None,
            Err(e) => {
                // redb takes no more writes after a failed one until the file
                // is opened again: the retry reopens it.
                self.store.forget();
                notices.push(format!(
                    "the last utterance could not be saved ({e}); it is kept in memory and saved as soon as possible"
                ));
                self.unsaved.push_back((session, record));
                self.next_save = Some(Instant::now() + SAVE_RETRY);
                None
            }
        }
    }

    /// Tries again to save what the store could not take; whether anything
    /// was saved.
    pub fn flush(&mut self, notices: &mut Notices) -> bool {
        let mut saved = 0;
        while let Some((session, record)) = self.unsaved.front() {
            match self.add(record) {
                Ok(Some(id)) => {
                    let session = *session;
                    let text = record.text.clone();
                    self.unsaved.pop_front();
                    saved += 1;
                    if let Some(u) = Arc::make_mut(&mut self.log)
                        .iter_mut()
                        .find(|u| u.saved.is_none() && u.id == session && u.text == text)
                    {
                        u.saved = Some(id);
                    }
                }
                // No store at all: nothing to wait for (and no busy retry).
                Ok(None) => {
                    self.next_save = None;
                    return false;
                }
                Err(e) => {
                    self.store.forget();
                    tracing::warn!("store still unavailable: {e}");
                    self.next_save = Some(Instant::now() + SAVE_RETRY);
                    break;
                }
            }
        }
        if saved > 0 {
            self.rev += 1;
            if self.unsaved.is_empty() {
                self.next_save = None;
                notices.push(Notice::info(format!(
                    "saved {saved} utterance(s) that were waiting for the store"
                )));
            }
        }
        saved > 0
    }

    /// Adds a finished utterance to the log (saved or not).
    pub fn record(&mut self, entry: Utterance) {
        if entry.saved.is_some() {
            self.rev += 1;
        }
        let log = Arc::make_mut(&mut self.log);
        log.push(entry);
        if log.len() > LOG_LEN {
            log.remove(0);
        }
    }

    /// At quit: one last try, then what is still unsaved goes beside the
    /// store (the next start imports it); when even that fails, into the log.
    pub fn close(&mut self, notices: &mut Notices) {
        if self.unsaved.is_empty() {
            return;
        }
        self.flush(notices);
        if self.unsaved.is_empty() {
            return;
        }
        let records: Vec<_> = self.unsaved.drain(..).map(|(_, u)| u).collect();
        let stamp = records::micros(SystemTime::now());
        let file = self
            .store
            .path()
            .and_then(Path::parent)
            .map(|dir| dir.join(format!("{}{stamp}.json", store::export::UNSAVED_PREFIX)));
        let result = match &file {
            Some(file) => store::export::write_unsaved(file, records.clone()).map(|()| file),
            None => Err(store::StoreError::Io {
                path: PathBuf::new(),
                detail: "there is no data folder".into(),
            }),
        };
        match result {
            Ok(file) => tracing::warn!(
                "{} utterance(s) the store could not take were written to {}; the next start adds them",
                records.len(),
                file.display()
            ),
            Err(e) => {
                for u in &records {
                    // The last place left to keep them: the log the user can read.
                    tracing::error!(
                        "quitting with an utterance that could not be saved ({e}): {:?}",
                        u.text
                    );
                }
            }
        }
    }

    /// Runs a change on the store; a failure becomes a notice.
    fn change(
        &mut self,
        what: &str,
        notices: &mut Notices,
        change: impl FnOnce(&store::Store) -> Result<(), store::StoreError>,
    ) -> bool {
        let result = match self.store.get_or_open() {
            Ok(Some(s)) => change(&s),
            Ok(None) => {
                notices.push(format!("cannot {what}: there is no history store"));
                return false;
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.rev += 1;
                true
            }
            Err(e) => {
                if e.is_transient() {
                    self.store.forget();
                }
                notices.push(format!("cannot {what}: {e}"));
                false
            }
        }
    }

    /// Marks (or unmarks) a stored utterance as a favourite.
    pub fn set_favourite(&mut self, id: u64, favourite: bool, notices: &mut Notices) {
        self.change("mark the favourite", notices, |s| {
            s.update(id, |u| u.favourite = favourite).map(drop)
        });
    }

    /// Records how long a command's reply took to speak.
    pub fn set_speech_ms(&mut self, id: u64, ms: u32, notices: &mut Notices) {
        self.change("record the speech latency", notices, |s| {
            s.update(id, |r| r.latency.speech_ms = Some(ms)).map(drop)
        });
    }

    /// Deletes a stored utterance, keeping it for undo.
    pub fn delete(&mut self, id: u64, notices: &mut Notices) {
        let mut removed = None;
        if self.change("delete the utterance", notices, |s| {
            removed = Some(s.delete(id)?);
            Ok(())
        }) {
            self.deleted = removed;
            Arc::make_mut(&mut self.log).retain(|u| u.saved != Some(id));
        }
    }

    /// Puts the last deleted utterance back, in the log's order too.
    pub fn undo_delete(&mut self, notices: &mut Notices) {
        let Some(u) = self.deleted.take() else { return };
        let back = u.clone();
        if self.change("put the utterance back", notices, |s| {
            s.put_utterance(&back).map(drop)
        }) {
            let log = Arc::make_mut(&mut self.log);
            let at = log
                .iter()
                .position(|e| e.saved.is_some_and(|s| s > u.id))
                .unwrap_or(log.len());
            log.insert(at, log_entry(u));
        } else {
            self.deleted = Some(u);
        }
    }

    /// A stored utterance's words (to type again), or why not.
    pub fn text_of(&self, id: u64) -> Result<String, String> {
        match self.store.get().map(|s| s.utterance(id)) {
            Some(Ok(Some(u))) => Ok(u.text),
            Some(Ok(None)) => Err(format!("there is no utterance {id}")),
            Some(Err(e)) => Err(format!("cannot re-type: {e}")),
            None => Err("cannot re-type: there is no history store".into()),
        }
    }

    /// Notes what typing did to a finished session's words: in the log,
    /// in the waiting record, and in the store.
    pub fn set_typed(&mut self, session: u64, outcome: TypedOutcome, notices: &mut Notices) {
        let went = destination(&outcome);
        if let Some((_, u)) = self.unsaved.iter_mut().find(|(s, _)| *s == session) {
            u.went = went.clone();
        }
        let Some(u) = Arc::make_mut(&mut self.log)
            .iter_mut()
            .find(|u| u.id == session)
        else {
            return;
        };
        u.typed = outcome;
        if let (Some(key), Some(store)) = (u.saved, self.store.get()) {
            match store.update(key, |u| u.went = went) {
                Ok(_) => self.rev += 1,
                Err(e) => notices.push(format!(
                    "could not note in the history that typing failed: {e}"
                )),
            }
        }
    }

    /// Notes a store activity (settings saved, profile switched).
    pub fn log_activity(&self, kind: &str, message: &str) {
        if let Some(s) = self.store.get()
            && let Err(e) = s.log_activity(kind, message)
        {
            tracing::warn!("activity log: {e}");
        }
    }
}

/// The transcript log's entry for a stored utterance (no session: it came
/// from the store).
fn log_entry(u: store::Utterance) -> Utterance {
    Utterance {
        id: 0,
        at: u.at(),
        typed: outcome(&u.went),
        saved: Some(u.id),
        text: u.text,
    }
}

/// What the transcript log says of a stored destination.
fn outcome(went: &store::Destination) -> TypedOutcome {
    match went {
        store::Destination::Typed => TypedOutcome::Typed,
        store::Destination::N8n => TypedOutcome::NotTyped("sent to n8n".into()),
        store::Destination::Nowhere { why } => TypedOutcome::NotTyped(why.clone()),
    }
}

/// Where the store says an utterance's words went.
pub fn destination(typed: &TypedOutcome) -> store::Destination {
    match typed {
        TypedOutcome::Typed => store::Destination::Typed,
        TypedOutcome::Off => store::Destination::Nowhere {
            why: "typing off".into(),
        },
        TypedOutcome::NotTyped(why) => store::Destination::Nowhere { why: why.clone() },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::store::testing::{SmallDisk, utterance as record};

    fn entry(session: u64, text: &str, saved: Option<u64>) -> Utterance {
        Utterance {
            id: session,
            at: SystemTime::now(),
            text: text.into(),
            typed: TypedOutcome::Typed,
            saved,
        }
    }

    fn on_file(dir: &tempfile::TempDir) -> History {
        let path = dir.path().join("tonnytray.redb");
        let s = store::Store::open(&path).expect("open");
        History::open(
            store::Shared::new(Some(path), Some(s)),
            &mut Notices::default(),
        )
    }

    /// A full disk: the finished utterance stays in memory (and is said to),
    /// retries fail while the disk is full, and once space is back the
    /// store is opened again and takes it, in order.
    #[test]
    fn a_full_disk_keeps_finished_utterances_in_memory_until_they_can_be_saved() {
        let limit = Arc::new(AtomicU64::new(4 << 20));
        let memory = Arc::new(redb::backends::InMemoryBackend::new());
        let shared = {
            let (limit, memory) = (Arc::clone(&limit), Arc::clone(&memory));
            store::Shared::with_opener(move || {
                let disk = SmallDisk {
                    inner: Arc::clone(&memory),
                    limit: Arc::clone(&limit),
                };
                store::Store::with_backend(disk, Path::new("/small/disk.redb"))
            })
        };
        let mut notices = Notices::default();
        let mut history = History::open(shared.clone(), &mut notices);
        // Fill the disk.
        let filler = "words that fill the disk ".repeat(40);
        let store = shared.get_or_open().expect("open").expect("store");
        let mut n = 1;
        while store.add_utterance(&record(n, &filler)).is_ok() {
            n += 1;
        }
        drop(store);
        shared.forget();

        assert_eq!(
            history.save(
                7,
                record(1 << 50, "first after the disk filled"),
                &mut notices
            ),
            None
        );
        assert_eq!(
            history.save(8, record(1 << 51, "second"), &mut notices),
            None
        );
        assert_eq!(history.unsaved(), 2);
        assert!(
            notices
                .iter()
                .any(|n| n.contains("is full") && n.contains("kept in memory")),
            "{notices:?}"
        );
        history.flush(&mut notices);
        assert_eq!(history.unsaved(), 2, "still full: still kept");

        limit.store(64 << 20, Ordering::SeqCst);
        assert!(history.flush(&mut notices));
        assert_eq!(history.unsaved(), 0);
        assert!(notices.iter().any(|n| n.contains("saved 2 utterance(s)")));
        let store = shared.get().expect("reopened");
        let newest = store
            .search(&store::Query {
                limit: 2,
                ..store::Query::default()
            })
            .expect("search");
        let texts: Vec<_> = newest.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, ["second", "first after the disk filled"]);
    }

    #[test]
    fn delete_and_undo_put_the_utterance_back_in_its_place() {
        let dir = tempfile::tempdir().expect("dir");
        let mut notices = Notices::default();
        let mut h = on_file(&dir);
        for (session, id, text) in [(1, 1_000, "one"), (2, 2_000, "two"), (3, 3_000, "three")] {
            let saved = h.save(session, record(id, text), &mut notices);
            assert_eq!(saved, Some(id));
            h.record(entry(session, text, saved));
        }
        assert_eq!(h.rev(), 3);
        h.delete(2_000, &mut notices);
        assert_eq!(h.undo_text().as_deref(), Some("two"));
        let texts = |h: &History| h.log().iter().map(|u| u.text.clone()).collect::<Vec<_>>();
        assert_eq!(texts(&h), ["one", "three"]);
        assert_eq!(h.text_of(2_000), Err("there is no utterance 2000".into()));
        h.undo_delete(&mut notices);
        assert_eq!(texts(&h), ["one", "two", "three"]);
        assert_eq!(h.text_of(2_000).as_deref(), Ok("two"));
        assert_eq!(h.undo_text(), None);
        assert_eq!(h.rev(), 5);
        assert!(notices.is_empty(), "{notices:?}");
    }

    #[test]
    fn favourites_and_typing_outcomes_reach_the_store() {
        let dir = tempfile::tempdir().expect("dir");
        let mut notices = Notices::default();
        let mut h = on_file(&dir);
        let saved = h.save(4, record(4_000, "hello"), &mut notices);
        h.record(entry(4, "hello", saved));
        h.set_favourite(4_000, true, &mut notices);
        h.set_typed(4, TypedOutcome::NotTyped("no window".into()), &mut notices);
        let stored = h
            .store()
            .get()
            .expect("store")
            .utterance(4_000)
            .expect("read")
            .expect("there");
        assert!(stored.favourite);
        assert_eq!(
            stored.went,
            store::Destination::Nowhere {
                why: "no window".into()
            }
        );
        assert_eq!(h.log()[0].typed, TypedOutcome::NotTyped("no window".into()));
    }

    #[test]
    fn without_a_store_edits_are_refused_with_a_notice_and_words_stay_in_the_log() {
        let mut notices = Notices::default();
        let mut h = History::open(store::Shared::new(None, None), &mut notices);
        assert_eq!(h.save(1, record(1_000, "kept"), &mut notices), None);
        h.record(entry(1, "kept", None));
        assert_eq!(h.unsaved(), 0, "no store at all: nothing to wait for");
        h.delete(1_000, &mut notices);
        let texts: Vec<&str> = notices.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(
            texts,
            ["cannot delete the utterance: there is no history store"]
        );
        assert_eq!(h.log()[0].text, "kept");
        assert!(
            h.text_of(1_000)
                .expect_err("no store")
                .contains("no history store")
        );
    }

    #[test]
    fn the_log_keeps_the_newest_entries() {
        let mut h = History::open(store::Shared::new(None, None), &mut Notices::default());
        for n in 0..(LOG_LEN as u64 + 5) {
            h.record(entry(n, &n.to_string(), None));
        }
        assert_eq!(h.log().len(), LOG_LEN);
        assert_eq!(h.log()[0].text, "5");
    }
}
