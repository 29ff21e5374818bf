//! Numbered schema migrations for TonnyTray's redb store.
//!
//! The schema version lives in the `meta` table under `schema_version`; a
//! file without that table is an empty file (version 0). [`migrate`] runs
//! every step from the file's version to [`CURRENT`] in ONE write
//! transaction, so a failure or a crash half-way leaves the file exactly as it
//! was. A file from a newer TonnyTray is refused and left untouched.
//!
//! Each step is a module named after its version and owns the table
//! definitions as they were at that version: a later step may rename or
//! re-encode a table, and the earlier step must still describe what it made.
//! [`schema`] re-exports the current definitions for the app's store.
//!
//! Value encodings (the bytes inside the tables) are documented and versioned
//! by the app's store (`app/src/store/records.rs`): each value starts with
//! its encoding's version byte, so a step that changes an encoding can tell
//! old values from new ones.

use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};

pub mod v1;

/// The current schema's tables.
pub mod schema {
    pub use crate::v1::{ACTIVITY, OUTBOX, PROFILES, SETTINGS, STATS, UTTERANCES};
    pub use crate::{META, SCHEMA_VERSION};
}

/// Small facts about the file, such as its schema version.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The `meta` key holding the schema version.
pub const SCHEMA_VERSION: &str = "schema_version";

/// One numbered step.
pub struct Step {
    /// The schema version the file has after this step.
    pub version: u64,
    /// What the step does, for `tonnytray migrate --status`.
    pub description: &'static str,
    /// The change, inside the migration's write transaction.
    pub apply: fn(&WriteTransaction) -> Result<(), redb::Error>,
}

/// Every step, in order: `STEPS[i].version == i + 1`.
pub const STEPS: &[Step] = &[Step {
    version: 1,
    description: v1::DESCRIPTION,
    apply: v1::apply,
}];

/// The schema version this build writes.
pub const CURRENT: u64 = STEPS.len() as u64;

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The file was written by a newer TonnyTray.
    #[error(
        "the store has schema version {found}, newer than this TonnyTray knows ({supported}); it was left untouched: update TonnyTray, or restore a backup made by this version"
    )]
    Newer {
        /// The file's version.
        found: u64,
        /// [`CURRENT`].
        supported: u64,
    },
    /// A step failed; the file is unchanged (the transaction was not committed).
    #[error("schema migration {version} ({description}) failed, the store is unchanged: {source}")]
    Step {
        /// The step's version.
        version: u64,
        /// What it does.
        description: &'static str,
        /// Why it failed.
        source: redb::Error,
    },
    /// The file could not be read or written.
    #[error("{0}")]
    Store(#[from] redb::Error),
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    /// The file's version before.
    pub from: u64,
    /// Its version now ([`CURRENT`]).
    pub to: u64,
}

/// The file's schema version (0 for an empty file).
///
/// # Errors
/// When the file cannot be read.
pub fn version(db: &Database) -> Result<u64, redb::Error> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    Ok(table.get(SCHEMA_VERSION)?.map_or(0, |v| v.value()))
}

/// The steps a file at `version` still needs.
#[must_use]
pub fn pending(version: u64) -> &'static [Step] {
    let done = usize::try_from(version).unwrap_or(usize::MAX);
    STEPS.get(done..).unwrap_or(&[])
}

/// Brings the file to [`CURRENT`] in one write transaction.
///
/// # Errors
/// [`MigrateError::Newer`] for a file from a newer TonnyTray (left
/// untouched); [`MigrateError::Step`] when a step fails (nothing is
/// committed); [`MigrateError::Store`] when the file cannot be read or written.
pub fn migrate(db: &Database) -> Result<Migrated, MigrateError> {
    let from = version(db)?;
    if from > CURRENT {
        return Err(MigrateError::Newer {
            found: from,
            supported: CURRENT,
        });
    }
    if from == CURRENT {
        return Ok(Migrated { from, to: from });
    }
    let txn = db.begin_write().map_err(redb::Error::from)?;
    for step in pending(from) {
        (step.apply)(&txn).map_err(|source| MigrateError::Step {
            version: step.version,
            description: step.description,
            source,
        })?;
    }
    write_version(&txn, CURRENT)?;
    txn.commit().map_err(redb::Error::from)?;
    Ok(Migrated { from, to: CURRENT })
}

/// Writes `version` as the file's schema version, for tests that need a file
/// "from the future" or from an earlier version.
///
/// # Errors
/// When the file cannot be written.
pub fn set_version_for_tests(db: &Database, version: u64) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    write_version(&txn, version)?;
    txn.commit()?;
    Ok(())
}

fn write_version(txn: &WriteTransaction, version: u64) -> Result<(), redb::Error> {
    let mut meta = txn.open_table(META)?;
    meta.insert(SCHEMA_VERSION, version)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::create(dir.path().join("t.redb")).expect("create");
        (dir, db)
    }

    #[test]
    fn steps_are_numbered_from_one_without_gaps() {
        for (i, step) in STEPS.iter().enumerate() {
            assert_eq!(step.version, i as u64 + 1, "{}", step.description);
        }
    }

    #[test]
    fn an_empty_file_is_brought_to_the_current_schema() {
        let (_dir, db) = db();
        assert_eq!(version(&db).expect("version"), 0);
        assert_eq!(pending(0).len(), STEPS.len());
        let done = migrate(&db).expect("migrate");
        assert_eq!(
            done,
            Migrated {
                from: 0,
                to: CURRENT
            }
        );
        assert_eq!(version(&db).expect("version"), CURRENT);
        assert!(pending(CURRENT).is_empty());
        // Every current table exists.
        let txn = db.begin_read().expect("read");
        txn.open_table(schema::UTTERANCES).expect("utterances");
        txn.open_table(schema::STATS).expect("stats");
        txn.open_table(schema::OUTBOX).expect("outbox");
        // Running again changes nothing.
        assert_eq!(
            migrate(&db).expect("again"),
            Migrated {
                from: CURRENT,
                to: CURRENT
            }
        );
    }

    #[test]
    fn a_newer_file_is_refused_and_left_untouched() {
        let (_dir, db) = db();
        set_version_for_tests(&db, CURRENT + 3).expect("set");
        let err = migrate(&db).expect_err("newer");
        assert!(matches!(err, MigrateError::Newer { found, .. } if found == CURRENT + 3));
        assert!(
            err.to_string().contains("newer than this TonnyTray"),
            "{err}"
        );
        assert_eq!(version(&db).expect("version"), CURRENT + 3);
        let txn = db.begin_read().expect("read");
        assert!(matches!(
            txn.open_table(schema::UTTERANCES),
            Err(redb::TableError::TableDoesNotExist(_))
        ));
    }
}
