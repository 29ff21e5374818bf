//! Start-up recovery, before any thread runs: the settings file (every
//! problem becomes a notice, a damaged file is kept aside) and the history
//! store (a damaged file is set aside and the newest backup offered, a
//! newer one left alone, utterances an earlier run kept aside are added).

use std::path::{Path, PathBuf};

use crate::config::settings::{self, Settings};
use crate::messages::{Notice, Notices};
use crate::store;

/// Adds the utterances an earlier run could not save (written beside the
/// store at quit), then deletes their files.
fn import_unsaved(s: &store::Store, notices: &mut Notices) {
    let Some(dir) = s.path().parent() else { return };
    for file in store::export::unsaved_files(dir) {
        match store::export::import(s, &file) {
            Ok(c) => {
                let _ = std::fs::remove_file(&file);
                notices.push(Notice::info(format!(
                    "saved {} utterance(s) that the last run kept aside in {}",
                    c.utterances,
                    file.display()
                )));
            }
            Err(e) => notices.push(format!(
                "utterances kept aside in {} could not be added yet: {e}",
                file.display()
            )),
        }
    }
}

/// Opens the history store. A damaged file is moved aside (kept for
/// recovery), a fresh one started, and the newest backup offered; a file
/// from a newer version is left alone and nothing is saved this run. Every
/// problem becomes a notice.
pub fn open_store(
    db: Option<PathBuf>,
    settings: &Settings,
    notices: &mut Notices,
) -> store::Shared {
    let Some(path) = db.or_else(store::Store::default_path) else {
        notices.push("no data folder is known (HOME unset?); the history will not be saved");
        return store::Shared::new(None, None);
    };
    let opened = match store::Store::open(&path) {
        Err(e @ store::StoreError::Damaged { .. }) => {
            let offer = store::backup::restore_offer(&settings.backup.folder(&path));
            match store::backup::set_aside(&path) {
                Ok(aside) => {
                    notices.push(format!(
                        "{e}. It was moved to {} and a new history was started; {offer}",
                        aside.display()
                    ));
                    store::Store::open(&path)
                }
                Err(move_err) => {
                    notices.push(format!("{e}; {move_err}; {offer}"));
                    Err(e)
                }
            }
        }
        other => other,
    };
    match opened {
        Ok(s) => {
            if let Ok(toml) = toml::to_string(settings) {
                let _ = s.save_settings(&toml);
            }
            import_unsaved(&s, notices);
            let _ = s.log_activity("start", "TonnyTray started");
            store::Shared::new(Some(path), Some(s))
        }
        Err(e @ store::StoreError::Newer { .. }) => {
            notices.push(format!("{e}; this run does not save the history"));
            store::Shared::new(None, None)
        }
        Err(store::StoreError::Damaged { .. }) => store::Shared::new(None, None),
        Err(e) => {
            notices.push(format!(
                "the history cannot be opened yet ({e}); what you say is kept in memory and saved when it can be"
            ));
            store::Shared::new(Some(path), None)
        }
    }
}

/// Loads the settings, turning every problem into a notice for the user.
pub fn load_settings(path: Option<&Path>) -> (Settings, Notices) {
    let Some(path) = path else {
        let mut notices = Notices::default();
        notices.push("no config directory is known (HOME unset?); settings will not be saved");
        return (Settings::default(), notices);
    };
    let loaded = settings::load(path);
    let mut notices = Notices::default();
    for p in &loaded.problems {
        notices.push(format!("settings: {p}"));
    }
    if let Some(copy) = &loaded.kept_copy {
        notices.push(format!(
            "the settings file had problems; the original is kept at {}",
            copy.display()
        ));
    }
    for n in notices.iter() {
        tracing::warn!("{n}");
    }
    (loaded.settings, notices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_store_is_set_aside_and_the_newest_backup_offered() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tonnytray.redb");
        let settings = Settings::default();
        let backup = {
            let s = store::Store::open(&path).expect("open");
            s.add_utterance(&store::testing::utterance(42, "keep me"))
                .expect("add");
            store::backup::backup(&s, &settings.backup.folder(&path)).expect("backup")
        };
        std::fs::write(&path, vec![0x5a; 8192]).expect("damage");
        let mut notices = Notices::default();
        let shared = open_store(Some(path.clone()), &settings, &mut notices);
        let notice = notices
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(notice.contains("is damaged"), "{notice}");
        assert!(notice.contains(&backup.display().to_string()), "{notice}");
        let aside = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().contains(".damaged-"))
            .expect("the damaged file was kept aside");
        assert_eq!(std::fs::read(aside.path()).expect("read"), vec![0x5a; 8192]);
        // A fresh store took its place and works.
        let fresh = shared.get().expect("a fresh store");
        assert_eq!(fresh.count().expect("count"), 0);
        drop(fresh);
        drop(shared);
        store::backup::restore(&path, &backup, &settings.backup.folder(&path)).expect("restore");
        let back = store::Store::open(&path).expect("open");
        assert_eq!(back.count().expect("count"), 1);
    }

    #[test]
    fn utterances_kept_aside_at_quit_are_added_at_the_next_start() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("tonnytray.redb");
        let kept = store::testing::utterance(7, "said while the disk was full");
        let file = dir.path().join("unsaved-1.json");
        store::export::write_unsaved(&file, vec![kept.clone()]).expect("write");
        let mut notices = Notices::default();
        let shared = open_store(Some(path), &Settings::default(), &mut notices);
        assert!(
            notices.iter().any(|n| n.contains("saved 1 utterance(s)")),
            "{notices:?}"
        );
        assert!(!file.exists());
        let s = shared.get().expect("store");
        assert_eq!(s.utterance(7).expect("read"), Some(kept));
    }
}
