//! The user- and contributor-facing shell scripts, run for real with bash in
//! a throw-away HOME: `scripts/install.sh` (what goes where, that the
//! installed binary runs, that the desktop entries validate, idempotence),
//! `scripts/uninstall.sh` (removes exactly that, keeps data unless purged,
//! never touches what it did not install), `scripts/validate-env.sh` (every
//! problem at once, no password printed, nothing in the file executed) and
//! `scripts/setup-dev.sh` (the report, the pre-commit hook), `migrate.sh`
//! and `backup.sh` on a store in that HOME, `asr-server.sh`'s answers
//! without a server; and shellcheck over every script. They need only bash, coreutils, the debug binary and
//! the tools `scripts/install-deps.sh` installs (shellcheck,
//! desktop-file-utils, git).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{bin, repo_root};

/// A throw-away HOME with the XDG dirs inside it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.path().join(".local/share")
    }

    fn config(&self) -> PathBuf {
        self.path().join(".config")
    }

    /// Where `install.sh` puts the binary.
    fn installed_bin(&self) -> PathBuf {
        self.path().join(".local/bin/tonnytray")
    }

    /// `bash scripts/NAME ARGS` with this HOME, no systemd user manager in
    /// reach and standard input closed.
    fn run(&self, script: &str, args: &[&str]) -> Output {
        self.run_with(script, args, &[])
    }

    fn run_with(&self, script: &str, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts").join(script))
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::null());
        sandbox(&mut cmd, self.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("bash runs")
    }

    /// Every file and directory under HOME with its contents.
    fn tree(&self) -> Tree {
        tree(self.path())
    }
}

/// Points `cmd` at `home` and away from the real user's session: HOME and
/// the XDG dirs, no runtime dir or session bus (so no systemd user manager),
/// no PREFIX; rustup keeps the real toolchains.
fn sandbox(cmd: &mut Command, home: &Path) {
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set"));
    let rustup =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| real_home.join(".rustup"), PathBuf::from);
    let cargo =
        std::env::var_os("CARGO_HOME").map_or_else(|| real_home.join(".cargo"), PathBuf::from);
    cmd.env("HOME", home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("RUSTUP_HOME", rustup)
        .env("CARGO_HOME", cargo)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("PREFIX")
        .env_remove("TONNYTRAY_ASR_VENV")
        .env_remove("ALLOW_PUBLIC_BIND");
}

/// `cksum`'s CRC and length of a file: the debug binary is several hundred
/// MB, too much to hold in memory in several tests at once or to hash in
/// unoptimised test code.
fn digest(path: &Path) -> String {
    let o = Command::new("cksum")
        .arg(path)
        .output()
        .expect("cksum runs");
    assert!(o.status.success(), "cksum {}: {}", path.display(), text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    out.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// Path under `root` → `None` for a directory, else the file's digest (or
/// a symlink's target).
type Tree = BTreeMap<String, Option<String>>;

fn tree(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(root, &path, out);
            } else if meta.is_symlink() {
                let target = std::fs::read_link(&path).expect("read_link");
                out.insert(rel, Some(format!("-> {}", target.display())));
            } else {
                out.insert(rel, Some(digest(&path)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The files (not directories) under HOME.
fn files(home: &Home) -> Vec<String> {
    home.tree()
        .into_keys()
        .filter(|n| !n.ends_with('/'))
        .collect()
}

fn names(t: &Tree) -> Vec<&str> {
    t.keys().map(String::as_str).collect()
}

/// Standard output and error together.
fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn check(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({}):\n{}",
        o.status,
        text(o)
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The `KEY=` line of a desktop entry's or unit's first section that has it.
fn key_line<'a>(content: &'a str, key: &str) -> &'a str {
    content
        .lines()
        .find(|l| l.starts_with(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= line in:\n{content}"))
}

fn desktop_file_validate(path: &Path) {
    let o = Command::new("desktop-file-validate")
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "desktop-file-validate does not run ({e}): install desktop-file-utils \
                 (scripts/install-deps.sh does)"
            )
        });
    let out = text(&o);
    assert!(
        o.status.success() && !out.contains("error:") && !out.contains("warning:"),
        "{} does not validate:\n{out}",
        path.display()
    );
}

/// Width and height from a PNG's IHDR.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("read png");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

fn install(home: &Home) -> Output {
    let o = home.run("install.sh", &["--binary", bin()]);
    check(&o, "install.sh --binary");
    o
}

#[test]
fn install_puts_everything_in_place_and_the_binary_runs() {
    let home = Home::new();
    let o = install(&home);
    let out = text(&o);
    let installed = home.installed_bin();
    let shown = installed.display().to_string();

    // The binary, and it runs from there.
    assert!(is_executable(&installed), "{out}");
    let v = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("installed binary runs");
    assert!(v.status.success(), "{}", text(&v));
    assert!(
        String::from_utf8_lossy(&v.stdout).starts_with("tonnytray "),
        "{}",
        text(&v)
    );

    // The desktop entry runs the installed binary and validates.
    let desktop = home.data().join("applications/tonnytray.desktop");
    let entry = read(&desktop);
    assert_eq!(key_line(&entry, "Exec"), format!("Exec={shown}"), "{entry}");
    assert_eq!(key_line(&entry, "TryExec"), format!("TryExec={shown}"));
    assert_eq!(key_line(&entry, "Icon"), "Icon=tonnytray");
    assert!(
        !entry.lines().any(|l| l.starts_with("Exec=tonnytray")),
        "an action still runs tonnytray from PATH:\n{entry}"
    );
    desktop_file_validate(&desktop);

    // Icons, each in the directory of its size.
    let hicolor = home.data().join("icons/hicolor");
    let mut icons = 0;
    for dir in std::fs::read_dir(&hicolor).expect("hicolor dir") {
        let dir = dir.expect("entry").path();
        let icon = dir.join("apps/tonnytray.png");
        let (w, h) = png_size(&icon);
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_eq!(name, format!("{w}x{h}"), "{}", icon.display());
        icons += 1;
    }
    assert!(icons >= 1, "no icon under {}", hicolor.display());

    // Autostart: the same program, hidden in the tray.
    let autostart = home.config().join("autostart/tonnytray.desktop");
    let auto = read(&autostart);
    assert_eq!(
        key_line(&auto, "Exec"),
        format!("Exec={shown} --hidden"),
        "{auto}"
    );
    desktop_file_validate(&autostart);

    // The speech server script where the app's supervisor looks.
    let asr = home.data().join("tonnytray/asr-server.sh");
    assert!(is_executable(&asr), "{out}");
    assert_eq!(read(&asr), read(&repo_root().join("scripts/asr-server.sh")));

    // systemd user units with ExecStart rewritten to the installed copies.
    let units = home.config().join("systemd/user");
    let app_unit = read(&units.join("tonnytray.service"));
    let start = key_line(&app_unit, "ExecStart");
    assert!(start.starts_with(&format!("ExecStart={shown}")), "{start}");
    let asr_unit = read(&units.join("tonnytray-asr.service"));
    let start = key_line(&asr_unit, "ExecStart");
    assert!(
        start.starts_with(&format!("ExecStart={}", asr.display())),
        "{start}"
    );
    for unit in [&app_unit, &asr_unit] {
        assert!(
            !unit.contains("=/usr/bin/tonnytray") && !unit.contains("=/usr/share/tonnytray"),
            "a unit still names the system-wide paths:\n{unit}"
        );
    }
    verify_units(
        &home,
        &[
            &units.join("tonnytray.service"),
            &units.join("tonnytray-asr.service"),
        ],
    );

    // The summary says what went where, and that systemd was left alone.
    assert!(out.contains(&shown), "{out}");
    assert!(out.contains(&desktop.display().to_string()), "{out}");
    assert!(out.contains("daemon-reload skipped"), "{out}");
}

/// `systemd-analyze --user verify` on the units, when systemd is installed
/// (it is not among the packages install-deps.sh promises).
fn verify_units(home: &Home, units: &[&Path]) {
    let runtime = home.path().join("run");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(["--user", "verify"]).args(units);
    sandbox(&mut cmd, home.path());
    cmd.env("XDG_RUNTIME_DIR", &runtime);
    match cmd.output() {
        Ok(o) => {
            assert!(
                o.status.success() && text(&o).trim().is_empty(),
                "systemd-analyze verify complains about the installed units:\n{}",
                text(&o)
            );
        }
        Err(e) => eprintln!("systemd-analyze not available ({e}); units not verified"),
    }
    std::fs::remove_dir_all(&runtime).expect("remove runtime dir");
}

#[test]
fn install_twice_changes_nothing() {
    let home = Home::new();
    install(&home);
    let first = home.tree();
    let o = install(&home);
    let second = home.tree();
    assert_eq!(names(&first), names(&second));
    assert!(first == second, "a second install changed file contents");
    let out = text(&o);
    assert!(out.contains("unchanged"), "{out}");
    assert!(
        !out.contains("(written)") && !out.contains("(replaced)"),
        "{out}"
    );
}

#[test]
fn install_dry_run_changes_nothing() {
    let home = Home::new();
    let o = home.run("install.sh", &["--binary", bin(), "--dry-run"]);
    check(&o, "install.sh --dry-run");
    assert!(home.tree().is_empty(), "{:?}", names(&home.tree()));
    let out = text(&o);
    assert!(out.contains("would write"), "{out}");
    assert!(
        out.contains(
            &home
                .data()
                .join("applications/tonnytray.desktop")
                .display()
                .to_string()
        ),
        "{out}"
    );
}

#[test]
fn install_deb_dry_run_plans_the_package_and_only_an_autostart_entry() {
    let home = Home::new();
    let deb = home.path().join("tonnytray_0.1.0_amd64.deb");
    std::fs::write(&deb, "not really a package").expect("write");
    let before = home.tree();
    let o = home.run(
        "install.sh",
        &["--deb", deb.to_str().expect("utf-8"), "--dry-run"],
    );
    check(&o, "install.sh --deb --dry-run");
    let out = text(&o);
    assert!(
        out.contains("would run") && out.contains(&deb.display().to_string()),
        "{out}"
    );
    if Path::new("/usr/bin/apt-get").exists() {
        assert!(out.contains("apt-get install -y"), "{out}");
    }
    let autostart = home.config().join("autostart/tonnytray.desktop");
    assert!(out.contains(&autostart.display().to_string()), "{out}");
    // A per-user binary, desktop entry or unit is not part of a .deb install.
    assert!(
        !out.contains("desktop entry") && !out.contains("systemd unit"),
        "{out}"
    );
    assert!(before == home.tree(), "--dry-run changed files");

    let o = home.run("install.sh", &["--deb", bin()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a .deb"), "{}", text(&o));
}

#[test]
fn install_refuses_a_missing_or_foreign_binary() {
    let home = Home::new();
    let missing = home.path().join("no-such-tonnytray");
    let o = home.run(
        "install.sh",
        &["--binary", missing.to_str().expect("utf-8")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&missing.display().to_string()),
        "{}",
        text(&o)
    );

    let o = home.run("install.sh", &["--binary", "/bin/true"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("does not look like TonnyTray"),
        "{}",
        text(&o)
    );

    let o = home.run("install.sh", &["--frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--frobnicate"), "{}", text(&o));
    assert!(home.tree().is_empty(), "{:?}", names(&home.tree()));
}

#[test]
fn install_follows_xdg_dirs_and_no_autostart() {
    let home = Home::new();
    let data = home.path().join("my-data");
    let config = home.path().join("my-config");
    let env: [(&str, &Path); 2] = [("XDG_DATA_HOME", &data), ("XDG_CONFIG_HOME", &config)];
    let o = home.run_with("install.sh", &["--binary", bin(), "--no-autostart"], &env);
    check(&o, "install.sh --no-autostart");
    assert!(data.join("applications/tonnytray.desktop").is_file());
    assert!(data.join("tonnytray/asr-server.sh").is_file());
    assert!(!config.join("autostart").exists(), "{}", text(&o));
    let asr_unit = read(&config.join("systemd/user/tonnytray-asr.service"));
    assert!(
        key_line(&asr_unit, "ExecStart").starts_with(&format!(
            "ExecStart={}",
            data.join("tonnytray/asr-server.sh").display()
        )),
        "{asr_unit}"
    );
    assert!(!home.data().exists() && !home.config().exists());

    let o = home.run_with("uninstall.sh", &[], &env);
    check(&o, "uninstall.sh");
    let left = files(&home);
    assert!(left.is_empty(), "left behind: {left:?}\n{}", text(&o));
}

#[test]
fn uninstall_removes_exactly_what_install_added_and_keeps_data() {
    let home = Home::new();
    // The user's own things, before any install.
    let history = home.data().join("tonnytray/history.redb");
    let settings = home.config().join("tonnytray/settings.toml");
    let other = home.path().join(".local/bin/other-tool");
    for (path, body) in [
        (&history, "history"),
        (&settings, "[audio]\n"),
        (&other, "#!/bin/sh\n"),
    ] {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write");
    }
    let before = home.tree();

    install(&home);
    let o = home.run("uninstall.sh", &[]);
    check(&o, "uninstall.sh");
    let after = home.tree();
    assert_eq!(names(&before), names(&after), "{}", text(&o));
    assert!(before == after, "contents differ after uninstall");
    assert!(text(&o).contains("kept your data"), "{}", text(&o));

    // Again: nothing left to do.
    let o = home.run("uninstall.sh", &[]);
    check(&o, "second uninstall.sh");
    assert!(text(&o).contains("nothing to remove"), "{}", text(&o));
    assert!(before == home.tree());
}

#[test]
fn uninstall_purge_asks_and_with_yes_deletes_data_and_settings() {
    let home = Home::new();
    install(&home);
    let history = home.data().join("tonnytray/history.redb");
    let settings = home.config().join("tonnytray/settings.toml");
    std::fs::write(&history, "history").expect("write");
    std::fs::create_dir_all(settings.parent().expect("parent")).expect("mkdir");
    std::fs::write(&settings, "x").expect("write");
    let installed = home.tree();

    // No terminal to ask on and no --yes: nothing at all is removed.
    let o = home.run("uninstall.sh", &["--purge"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--yes"), "{}", text(&o));
    assert!(
        installed == home.tree(),
        "--purge without --yes removed something"
    );

    let o = home.run("uninstall.sh", &["--purge", "--yes"]);
    check(&o, "uninstall.sh --purge --yes");
    assert!(!home.data().join("tonnytray").exists(), "{}", text(&o));
    assert!(!home.config().join("tonnytray").exists(), "{}", text(&o));
    assert!(!home.installed_bin().exists());
    let left = files(&home);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn uninstall_on_an_empty_home_has_nothing_to_remove() {
    let home = Home::new();
    let o = home.run("uninstall.sh", &[]);
    check(&o, "uninstall.sh");
    assert!(text(&o).contains("nothing to remove"), "{}", text(&o));
    assert!(home.tree().is_empty());
}

#[test]
fn uninstall_leaves_what_it_did_not_install() {
    let home = Home::new();
    install(&home);
    // The user edits the autostart entry: it is theirs now.
    let autostart = home.config().join("autostart/tonnytray.desktop");
    let edited = format!("{}X-GNOME-Autostart-Delay=10\n", read(&autostart));
    std::fs::write(&autostart, &edited).expect("write");
    // A record naming a file install.sh never writes is ignored.
    let precious = home.path().join("thesis.txt");
    std::fs::write(&precious, "years of work").expect("write");
    let sum = Command::new("sh")
        .args(["-c", "cksum <\"$1\" | awk '{ print $1 \"-\" $2 }'", "sh"])
        .arg(&precious)
        .output()
        .expect("cksum");
    let sum = String::from_utf8_lossy(&sum.stdout).trim().to_owned();
    let manifest = home.data().join("tonnytray/install-manifest");
    let mut record = read(&manifest);
    record.push_str(&format!("file {sum} {}\n", precious.display()));
    std::fs::write(&manifest, record).expect("write");

    let o = home.run("uninstall.sh", &[]);
    check(&o, "uninstall.sh");
    let out = text(&o);
    assert_eq!(read(&autostart), edited, "{out}");
    assert!(out.contains("changed since the install"), "{out}");
    assert_eq!(read(&precious), "years of work", "{out}");
    assert!(!home.installed_bin().exists(), "{out}");

    // Without a record, a binary at the usual place is not touched either.
    std::fs::create_dir_all(home.installed_bin().parent().expect("parent")).expect("mkdir");
    std::fs::write(home.installed_bin(), "#!/bin/sh\n").expect("write");
    let o = home.run("uninstall.sh", &[]);
    check(&o, "uninstall.sh without a record");
    assert!(home.installed_bin().exists());
    assert!(text(&o).contains("no install record"), "{}", text(&o));
    assert!(text(&o).contains("nothing to remove"), "{}", text(&o));
}

// ------------------------------------------------------------ validate-env

/// A complete development env file with the keys of deploy/.env.example.
const GOOD_ENV: &str = "\
# comment
TONNYTRAY_ENV=development
BIND_ADDRESS=127.0.0.1
WLK_PORT=8888
WLK_MODEL=tiny.en
WLK_LANGUAGE=en
RABBITMQ_PORT=5672
RABBITMQ_MANAGEMENT_PORT=15672
RABBITMQ_DEFAULT_USER=tonny
RABBITMQ_DEFAULT_PASS=change-me
PROMETHEUS_PORT=9090
GRAFANA_PORT=3000
GRAFANA_ADMIN_USER=admin
GRAFANA_ADMIN_PASSWORD=change-me
TONNYTRAY_METRICS_PORT=9477
N8N_WEBHOOK_URL=http://127.0.0.1:5678/webhook/ask-tonny
LOG_LEVEL=info
";

#[test]
fn migrate_and_backup_scripts_work_on_the_store_in_home() {
    let home = Home::new();
    let tool: &[(&str, &Path)] = &[("TONNYTRAY_BIN", Path::new(bin()))];
    let o = home.run_with("migrate.sh", &[], tool);
    check(&o, "migrate.sh");
    let store = home.data().join("tonnytray/tonnytray.redb");
    assert!(
        store.is_file(),
        "no store at {}:\n{}",
        store.display(),
        text(&o)
    );
    let o = home.run_with("migrate.sh", &["--status"], tool);
    check(&o, "migrate.sh --status");
    assert!(text(&o).contains("schema version 1"), "{}", text(&o));

    let backups = home.path().join("backups");
    let dir = backups.to_str().expect("utf-8 path");
    let o = home.run_with("backup.sh", &["--dir", dir], tool);
    check(&o, "backup.sh");
    let made: Vec<_> = std::fs::read_dir(&backups)
        .expect("backup dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(
        made[0].starts_with("tonnytray-") && made[0].ends_with(".redb.gz"),
        "{made:?}"
    );
    let o = home.run_with("backup.sh", &["--dir", dir, "--list"], tool);
    check(&o, "backup.sh --list");
    assert!(text(&o).contains(&made[0]), "{}", text(&o));
    let o = home.run_with("backup.sh", &["--bogus"], tool);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn asr_server_script_reports_a_server_that_is_not_there_and_bad_options() {
    let home = Home::new();
    // A port nothing listens on: status fails, stop has nothing to stop.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
        .to_string();
    let o = home.run("asr-server.sh", &["--port", &port, "--status"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not answering"), "{}", text(&o));
    let o = home.run("asr-server.sh", &["--port", &port, "--stop"]);
    check(&o, "asr-server.sh --stop");
    assert!(text(&o).contains("not running"), "{}", text(&o));
    let o = home.run("asr-server.sh", &["--port", "eighty"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--port must be a number"), "{}", text(&o));
    // Nothing was installed into the throw-away HOME.
    assert!(!home.data().join("tonnytray/asr-venv").exists());
}

/// The example the deploy docs tell users to copy, or [`GOOD_ENV`] until it
/// exists.
fn example_env() -> String {
    std::fs::read_to_string(repo_root().join("deploy/.env.example"))
        .unwrap_or_else(|_| GOOD_ENV.to_owned())
}

/// `text` with `KEY=...` replaced by `KEY=value` (or removed for `None`).
fn with(text: &str, changes: &[(&str, Option<&str>)]) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("");
        match changes.iter().find(|(k, _)| *k == key) {
            Some((k, Some(v))) => out.push_str(&format!("{k}={v}\n")),
            Some((_, None)) => {}
            None => out.push_str(&format!("{line}\n")),
        }
    }
    out
}

fn validate(dir: &Path, content: &str) -> Output {
    let file = dir.join("test.env");
    std::fs::write(&file, content).expect("write env");
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/validate-env.sh"))
        .arg(&file)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("ALLOW_PUBLIC_BIND");
    cmd.output().expect("bash runs")
}

/// Strong production settings: passes.
fn production_env() -> String {
    with(
        GOOD_ENV,
        &[
            ("TONNYTRAY_ENV", Some("production")),
            ("RABBITMQ_DEFAULT_PASS", Some("wX3-very-long-secret-9q")),
            ("GRAFANA_ADMIN_PASSWORD", Some("'an0ther long $ecret'")),
            (
                "N8N_WEBHOOK_URL",
                Some("https://n8n.example.org/webhook/ask-tonny"),
            ),
        ],
    )
}

#[test]
fn validate_env_passes_the_example_in_development() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = validate(dir.path(), &example_env());
    check(&o, "validate-env.sh on the example");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ok: 16 keys"),
        "{}",
        text(&o)
    );
}

#[test]
fn validate_env_lists_the_default_passwords_in_production_without_printing_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = example_env();
    let o = validate(
        dir.path(),
        &with(&example, &[("TONNYTRAY_ENV", Some("production"))]),
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for key in ["RABBITMQ_DEFAULT_PASS", "GRAFANA_ADMIN_PASSWORD"] {
        assert!(
            out.lines().any(|l| l.contains(key)),
            "{key} not listed:\n{out}"
        );
        let value = example
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .expect("the example sets it");
        assert!(
            !out.contains(value),
            "the value of {key} was printed:\n{out}"
        );
    }
}

#[test]
fn validate_env_accepts_a_strong_production_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = validate(dir.path(), &production_env());
    check(&o, "validate-env.sh on a production file");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ok: 16 keys"),
        "{}",
        text(&o)
    );
    assert!(
        !text(&o).contains("ecret"),
        "a password was printed:\n{}",
        text(&o)
    );
}

#[test]
fn validate_env_lists_every_problem_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = with(
        GOOD_ENV,
        &[
            ("WLK_PORT", Some("70000")),
            ("PROMETHEUS_PORT", Some("5672")),
            ("WLK_MODEL", Some("huge-v9")),
            ("WLK_LANGUAGE", Some("english")),
            ("BIND_ADDRESS", Some("127.0.0.300")),
            ("N8N_WEBHOOK_URL", Some("ftp://n8n.example.org/hook")),
            ("LOG_LEVEL", None),
        ],
    ) + "FAVOURITE_COLOUR=blue\n";
    let o = validate(dir.path(), &bad);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for (key, what) in [
        ("WLK_PORT", "70000"),
        ("PROMETHEUS_PORT", "RABBITMQ_PORT"),
        ("WLK_MODEL", "huge-v9"),
        ("WLK_LANGUAGE", "english"),
        ("BIND_ADDRESS", "IPv4"),
        ("N8N_WEBHOOK_URL", "http"),
        ("LOG_LEVEL", "missing"),
    ] {
        assert!(
            out.lines().any(|l| l.contains(key) && l.contains(what)),
            "no line names {key} with {what:?}:\n{out}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.contains("warning") && l.contains("FAVOURITE_COLOUR")),
        "{out}"
    );
    assert!(out.contains("7 problem"), "{out}");
}

#[test]
fn validate_env_production_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prod = production_env();
    // One key made unacceptable for production at a time.
    let cases = [
        ("BIND_ADDRESS", "0.0.0.0"),
        ("N8N_WEBHOOK_URL", "http://n8n.example.org/webhook/x"),
        ("LOG_LEVEL", "debug"),
        ("RABBITMQ_DEFAULT_PASS", "short-pw"),
        ("GRAFANA_ADMIN_PASSWORD", "Admin"),
    ];
    for (key, value) in cases {
        let o = validate(dir.path(), &with(&prod, &[(key, Some(value))]));
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{key}={value} passed:\n{out}");
        assert!(
            out.lines().any(|l| l.contains(key)),
            "{key} not named:\n{out}"
        );
        assert!(!out.contains("short-pw") && !out.contains("Admin"), "{out}");
    }
    // Allowed: a public bind when asked for, plain http to loopback.
    let ok = with(
        &prod,
        &[
            ("BIND_ADDRESS", Some("0.0.0.0")),
            ("N8N_WEBHOOK_URL", Some("http://localhost:5678/webhook/x")),
        ],
    ) + "ALLOW_PUBLIC_BIND=1\n";
    let o = validate(dir.path(), &ok);
    check(&o, "public bind with ALLOW_PUBLIC_BIND=1");
}

#[test]
fn validate_env_never_runs_what_is_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let evil = with(
        GOOD_ENV,
        &[
            ("WLK_LANGUAGE", Some(&format!("$(touch {d}/pwned1)"))),
            (
                "RABBITMQ_DEFAULT_USER",
                Some(&format!("`touch {d}/pwned2`")),
            ),
            (
                "GRAFANA_ADMIN_PASSWORD",
                Some(&format!("\"$(touch {d}/pwned3)\"")),
            ),
            ("WLK_MODEL", Some(&format!("tiny.en; touch {d}/pwned4"))),
        ],
    ) + &format!("touch {d}/pwned5\n$(touch {d}/pwned6)=1\n");
    let o = validate(dir.path(), &evil);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let pwned: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pwned"))
        .collect();
    assert!(pwned.is_empty(), "the env file ran code: {pwned:?}\n{out}");
    assert!(
        out.contains("WLK_LANGUAGE") && out.contains("WLK_MODEL"),
        "{out}"
    );
}

#[test]
fn validate_env_names_a_missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("deploy/.env");
    let o = Command::new("bash")
        .arg(repo_root().join("scripts/validate-env.sh"))
        .arg(&file)
        .output()
        .expect("bash runs");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains(&file.display().to_string()),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains(".env.example"), "{}", text(&o));
}

// ------------------------------------------------------------ setup-dev, shellcheck

#[test]
fn setup_dev_check_reports_and_changes_nothing() {
    let home = Home::new();
    let hook = repo_root().join(".git/hooks/pre-commit");
    let hook_before = std::fs::read(&hook).ok();
    let o = home.run("setup-dev.sh", &["--check"]);
    let out = text(&o);
    for item in [
        "system packages",
        "fmt",
        "clippy",
        "cargo-nextest",
        "pre-commit hook",
        "speech server",
    ] {
        assert!(out.contains(item), "no line for {item}:\n{out}");
    }
    // A fresh HOME has no speech server environment: that is missing.
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("missing") && l.contains("speech server")),
        "{out}"
    );
    assert!(
        home.tree().is_empty(),
        "--check wrote {:?}",
        names(&home.tree())
    );
    assert_eq!(
        std::fs::read(&hook).ok(),
        hook_before,
        "--check changed the hook"
    );

    let o = home.run("setup-dev.sh", &["--check", "--no-server"]);
    assert!(
        text(&o)
            .lines()
            .any(|l| l.contains("skipped") && l.contains("speech server")),
        "{}",
        text(&o)
    );
}

#[test]
fn setup_dev_keeps_a_foreign_pre_commit_hook() {
    let repo = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(repo.path().join("scripts")).expect("mkdir");
    std::fs::copy(
        repo_root().join("scripts/setup-dev.sh"),
        repo.path().join("scripts/setup-dev.sh"),
    )
    .expect("copy");
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(repo.path())
        .output()
        .expect("git runs (scripts/install-deps.sh installs it)");
    check(&git, "git init");
    let hooks = repo.path().join(".git/hooks");
    std::fs::create_dir_all(&hooks).expect("hooks dir");
    let mine = "#!/bin/sh\necho my own checks\n";
    std::fs::write(hooks.join("pre-commit"), mine).expect("write");

    let home = Home::new();
    for round in 0..2 {
        let mut cmd = Command::new("bash");
        cmd.arg(repo.path().join("scripts/setup-dev.sh"))
            .arg("--hook-only")
            .stdin(Stdio::null());
        sandbox(&mut cmd, home.path());
        let o = cmd.output().expect("bash runs");
        check(&o, "setup-dev.sh --hook-only");
        if round == 1 {
            assert!(text(&o).contains("up to date"), "{}", text(&o));
        }
    }
    assert_eq!(read(&hooks.join("pre-commit.local")), mine);
    let ours = read(&hooks.join("pre-commit"));
    assert!(
        ours.contains("cargo fmt --all -- --check") && ours.contains("cargo clippy"),
        "{ours}"
    );
    assert!(ours.contains("pre-commit.local"), "{ours}");
    assert!(is_executable(&hooks.join("pre-commit")));
    let backups = std::fs::read_dir(&hooks)
        .expect("read_dir")
        .filter(|e| {
            e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with("pre-commit.local")
        })
        .count();
    assert_eq!(backups, 1, "a second run made another backup");
    shellcheck(&[&hooks.join("pre-commit")]);
}

fn shellcheck(files: &[&Path]) {
    let o = Command::new("shellcheck")
        .args(files)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| {
            panic!("shellcheck does not run ({e}): scripts/install-deps.sh installs it")
        });
    assert!(o.status.success(), "shellcheck:\n{}", text(&o));
}

#[test]
fn every_script_passes_shellcheck() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(repo_root().join("scripts"))
        .expect("scripts dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.sort();
    for name in [
        "install.sh",
        "uninstall.sh",
        "setup-dev.sh",
        "validate-env.sh",
    ] {
        assert!(
            scripts.iter().any(|p| p.ends_with(name)),
            "scripts/{name} is missing"
        );
    }
    let refs: Vec<&Path> = scripts.iter().map(PathBuf::as_path).collect();
    shellcheck(&refs);
}
