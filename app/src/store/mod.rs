//! The store: everything the user says and sets, in one redb file in the
//! XDG data dir. The only code that touches redb (with the `migrations`
//! crate, which owns the schema). Opening runs the migrations; every write is
//! one transaction committed with fsync before the call returns, so what a
//! caller was told is saved survives a crash or power cut.
//!
//! - [`records`]: the documented, versioned value encodings.
//! - [`backup`]: compressed, timestamped backups, restore, retention.
//! - [`export`]: JSON export and import.

pub mod backup;
pub mod export;
pub mod outbox;
pub mod records;
pub mod worker;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use tonnytray_migrations::schema::{ACTIVITY, SETTINGS, STATS, UTTERANCES};

pub use records::{Activity, DayStats, Destination, Latencies, Utterance};

/// The store file's name in the data dir.
pub const FILE_NAME: &str = "tonnytray.redb";
/// Overrides the store file's path (tests, portable installs).
pub const DB_ENV: &str = "TONNYTRAY_DB";

/// What went wrong with the store, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (a running TonnyTray) has the file open.
    #[error("{0} is in use by another TonnyTray process")]
    InUse(PathBuf),
    /// The file is damaged.
    #[error("{path} is damaged: {detail}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What redb or the decoder found.
        detail: String,
    },
    /// The file is from a newer TonnyTray; it was left untouched.
    #[error(
        "{path} has schema version {found}, newer than this TonnyTray knows ({supported}); it was left untouched: update TonnyTray, or restore a backup made by this version"
    )]
    Newer {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: u64,
        /// The newest this build knows.
        supported: u64,
    },
    /// The disk is full; nothing of this write was saved.
    #[error("the disk holding {0} is full; free some space")]
    DiskFull(PathBuf),
    /// An earlier write failed (full disk, I/O error); redb needs the file
    /// closed and opened again before it writes.
    #[error("an earlier write to {0} failed; it must be opened again")]
    MustReopen(PathBuf),
    /// Any other read or write failure.
    #[error("{path}: {detail}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// No such record.
    #[error("there is no utterance {0}")]
    NoSuchUtterance(u64),
}

impl StoreError {
    /// Whether a later retry of the same write may succeed (full disk, I/O).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::DiskFull(_) | Self::MustReopen(_) | Self::Io { .. } | Self::InUse(_)
        )
    }
}

/// The database, closed without a panic escaping: redb commits on close,
/// and on a damaged file (found by the `store_file` fuzz target: a free
/// page bitmap that is too short) that commit can panic. The file is
/// checksummed, so nothing already saved depends on that last commit.
///
/// Once redb has panicked on the file (`damaged`), it is not closed at all
/// but left open until the process ends: the commit on close of one such
/// file (`crash-abort-on-close`) panicked twice, and a second panic aborts
/// the process where no `catch_unwind` can help. Nothing is lost by not
/// closing it: what was committed is on disk, and a damaged file is not
/// written to again. The cost is the handle and its cache, once per
/// damaged file.
#[derive(Debug)]
struct Closing {
    db: Option<Database>,
    damaged: std::sync::atomic::AtomicBool,
}

impl Closing {
    fn new(db: Database) -> Self {
        Self {
            db: Some(db),
            damaged: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl std::ops::Deref for Closing {
    type Target = Database;
    fn deref(&self) -> &Database {
        self.db.as_ref().expect("the database is there until drop")
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        let db = self.db.take();
        if self.damaged.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!("the history store is damaged: it is left unclosed, not written again");
            std::mem::forget(db);
            return;
        }
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(db))).is_err() {
            tracing::error!("the history store could not be closed cleanly (a damaged file?)");
        }
    }
}

/// Runs `f`, turning a panic into [`StoreError::Damaged`]. redb checks
/// its pages' checksums after a crash, but trusts what passes: a file
/// damaged otherwise (or made by hand) can make it panic while opening
/// (found by the `store_file` fuzz target: a table name that is not
/// UTF-8). A damaged file must become an error the app recovers from (set
/// aside, restore offered), not a crash at every start.
///
/// Only a panic raised inside redb means the file is damaged. One raised
/// in our own code (a bug) must not get a good history moved aside: it is
/// an I/O-like error that leaves the file alone. Where the panic came from
/// is known when the app's panic hook runs ([`crate::telemetry::crash`]);
/// without it (tests, fuzzing) every panic counts as damage. `on_damage`
/// runs when a panic is taken for damage.
fn unpanicked<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, StoreError>,
    on_damage: impl FnOnce(),
) -> Result<T, StoreError> {
    let _ = crate::telemetry::crash::take_panic_location();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = crate::telemetry::crash::panic_message(panic.as_ref())
            .unwrap_or_else(|| "no reason given".into());
        match crate::telemetry::crash::take_panic_location() {
            Some(file) if !file.contains("redb-") => Err(StoreError::Io {
                path: path.to_owned(),
                detail: format!(
                    "an internal error while using it ({why}, at {file}); the file was left as it is"
                ),
            }),
            _ => {
                on_damage();
                Err(StoreError::Damaged {
                    path: path.to_owned(),
                    detail: format!("the database library could not read it ({why})"),
                })
            }
        }
    })
}

/// Turns a redb error into a [`StoreError`] about `path`.
fn classify(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    let e: redb::Error = e.into();
    let path = path.to_owned();
    match e {
        redb::Error::DatabaseAlreadyOpen => StoreError::InUse(path),
        redb::Error::PreviousIo => StoreError::MustReopen(path),
        redb::Error::Corrupted(detail) => StoreError::Damaged { path, detail },
        redb::Error::UpgradeRequired(v) => StoreError::Damaged {
            path,
            detail: format!("written in redb file format {v}, which this build cannot read"),
        },
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            StoreError::DiskFull(path)
        }
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            StoreError::Damaged {
                path,
                detail: io.to_string(),
            }
        }
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            StoreError::Damaged {
                path,
                detail: format!("the file ends too early (truncated?): {io}"),
            }
        }
        other => StoreError::Io {
            path,
            detail: other.to_string(),
        },
    }
}

/// A file-system error about `path` while doing `what`; a full disk is named
/// as such.
pub(crate) fn io_error(path: &Path, what: &str, e: &std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return StoreError::DiskFull(path.to_owned());
    }
    StoreError::Io {
        path: path.to_owned(),
        detail: format!("{what}: {e}"),
    }
}

fn damaged(path: &Path, e: &records::DecodeError) -> StoreError {
    StoreError::Damaged {
        path: path.to_owned(),
        detail: e.to_string(),
    }
}

/// The store as the app shares it between the core thread, the window and
/// the socket: empty while it is unavailable (in use, damaged, newer), and
/// opened again on demand by the core, which keeps unsaved words meanwhile.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    slot: std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<Store>>>>,
    path: Option<PathBuf>,
    opener: Option<Opener>,
}

/// Opens the store again (tests: a store on a custom backend).
#[derive(Clone)]
struct Opener(std::sync::Arc<dyn Fn() -> Result<Store, StoreError> + Send + Sync>);

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Opener")
    }
}

impl Shared {
    /// A slot for the store at `path` (`None`: no store at all), holding `store`.
    #[must_use]
    pub fn new(path: Option<PathBuf>, store: Option<Store>) -> Self {
        Self {
            slot: std::sync::Arc::new(std::sync::Mutex::new(store.map(std::sync::Arc::new))),
            path,
            opener: None,
        }
    }

    /// A slot that opens its store with `open` (a store on another redb
    /// backend), not from a path.
    #[must_use]
    pub fn with_opener(
        open: impl Fn() -> Result<Store, StoreError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            opener: Some(Opener(std::sync::Arc::new(open))),
            ..Self::default()
        }
    }

    /// The open store, if any.
    #[must_use]
    pub fn get(&self) -> Option<std::sync::Arc<Store>> {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The store file, if there is one.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Closes the store after a failed write (redb then refuses further
    /// writes until the file is opened again); the next [`Shared::get_or_open`]
    /// opens it anew.
    pub fn forget(&self) {
        self.slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// The open store, opening it first if it is not open yet.
    ///
    /// # Errors
    /// Why it cannot be opened; `Ok(None)` when there is no store path.
    pub fn get_or_open(&self) -> Result<Option<std::sync::Arc<Store>>, StoreError> {
        let mut slot = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = slot.as_ref() {
            return Ok(Some(std::sync::Arc::clone(s)));
        }
        let store = match (&self.opener, &self.path) {
            (Some(open), _) => (open.0)()?,
            (None, Some(path)) => Store::open(path)?,
            (None, None) => return Ok(None),
        };
        let store = std::sync::Arc::new(store);
        *slot = Some(std::sync::Arc::clone(&store));
        Ok(Some(store))
    }
}

/// What to look for in the history. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Words to find, case-insensitive, anywhere in the text.
    pub text: String,
    /// Only utterances at or after this id (µs since the epoch).
    pub since: Option<u64>,
    /// Only utterances before this id.
    pub until: Option<u64>,
    /// Only this profile's.
    pub profile: Option<String>,
    /// Only favourites.
    pub favourites: bool,
    /// At most this many, newest first (0: no limit).
    pub limit: usize,
}

/// The open store.
#[derive(Debug)]
pub struct Store {
    db: Closing,
    path: PathBuf,
    /// The schema version the file had before this open migrated it.
    migrated_from: u64,
}

impl Store {
    /// The file in the XDG data dir, or `$TONNYTRAY_DB`.
    #[must_use]
    pub fn default_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(DB_ENV).filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        directories::ProjectDirs::from("", "", "tonnytray").map(|d| d.data_dir().join(FILE_NAME))
    }

    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date in one transaction.
    ///
    /// # Errors
    /// [`StoreError::InUse`], [`StoreError::Damaged`], [`StoreError::Newer`]
    /// (file untouched), [`StoreError::DiskFull`] or [`StoreError::Io`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| io_error(dir, "cannot create the folder", &e))?;
        }
        unpanicked(
            path,
            || {
                // A file damaged outside redb (a disk fault, a copy cut short,
                // a file from elsewhere) is trusted by a plain open and can make
                // redb panic later, even twice in a row, which aborts (see
                // `Closing`). The check reads every page once: measured in
                // docs/PERFORMANCE.md (store).
                let db = match Database::builder()
                    .set_check_integrity_on_open(true)
                    .create(path)
                {
                    Ok(db) => db,
                    Err(e) => return Err(classify(path, e)),
                };
                Self::migrated(db, path.to_owned())
            },
            || {},
        )
    }

    /// A store on any redb backend (tests: full disks, memory).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn with_backend(
        backend: impl redb::StorageBackend,
        name: &Path,
    ) -> Result<Self, StoreError> {
        unpanicked(
            name,
            move || {
                let db = Database::builder()
                    .set_check_integrity_on_open(true)
                    .create_with_backend(backend)
                    .map_err(|e| classify(name, e))?;
                Self::migrated(db, name.to_owned())
            },
            || {},
        )
    }

    fn migrated(db: Database, path: PathBuf) -> Result<Self, StoreError> {
        use tonnytray_migrations::MigrateError;
        match tonnytray_migrations::migrate(&db) {
            Ok(done) => Ok(Self {
                db: Closing::new(db),
                path,
                migrated_from: done.from,
            }),
            Err(MigrateError::Newer { found, supported }) => Err(StoreError::Newer {
                path,
                found,
                supported,
            }),
            Err(MigrateError::Store(e) | MigrateError::Step { source: e, .. }) => {
                Err(classify(&path, e))
            }
        }
    }

    /// Runs one operation on the file; a panic in redb (a damaged file)
    /// becomes [`StoreError::Damaged`] (see [`unpanicked`]).
    pub(crate) fn guard<T>(
        &self,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        unpanicked(&self.path, f, || {
            self.db
                .damaged
                .store(true, std::sync::atomic::Ordering::Relaxed);
        })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version the file had before this open (0: a new file).
    #[must_use]
    pub fn migrated_from(&self) -> u64 {
        self.migrated_from
    }

    /// The schema version and what the migrations crate knows.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        self.guard(|| tonnytray_migrations::version(&self.db).map_err(|e| classify(&self.path, e)))
    }

    fn err(&self, e: impl Into<redb::Error>) -> StoreError {
        classify(&self.path, e)
    }

    /// Saves a finished utterance and counts it in the day's statistics, in
    /// one durable transaction. Its id is moved forward past any existing
    /// one with the same microsecond; the id used is returned.
    ///
    /// # Errors
    /// On any write failure nothing is saved; [`StoreError::DiskFull`] when
    /// the disk is full.
    pub fn add_utterance(&self, u: &Utterance) -> Result<u64, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            let id = self.insert_utterance(&txn, u)?;
            txn.commit().map_err(|e| self.err(e))?;
            Ok(id)
        })
    }

    /// Inside `txn`: saves `u` under a free id at or after its own, and
    /// counts it in the day's statistics.
    fn insert_utterance(
        &self,
        txn: &redb::WriteTransaction,
        u: &Utterance,
    ) -> Result<u64, StoreError> {
        let mut table = txn.open_table(UTTERANCES).map_err(|e| self.err(e))?;
        let mut id = u.id.max(1);
        while table.get(id).map_err(|e| self.err(e))?.is_some() {
            id += 1;
        }
        let stored = Utterance { id, ..u.clone() };
        table
            .insert(id, records::encode_utterance(&stored).as_slice())
            .map_err(|e| self.err(e))?;
        let mut stats = txn.open_table(STATS).map_err(|e| self.err(e))?;
        let day = records::day_of(id);
        let mut s = match stats
            .get((day, u.profile.as_str()))
            .map_err(|e| self.err(e))?
        {
            Some(v) => records::decode_stats(day, &u.profile, v.value())
                .map_err(|e| damaged(&self.path, &e))?,
            None => DayStats::default(),
        };
        s.add(&stored);
        stats
            .insert(
                (day, u.profile.as_str()),
                records::encode_stats(&s).as_slice(),
            )
            .map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Inside `txn`: changes one utterance with `f`; returns the new record.
    fn change_utterance(
        &self,
        txn: &redb::WriteTransaction,
        id: u64,
        f: impl FnOnce(&mut Utterance),
    ) -> Result<Utterance, StoreError> {
        let mut table = txn.open_table(UTTERANCES).map_err(|e| self.err(e))?;
        let mut u = match table.get(id).map_err(|e| self.err(e))? {
            Some(v) => {
                records::decode_utterance(id, v.value()).map_err(|e| damaged(&self.path, &e))?
            }
            None => return Err(StoreError::NoSuchUtterance(id)),
        };
        f(&mut u);
        u.id = id;
        table
            .insert(id, records::encode_utterance(&u).as_slice())
            .map_err(|e| self.err(e))?;
        Ok(u)
    }

    /// Puts an utterance back exactly as it was (undo of a delete, import);
    /// statistics are not counted again. Returns whether it was absent.
    ///
    /// # Errors
    /// On a write failure (nothing is saved).
    pub fn put_utterance(&self, u: &Utterance) -> Result<bool, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            let was_absent = {
                let mut table = txn.open_table(UTTERANCES).map_err(|e| self.err(e))?;
                table
                    .insert(u.id, records::encode_utterance(u).as_slice())
                    .map_err(|e| self.err(e))?
                    .is_none()
            };
            txn.commit().map_err(|e| self.err(e))?;
            Ok(was_absent)
        })
    }

    /// One utterance.
    ///
    /// # Errors
    /// When the file cannot be read or the record is damaged.
    pub fn utterance(&self, id: u64) -> Result<Option<Utterance>, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = txn.open_table(UTTERANCES).map_err(|e| self.err(e))?;
            let Some(v) = table.get(id).map_err(|e| self.err(e))? else {
                return Ok(None);
            };
            records::decode_utterance(id, v.value())
                .map(Some)
                .map_err(|e| damaged(&self.path, &e))
        })
    }

    /// Changes one utterance with `f`, durably; returns the new record.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUtterance`], or a read/write failure.
    pub fn update(&self, id: u64, f: impl FnOnce(&mut Utterance)) -> Result<Utterance, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            let updated = self.change_utterance(&txn, id, f)?;
            txn.commit().map_err(|e| self.err(e))?;
            Ok(updated)
        })
    }

    /// Deletes one utterance and returns it (for undo). Statistics keep it:
    /// they count what was said.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUtterance`], or a read/write failure.
    pub fn delete(&self, id: u64) -> Result<Utterance, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            let removed = {
                let mut table = txn.open_table(UTTERANCES).map_err(|e| self.err(e))?;
                let old = table.remove(id).map_err(|e| self.err(e))?;
                match old {
                    Some(v) => records::decode_utterance(id, v.value())
                        .map_err(|e| damaged(&self.path, &e))?,
                    None => return Err(StoreError::NoSuchUtterance(id)),
                }
            };
            txn.commit().map_err(|e| self.err(e))?;
            Ok(removed)
        })
    }

    /// Utterances matching `q`, newest first.
    ///
    /// # Errors
    /// When the file cannot be read or a matching record is damaged.
    pub fn search(&self, q: &Query) -> Result<Vec<Utterance>, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = txn.open_table(UTTERANCES).map_err(|e| self.err(e))?;
            let range = q.since.unwrap_or(0)..q.until.unwrap_or(u64::MAX);
            let needle = q.text.trim().to_lowercase();
            let mut found = Vec::new();
            for entry in table.range(range).map_err(|e| self.err(e))?.rev() {
                let (k, v) = entry.map_err(|e| self.err(e))?;
                let id = k.value();
                let head =
                    records::decode_head(id, v.value()).map_err(|e| damaged(&self.path, &e))?;
                if (q.favourites && !head.favourite)
                    || q.profile.as_deref().is_some_and(|p| p != head.profile)
                    || !contains_folded(head.text, &needle)
                {
                    continue;
                }
                found.push(
                    records::decode_utterance(id, v.value())
                        .map_err(|e| damaged(&self.path, &e))?,
                );
                if q.limit > 0 && found.len() == q.limit {
                    break;
                }
            }
            Ok(found)
        })
    }

    /// How many utterances are stored.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = txn.open_table(UTTERANCES).map_err(|e| self.err(e))?;
            table.len().map_err(|e| self.err(e))
        })
    }

    /// Daily statistics from `since_day` on, by day then profile.
    ///
    /// # Errors
    /// When the file cannot be read or a record is damaged.
    pub fn stats(&self, since_day: u32) -> Result<Vec<(u32, String, DayStats)>, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = txn.open_table(STATS).map_err(|e| self.err(e))?;
            let mut out = Vec::new();
            for entry in table.range((since_day, "")..).map_err(|e| self.err(e))? {
                let (k, v) = entry.map_err(|e| self.err(e))?;
                let (day, profile) = k.value();
                let s = records::decode_stats(day, profile, v.value())
                    .map_err(|e| damaged(&self.path, &e))?;
                out.push((day, profile.to_owned(), s));
            }
            Ok(out)
        })
    }

    /// Adds a line to the activity log (durable).
    ///
    /// # Errors
    /// On a write failure.
    pub fn log_activity(&self, kind: &str, message: &str) -> Result<(), StoreError> {
        self.guard(|| {
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            {
                let mut table = txn.open_table(ACTIVITY).map_err(|e| self.err(e))?;
                let mut at = records::micros(std::time::SystemTime::now());
                while table.get(at).map_err(|e| self.err(e))?.is_some() {
                    at += 1;
                }
                let a = Activity {
                    at,
                    kind: kind.to_owned(),
                    message: message.to_owned(),
                };
                table
                    .insert(at, records::encode_activity(&a).as_slice())
                    .map_err(|e| self.err(e))?;
            }
            txn.commit().map_err(|e| self.err(e))
        })
    }

    /// The newest `n` activity entries, newest first.
    ///
    /// # Errors
    /// When the file cannot be read or an entry is damaged.
    pub fn activity(&self, n: usize) -> Result<Vec<Activity>, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = txn.open_table(ACTIVITY).map_err(|e| self.err(e))?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(|e| self.err(e))?.rev().take(n) {
                let (k, v) = entry.map_err(|e| self.err(e))?;
                out.push(
                    records::decode_activity(k.value(), v.value())
                        .map_err(|e| damaged(&self.path, &e))?,
                );
            }
            Ok(out)
        })
    }

    /// Keeps a copy of the settings in force (TOML), for backups. The same
    /// copy again writes nothing (the app offers it at every start).
    ///
    /// # Errors
    /// On a write failure.
    pub fn save_settings(&self, toml: &str) -> Result<(), StoreError> {
        self.guard(|| {
            if self
                .settings()
                .is_ok_and(|now| now.as_deref() == Some(toml))
            {
                return Ok(());
            }
            let txn = self.db.begin_write().map_err(|e| self.err(e))?;
            {
                let mut table = txn.open_table(SETTINGS).map_err(|e| self.err(e))?;
                table
                    .insert("current", toml.as_bytes())
                    .map_err(|e| self.err(e))?;
            }
            txn.commit().map_err(|e| self.err(e))
        })
    }

    /// The settings copy, if any.
    ///
    /// # Errors
    /// When the file cannot be read or the copy is not UTF-8.
    pub fn settings(&self) -> Result<Option<String>, StoreError> {
        self.guard(|| {
            let txn = self.db.begin_read().map_err(|e| self.err(e))?;
            let table = txn.open_table(SETTINGS).map_err(|e| self.err(e))?;
            let Some(v) = table.get("current").map_err(|e| self.err(e))? else {
                return Ok(None);
            };
            String::from_utf8(v.value().to_vec())
                .map(Some)
                .map_err(|_| StoreError::Damaged {
                    path: self.path.clone(),
                    detail: "the saved settings are not UTF-8 text".into(),
                })
        })
    }

    /// The redb database, for backup and export in this module only.
    fn db(&self) -> &Database {
        &self.db
    }
}

/// Whether `hay` contains `needle_lower` (already lower case), ignoring case.
/// ASCII text, the common case, is compared without allocating.
fn contains_folded(hay: &str, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    if hay.is_ascii() && needle_lower.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
        return h.len() >= n.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    hay.to_lowercase().contains(needle_lower)
}

/// Test helpers shared by the store's and the core's tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Destination, Latencies, Utterance, records};

    /// A plain utterance for tests.
    pub(crate) fn utterance(id: u64, text: &str) -> Utterance {
        Utterance {
            id,
            profile: records::DEFAULT_PROFILE.into(),
            text: text.into(),
            favourite: false,
            duration_ms: 1_000,
            latency: Latencies {
                final_text_ms: Some(300),
                ..Latencies::default()
            },
            went: Destination::Typed,
        }
    }

    /// A disk of `limit` bytes, in memory: writes past it fail as a full disk does.
    #[derive(Debug)]
    pub(crate) struct SmallDisk {
        pub(crate) inner: std::sync::Arc<redb::backends::InMemoryBackend>,
        pub(crate) limit: std::sync::Arc<std::sync::atomic::AtomicU64>,
    }

    impl SmallDisk {
        fn check(&self, end: u64) -> std::io::Result<()> {
            if end > self.limit.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(std::io::ErrorKind::StorageFull.into());
            }
            Ok(())
        }
    }

    impl redb::StorageBackend for SmallDisk {
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.check(len)?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.check(offset + data.len() as u64)?;
            self.inner.write(offset, data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{SmallDisk, utterance};
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("sub/t.redb")).expect("open");
        (dir, store)
    }

    #[test]
    fn utterances_are_saved_counted_and_found() {
        let (_dir, s) = store();
        let day = 86_400_000_000;
        let a = s
            .add_utterance(&utterance(day + 5, "Turn on the LIGHTS"))
            .expect("a");
        let b = s
            .add_utterance(&utterance(day + 5, "Crème brûlée for dinner"))
            .expect("b");
        assert_eq!(
            (a, b),
            (day + 5, day + 6),
            "same microsecond: moved forward"
        );
        let mut kid = utterance(3 * day, "lights off please");
        kid.profile = "kids".into();
        s.add_utterance(&kid).expect("kid");
        assert_eq!(s.count().expect("count"), 3);

        let find = |q: Query| {
            s.search(&q)
                .expect("search")
                .into_iter()
                .map(|u| u.id)
                .collect::<Vec<_>>()
        };
        let lights = Query {
            text: "lights".into(),
            ..Query::default()
        };
        assert_eq!(find(lights.clone()), [3 * day, day + 5], "newest first");
        assert_eq!(
            find(Query {
                text: "BRÛLÉE".into(),
                ..Query::default()
            }),
            [day + 6]
        );
        assert_eq!(
            find(Query {
                profile: Some("kids".into()),
                ..Query::default()
            }),
            [3 * day]
        );
        assert_eq!(
            find(Query {
                since: Some(day),
                until: Some(2 * day),
                ..lights.clone()
            }),
            [day + 5]
        );
        assert_eq!(find(Query { limit: 1, ..lights }), [3 * day]);

        let stats = s.stats(0).expect("stats");
        assert_eq!(stats.len(), 2);
        assert_eq!(
            (stats[0].0, stats[0].1.as_str(), stats[0].2.count),
            (1, "default", 2)
        );
        assert_eq!(stats[0].2.mean_final_text_ms(), Some(300));
        assert_eq!((stats[1].0, stats[1].1.as_str()), (3, "kids"));
    }

    #[test]
    fn favourite_delete_and_undo() {
        let (_dir, s) = store();
        let id = s.add_utterance(&utterance(10, "hello there")).expect("add");
        let u = s.update(id, |u| u.favourite = true).expect("fav");
        assert!(u.favourite);
        let favs = s
            .search(&Query {
                favourites: true,
                ..Query::default()
            })
            .expect("favs");
        assert_eq!(favs, std::slice::from_ref(&u));
        let removed = s.delete(id).expect("delete");
        assert_eq!(removed, u);
        assert_eq!(s.utterance(id).expect("get"), None);
        assert!(matches!(s.delete(id), Err(StoreError::NoSuchUtterance(10))));
        assert!(s.put_utterance(&removed).expect("undo"));
        assert_eq!(s.utterance(id).expect("get"), Some(u));
        // Undo does not count the utterance twice.
        assert_eq!(s.stats(0).expect("stats")[0].2.count, 1);
    }

    #[test]
    fn a_second_open_of_the_same_file_is_told_it_is_in_use() {
        let (dir, _s) = store();
        let err = Store::open(&dir.path().join("sub/t.redb")).expect_err("in use");
        assert!(matches!(err, StoreError::InUse(_)), "{err}");
        assert!(
            err.to_string().contains("in use by another TonnyTray"),
            "{err}"
        );
    }

    #[test]
    fn a_file_from_a_newer_version_is_refused_untouched() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("new.redb");
        {
            let db = Database::create(&path).expect("create");
            tonnytray_migrations::set_version_for_tests(&db, 99).expect("set");
        }
        let err = Store::open(&path).expect_err("newer");
        assert!(matches!(err, StoreError::Newer { .. }), "{err}");
        assert!(err.to_string().contains("schema version 99"), "{err}");
        // Nothing was migrated: same version, no tables made.
        let db = Database::open(&path).expect("reopen");
        assert_eq!(tonnytray_migrations::version(&db).expect("version"), 99);
        let txn = db.begin_read().expect("read");
        assert!(txn.open_table(UTTERANCES).is_err(), "no table was created");
    }

    /// Files the `store_file` fuzz target found that made redb panic: on
    /// opening (a table name that is not UTF-8), on closing (a free-page
    /// bitmap too short), on reading (a value pointing past its page) and
    /// twice on closing, which aborted the process (`crash-abort-on-close`:
    /// this test ended with SIGABRT before the integrity check at open).
    #[test]
    fn files_that_make_the_database_library_panic_are_damaged_not_a_crash() {
        let dir = tempfile::tempdir().expect("dir");
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/store_file");
        for name in [
            "crash-table-name-not-utf8",
            "crash-bitmap-on-close",
            "crash-value-out-of-page",
            "crash-abort-on-close",
        ] {
            let path = dir.path().join(format!("{name}.redb"));
            std::fs::copy(corpus.join(name), &path).expect("copy");
            let outcome = Store::open(&path).and_then(|s| {
                let all = s.search(&Query::default())?;
                s.add_utterance(&utterance(7, "said after"))?;
                Ok(all.len())
            });
            match outcome {
                Err(e @ StoreError::Damaged { .. }) => {
                    assert!(e.to_string().contains("is damaged"), "{name}: {e}");
                }
                other => {
                    // Some damage only shows when closing: then it was read.
                    assert!(other.is_ok(), "{name}: {other:?}");
                }
            }
        }
    }

    /// With the app's panic hook, a panic of our own while the store is
    /// used is not "damage" (which would move a good history aside).
    #[test]
    fn a_panic_outside_redb_leaves_the_file_alone() {
        crate::telemetry::crash::log_panics();
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ours.redb");
        let ours: Result<(), StoreError> = unpanicked(&path, || panic!("a bug of ours"), || {});
        match ours {
            Err(e @ StoreError::Io { .. }) => {
                assert!(e.to_string().contains("left as it is"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/store_file/crash-table-name-not-utf8");
        let theirs = dir.path().join("theirs.redb");
        std::fs::copy(corpus, &theirs).expect("copy");
        let err = Store::open(&theirs).expect_err("damaged");
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    }

    #[test]
    fn damaged_and_truncated_files_are_named_as_such() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("d.redb");
        {
            let s = Store::open(&path).expect("open");
            for i in 0..50 {
                s.add_utterance(&utterance(i + 1, "some words to fill pages"))
                    .expect("add");
            }
        }
        let bytes = std::fs::read(&path).expect("read");
        // Garbage over the header.
        let mut garbage = bytes.clone();
        garbage[..512].fill(0xA5);
        std::fs::write(&path, &garbage).expect("write");
        let err = Store::open(&path).expect_err("garbage");
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("is damaged"), "{err}");
        // Cut short.
        std::fs::write(&path, &bytes[..bytes.len() / 3]).expect("write");
        match Store::open(&path) {
            Err(StoreError::Damaged { .. }) => {}
            // redb may repair a cut file from its last good commit; then
            // the contents must still read or say they are damaged.
            Ok(s) => {
                let r = s.search(&Query::default());
                assert!(
                    r.is_ok() || matches!(r, Err(StoreError::Damaged { .. })),
                    "{r:?}"
                );
            }
            Err(e) => panic!("a truncated file must read as damaged, got: {e}"),
        }
    }

    #[test]
    fn a_full_disk_is_named_and_what_was_saved_stays() {
        let limit = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(4 << 20));
        let memory = std::sync::Arc::new(redb::backends::InMemoryBackend::new());
        let disk = || SmallDisk {
            inner: std::sync::Arc::clone(&memory),
            limit: std::sync::Arc::clone(&limit),
        };
        let s = Store::with_backend(disk(), Path::new("/small/disk.redb")).expect("open");
        let words = "a long sentence about the shopping list ".repeat(20);
        let mut saved = Vec::new();
        let err = loop {
            match s.add_utterance(&utterance(saved.len() as u64 + 1, &words)) {
                Ok(id) => saved.push(id),
                Err(e) => break e,
            }
            assert!(saved.len() < 100_000, "the small disk never filled");
        };
        assert!(matches!(err, StoreError::DiskFull(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "the disk holding /small/disk.redb is full; free some space"
        );
        assert!(err.is_transient());
        // redb refuses writes after a failed one until the file is reopened
        // (the core then forgets the store and opens it again).
        let err = s
            .add_utterance(&utterance(1 << 40, "still full"))
            .expect_err("poisoned");
        assert!(matches!(err, StoreError::MustReopen(_)), "{err}");
        // Space comes back: reopened, the store takes the write, and every
        // utterance saved before is still there.
        limit.store(64 << 20, std::sync::atomic::Ordering::SeqCst);
        drop(s);
        let s = Store::with_backend(disk(), Path::new("/small/disk.redb")).expect("reopen");
        let after = s
            .add_utterance(&utterance(1 << 40, "after space was freed"))
            .expect("writes again once there is space");
        for id in saved.iter().chain([&after]) {
            assert!(s.utterance(*id).expect("read").is_some(), "{id} lost");
        }
    }

    #[test]
    fn folding_matches_ascii_and_unicode() {
        assert!(contains_folded("Hello World", "world"));
        assert!(!contains_folded("Hello", "world"));
        assert!(contains_folded("ÉCOLE", "école"));
        assert!(contains_folded("", ""));
        assert!(!contains_folded("ab", "abc"));
    }
}
