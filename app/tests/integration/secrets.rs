//! The OS keyring for real: `secrets::Keyring` against gnome-keyring's
//! Secret Service in a private D-Bus session (`dbus-run-session`), with
//! HOME and the XDG dirs in a temporary directory.
//!
//! The test re-runs itself inside the session, one step per run: each run
//! starts a fresh keyring daemon on the same files, so reading a value in a
//! later run proves it was kept on disk, and searching every file
//! afterwards proves it was not kept in clear. `#[ignore]`d (CI runs it
//! with `--run-ignored all`); needs the Debian packages `dbus-daemon`
//! (dbus-run-session), `dbus-bin` (dbus-send) and `gnome-keyring`.
//!
//! The private bus has no service activation, and the program starts only
//! once the keyring daemon owns `org.freedesktop.secrets`: with the stock
//! session config a call that came first (seen under load, 3 runs in 40)
//! made the bus start a second daemon, which outlived the session holding
//! the test's output pipe, and the test waited for ever. The children's
//! output goes to files for the same reason, and strays are killed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use tonnytray::secrets::{ELEVENLABS_KEY, Keyring, N8N_TOKEN, Secret, SecretError, SecretStore};

/// Set in the re-run: which step to do.
const STEP_ENV: &str = "TONNYTRAY_KEYRING_TEST_STEP";
/// Set in the re-run: the value to store and look for.
const VALUE_ENV: &str = "TONNYTRAY_KEYRING_TEST_VALUE";
/// This test's name, to re-run only it.
const TEST_NAME: &str = "secrets::keyring_keeps_secrets_encrypted_on_disk_and_round_trips";
/// Starts an unlocked keyring daemon in the session, waits (up to 30 s)
/// until it owns the Secret Service name, then runs the command.
const IN_SESSION: &str = r#"
printf %s "$KEYRING_TEST_PASSWORD" \
  | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>>"$KEYRING_DAEMON_LOG" \
  || exit 97
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
    | grep -q 'boolean true'; do
  i=$((i + 1)); [ "$i" -gt 600 ] && exit 98
  sleep 0.05
done
exec "$@"
"#;
/// Exit codes of [`IN_SESSION`] before the command runs.
const NO_DAEMON: i32 = 97;
const NO_SECRET_SERVICE: i32 = 98;
/// A session bus like the stock one, minus service activation: a call that
/// reaches the bus before the daemon fails instead of starting another.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

#[test]
#[ignore = "real peer: gnome-keyring in a private D-Bus session"]
fn keyring_keeps_secrets_encrypted_on_disk_and_round_trips() {
    if let Ok(step) = std::env::var(STEP_ENV) {
        let value = std::env::var(VALUE_ENV).expect("the value to store");
        run_step(&step, &value);
        return;
    }
    if !tools_present() {
        return;
    }
    let dirs = Dirs::new();
    let value = unique_value();

    dirs.step("set", &value, true);
    let keyring_files = files_under(&dirs.data.join("keyrings"));
    assert!(
        keyring_files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "keyring")),
        "gnome-keyring wrote no keyring file under {}: {keyring_files:?}",
        dirs.data.display()
    );
    let in_clear = files_holding(dirs.root.path(), value.as_bytes());
    assert!(
        in_clear.is_empty(),
        "the secret is stored in clear in {in_clear:?}"
    );

    // A new daemon on the same files: only the encrypted file can answer.
    dirs.step("get", &value, true);
    dirs.step("delete", &value, true);
    dirs.step("absent", &value, true);
    // Outside any D-Bus session: a clear error, and nothing written anywhere.
    dirs.step("no-service", &value, false);
    let in_clear = files_holding(dirs.root.path(), value.as_bytes());
    assert!(in_clear.is_empty(), "the secret reached {in_clear:?}");

    // The search itself finds a value that is there.
    let canary = dirs.home.join(".config/canary");
    std::fs::write(&canary, format!("x{value}y")).expect("write canary");
    assert_eq!(files_holding(dirs.root.path(), value.as_bytes()), [canary]);
}

#[test]
#[ignore = "real peer: gnome-keyring in a private D-Bus session"]
fn secret_subcommand_keeps_values_in_the_keyring_and_never_prints_them() {
    if !tools_present() {
        return;
    }
    let dirs = Dirs::new();
    let value = unique_value();

    let out = dirs.cli(&["set", ELEVENLABS_KEY], &format!("{value}\n"), true);
    assert!(out.status.success(), "set failed:\n{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("elevenlabs-api-key is stored"),
        "{}",
        describe(&out)
    );

    // A new session (and daemon): the value was kept, and is not shown.
    let out = dirs.cli(&["list"], "", true);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "list failed:\n{}", describe(&out));
    assert!(
        listing.contains("elevenlabs-api-key   set")
            && listing.contains("n8n-token            not set"),
        "{listing}"
    );
    assert!(!describe(&out).contains(&value), "list printed the value");
    let in_clear = files_holding(dirs.root.path(), value.as_bytes());
    assert!(
        in_clear.is_empty(),
        "the secret is stored in clear in {in_clear:?}"
    );

    let out = dirs.cli(&["set", "openai-key"], &value, true);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("n8n-token, elevenlabs-api-key, rabbitmq-password"),
        "{}",
        describe(&out)
    );

    let out = dirs.cli(&["delete", ELEVENLABS_KEY], "", true);
    assert!(out.status.success(), "delete failed:\n{}", describe(&out));
    let out = dirs.cli(&["list"], "", true);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("elevenlabs-api-key   not set"),
        "{}",
        describe(&out)
    );

    let out = dirs.cli(&["list"], "", false);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no keyring service is running"),
        "{}",
        describe(&out)
    );
}

/// A value no file holds by chance.
fn unique_value() -> String {
    format!(
        "tt-test-secret-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

/// One step, run inside the child process.
fn run_step(step: &str, value: &str) {
    let keyring = Keyring::new();
    match step {
        "set" => {
            keyring
                .set(N8N_TOKEN, &Secret::new(value.to_owned()))
                .expect("store in the keyring");
            let got = keyring.get(N8N_TOKEN).expect("read back").expect("is set");
            assert!(got.expose() == value, "read back a different value");
            assert!(keyring.get(ELEVENLABS_KEY).expect("get").is_none());
        }
        "get" => {
            let got = keyring
                .get(N8N_TOKEN)
                .expect("read in a new session")
                .expect("kept across daemon restarts");
            assert!(
                got.expose() == value,
                "a new session read a different value"
            );
        }
        "delete" => {
            keyring.delete(N8N_TOKEN).expect("delete");
            assert!(keyring.get(N8N_TOKEN).expect("get").is_none());
            keyring.delete(N8N_TOKEN).expect("deleting again is fine");
        }
        "absent" => {
            assert!(keyring.get(N8N_TOKEN).expect("get").is_none());
        }
        "no-service" => {
            let e = keyring.get(N8N_TOKEN).expect_err("no Secret Service");
            assert!(matches!(e, SecretError::NoService { .. }), "{e:?}");
            assert!(
                e.to_string().contains("install and unlock gnome-keyring"),
                "{e}"
            );
            let e = keyring
                .set(N8N_TOKEN, &Secret::new(value.to_owned()))
                .expect_err("no Secret Service");
            assert!(!e.to_string().contains(value), "{e}");
        }
        other => panic!("unknown step {other:?}"),
    }
    #[allow(clippy::print_stdout)] // the parent looks for this line on stdout
    {
        println!("STEP {step} OK");
    }
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether dbus-run-session and gnome-keyring-daemon are installed; if not,
/// panics under CI and says why the test is skipped otherwise.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["dbus-run-session", "dbus-send", "gnome-keyring-daemon"]
        .into_iter()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !under_ci(),
        "{missing:?} not installed under CI: install the Debian packages dbus-daemon, \
         dbus-bin and gnome-keyring (scripts/install-deps.sh)"
    );
    eprintln!("skipping: {missing:?} not installed (Debian: dbus-daemon, dbus-bin, gnome-keyring)");
    false
}

/// A private HOME and XDG dirs, and beside them (not searched for the
/// secret) the children's output and the bus config.
struct Dirs {
    root: tempfile::TempDir,
    logs: tempfile::TempDir,
    home: PathBuf,
    data: PathBuf,
    runtime: PathBuf,
}

impl Dirs {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temporary dir");
        let home = root.path().join("home");
        let data = home.join(".local/share");
        let runtime = root.path().join("runtime");
        for dir in [&data, &home.join(".config"), &home.join(".cache"), &runtime] {
            std::fs::create_dir_all(dir).expect("create dir");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
                .expect("runtime dir mode");
        }
        Self {
            root,
            logs: tempfile::tempdir().expect("temporary dir"),
            home,
            data,
            runtime,
        }
    }

    /// Re-runs this test as `step`, in a fresh D-Bus session with an
    /// unlocked keyring daemon when `in_session`, else with no bus at all.
    fn step(&self, step: &str, value: &str, in_session: bool) {
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = self.command(&exe, in_session);
        cmd.args([TEST_NAME, "--exact", "--include-ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(STEP_ENV, step)
            .env(VALUE_ENV, value);
        let out = self.run(cmd, "");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("STEP {step} OK")),
            "step {step} failed ({}):\n{}",
            out.status,
            describe(&out)
        );
    }

    /// Runs `tonnytray secret ARGS` with `input` on standard input.
    fn cli(&self, args: &[&str], input: &str, in_session: bool) -> Output {
        let mut cmd = self.command(Path::new(env!("CARGO_BIN_EXE_tonnytray")), in_session);
        cmd.arg("secret").args(args);
        self.run(cmd, input)
    }

    /// Runs `cmd` with `input` on standard input and its output in files
    /// (outside the searched tree), so that a process it leaves behind
    /// cannot keep the test waiting on a pipe.
    fn run(&self, mut cmd: Command, input: &str) -> Output {
        let out_path = self.logs.path().join("stdout");
        let err_path = self.logs.path().join("stderr");
        let create = |p: &Path| std::fs::File::create(p).expect("output file");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(create(&out_path))
            .stderr(create(&err_path))
            .spawn()
            .expect("run the command");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write the input");
        let status = child.wait().expect("the command ends");
        let read = |p: &Path| std::fs::read(p).unwrap_or_default();
        let mut stderr = read(&err_path);
        let why: &[u8] = match status.code() {
            Some(NO_DAEMON) => b"\n(gnome-keyring-daemon did not start)",
            Some(NO_SECRET_SERVICE) => b"\n(no daemon owned org.freedesktop.secrets within 30 s)",
            Some(124) => b"\n(timed out after 120 s)",
            _ => b"",
        };
        stderr.extend_from_slice(why);
        stderr.extend_from_slice(b"\n--- keyring daemon log\n");
        stderr.extend(read(&self.logs.path().join("daemon.log")));
        Output {
            status,
            stdout: read(&out_path),
            stderr,
        }
    }

    /// `program` with the private dirs, inside a fresh D-Bus session with an
    /// unlocked keyring daemon when `in_session`, else with no bus at all.
    fn command(&self, program: &Path, in_session: bool) -> Command {
        let mut cmd = Command::new("timeout");
        // A guard against a hung daemon, not a measurement.
        cmd.args(["--kill-after=5", "120"]);
        if in_session {
            let config = self.logs.path().join("bus.conf");
            std::fs::write(&config, BUS_CONFIG).expect("write the bus config");
            cmd.arg("dbus-run-session")
                .arg(format!("--config-file={}", config.display()))
                .args(["--", "sh", "-c", IN_SESSION, "sh"]);
        }
        cmd.arg(program)
            .env("KEYRING_TEST_PASSWORD", "tonnytray-test-keyring")
            .env("KEYRING_DAEMON_LOG", self.logs.path().join("daemon.log"))
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", &self.data)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("GNOME_KEYRING_CONTROL")
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        if !in_session {
            cmd.env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", self.runtime.join("no-bus").display()),
            );
        }
        cmd
    }
}

impl Drop for Dirs {
    /// Kills what the sessions left running with this HOME: a keyring
    /// daemon normally quits with its bus, but not if it lost a race.
    fn drop(&mut self) {
        let mut needle = b"HOME=".to_vec();
        needle.extend_from_slice(self.home.as_os_str().as_encoded_bytes());
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let holds = std::fs::read(entry.path().join("environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == needle.as_slice()));
            if holds {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
    }
}

fn describe(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            files.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    files
}

/// The files under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}
