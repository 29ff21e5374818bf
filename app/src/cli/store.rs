//! `tonnytray history | export | import | backup | restore | migrate`: the
//! store from a terminal.
//!
//! redb lets one process open the file. When the desktop app runs it holds
//! the store, so these commands are sent to it over the single-instance
//! socket (one JSON request line, one JSON reply line) and it runs them on
//! its open store: a backup made this way is consistent while it writes.
//! `restore` and `migrate` replace or change the file, so they need the app
//! to be quit first, and say so.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::exit;
use crate::config::settings::{self, Settings};
use crate::store::{Query, Store, StoreError, backup, export, records};

/// `tonnytray history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// `search TEXT`: only utterances containing TEXT (case-insensitive).
    #[command(subcommand)]
    pub search: Option<HistorySearch>,
    /// Only utterances from this day on (YYYY-MM-DD, local time, or RFC 3339).
    #[arg(long, value_name = "DATE", global = true)]
    pub since: Option<String>,
    /// Only utterances up to and including this day.
    #[arg(long, value_name = "DATE", global = true)]
    pub until: Option<String>,
    /// Only this profile's utterances.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Only favourites.
    #[arg(long, global = true)]
    pub favourites: bool,
    /// At most this many, newest first (0: all).
    #[arg(long, default_value_t = 50, global = true)]
    pub limit: usize,
    /// Print JSON (one array) instead of lines.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `history search TEXT`.
#[derive(Debug, Clone, Subcommand)]
pub enum HistorySearch {
    /// Find utterances containing TEXT.
    Search {
        /// The words to find.
        text: String,
    },
}

/// `tonnytray backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Backup folder (default: the `backup.dir` setting, else `backups`
    /// beside the store).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// List the backups instead of making one.
    #[arg(long, conflicts_with = "prune")]
    pub list: bool,
    /// Delete the backups the retention settings (backup.keep_*) do not keep.
    #[arg(long)]
    pub prune: bool,
}

/// A store command, as sent to the running app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Request {
    /// List or search.
    History {
        /// What to find.
        text: String,
        /// From (µs).
        since: Option<u64>,
        /// Before (µs).
        until: Option<u64>,
        /// Profile.
        profile: Option<String>,
        /// Favourites only.
        favourites: bool,
        /// Limit.
        limit: usize,
        /// JSON output.
        json: bool,
    },
    /// Export to a file.
    Export {
        /// The file.
        out: PathBuf,
    },
    /// Import a file.
    Import {
        /// The file.
        file: PathBuf,
    },
    /// Make a backup.
    Backup {
        /// Folder.
        dir: PathBuf,
    },
    /// List backups.
    BackupList {
        /// Folder.
        dir: PathBuf,
    },
    /// Prune backups.
    BackupPrune {
        /// Folder.
        dir: PathBuf,
        /// Retention.
        retention: backup::Retention,
    },
    /// Schema version.
    MigrateStatus,
}

/// A reply from the running app.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Output for stdout.
    Ok(String),
    /// What went wrong.
    Error(String),
}

/// Runs a request on an open store; the text is the command's stdout.
///
/// # Errors
/// The store's error, in words.
pub fn execute(store: &Store, request: &Request) -> Result<String, String> {
    let e = |e: StoreError| e.to_string();
    match request {
        Request::History {
            text,
            since,
            until,
            profile,
            favourites,
            limit,
            json,
        } => {
            let found = store
                .search(&Query {
                    text: text.clone(),
                    since: *since,
                    until: *until,
                    profile: profile.clone(),
                    favourites: *favourites,
                    limit: *limit,
                })
                .map_err(e)?;
            if *json {
                return serde_json::to_string(&found).map_err(|e| e.to_string());
            }
            Ok(found
                .iter()
                .map(|u| {
                    format!(
                        "{}  {}{} [{}] {}  ({})",
                        records::local_time(u.id, "%Y-%m-%d %H:%M:%S"),
                        u.id,
                        if u.favourite { " ★" } else { "" },
                        u.profile,
                        u.text,
                        u.went.describe()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
        Request::Export { out } => {
            let c = export::export(store, out).map_err(e)?;
            Ok(format!(
                "exported {} utterances to {}",
                c.utterances,
                out.display()
            ))
        }
        Request::Import { file } => {
            let c = export::import(store, file).map_err(e)?;
            Ok(format!(
                "imported {} utterances from {} ({} already there)",
                c.utterances,
                file.display(),
                c.skipped
            ))
        }
        Request::Backup { dir } => {
            let made = backup::backup(store, dir).map_err(e)?;
            let _ = store.log_activity("backup", &format!("made {}", made.display()));
            Ok(made.display().to_string())
        }
        Request::BackupList { dir } => list(dir),
        Request::BackupPrune { dir, retention } => {
            let removed = backup::prune(dir, *retention).map_err(e)?;
            let kept = backup::list(dir).map_err(e)?.len();
            let mut lines: Vec<_> = removed
                .iter()
                .map(|p| format!("deleted {}", p.display()))
                .collect();
            lines.push(format!(
                "kept {kept} backups (newest of {} days, {} weeks, {} months)",
                retention.daily, retention.weekly, retention.monthly
            ));
            Ok(lines.join("\n"))
        }
        Request::MigrateStatus => {
            let v = store.schema_version().map_err(e)?;
            Ok(migrate_status(v))
        }
    }
}

fn list(dir: &Path) -> Result<String, String> {
    let all = backup::list(dir).map_err(|e| e.to_string())?;
    if all.is_empty() {
        return Ok(format!("no backups in {}", dir.display()));
    }
    Ok(all
        .iter()
        .map(|b| {
            format!(
                "{}  {:>9} bytes  {}",
                b.made.strftime("%Y-%m-%d %H:%M:%S UTC"),
                b.bytes,
                b.path.display()
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

fn migrate_status(version: u64) -> String {
    let mut lines = vec![format!(
        "schema version {version}; this TonnyTray writes {}",
        tonnytray_migrations::CURRENT
    )];
    for step in tonnytray_migrations::STEPS {
        let state = if step.version <= version {
            "done"
        } else {
            "pending"
        };
        lines.push(format!("  {} {state}: {}", step.version, step.description));
    }
    lines.join("\n")
}

/// Where the store is, and the settings (for backup folder and retention).
struct Context {
    path: PathBuf,
    settings: Settings,
}

fn context(db: Option<&Path>, settings_path: Option<&Path>) -> Result<Context, ExitCode> {
    let Some(path) = db.map(Path::to_path_buf).or_else(Store::default_path) else {
        eprintln!("tonnytray: no data folder for this user; pass --db FILE");
        return Err(ExitCode::from(exit::BAD_INPUT));
    };
    let settings = settings_path
        .map(Path::to_path_buf)
        .or_else(Settings::default_path)
        .map(|p| settings::load(&p).settings)
        .unwrap_or_default();
    Ok(Context { path, settings })
}

fn print(text: &str) {
    if !text.is_empty() {
        #[allow(clippy::print_stdout)] // the command's output
        {
            println!("{text}");
        }
    }
}

/// Runs `request` on the store: opened here, or in the running app.
fn run_request(ctx: &Context, request: &Request) -> ExitCode {
    let result = match Store::open(&ctx.path) {
        Ok(store) => execute(&store, request),
        Err(StoreError::InUse(_)) => ask_app(request),
        Err(e) => Err(opening_advice(&e, ctx)),
    };
    match result {
        Ok(text) => {
            print(&text);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("tonnytray: {message}");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// The error, and for a damaged store the newest backup to restore.
fn opening_advice(e: &StoreError, ctx: &Context) -> String {
    match e {
        StoreError::Damaged { .. } => format!(
            "{e}\n{}",
            backup::restore_offer(&ctx.settings.backup.folder(&ctx.path))
        ),
        other => other.to_string(),
    }
}

/// Sends a store request to the running app.
fn ask_app(request: &Request) -> Result<String, String> {
    let line = serde_json::to_string(request).map_err(|e| e.to_string())?;
    let reply = crate::instance::request_with_timeout(
        &format!("store {line}"),
        std::time::Duration::from_secs(600),
    )
    .map_err(|e| {
        format!("the store is in use by another process and the app does not answer ({e})")
    })?;
    match serde_json::from_str::<Reply>(&reply) {
        Ok(Reply::Ok(text)) => Ok(text),
        Ok(Reply::Error(e)) => Err(e),
        Err(_) => Err(format!("unexpected reply from the app: {reply}")),
    }
}

/// Answers a `store …` line in the running app.
#[must_use]
pub fn answer(store: Option<&Store>, json: &str) -> String {
    let reply = match (store, serde_json::from_str::<Request>(json)) {
        (_, Err(e)) => Reply::Error(format!("bad store request: {e}")),
        (None, _) => Reply::Error("the app has no usable store (see its notices)".into()),
        (Some(store), Ok(request)) => match execute(store, &request) {
            Ok(text) => Reply::Ok(text),
            Err(e) => Reply::Error(e),
        },
    };
    serde_json::to_string(&reply).unwrap_or_else(|_| "{\"error\":\"reply\"}".into())
}

/// `tonnytray history`.
pub fn history(args: &HistoryArgs, db: Option<&Path>, settings: Option<&Path>) -> ExitCode {
    let ctx = match context(db, settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let dates = records::id_range(args.since.as_deref(), args.until.as_deref());
    let (since, until) = match dates {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tonnytray: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let text = match &args.search {
        Some(HistorySearch::Search { text }) => text.clone(),
        None => String::new(),
    };
    run_request(
        &ctx,
        &Request::History {
            text,
            since,
            until,
            profile: args.profile.clone(),
            favourites: args.favourites,
            limit: args.limit,
            json: args.json,
        },
    )
}

/// `tonnytray export --out FILE`.
pub fn export(out: &Path, db: Option<&Path>, settings: Option<&Path>) -> ExitCode {
    match context(db, settings) {
        Ok(ctx) => run_request(&ctx, &Request::Export { out: absolute(out) }),
        Err(code) => code,
    }
}

/// `tonnytray import FILE`.
pub fn import(file: &Path, db: Option<&Path>, settings: Option<&Path>) -> ExitCode {
    match context(db, settings) {
        Ok(ctx) => run_request(
            &ctx,
            &Request::Import {
                file: absolute(file),
            },
        ),
        Err(code) => code,
    }
}

/// `tonnytray backup [--dir DIR] [--list | --prune]`.
pub fn backup(args: &BackupArgs, db: Option<&Path>, settings: Option<&Path>) -> ExitCode {
    let ctx = match context(db, settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let dir = absolute(
        &args
            .dir
            .clone()
            .unwrap_or_else(|| ctx.settings.backup.folder(&ctx.path)),
    );
    if args.list {
        return match list(&dir) {
            Ok(text) => {
                print(&text);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tonnytray: {e}");
                ExitCode::from(exit::FAILED)
            }
        };
    }
    let request = if args.prune {
        Request::BackupPrune {
            dir,
            retention: ctx.settings.backup.retention(),
        }
    } else {
        Request::Backup { dir }
    };
    run_request(&ctx, &request)
}

/// `tonnytray restore FILE`.
pub fn restore(file: &Path, db: Option<&Path>, settings: Option<&Path>) -> ExitCode {
    let ctx = match context(db, settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let dir = ctx.settings.backup.folder(&ctx.path);
    match backup::restore(&ctx.path, file, &dir) {
        Ok(done) => {
            if let Some(safety) = &done.safety {
                eprintln!(
                    "tonnytray: the replaced store was kept as {}",
                    safety.display()
                );
            }
            print(&format!(
                "restored {} utterances from {} into {}",
                done.utterances,
                file.display(),
                ctx.path.display()
            ));
            ExitCode::SUCCESS
        }
        Err(StoreError::InUse(_)) => {
            eprintln!(
                "tonnytray: TonnyTray is running and has the store open; quit it first (`tonnytray quit`), then restore"
            );
            ExitCode::from(exit::FAILED)
        }
        Err(e) => {
            eprintln!("tonnytray: restore failed, nothing was changed: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// `tonnytray migrate [--status]`.
pub fn migrate(status: bool, db: Option<&Path>, settings: Option<&Path>) -> ExitCode {
    let ctx = match context(db, settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if status {
        return run_request(&ctx, &Request::MigrateStatus);
    }
    match Store::open(&ctx.path) {
        Ok(store) => {
            let (before, now) = (store.migrated_from(), tonnytray_migrations::CURRENT);
            if before < now {
                print(&format!(
                    "migrated {} from schema {before} to {now}",
                    ctx.path.display()
                ));
            } else {
                print(&format!(
                    "{} is at schema {now}, the current one",
                    ctx.path.display()
                ));
            }
            ExitCode::SUCCESS
        }
        Err(StoreError::InUse(_)) => {
            eprintln!(
                "tonnytray: the running app has the store open and migrated it when it started; `tonnytray migrate --status` shows the version"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tonnytray: {}", opening_advice(&e, &ctx));
            ExitCode::from(exit::FAILED)
        }
    }
}

/// A path the running app (another working directory) can use.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_one_json_line() {
        let r = Request::History {
            text: "lights".into(),
            since: Some(1),
            until: None,
            profile: None,
            favourites: true,
            limit: 5,
            json: false,
        };
        let line = serde_json::to_string(&r).expect("json");
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Request>(&line).expect("back"), r);
        assert!(answer(None, "{").contains("bad store request"));
    }

    #[test]
    fn execute_lists_backups_and_reports_the_schema() {
        let dir = tempfile::tempdir().expect("dir");
        let s = Store::open(&dir.path().join("t.redb")).expect("open");
        let bdir = dir.path().join("b");
        assert!(
            execute(&s, &Request::BackupList { dir: bdir.clone() })
                .expect("list")
                .starts_with("no backups")
        );
        let made = execute(&s, &Request::Backup { dir: bdir.clone() }).expect("backup");
        assert!(made.ends_with(".redb.gz"), "{made}");
        let listed = execute(&s, &Request::BackupList { dir: bdir }).expect("list");
        assert!(listed.contains(&made), "{listed}");
        let status = execute(&s, &Request::MigrateStatus).expect("status");
        assert!(status.starts_with("schema version 1;"), "{status}");
        assert!(status.contains("1 done"), "{status}");
        assert_eq!(s.activity(1).expect("activity")[0].kind, "backup");
    }
}
