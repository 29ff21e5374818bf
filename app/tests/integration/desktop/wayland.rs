//! A private Wayland desktop for the end-to-end tests: sway with its
//! headless backend (no X server anywhere), run as an unprivileged user
//! because sway refuses root; a session bus of its own; waybar, whose tray
//! hosts StatusNotifier items; a foot terminal whose `cat` records what is
//! typed; and the app, native on Wayland, started as that user.
//!
//! The user is named by `TONNYTRAY_TEST_WAYLAND_USER` (ci/check.sh creates
//! it). Everything lives in a temporary folder that user owns, the app's
//! binary included: the checkout may sit where the user cannot read.
//!
//! The hotkey is the compositor's: sway binds Ctrl+Shift+V to `tonnytray
//! ptt press` and its release to `ptt release`, and the test presses those
//! keys with wtype (a virtual keyboard), as a user's keyboard would: a tap
//! in toggle mode, or one wtype call that holds the keys for as long as a
//! sentence plays (push-to-talk). enigo's virtual keyboard could hold keys
//! too, but its modifiers do not reach sway 1.7.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::bin;

/// The sway output's size.
const WIDTH: usize = 1280;
/// waybar's height at the top of the output.
pub const BAR: usize = 30;

/// The test user, when the run provides one.
#[must_use]
pub fn test_user() -> Option<String> {
    std::env::var("TONNYTRAY_TEST_WAYLAND_USER")
        .ok()
        .filter(|u| !u.is_empty())
}

/// One private sway session with the app in it.
pub struct Sway {
    pub dir: tempfile::TempDir,
    user: String,
    uid: u32,
    gid: u32,
    bus: String,
    children: Vec<Child>,
    pub app: Option<Child>,
    /// What the foot terminal received.
    pub typed: PathBuf,
    /// The app's binary, copied where the user can run it.
    pub bin: PathBuf,
}

impl Sway {
    /// Starts sway, waybar, foot and the app (with `settings`), and waits
    /// until the app is idle and waybar shows its icon's host.
    pub fn start(user: &str, settings: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id")
                .args([flag, user])
                .output()
                .expect("id runs");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("no user {user}"))
        };
        let mut me = Self {
            typed: dir.path().join("typed.txt"),
            bin: dir.path().join("tonnytray"),
            dir,
            user: user.to_owned(),
            uid: id("-u"),
            gid: id("-g"),
            bus: String::new(),
            children: Vec::new(),
            app: None,
        };
        me.prepare_files(settings);
        me.start_bus();
        me.start_sway();
        me.app = Some(me.launch_app());
        me.wait_status("the app to start", |s| s["state"] == "Idle");
        me
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Makes `path` the user's.
    fn give(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).expect("chown");
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write");
        self.give(&path);
        path
    }

    fn prepare_files(&self, settings: &str) {
        self.give(self.dir.path());
        for sub in ["xdg", "home"] {
            let path = self.path(sub);
            std::fs::create_dir_all(&path).expect("dir");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).expect("chmod");
            self.give(&path);
        }
        std::fs::copy(bin(), &self.bin).expect("copy the app");
        std::fs::set_permissions(&self.bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        self.give(&self.bin);
        self.write("settings.toml", settings);
        super::write_bus_config(&self.path("bus.conf"), &self.path("bus"));
        self.give(&self.path("bus.conf"));
        self.write(
            "waybar.json",
            &format!(
                r#"{{"layer": "top", "position": "top", "height": {BAR},
                   "modules-right": ["tray"], "tray": {{"icon-size": 24, "spacing": 4}}}}"#
            ),
        );
        self.write(
            "waybar.css",
            "* { font-family: sans-serif; } window#waybar { background: #ffffff; }\n",
        );
        let bin = self.bin.display();
        let dir = self.dir.path().display();
        let typed = self.typed.display();
        self.write(
            "sway.conf",
            &format!(
                "output HEADLESS-1 resolution {WIDTH}x800 position 0 0\n\
                 default_border none\n\
                 bindsym --no-repeat Ctrl+Shift+v exec {bin} ptt press\n\
                 bindsym --release Ctrl+Shift+v exec {bin} ptt release\n\
                 exec waybar -c {dir}/waybar.json -s {dir}/waybar.css\n\
                 exec foot -a target -T target sh -c 'stty raw -echo; exec cat > {typed}'\n"
            ),
        );
    }

    /// A command run as the test user in this session.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let home = self.path("home");
        let mut c = Command::new("runuser");
        c.args(["-u", &self.user, "--"])
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &home)
            .env("USER", &self.user)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_RUNTIME_DIR", self.path("xdg"))
            .env("WAYLAND_DISPLAY", "wayland-1")
            .env("TONNYTRAY_DB", self.path("history.redb"));
        if let Some(pulse) = std::env::var_os("PULSE_SERVER") {
            c.env("PULSE_SERVER", pulse);
        }
        if !self.bus.is_empty() {
            c.env("DBUS_SESSION_BUS_ADDRESS", &self.bus);
        }
        c
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        super::run_ok(self.command(program), program, args)
    }

    fn start_bus(&mut self) {
        let dbus = self.command("dbus-daemon");
        let (daemon, address) = super::start_bus(dbus, &self.path("bus.conf"));
        self.bus = address;
        self.children.push(daemon);
    }

    fn start_sway(&mut self) {
        let sway = self
            .command("sway")
            .args(["-c"])
            .arg(self.path("sway.conf"))
            .env("WLR_BACKENDS", "headless")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_RENDERER", "pixman")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("sway.log")).expect("log"))
            .spawn()
            .expect("sway runs (installed by scripts/install-deps.sh)");
        self.children.push(sway);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.path("xdg/wayland-1").exists() || self.sway_socket().is_none() {
            assert!(
                Instant::now() < deadline,
                "sway did not start: {}",
                std::fs::read_to_string(self.path("sway.log")).unwrap_or_default()
            );
            sleep(Duration::from_millis(100));
        }
        self.wait_for("foot, the typing target", || {
            self.swaymsg(&["-t", "get_tree"])
                .contains("\"app_id\": \"target\"")
        });
    }

    fn sway_socket(&self) -> Option<PathBuf> {
        std::fs::read_dir(self.path("xdg"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("sway-ipc"))
            })
    }

    /// Runs swaymsg with these arguments; its output.
    pub fn swaymsg(&self, args: &[&str]) -> String {
        let socket = self.sway_socket().expect("sway's socket");
        let out = self
            .command("swaymsg")
            .env("SWAYSOCK", socket)
            .args(args)
            .output()
            .expect("swaymsg runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn launch_app(&self) -> Child {
        self.command(&self.bin)
            .arg("--settings")
            .arg(self.path("settings.toml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("app.log")).expect("log"))
            .spawn()
            .expect("the app starts")
    }

    /// The app's log so far.
    pub fn app_log(&self) -> String {
        std::fs::read_to_string(self.path("app.log")).unwrap_or_default()
    }

    pub fn status(&self) -> Option<Value> {
        let out = self.command(&self.bin).arg("status").output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }

    pub fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        super::wait_for_status(what, || self.status(), done, || self.app_log())
    }

    fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            sleep(Duration::from_millis(100));
        }
    }

    /// Presses and lets go of Ctrl+Shift+V on a virtual keyboard.
    pub fn tap_hotkey(&self) {
        self.run(
            "wtype",
            &[
                "-M", "ctrl", "-M", "shift", "v", "-m", "shift", "-m", "ctrl",
            ],
        );
    }

    /// Starts a second foot terminal whose `cat` records what is pasted
    /// into it, bound to paste on Ctrl+V as most apps do (foot's own
    /// default is Ctrl+Shift+V), and focuses it; the file it writes.
    ///
    /// Not a GTK entry: GTK 3 on sway 1.7 saw a virtual keyboard's Ctrl+V
    /// (keyval v, Control) and did not paste, whether from wtype or by
    /// hand, while foot pastes the same keys (README, desktops table).
    pub fn start_paste_target(&mut self, file: &str) -> PathBuf {
        let config = self.write("foot.ini", "[key-bindings]\nclipboard-paste=Control+v\n");
        let out = self.path(file);
        let target = self
            .command("foot")
            .arg("-c")
            .arg(&config)
            .args(["-a", "paste-target", "-T", "paste-target", "sh", "-c"])
            .arg(format!("stty raw -echo; exec cat > '{}'", out.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("foot runs");
        self.children.push(target);
        self.wait_for("the paste target", || {
            self.swaymsg(&["-t", "get_tree"])
                .contains("\"app_id\": \"paste-target\"")
        });
        let focused = self.swaymsg(&["[app_id=\"paste-target\"] focus"]);
        assert!(focused.contains("\"success\": true"), "{focused}");
        out
    }

    /// Holds Ctrl+Shift+V down on a virtual keyboard for `held`, then lets
    /// go: one wtype call, which sends each key when its turn comes (`-s`
    /// waits between them). Returns at once; wait on the child.
    pub fn hold_hotkey(&self, held: Duration) -> Child {
        let held = format!("{}", held.as_millis());
        self.command("wtype")
            .args(["-M", "ctrl", "-M", "shift", "-P", "v", "-s", &held])
            .args(["-p", "v", "-m", "shift", "-m", "ctrl"])
            .spawn()
            .expect("wtype runs")
    }

    /// Gives the keyboard focus to the foot terminal.
    pub fn focus_target(&self) {
        let out = self.swaymsg(&["[app_id=\"target\"] focus"]);
        assert!(out.contains("\"success\": true"), "{out}");
    }

    /// The output as RGB pixels (grim's PPM), with its width and height.
    pub fn screenshot(&self, name: &str) -> (Vec<u8>, usize, usize) {
        let out = self.run("grim", &["-t", "ppm", "-"]);
        if let Some(dir) = std::env::var_os("TONNYTRAY_TEST_ARTIFACTS") {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(PathBuf::from(dir).join(format!("{name}.ppm")), &out.stdout);
        }
        parse_ppm(&out.stdout)
    }

    /// Whether waybar's strip shows a pixel of this colour (within 24 per
    /// channel): the tray icon's state colour.
    pub fn bar_shows_colour(&self, colour: [u8; 3]) -> bool {
        let (rgb, w, h) = self.screenshot("wayland-bar");
        rgb.chunks(3)
            .take(w * BAR.min(h))
            .any(|p| p.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 24))
    }

    /// Waits until waybar shows a pixel of this colour.
    pub fn wait_bar_colour(&self, colour: [u8; 3], what: &str) {
        self.wait_for(what, || self.bar_shows_colour(colour));
    }

    pub fn typed_text(&self) -> String {
        std::fs::read_to_string(&self.typed).unwrap_or_default()
    }

    pub fn quit(&self) {
        let _ = self.command(&self.bin).arg("quit").output();
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        self.quit();
        if let Some(app) = self.app.as_mut() {
            super::end_gracefully(app);
        }
        if let (true, Some(dir)) = (
            std::thread::panicking(),
            std::env::var_os("TONNYTRAY_TEST_ARTIFACTS"),
        ) {
            let name = std::thread::current().name().unwrap_or("test").to_owned();
            let _ = std::fs::create_dir_all(&dir);
            for log in ["app", "sway"] {
                let _ = std::fs::copy(
                    self.path(&format!("{log}.log")),
                    PathBuf::from(&dir).join(format!("{name}-{log}.log")),
                );
            }
        }
        if self.sway_socket().is_some() {
            let _ = self.swaymsg(&["exit"]);
        }
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // What sway started (waybar, foot) and anything else of this
        // dedicated user's.
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.user])
            .status();
    }
}

/// A binary PPM (P6, maxval 255): its RGB bytes, width and height.
fn parse_ppm(bytes: &[u8]) -> (Vec<u8>, usize, usize) {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        let start = at;
        while bytes.get(at).is_some_and(|b| !b.is_ascii_whitespace()) {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P6", "grim wrote a PPM");
    let w: usize = fields[1].parse().expect("width");
    let h: usize = fields[2].parse().expect("height");
    let pixels = bytes[at + 1..].to_vec();
    assert_eq!(pixels.len(), w * h * 3, "a whole image");
    (pixels, w, h)
}
