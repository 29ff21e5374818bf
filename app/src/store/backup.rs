//! Backups: a consistent copy of the store (one read transaction, so it is
//! safe while the app writes), written as a fresh redb file and compressed
//! with gzip into `tonnytray-YYYYMMDDTHHMMSSZ.redb.gz`. Restore checks the
//! backup (opens it, runs the migrations on a copy), takes a safety backup of
//! the current file, and swaps the files with a rename. Retention keeps the
//! newest backup of each of the last N days, weeks and months.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable};
use tonnytray_migrations::schema::{ACTIVITY, OUTBOX, PROFILES, SETTINGS, STATS, UTTERANCES};

use super::{Store, StoreError, classify, io_error as io};

/// Backup file names start with this.
const PREFIX: &str = "tonnytray-";
/// And end with this.
const SUFFIX: &str = ".redb.gz";

pub use crate::config::settings::Retention;

/// One backup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    /// Where it is.
    pub path: PathBuf,
    /// When it was made (from its name), UTC.
    pub made: jiff::Timestamp,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Copies every table of `from` into `to` (a fresh file at the current schema).
fn copy_tables(from: &Database, to: &Database, to_path: &Path) -> Result<(), StoreError> {
    let err = |e: redb::Error| classify(to_path, e);
    tonnytray_migrations::migrate(to).map_err(|e| StoreError::Io {
        path: to_path.to_owned(),
        detail: e.to_string(),
    })?;
    let read = from.begin_read().map_err(|e| err(e.into()))?;
    let write = to.begin_write().map_err(|e| err(e.into()))?;
    macro_rules! copy {
        ($def:expr) => {{
            let src = read.open_table($def).map_err(|e| err(e.into()))?;
            let mut dst = write.open_table($def).map_err(|e| err(e.into()))?;
            for entry in src.iter().map_err(|e| err(e.into()))? {
                let (k, v) = entry.map_err(|e| err(e.into()))?;
                dst.insert(k.value(), v.value())
                    .map_err(|e| err(e.into()))?;
            }
        }};
    }
    copy!(SETTINGS);
    copy!(PROFILES);
    copy!(UTTERANCES);
    copy!(ACTIVITY);
    copy!(OUTBOX);
    copy!(STATS);
    write.commit().map_err(|e| err(e.into()))?;
    Ok(())
}

/// Makes a backup of `store` in `dir` and returns its path.
///
/// # Errors
/// When the folder or file cannot be written (a full disk is named); no
/// partial backup is left behind.
pub fn backup(store: &Store, dir: &Path) -> Result<PathBuf, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, "cannot create the backup folder", &e))?;
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut target = dir.join(format!("{PREFIX}{stamp}{SUFFIX}"));
    let mut n = 2;
    while target.exists() {
        target = dir.join(format!("{PREFIX}{stamp}-{n}{SUFFIX}"));
        n += 1;
    }
    let raw = dir.join(format!(".{PREFIX}{stamp}.{}.redb.tmp", std::process::id()));
    let part = target.with_extension("gz.part");
    let result = (|| {
        {
            let copy = Database::create(&raw).map_err(|e| classify(&raw, e))?;
            store.guard(|| copy_tables(store.db(), &copy, &raw))?;
        }
        gzip(&raw, &part)?;
        std::fs::rename(&part, &target).map_err(|e| io(&target, "cannot name the backup", &e))?;
        Ok(target.clone())
    })();
    let _ = std::fs::remove_file(&raw);
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

fn gzip(from: &Path, to: &Path) -> Result<(), StoreError> {
    let mut input = BufReader::new(File::open(from).map_err(|e| io(from, "cannot read", &e))?);
    let out = File::create(to).map_err(|e| io(to, "cannot create", &e))?;
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::default());
    std::io::copy(&mut input, &mut gz).map_err(|e| io(to, "cannot write", &e))?;
    let out = gz
        .finish()
        .and_then(|w| w.into_inner().map_err(std::io::IntoInnerError::into_error))
        .map_err(|e| io(to, "cannot write", &e))?;
    out.sync_all()
        .map_err(|e| io(to, "cannot flush to disk", &e))
}

fn gunzip(from: &Path, to: &Path) -> Result<(), StoreError> {
    let input = File::open(from).map_err(|e| io(from, "cannot open the backup", &e))?;
    let mut gz = flate2::read::GzDecoder::new(BufReader::new(input));
    let mut out = BufWriter::new(File::create(to).map_err(|e| io(to, "cannot create", &e))?);
    std::io::copy(&mut gz, &mut out).map_err(|e| StoreError::Damaged {
        path: from.to_owned(),
        detail: format!("not a readable gzip backup: {e}"),
    })?;
    let out = out
        .into_inner()
        .map_err(|e| io(to, "cannot write", &e.into_error()))?;
    out.sync_all()
        .map_err(|e| io(to, "cannot flush to disk", &e))
}

/// What to tell a user whose store is damaged: the newest backup in `dir`
/// and how to get it back, or that there is none.
#[must_use]
pub fn restore_offer(dir: &Path) -> String {
    match list(dir).ok().and_then(|l| l.into_iter().next()) {
        Some(b) => format!(
            "the newest backup is {} (made {}): quit TonnyTray and run `tonnytray restore {}`",
            b.path.display(),
            b.made,
            b.path.display()
        ),
        None => "there is no backup to restore".to_owned(),
    }
}

/// Backups in `dir`, newest first. Files that are not backups are ignored.
///
/// # Errors
/// When the folder cannot be read (a missing folder has no backups).
pub fn list(dir: &Path) -> Result<Vec<BackupFile>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, "cannot list the backup folder", &e)),
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(made) = name.to_str().and_then(parse_name) else {
            continue;
        };
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
        found.push(BackupFile {
            path: entry.path(),
            made,
            bytes,
        });
    }
    found.sort_by(|a, b| b.made.cmp(&a.made).then_with(|| b.path.cmp(&a.path)));
    Ok(found)
}

/// The time in a backup's file name.
fn parse_name(name: &str) -> Option<jiff::Timestamp> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let stamp = stamp.split('-').next()?;
    jiff::fmt::strtime::parse("%Y%m%dT%H%M%SZ", stamp)
        .ok()?
        .to_datetime()
        .ok()?
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Names the day, week or month a backup falls in.
type Bucket = fn(&jiff::Timestamp) -> (i16, i16);

fn utc(t: &jiff::Timestamp) -> jiff::ZonedDateTime {
    t.to_zoned_datetime(jiff::tz::TimeZone::UTC)
}

/// Which of `made` (newest first) the retention keeps, by index.
#[must_use]
pub fn keep(made: &[jiff::Timestamp], r: Retention) -> BTreeSet<usize> {
    let mut kept = BTreeSet::new();
    if !made.is_empty() {
        kept.insert(0);
    }
    let buckets: [(usize, Bucket); 3] = [
        (r.daily, |t| {
            let z = utc(t);
            (z.year(), z.day_of_year())
        }),
        (r.weekly, |t| {
            let w = utc(t).date().iso_week_date();
            (w.year(), i16::from(w.week()))
        }),
        (r.monthly, |t| {
            let z = utc(t);
            (z.year(), i16::from(z.month()))
        }),
    ];
    for (limit, bucket) in buckets {
        let mut seen = Vec::new();
        for (i, t) in made.iter().enumerate() {
            let b = bucket(t);
            if seen.contains(&b) {
                continue;
            }
            if seen.len() == limit {
                break;
            }
            seen.push(b);
            kept.insert(i);
        }
    }
    kept
}

/// Deletes the backups in `dir` that the retention does not keep; returns them.
///
/// # Errors
/// When the folder cannot be read or a file cannot be deleted.
pub fn prune(dir: &Path, r: Retention) -> Result<Vec<PathBuf>, StoreError> {
    let all = list(dir)?;
    let made: Vec<_> = all.iter().map(|b| b.made).collect();
    let kept = keep(&made, r);
    let mut removed = Vec::new();
    for (i, b) in all.into_iter().enumerate() {
        if !kept.contains(&i) {
            std::fs::remove_file(&b.path).map_err(|e| io(&b.path, "cannot delete", &e))?;
            removed.push(b.path);
        }
    }
    Ok(removed)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    /// The backup of the file that was replaced (`None`: there was none).
    pub safety: Option<PathBuf>,
    /// Utterances in the restored file.
    pub utterances: u64,
}

/// Replaces the store at `store_path` with the backup `from`. The store must
/// not be open (quit the app first). A safety backup of the current file goes
/// to `backup_dir` first; a damaged current file is moved aside instead.
///
/// # Errors
/// [`StoreError::InUse`] while the app runs; [`StoreError::Damaged`] for a
/// bad backup (the current file is then untouched); I/O failures.
pub fn restore(store_path: &Path, from: &Path, backup_dir: &Path) -> Result<Restored, StoreError> {
    let dir = store_path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, "cannot create the folder", &e))?;
    let incoming = dir.join(format!(".restore-{}.redb.tmp", std::process::id()));
    let result = (|| {
        gunzip(from, &incoming)?;
        let utterances = (|| {
            let checked = Store::open(&incoming)?;
            // Every record must read, not only the file open: a backup
            // whose records are damaged would otherwise replace a good
            // history and fail later, in the app.
            let all = checked.search(&super::Query::default())?;
            checked.stats(0)?;
            checked.activity(usize::MAX)?;
            checked.outbox()?;
            checked.settings()?;
            Ok(all.len() as u64)
        })()
        .map_err(|e| match e {
            StoreError::Damaged { detail, .. } => StoreError::Damaged {
                path: from.to_owned(),
                detail,
            },
            other => other,
        })?;
        let safety = if store_path.exists() {
            match Store::open(store_path) {
                Ok(current) => Some(backup(&current, backup_dir)?),
                Err(StoreError::Damaged { .. }) => Some(set_aside(store_path)?),
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        std::fs::rename(&incoming, store_path)
            .map_err(|e| io(store_path, "cannot put the restored file in place", &e))?;
        if let Ok(restored) = Store::open(store_path) {
            let what = format!("restored from {}", from.display());
            let _ = restored.log_activity("restore", &what);
        }
        Ok(Restored { safety, utterances })
    })();
    let _ = std::fs::remove_file(&incoming);
    result
}

/// Moves a damaged store file aside (`NAME.damaged-YYYYMMDDTHHMMSSZ`) so a
/// fresh one can start and the old one can still be examined or recovered.
///
/// # Errors
/// When the file cannot be renamed.
pub fn set_aside(path: &Path) -> Result<PathBuf, StoreError> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{stamp}"));
    let aside = path.with_file_name(name);
    std::fs::rename(path, &aside)
        .map_err(|e| io(path, "cannot move the damaged file aside", &e))?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Query;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn names_parse_back_to_their_time() {
        assert_eq!(
            parse_name("tonnytray-20261129T231500Z.redb.gz"),
            Some(ts("2026-11-29T23:15:00Z"))
        );
        assert_eq!(
            parse_name("tonnytray-20261129T231500Z-2.redb.gz"),
            Some(ts("2026-11-29T23:15:00Z"))
        );
        assert_eq!(parse_name("tonnytray-2026.redb.gz"), None);
        assert_eq!(parse_name("notes.txt"), None);
    }

    #[test]
    fn retention_keeps_the_newest_per_day_week_and_month() {
        // Newest first: two today, one each of the 6 days before, then one a
        // month for a year.
        let mut made = vec![ts("2026-11-29T12:00:00Z"), ts("2026-11-29T08:00:00Z")];
        for d in (22..=28).rev() {
            made.push(ts(&format!("2026-11-{d}T08:00:00Z")));
        }
        for m in (1..=10).rev() {
            made.push(ts(&format!("2026-{m:02}-01T08:00:00Z")));
        }
        let r = Retention {
            daily: 3,
            weekly: 2,
            monthly: 3,
        };
        let kept = keep(&made, r);
        let kept_times: Vec<_> = kept.iter().map(|&i| made[i].to_string()).collect();
        assert_eq!(
            kept_times,
            [
                "2026-11-29T12:00:00Z", // today (newest of the day, week, month)
                "2026-11-28T08:00:00Z", // day 2
                "2026-11-27T08:00:00Z", // day 3
                "2026-11-22T08:00:00Z", // newest of the previous ISO week
                "2026-10-01T08:00:00Z", // month 2
                "2026-09-01T08:00:00Z", // month 3
            ]
        );
        assert!(keep(&[], r).is_empty());
        let none = Retention {
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(keep(&made, none), BTreeSet::from([0]), "newest always kept");
    }

    #[test]
    fn backup_change_restore_gives_back_the_exact_data() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.redb");
        let backups = dir.path().join("backups");
        let original: Vec<_>;
        let file;
        {
            let s = Store::open(&path).expect("open");
            for i in 1..=20 {
                s.add_utterance(&crate::store::testing::utterance(
                    i * 1000,
                    &format!("words {i}"),
                ))
                .expect("add");
            }
            s.save_settings("[server]\nurl = \"ws://x\"\n")
                .expect("settings");
            original = s.search(&Query::default()).expect("all");
            file = backup(&s, &backups).expect("backup");
            // Change: delete, favourite, add.
            s.delete(2000).expect("delete");
            s.update(3000, |u| u.favourite = true).expect("fav");
            s.add_utterance(&crate::store::testing::utterance(99_000, "new"))
                .expect("add");
        }
        assert_eq!(list(&backups).expect("list").len(), 1);
        let done = restore(&path, &file, &backups).expect("restore");
        assert_eq!(done.utterances, 20);
        let safety = done.safety.expect("safety backup");
        assert_eq!(list(&backups).expect("list").len(), 2);
        let s = Store::open(&path).expect("open");
        assert_eq!(s.search(&Query::default()).expect("all"), original);
        assert_eq!(
            s.settings().expect("settings").as_deref(),
            Some("[server]\nurl = \"ws://x\"\n")
        );
        assert_eq!(s.stats(0).expect("stats")[0].2.count, 20);
        assert_eq!(s.activity(1).expect("activity")[0].kind, "restore");
        drop(s);
        // The safety backup holds the changed data.
        restore(&path, &safety, &backups).expect("restore safety");
        let s = Store::open(&path).expect("open");
        assert_eq!(s.count().expect("count"), 20);
        assert!(s.utterance(2000).expect("get").is_none());
        assert!(s.utterance(99_000).expect("get").is_some());
    }

    #[test]
    fn a_bad_backup_leaves_the_current_file_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.redb");
        {
            let s = Store::open(&path).expect("open");
            s.add_utterance(&crate::store::testing::utterance(5, "keep me"))
                .expect("add");
        }
        let bogus = dir.path().join("tonnytray-20260101T000000Z.redb.gz");
        std::fs::write(&bogus, b"not gzip at all").expect("write");
        let err = restore(&path, &bogus, &dir.path().join("b")).expect_err("bad");
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert!(
            err.to_string().contains("not a readable gzip backup"),
            "{err}"
        );
        let s = Store::open(&path).expect("open");
        assert_eq!(s.count().expect("count"), 1);
        assert!(!dir.path().join("b").exists(), "no safety backup needed");
    }

    #[test]
    fn a_backup_whose_records_are_damaged_is_refused_and_the_history_stays() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.redb");
        let backups = dir.path().join("b");
        {
            let s = Store::open(&path).expect("open");
            s.add_utterance(&crate::store::testing::utterance(1_000, "kept words"))
                .expect("add");
        }
        // A store that opens, holding a record that does not decode.
        let bad = dir.path().join("bad.redb");
        {
            let s = Store::open(&bad).expect("open");
            let txn = s.db().begin_write().expect("write");
            {
                let mut t = txn
                    .open_table(tonnytray_migrations::schema::UTTERANCES)
                    .expect("table");
                t.insert(5_000, b"\xff\x00 not a record".as_slice())
                    .expect("insert");
            }
            txn.commit().expect("commit");
        }
        let file = dir.path().join("tonnytray-20260101T000000Z.redb.gz");
        gzip(&bad, &file).expect("gzip");
        let err = restore(&path, &file, &backups).expect_err("damaged records");
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert!(
            err.to_string().contains("tonnytray-20260101T000000Z"),
            "{err}"
        );
        let s = Store::open(&path).expect("the history still opens");
        let kept = s.utterance(1_000).expect("read").expect("still there");
        assert_eq!(kept.text, "kept words");
        assert_eq!(s.count().expect("count"), 1);
    }

    #[test]
    fn restore_is_refused_while_the_store_is_open() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.redb");
        let s = Store::open(&path).expect("open");
        let file = backup(&s, &dir.path().join("b")).expect("backup");
        let err = restore(&path, &file, &dir.path().join("b")).expect_err("in use");
        assert!(matches!(err, StoreError::InUse(_)), "{err}");
    }

    #[test]
    fn prune_deletes_only_what_retention_drops() {
        let dir = tempfile::tempdir().expect("dir");
        for d in 1..=5 {
            std::fs::write(
                dir.path()
                    .join(format!("tonnytray-202611{d:02}T080000Z.redb.gz")),
                b"x",
            )
            .expect("write");
        }
        std::fs::write(dir.path().join("README"), b"not a backup").expect("write");
        let removed = prune(
            dir.path(),
            Retention {
                daily: 2,
                weekly: 0,
                monthly: 0,
            },
        )
        .expect("prune");
        assert_eq!(removed.len(), 3);
        let left: Vec<_> = list(dir.path())
            .expect("list")
            .into_iter()
            .map(|b| b.made.to_string())
            .collect();
        assert_eq!(left, ["2026-11-05T08:00:00Z", "2026-11-04T08:00:00Z"]);
        assert!(dir.path().join("README").exists());
    }
}
