//! The `store` worker: the thread that answers the window's and the
//! single-instance socket's store requests (History search and statistics,
//! backup, pruning old backups, and the CLI's store subcommands run on the
//! app's open store), so that neither the GUI thread nor the socket thread
//! ever waits on redb, a gzip or an fsync.
//!
//! Searches are debounced and the latest wins: typing "kitchen" in the
//! search box asks seven times, and only the last filter still wanted when
//! the user pauses for [`DEBOUNCE`] is run. Everything else runs in order as
//! it comes. Answers go back through the `publish` callback (the runtime
//! routes them to the window and the core).
//!
//! Who writes: the core saves what the user says (utterances, edits, the
//! command outbox) itself, through the same [`Shared`] store, and this
//! worker does everything else. redb has one writer at a time and readers
//! that never wait for it (MVCC), so the two never block each other's
//! reads; and the core must know at once whether a save held, to keep the
//! words in its unsaved list and retry when it did not (a full disk), which
//! a queue to this thread would only delay.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{DayStats, Query, Shared, Store, Utterance, backup, records};
use crate::config::settings::BackupSettings;
use crate::messages::Notice;
use crate::messages::history::{DayRow, HistoryFilter, HistoryPage, HistoryRow};

/// How long the search box must rest before its words are searched.
pub const DEBOUNCE: Duration = Duration::from_millis(120);

/// Results shown at most; one more is asked for to know whether there are
/// more.
pub const PAGE: usize = 500;

/// What the store worker is asked to do.
#[derive(Debug)]
pub enum StoreRequest {
    /// Search the history and count the statistics (debounced, latest wins).
    Search(HistoryFilter),
    /// Back up the store now, where these settings say.
    Backup(BackupSettings),
    /// Delete the backups these settings do not keep.
    Prune(BackupSettings),
    /// A store subcommand from the socket (`tonnytray history …` while the
    /// app runs); the JSON reply line goes back on `reply`.
    Socket {
        /// The request's JSON.
        request: String,
        /// Where the reply line goes.
        reply: Sender<String>,
    },
}

/// What the store worker answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    /// A search's results for the History tab.
    History(Box<HistoryPage>),
    /// A backup or prune finished; what happened, for the notices.
    Done(Notice),
}

/// The running worker; dropping it finishes the request at hand, then
/// stops and joins the thread.
pub struct StoreWorker {
    tx: Option<Sender<StoreRequest>>,
    thread: Option<JoinHandle<()>>,
}

impl StoreWorker {
    /// Starts the `store` thread on `store`, answering through `publish`.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn spawn(
        store: Shared,
        publish: impl Fn(StoreReply) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = crate::runtime::thread::spawn("store", move || serve(&store, &rx, &publish))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// A sender of requests (for the window and the socket).
    ///
    /// # Panics
    /// Never: the sender is only taken when the worker is dropped.
    #[must_use]
    pub fn sender(&self) -> Sender<StoreRequest> {
        self.tx.clone().expect("the worker is running")
    }
}

impl Drop for StoreWorker {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread's loop: until every sender is gone.
fn serve(store: &Shared, rx: &Receiver<StoreRequest>, publish: &dyn Fn(StoreReply)) {
    // The search waiting for the box to rest, and when it may run.
    let mut pending: Option<(HistoryFilter, Instant)> = None;
    loop {
        let next = match &pending {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some((_, due)) => rx.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(StoreRequest::Search(filter)) => {
                pending = Some((filter, Instant::now() + DEBOUNCE));
            }
            Ok(request) => answer(store, request, publish),
            Err(RecvTimeoutError::Timeout) => {
                if let Some((filter, _)) = pending.take() {
                    publish(StoreReply::History(Box::new(search(store, filter))));
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Runs one request other than a search.
fn answer(store: &Shared, request: StoreRequest, publish: &dyn Fn(StoreReply)) {
    match request {
        StoreRequest::Search(_) => {}
        StoreRequest::Backup(settings) => publish(StoreReply::Done(back_up(store, &settings))),
        StoreRequest::Prune(settings) => publish(StoreReply::Done(prune(store, &settings))),
        StoreRequest::Socket { request, reply } => {
            let open = store.get();
            let _ = reply.send(crate::cli::store::answer(open.as_deref(), &request));
        }
    }
}

/// Backs the store up now; the result for the notices.
fn back_up(store: &Shared, settings: &BackupSettings) -> Notice {
    let Some(s) = store.get() else {
        return Notice::error("no backup: the history store is not available");
    };
    let dir = settings.folder(s.path());
    match backup::backup(&s, &dir) {
        Ok(file) => {
            let _ = s.log_activity("backup", &format!("made {}", file.display()));
            Notice::info(format!("History backed up to {}", file.display()))
        }
        Err(e) => Notice::error(format!("backup failed: {e}")),
    }
}

/// Deletes the backups the settings do not keep; the result for the
/// notices.
fn prune(store: &Shared, settings: &BackupSettings) -> Notice {
    let Some(s) = store.get() else {
        return Notice::error("no backup deleted: the history store is not available");
    };
    let dir = settings.folder(s.path());
    match backup::prune(&dir, settings.retention()) {
        Ok(removed) => Notice::info(format!(
            "Deleted {} old backup(s) in {}",
            removed.len(),
            dir.display()
        )),
        Err(e) => Notice::error(format!("old backups not deleted: {e}")),
    }
}

/// Runs a History tab search and counts the statistics.
#[must_use]
pub fn search(store: &Shared, filter: HistoryFilter) -> HistoryPage {
    let mut page = HistoryPage {
        filter,
        ..HistoryPage::default()
    };
    let Some(store) = store.get() else {
        page.error = Some("the history store is not available (see the notices)".into());
        return page;
    };
    match run_search(&store, &page.filter) {
        Ok((mut found, stats)) => {
            page.more = found.len() > PAGE;
            found.truncate(PAGE);
            page.rows = found.iter().map(row).collect();
            page.stats = stats
                .iter()
                .map(|(day, profile, s)| day_row(*day, profile, s))
                .collect();
        }
        Err(e) => page.error = Some(e),
    }
    page
}

type Found = (Vec<Utterance>, Vec<(u32, String, DayStats)>);

fn run_search(store: &Store, f: &HistoryFilter) -> Result<Found, String> {
    let day = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
    let (since, until) = records::id_range(day(&f.since).as_deref(), day(&f.until).as_deref())?;
    let query = Query {
        text: f.text.clone(),
        since,
        until,
        profile: (!f.profile.is_empty()).then(|| f.profile.clone()),
        favourites: f.favourites,
        limit: PAGE + 1,
    };
    let found = store.search(&query).map_err(|e| e.to_string())?;
    let stats = store.stats(0).map_err(|e| e.to_string())?;
    Ok((found, stats))
}

/// A stored utterance as the History tab draws it.
#[must_use]
pub fn row(u: &Utterance) -> HistoryRow {
    HistoryRow {
        id: u.id,
        when: records::local_time(u.id, "%Y-%m-%d %H:%M"),
        profile: u.profile.clone(),
        went: u.went.describe(),
        favourite: u.favourite,
        text: u.text.clone(),
        latency: u.latency.describe(),
    }
}

/// A day's statistics as the History tab draws them.
#[must_use]
pub fn day_row(day: u32, profile: &str, s: &DayStats) -> DayRow {
    DayRow {
        day: day_name(day),
        profile: profile.to_owned(),
        utterances: s.count,
        words: s.words,
        mean_final_text_ms: s.mean_final_text_ms(),
    }
}

/// The UTC date of a day number.
fn day_name(day: u32) -> String {
    jiff::Timestamp::from_second(i64::from(day) * 86_400)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| day.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::utterance;

    fn open(dir: &tempfile::TempDir) -> Shared {
        let path = dir.path().join("tonnytray.redb");
        let s = Store::open(&path).expect("open");
        for (id, text) in [
            (1_000_000, "turn on the kitchen lights"),
            (2_000_000, "hello"),
        ] {
            s.add_utterance(&utterance(id, text)).expect("add");
        }
        Shared::new(Some(path), Some(s))
    }

    fn worker(store: Shared) -> (StoreWorker, Receiver<StoreReply>) {
        let (tx, rx) = mpsc::channel();
        let w = StoreWorker::spawn(store, move |r| {
            let _ = tx.send(r);
        })
        .expect("spawn");
        (w, rx)
    }

    fn next(rx: &Receiver<StoreReply>) -> StoreReply {
        rx.recv_timeout(Duration::from_secs(10)).expect("a reply")
    }

    #[test]
    fn a_burst_of_searches_runs_only_the_last() {
        let dir = tempfile::tempdir().expect("dir");
        let (w, rx) = worker(open(&dir));
        let tx = w.sender();
        for typed in ["k", "ki", "kit", "kitc", "kitch", "kitche", "kitchen"] {
            let filter = HistoryFilter {
                text: typed.into(),
                ..HistoryFilter::default()
            };
            tx.send(StoreRequest::Search(filter)).expect("send");
        }
        let StoreReply::History(page) = next(&rx) else {
            panic!("a search answers with a page")
        };
        assert_eq!(page.filter.text, "kitchen");
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.rows[0].text, "turn on the kitchen lights");
        assert_eq!(page.stats.iter().map(|d| d.utterances).sum::<u64>(), 2);
        assert!(page.error.is_none());
        // Only one page for the whole burst.
        assert!(rx.recv_timeout(DEBOUNCE * 4).is_err());
    }

    #[test]
    fn the_socket_and_backups_are_answered_while_a_search_waits() {
        let dir = tempfile::tempdir().expect("dir");
        let (w, rx) = worker(open(&dir));
        let tx = w.sender();
        tx.send(StoreRequest::Search(HistoryFilter::default()))
            .expect("send");
        let (reply_tx, reply_rx) = mpsc::channel();
        let request = crate::cli::store::Request::History {
            text: "hello".into(),
            since: None,
            until: None,
            profile: None,
            favourites: false,
            limit: 10,
            json: true,
        };
        tx.send(StoreRequest::Socket {
            request: serde_json::to_string(&request).expect("json"),
            reply: reply_tx,
        })
        .expect("send");
        let line = reply_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("socket reply");
        assert!(line.contains("hello"), "{line}");
        let mut settings = BackupSettings {
            dir: dir.path().join("kept").display().to_string(),
            ..BackupSettings::default()
        };
        tx.send(StoreRequest::Backup(settings.clone()))
            .expect("send");
        let StoreReply::Done(note) = next(&rx) else {
            panic!("the backup answers before the debounced search")
        };
        assert!(note.starts_with("History backed up to "), "{note}");
        assert_eq!(note.severity, crate::messages::Severity::Info);
        assert!(matches!(next(&rx), StoreReply::History(_)));
        let old = dir.path().join("kept/tonnytray-20200101T000000Z.redb.gz");
        std::fs::write(&old, b"old").expect("write");
        settings.keep_daily = 1;
        settings.keep_weekly = 0;
        settings.keep_monthly = 0;
        tx.send(StoreRequest::Prune(settings)).expect("send");
        assert!(
            matches!(next(&rx), StoreReply::Done(n) if n.starts_with("Deleted 1 old backup(s)"))
        );
        assert!(!old.exists());
    }

    #[test]
    fn no_store_and_a_bad_date_are_named() {
        let page = search(&Shared::new(None, None), HistoryFilter::default());
        assert!(page.error.expect("error").contains("not available"));
        let dir = tempfile::tempdir().expect("dir");
        let bad = HistoryFilter {
            since: "yesterday".into(),
            ..HistoryFilter::default()
        };
        let page = search(&open(&dir), bad);
        assert!(page.error.expect("error").contains("yesterday"));
        assert!(page.rows.is_empty());
        let none = Shared::new(None, None);
        assert!(back_up(&none, &BackupSettings::default()).contains("not available"));
    }
}
