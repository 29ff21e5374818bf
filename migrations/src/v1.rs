//! Schema 1: the first tables.
//!
//! | table        | key                      | value                                  |
//! |--------------|--------------------------|----------------------------------------|
//! | `settings`   | name (`"current"`)       | UTF-8 TOML of the settings in force    |
//! | `profiles`   | profile name             | encoded profile                        |
//! | `utterances` | id: µs since the epoch   | encoded utterance                      |
//! | `activity`   | µs since the epoch       | encoded activity entry                 |
//! | `outbox`     | job id                   | encoded pending webhook / TTS job      |
//! | `stats`      | (day number, profile)    | encoded daily statistics               |
//!
//! Utterance ids are their finishing time in microseconds (made unique by
//! the writer), so a date range is a key range.

use redb::{TableDefinition, WriteTransaction};

/// What this step does.
pub const DESCRIPTION: &str =
    "create meta, settings, profiles, utterances, activity, outbox and stats";

/// Settings snapshots.
pub const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");
/// Profiles by name.
pub const PROFILES: TableDefinition<&str, &[u8]> = TableDefinition::new("profiles");
/// Utterances by id.
pub const UTTERANCES: TableDefinition<u64, &[u8]> = TableDefinition::new("utterances");
/// The activity log.
pub const ACTIVITY: TableDefinition<u64, &[u8]> = TableDefinition::new("activity");
/// Pending webhook and speech jobs.
pub const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Daily statistics by (days since the epoch, profile).
pub const STATS: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("stats");

/// Creates the tables.
///
/// # Errors
/// When the file cannot be written.
pub fn apply(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(crate::META)?;
    txn.open_table(SETTINGS)?;
    txn.open_table(PROFILES)?;
    txn.open_table(UTTERANCES)?;
    txn.open_table(ACTIVITY)?;
    txn.open_table(OUTBOX)?;
    txn.open_table(STATS)?;
    Ok(())
}
