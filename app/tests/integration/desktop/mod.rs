//! The private desktop the end-to-end tests run the app in: an X server
//! (Xvfb), a D-Bus session bus of its own, a StatusNotifier tray host
//! (`status-notifier-watcher` and the `gtk-sni-tray-standalone` panel, as a
//! desktop's panel would be), an xterm that receives typed words, the app
//! (with an unlocked Secret Service on that bus when a test needs secrets in
//! the keyring), and helpers to speak, press hotkeys and read the app's
//! status.

pub mod wayland;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::common::{assert_wer, bin, repo_root, server_url};
use serde_json::Value;

/// The StatusNotifier panel's window class.
const SNI_PANEL: &str = "gtk-sni-tray-standalone";

/// These tests check that what was heard is what was typed, word for word;
/// how well tiny.en hears is `e2e_speech`'s concern (15 % there). Here the
/// error rate only shows the words came from this speech: tiny.en now and
/// then mishears the first words of a sentence whose audio starts the
/// stream ("Please, now that will" for "Please add apples and").
pub const MAX_WER: f64 = 0.35;
pub const TEXT: &str = "Please add apples and bananas to the shopping list. \
    Remind me to call my sister after dinner tonight.";

/// Which tray the desktop's panel has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayHost {
    /// A StatusNotifier host (what KDE, GNOME's AppIndicator extension,
    /// waybar and xfce4-panel offer): the icon shows.
    Sni,
    /// Only an old-style XEmbed tray (trayer): the icon cannot show.
    XEmbed,
    /// No tray at all.
    None,
}

/// One private desktop: X server, session bus, tray host, target window,
/// the app.
pub struct Desktop {
    pub dir: tempfile::TempDir,
    pub display: String,
    /// The session bus every program of this desktop shares.
    pub bus: String,
    pub children: Vec<Child>,
    pub app: Option<Child>,
    pub typed: PathBuf,
    /// The desktop portal runs (KDE's backend): the app asks it for the
    /// hotkey instead of grabbing it on the X server.
    pub portal: bool,
}

impl Desktop {
    pub fn start(settings: &str) -> Self {
        Self::start_with(settings, TrayHost::Sni)
    }

    /// With this kind of tray.
    pub fn start_with(settings: &str, tray_host: TrayHost) -> Self {
        Self::start_full(settings, tray_host, &[])
    }

    /// With these `(name, value)` secrets in the session's keyring: the
    /// session bus gets an unlocked Secret Service (gnome-keyring) and
    /// `tonnytray secret set` stores each value, read from the environment
    /// of that shell only.
    pub fn start_full(settings: &str, tray_host: TrayHost, secrets: &[(&str, &str)]) -> Self {
        Self::start_inner(settings, tray_host, secrets, false)
    }

    /// With the XDG desktop portal and KDE's backend, whose GlobalShortcuts
    /// the app is told to use for the hotkey
    /// (`TONNYTRAY_HOTKEY_BACKEND=portal`): KDE's global-shortcut daemon
    /// grabs the key on this X server and the portal reports its presses.
    pub fn start_with_portal(settings: &str) -> Self {
        Self::start_inner(settings, TrayHost::Sni, &[], true)
    }

    fn start_inner(
        settings: &str,
        tray_host: TrayHost,
        secrets: &[(&str, &str)],
        portal: bool,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = dir.path().join("xdg");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home dir");
        set_private(&runtime);
        let mut xvfb = Command::new("Xvfb");
        xvfb.args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1024x768x24",
            "-nolisten",
            "tcp",
        ]);
        if portal {
            // KDE's shortcut daemon lets a held key's auto-repeat through to
            // the focused window on X11 (a Shift+F9 escape, or a "v", per
            // hold of over 0.6 s, seen here); that is why the portal is
            // opt-in on X11 (README). Auto-repeat is off on this server so
            // that the test checks the portal's press and release.
            xvfb.args(["-ardelay", "600000"]);
        }
        let mut xvfb = xvfb
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs (installed by scripts/install-deps.sh)");
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("display number");
        let display = format!(":{}", line.trim());
        let mut me = Self {
            typed: dir.path().join("typed.txt"),
            dir,
            display,
            bus: String::new(),
            children: vec![xvfb],
            app: None,
            portal,
        };
        me.start_bus();
        if portal {
            me.start_portal();
        }
        if tray_host == TrayHost::Sni {
            me.start_sni_host();
        }
        if tray_host == TrayHost::XEmbed {
            let trayer = me
                .command("trayer")
                .args([
                    "--edge",
                    "top",
                    "--align",
                    "right",
                    "--widthtype",
                    "request",
                ])
                .args([
                    "--height",
                    "32",
                    "--transparent",
                    "false",
                    "--tint",
                    "0xffffff",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("trayer runs");
            me.children.push(trayer);
            me.wait_window("--class", "trayer");
        }
        let typed = me.typed.display().to_string();
        let xterm = me
            .command("xterm")
            .args([
                "-geometry",
                "100x8+0+560",
                "-title",
                "target",
                "-e",
                "sh",
                "-c",
            ])
            .arg(format!("stty raw -echo; exec cat > '{typed}'"))
            .spawn()
            .expect("xterm runs");
        me.children.push(xterm);
        let settings_path = me.dir.path().join("settings.toml");
        std::fs::write(&settings_path, settings).expect("settings");
        me.app = Some(me.launch_app(&settings_path, secrets));
        me.wait_status("the app to start", |s| s["state"] == "Idle");
        if !settings.contains("start_hidden = true") {
            me.wait_window("--name", "TonnyTray");
        }
        me
    }

    /// Starts this desktop's session bus.
    fn start_bus(&mut self) {
        let config = self.dir.path().join("bus.conf");
        write_bus_config(&config, &self.dir.path().join("bus"));
        let (daemon, address) = start_bus(Command::new("dbus-daemon"), &config);
        self.bus = address;
        self.children.push(daemon);
    }

    /// Starts the portal's services by hand, as the bus starts nothing: the
    /// permission store (without it the portal waits 10 s for it at
    /// start), KDE's global-shortcut daemon, the KDE backend, the portal;
    /// and waits until each has its name.
    fn start_portal(&mut self) {
        for (program, name) in [
            (
                "/usr/libexec/xdg-permission-store",
                "org.freedesktop.impl.portal.PermissionStore",
            ),
            ("kglobalaccel5", "org.kde.kglobalaccel"),
            (
                "/usr/lib/x86_64-linux-gnu/libexec/xdg-desktop-portal-kde",
                "org.freedesktop.impl.portal.desktop.kde",
            ),
            (
                "/usr/libexec/xdg-desktop-portal",
                "org.freedesktop.portal.Desktop",
            ),
        ] {
            let log = self.dir.path().join(format!("{name}.log"));
            let child = self
                .command(program)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log"))
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("{program} runs (installed by scripts/install-deps.sh): {e}")
                });
            self.children.push(child);
            let deadline = Instant::now() + Duration::from_secs(20);
            while !self.bus_has(name) {
                assert!(
                    Instant::now() < deadline,
                    "{program} did not take {name} in 20 s; it said: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                sleep(Duration::from_millis(50));
            }
        }
    }

    fn bus_has(&self, name: &str) -> bool {
        self.command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
            ])
            .arg(format!("string:{name}"))
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
    }

    /// Starts the StatusNotifier watcher and a panel that hosts items, and
    /// waits until the panel has registered as a host.
    fn start_sni_host(&mut self) {
        let watcher = self
            .command("status-notifier-watcher")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("status-notifier-watcher runs (installed by scripts/install-deps.sh)");
        self.children.push(watcher);
        let panel = self
            .command("gtk-sni-tray-standalone")
            .args(["--top", "--end", "--size", "32"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gtk-sni-tray-standalone runs (installed by scripts/install-deps.sh)");
        self.children.push(panel);
        self.wait_window("--class", SNI_PANEL);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.sni_host_registered() {
            assert!(
                Instant::now() < deadline,
                "the panel did not register as a StatusNotifier host"
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn sni_host_registered(&self) -> bool {
        self.command("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.kde.StatusNotifierWatcher",
                "/StatusNotifierWatcher",
                "org.freedesktop.DBus.Properties.Get",
                "string:org.kde.StatusNotifierWatcher",
                "string:IsStatusNotifierHostRegistered",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
    }

    /// Starts the app on this desktop's bus, with an unlocked Secret
    /// Service (gnome-keyring) on it as a desktop session has, holding
    /// `secrets`. The bus starts nothing on demand, so the keyring is
    /// started here: without one the app rightly refuses to send a command
    /// whose token it cannot read.
    fn launch_app(&self, settings_path: &Path, secrets: &[(&str, &str)]) -> Child {
        let mut app = self.command("sh");
        // The daemon claims its bus name a moment after it returns; the
        // bus would not start it on demand, so wait for the name (5 s).
        let mut script = String::from(
            "printf keyring | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 1\n\
             i=0\n\
             until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
             org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; do\n\
             i=$((i + 1)); [ $i -lt 100 ] || exit 1; sleep 0.05\n\
             done\n",
        );
        for (i, (name, value)) in secrets.iter().enumerate() {
            app.env(format!("TEST_SECRET_{i}"), value);
            script.push_str(&format!(
                "printf %s \"$TEST_SECRET_{i}\" | \"$0\" secret set {name} || exit 1\n"
            ));
        }
        script.push_str("exec \"$0\" --settings \"$1\"\n");
        app.args(["-c", &script]).arg(bin()).arg(settings_path);
        app.stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("app.log")).expect("log"))
            .spawn()
            .expect("the app starts")
    }

    /// A command in this desktop's session.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        // A private home: the app's logs, data and the test keyring stay
        // inside the test's folder (the secret-leak checks search it).
        let home = self.dir.path().join("home");
        c.env("DISPLAY", &self.display)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_RUNTIME_DIR", self.dir.path().join("xdg"))
            .env("TONNYTRAY_DB", self.dir.path().join("history.redb"))
            .env_remove("WAYLAND_DISPLAY");
        if !self.bus.is_empty() {
            c.env("DBUS_SESSION_BUS_ADDRESS", &self.bus);
        }
        if self.portal {
            // The portal picks KDE's backend for a KDE session; Qt draws
            // (nothing) on this X server.
            c.env("XDG_CURRENT_DESKTOP", "KDE")
                .env("QT_QPA_PLATFORM", "xcb")
                .env("TONNYTRAY_HOTKEY_BACKEND", "portal");
        }
        c
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        run_ok(self.command(program), program, args)
    }

    pub fn status(&self) -> Option<Value> {
        let out = self.command(bin()).arg("status").output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait_for_status(
            what,
            || self.status(),
            done,
            || std::fs::read_to_string(self.dir.path().join("app.log")).unwrap_or_default(),
        )
    }

    pub fn wait_window(&self, how: &str, name: &str) -> String {
        let out = self.run("xdotool", &["search", "--sync", "--onlyvisible", how, name]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("a window")
            .to_owned()
    }

    /// Gives the keyboard to the xterm, as a user clicking into it would.
    pub fn focus_target(&self) {
        let target = self.wait_window("--name", "target");
        self.run("xdotool", &["windowfocus", "--sync", &target]);
    }

    /// The tray panel's strip as RGB pixels, with its size.
    fn panel_pixels(&self) -> (Vec<u8>, usize, usize) {
        let panel = self.wait_window("--class", SNI_PANEL);
        let out = self.run("xdotool", &["getwindowgeometry", "--shell", &panel]);
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |k: &str| -> usize {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{k} in {text}"))
        };
        let (w, h) = (get("WIDTH"), get("HEIGHT"));
        let crop = format!("{w}x{h}+{}+{}", get("X"), get("Y"));
        let out = self.run(
            "import",
            &["-window", "root", "-crop", &crop, "-depth", "8", "rgb:-"],
        );
        assert_eq!(out.stdout.len(), w * h * 3, "a whole strip from import");
        (out.stdout, w, h)
    }

    /// The centre of the tray icon. The panel packs items at its right
    /// end (`--end`), and the app's window may cover the panel's left part
    /// (there is no window manager): so this is the middle of the rightmost
    /// run of pixels, on the panel's middle row, that differ from the
    /// panel's background (the commonest colour of its right part).
    pub fn tray_icon_centre(&self) -> Option<(i32, i32)> {
        const GAP: usize = 6;
        let (rgb, w, h) = self.panel_pixels();
        let row: Vec<[u8; 3]> = rgb[(h / 2) * w * 3..(h / 2 + 1) * w * 3]
            .chunks(3)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        let right = &row[w.saturating_sub(200)..];
        let background = *right
            .iter()
            .max_by_key(|p| right.iter().filter(|q| q == p).count())?;
        let differs = |x: usize| {
            row[x]
                .iter()
                .zip(background)
                .any(|(a, b)| a.abs_diff(b) > 24)
        };
        let last = (0..w).rev().find(|&x| differs(x))?;
        let mut first = last;
        let mut x = last;
        while x > 0 && first - x <= GAP {
            x -= 1;
            if differs(x) {
                first = x;
            }
        }
        let centre = |v: usize| i32::try_from(v).expect("small");
        Some((centre((first + last) / 2), centre(h / 2)))
    }

    /// Waits for the icon to show on the panel.
    pub fn wait_tray_icon(&self) -> (i32, i32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(at) = self.tray_icon_centre() {
                return at;
            }
            assert!(Instant::now() < deadline, "no tray icon on the panel");
            sleep(Duration::from_millis(100));
        }
    }

    /// The colour at the tray icon's left edge (inside the disc, beside the
    /// microphone glyph), as the X server shows it.
    pub fn tray_colour(&self) -> [u8; 3] {
        let (x, y) = self.wait_tray_icon();
        let crop = format!("1x1+{}+{y}", x - 8);
        let out = self.run(
            "import",
            &["-window", "root", "-crop", &crop, "-depth", "8", "rgb:-"],
        );
        match out.stdout[..] {
            [r, g, b, ..] => [r, g, b],
            _ => panic!("no pixel from import: {:?}", out.stdout),
        }
    }

    pub fn wait_tray_colour(&self, expected: [u8; 3], what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = [0; 3];
        while Instant::now() < deadline {
            seen = self.tray_colour();
            if seen.iter().zip(expected).all(|(a, b)| a.abs_diff(b) <= 24) {
                return;
            }
            sleep(Duration::from_millis(100));
        }
        panic!("tray icon should be {what} {expected:?}, is {seen:?}");
    }

    /// Clicks the tray icon with this mouse button.
    pub fn click_tray_icon(&self, button: &str) {
        let (x, y) = self.wait_tray_icon();
        self.run(
            "xdotool",
            &["mousemove", &x.to_string(), &y.to_string(), "click", button],
        );
    }

    /// Right-clicks the tray icon and waits for the panel's menu to be on
    /// screen: keys sent before it is would go to the focused window
    /// instead.
    pub fn open_tray_menu(&self) {
        self.click_tray_icon("3");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.panel_menu_shown() {
            assert!(Instant::now() < deadline, "the tray menu did not open");
            sleep(Duration::from_millis(50));
        }
        // GTK grabs the keyboard before it maps the menu; let it draw.
        sleep(Duration::from_millis(200));
    }

    /// Whether the panel shows a menu: a window of the panel's program
    /// taller than the panel (GTK's 10×10 grab window and the 32-pixel
    /// strip are not).
    fn panel_menu_shown(&self) -> bool {
        let out = self
            .command("xdotool")
            .args(["search", "--onlyvisible", "--class", SNI_PANEL])
            .output()
            .expect("xdotool runs");
        String::from_utf8_lossy(&out.stdout).lines().any(|id| {
            let geometry = self
                .command("xdotool")
                .args(["getwindowgeometry", "--shell", id])
                .output()
                .expect("xdotool runs");
            String::from_utf8_lossy(&geometry.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("HEIGHT="))
                .and_then(|h| h.parse::<u32>().ok())
                .is_some_and(|h| h > 40)
        })
    }

    pub fn click_tray_item(&self, downs: usize) {
        self.open_tray_menu();
        for _ in 0..downs {
            self.run("xdotool", &["key", "Down"]);
        }
        self.run("xdotool", &["key", "Return"]);
    }

    pub fn screenshot(&self, name: &str) {
        let mut targets = Vec::new();
        if let Some(dir) = std::env::var_os("TONNYTRAY_TEST_ARTIFACTS") {
            targets.push(PathBuf::from(dir));
        }
        if std::env::var_os("TONNYTRAY_UPDATE_SCREENSHOTS").is_some() {
            targets.push(repo_root().join("docs/screenshots"));
        }
        for dir in targets {
            std::fs::create_dir_all(&dir).expect("screenshot dir");
            let path = dir.join(format!("{name}.png"));
            self.run("import", &["-window", "root", &path.display().to_string()]);
        }
    }

    pub fn typed_text(&self) -> String {
        std::fs::read_to_string(&self.typed).unwrap_or_default()
    }

    pub fn quit(&mut self) {
        let _ = self.command(bin()).arg("quit").output();
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        // The app ends by itself (it stops a speech server it started);
        // the bus goes last, with the programs on it.
        self.quit();
        if let Some(app) = self.app.as_mut() {
            end_gracefully(app);
        }
        // A failed test leaves the app's log beside its screenshots.
        if let (true, Some(dir)) = (
            std::thread::panicking(),
            std::env::var_os("TONNYTRAY_TEST_ARTIFACTS"),
        ) {
            let name = std::thread::current().name().unwrap_or("test").to_owned();
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::copy(
                self.dir.path().join("app.log"),
                PathBuf::from(dir).join(format!("{name}-app.log")),
            );
        }
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `command` (a program, `name`, set up to run in some desktop) with
/// `args`; its output, which must say it succeeded.
pub fn run_ok(mut command: Command, name: &str, args: &[&str]) -> Output {
    let out = command
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} runs: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes a session bus configuration listening on `socket`: nothing on it
/// starts on demand, so no accessibility or notification daemon outlives
/// the test (ci/session-bus.conf).
pub fn write_bus_config(config: &Path, socket: &Path) {
    let template = std::fs::read_to_string(repo_root().join("ci/session-bus.conf"))
        .expect("ci/session-bus.conf");
    std::fs::write(
        config,
        template.replace("BUS_PATH", &socket.display().to_string()),
    )
    .expect("bus config");
}

/// Starts `dbus` (a `dbus-daemon` command, perhaps run as another user)
/// with `config`; the daemon and the bus address it printed.
pub fn start_bus(mut dbus: Command, config: &Path) -> (Child, String) {
    let mut daemon = dbus
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon runs (installed by scripts/install-deps.sh)");
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the bus address");
    let address = line.trim().to_owned();
    assert!(!address.is_empty(), "dbus-daemon gave no address");
    (daemon, address)
}

/// Polls `status` (the app's `tonnytray status`) until `done` holds, for
/// at most 90 s; the status then. On time-out the panic shows the last
/// status and `log`.
pub fn wait_for_status(
    what: &str,
    status: impl Fn() -> Option<Value>,
    done: impl Fn(&Value) -> bool,
    log: impl Fn() -> String,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(s) = status() {
            if done(&s) {
                return s;
            }
            last = Some(s);
        }
        sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out waiting for {what}; last status {last:?}\napp log:\n{}",
        log()
    );
}

/// Waits for a process that was asked to quit; kills it after 10 s.
pub fn end_gracefully(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
}

pub fn settings(mode: &str) -> String {
    format!(
        "[server]\nurl = \"{}\"\n[hotkey]\nmode = \"{mode}\"\n[typing]\ndelay_ms = 4\n",
        server_url()
    )
}

pub fn play(desktop: &Desktop, wav: &Path) {
    let status = desktop
        .command("paplay")
        .args(["-d", "vmic_sink"])
        .arg(wav)
        .status()
        .expect("paplay runs (PULSE_SERVER is set by ci/check.sh)");
    assert!(status.success(), "paplay failed");
}

/// Waits until the microphone is really open (the status names it), so the
/// speech played next is heard from its first word.
pub fn wait_mic_open(desktop: &Desktop) {
    desktop.wait_status("the microphone to open", |s| {
        s["state"] == "Listening"
            && s["status"]
                .as_str()
                .is_some_and(|t| t.starts_with("Listening on"))
    });
}

/// Waits for the first utterance to finish; the app's status then.
pub fn wait_utterance(desktop: &Desktop) -> Value {
    desktop.wait_status("the utterance to finish", |s| {
        s["state"] == "Idle" && s["log"].as_array().is_some_and(|l| !l.is_empty())
    })
}

/// Holds the hotkey while `wav` plays into the microphone.
pub fn dictate_holding_hotkey(desktop: &Desktop, wav: &Path) {
    desktop.run("xdotool", &["keydown", "ctrl+shift+v"]);
    wait_mic_open(desktop);
    play(desktop, wav);
    sleep(Duration::from_millis(800));
    desktop.run("xdotool", &["keyup", "ctrl+shift+v"]);
}

/// Starts the Tk entry of `app/tests/fixtures/paste_target.py`, focused;
/// the file it writes its text to.
pub fn start_tk_target(desktop: &mut Desktop, file: &str) -> PathBuf {
    let out = desktop.dir.path().join(file);
    let target = desktop
        .command("/usr/bin/python3")
        .arg(repo_root().join("app/tests/fixtures/paste_target.py"))
        .arg(&out)
        .spawn()
        .expect("python3-tk runs (installed by scripts/install-deps.sh)");
    desktop.children.push(target);
    let window = desktop.wait_window("--name", "paste-target");
    desktop.run("xdotool", &["windowfocus", "--sync", &window]);
    out
}

/// Waits for the utterance to finish, then checks what was heard and typed.
pub fn check_heard_and_typed(desktop: &Desktop) {
    let status = wait_utterance(desktop);
    let heard = status["log"][0]["text"].as_str().expect("text").to_owned();
    eprintln!("final status: {status}");
    assert_wer(TEXT, &heard, MAX_WER);
    assert_eq!(status["log"][0]["typed"], "typed", "{status}");
    assert_same_words(|| desktop.typed_text(), &heard);
    assert_in_history(desktop, &status);
}

/// The finished utterance was saved before it was reported, and `tonnytray
/// history` (answered by the running app, which holds the store) finds it.
pub fn assert_in_history(desktop: &Desktop, status: &Value) {
    let saved = status["log"][0]["saved"].as_u64();
    assert!(saved.is_some(), "reported before it was saved: {status}");
    let out = desktop.run(bin(), &["history", "--json", "--limit", "1"]);
    let history: Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    assert_eq!(history[0]["id"].as_u64(), saved, "{history}");
    assert_eq!(history[0]["text"], status["log"][0]["text"], "{history}");
    assert_eq!(history[0]["went"], "typed", "{history}");
}

/// A backup made while the app runs (through its socket) holds the
/// utterance, and restores into another store file.
pub fn assert_backup_while_running(desktop: &Desktop, text: &Value) {
    let backups = desktop.dir.path().join("backups");
    let out = desktop.run(
        bin(),
        &["backup", "--dir", backups.to_str().expect("utf-8")],
    );
    let file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(file.ends_with(".redb.gz"), "{file}");
    let copy = desktop.dir.path().join("restored.redb");
    let out = desktop.run(
        bin(),
        &["--db", copy.to_str().expect("utf-8"), "restore", &file],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("restored 1 utterances"),
        "{out:?}"
    );
    let out = desktop.run(
        bin(),
        &["--db", copy.to_str().expect("utf-8"), "history", "--json"],
    );
    let history: Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    assert_eq!(&history[0]["text"], text, "{history}");
}

/// Every heard word must arrive in the target, in order: a key lost to a
/// menu or a grab, or typed out of order, shows here even when the speech
/// itself was misheard.
pub fn assert_same_words(read: impl Fn() -> String, heard: &str) {
    let words = |t: &str| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(20);
    while words(&read()) != words(heard) && Instant::now() < deadline {
        sleep(Duration::from_millis(200));
    }
    assert_eq!(
        words(&read()),
        words(heard),
        "the typed words are not the heard ones"
    );
}
