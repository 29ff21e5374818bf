//! JSON export and import of the history: a readable file a user can keep,
//! search with other tools or carry to another computer.
//!
//! Format (`"format": "tonnytray-export"`, `"version": 1`): the saved
//! settings (TOML text or null), every utterance (the store's fields; `id` is
//! µs since the epoch, `time` is informative) and the activity log. Import
//! adds utterances whose id is not in the store yet and counts them in the
//! statistics; an id already present with the same words is skipped, one
//! with other words is added at the next free id.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, Utterance, io_error, records};

/// The `format` field.
const FORMAT: &str = "tonnytray-export";
/// The `version` field this build writes and reads.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct ExportFile {
    format: String,
    version: u32,
    settings: Option<String>,
    utterances: Vec<Entry>,
    #[serde(default)]
    activity: Vec<records::Activity>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    utterance: Utterance,
    /// RFC 3339, for people reading the file; the id is what counts.
    #[serde(default, skip_deserializing)]
    time: String,
}

/// Counts of an export or import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Utterances written (export) or added (import).
    pub utterances: usize,
    /// Utterances already present (import).
    pub skipped: usize,
}

/// RFC 3339 time of an id.
#[must_use]
pub fn rfc3339(id: u64) -> String {
    i64::try_from(id)
        .ok()
        .and_then(|us| jiff::Timestamp::from_microsecond(us).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Writes the whole history to `out` (via a temporary file and a rename).
///
/// # Errors
/// When the store cannot be read or the file cannot be written.
pub fn export(store: &Store, out: &Path) -> Result<Counts, StoreError> {
    let mut utterances = store.search(&super::Query::default())?;
    utterances.reverse();
    let n = utterances.len();
    let settings = store.settings()?;
    let activity = store.activity(usize::MAX)?.into_iter().rev().collect();
    write(out, settings, utterances, activity)?;
    Ok(Counts {
        utterances: n,
        skipped: 0,
    })
}

/// Writes utterances the store could not take to `out`, in the export
/// format, for [`import`] on the next start.
///
/// # Errors
/// When the file cannot be written.
pub fn write_unsaved(out: &Path, utterances: Vec<Utterance>) -> Result<(), StoreError> {
    write(out, None, utterances, Vec::new())
}

/// Files of [`write_unsaved`] in `dir`, oldest first.
#[must_use]
pub fn unsaved_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(UNSAVED_PREFIX) && n.ends_with(".json"))
        })
        .collect();
    found.sort();
    found
}

/// Name prefix of [`write_unsaved`] files.
pub const UNSAVED_PREFIX: &str = "unsaved-";

fn write(
    out: &Path,
    settings: Option<String>,
    utterances: Vec<Utterance>,
    activity: Vec<records::Activity>,
) -> Result<(), StoreError> {
    let file = ExportFile {
        format: FORMAT.into(),
        version: VERSION,
        settings,
        utterances: utterances
            .into_iter()
            .map(|u| Entry {
                time: rfc3339(u.id),
                utterance: u,
            })
            .collect(),
        activity,
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Io {
        path: out.to_owned(),
        detail: e.to_string(),
    })?;
    let tmp = out.with_extension("json.part");
    std::fs::write(&tmp, json).map_err(|e| io_error(out, "cannot write", &e))?;
    std::fs::rename(&tmp, out).map_err(|e| io_error(out, "cannot name the export", &e))
}

/// Adds the utterances of an export file to the store.
///
/// # Errors
/// When the file is not an export (the message says what is wrong) or the
/// store cannot be written; nothing is added then.
pub fn import(store: &Store, from: &Path) -> Result<Counts, StoreError> {
    let bytes = std::fs::read(from).map_err(|e| io_error(from, "cannot read", &e))?;
    let file = read_export(&bytes, from)?;
    let mut counts = Counts::default();
    for u in file {
        match store.utterance(u.id)? {
            Some(existing) if existing.text == u.text => counts.skipped += 1,
            _ => {
                store.add_utterance(&u)?;
                counts.utterances += 1;
            }
        }
    }
    Ok(counts)
}

/// The utterances of an export file's bytes (`from` names it in errors).
pub(crate) fn read_export(bytes: &[u8], from: &Path) -> Result<Vec<Utterance>, StoreError> {
    let bad = |detail: String| StoreError::Damaged {
        path: from.to_owned(),
        detail,
    };
    let file: ExportFile =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a TonnyTray export: {e}")))?;
    if file.format != FORMAT {
        return Err(bad(format!(
            "\"format\" is {:?}, expected {FORMAT:?}",
            file.format
        )));
    }
    if file.version > VERSION {
        return Err(bad(format!(
            "export version {} is newer than this TonnyTray reads ({VERSION})",
            file.version
        )));
    }
    Ok(file.utterances.into_iter().map(|e| e.utterance).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::utterance;

    #[test]
    fn export_then_import_elsewhere_carries_every_utterance() {
        let dir = tempfile::tempdir().expect("dir");
        let a = Store::open(&dir.path().join("a.redb")).expect("a");
        a.add_utterance(&utterance(1_000, "first")).expect("add");
        let mut fav = utterance(2_000, "second, «quoted»");
        fav.favourite = true;
        a.add_utterance(&fav).expect("add");
        let out = dir.path().join("h.json");
        assert_eq!(export(&a, &out).expect("export").utterances, 2);
        let text = std::fs::read_to_string(&out).expect("read");
        assert!(text.contains("\"format\": \"tonnytray-export\""), "{text}");
        assert!(text.contains("1970-01-01T00:00:00.002Z"), "{text}");

        let b = Store::open(&dir.path().join("b.redb")).expect("b");
        b.add_utterance(&utterance(1_000, "first")).expect("same");
        b.add_utterance(&utterance(2_000, "other words"))
            .expect("clash");
        let c = import(&b, &out).expect("import");
        assert_eq!((c.utterances, c.skipped), (1, 1));
        let all = b.search(&crate::store::Query::default()).expect("all");
        assert_eq!(all.len(), 3);
        assert!(
            all.iter()
                .any(|u| u.text == "second, «quoted»" && u.favourite)
        );
    }

    #[test]
    fn a_file_that_is_not_an_export_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let s = Store::open(&dir.path().join("a.redb")).expect("a");
        let f = dir.path().join("x.json");
        std::fs::write(
            &f,
            br#"{"format":"other","version":1,"settings":null,"utterances":[]}"#,
        )
        .expect("write");
        let err = import(&s, &f).expect_err("format");
        assert!(err.to_string().contains("\"format\" is \"other\""), "{err}");
        std::fs::write(&f, b"{ nope").expect("write");
        let err = import(&s, &f).expect_err("json");
        assert!(err.to_string().contains("not a TonnyTray export"), "{err}");
    }
}
