//! Typing committed words into the focused window, on the `typing` thread.
//!
//! X11 types through the XTEST extension a character at a time
//! ([`super::xtest`]); Wayland, Windows and macOS through enigo (Wayland's
//! virtual keyboard, SendInput, CGEvent), also a character at a time. When
//! typing does not work, the text is pasted through the clipboard (arboard:
//! X11, Wayland's data-control, Windows, macOS) and the user's clipboard is
//! put back. The per-app allow/deny list is checked against the focused
//! window's title and class (X11 only: Wayland does not tell other clients
//! which window has focus). Every outcome is reported back; a failure is
//! never swallowed.
//!
//! On X11 every character waits while a menu (the tray's, drawn by the
//! panel, or any app's) holds the keyboard, so a menu opening mid-sentence
//! never receives the rest of it ([`super::xtest`]). Wayland gives other
//! clients no such view.
//!
//! X11 keeps its own XTEST typer rather than enigo's: enigo cannot wait
//! while another client holds the keyboard or the user holds a key, which
//! is what keeps a sentence out of a menu or a shortcut.

use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::settings::{TypingMethod, TypingSettings};

/// Pieces of text waiting to be typed; beyond this the core is told at once.
const QUEUE: usize = 64;

/// Text to type.
#[derive(Debug, Clone)]
pub struct TypeJob {
    /// Which utterance it belongs to.
    pub utterance: u64,
    /// The text, replacements already applied.
    pub text: String,
    /// The typing settings at the time the words were committed.
    pub settings: TypingSettings,
    /// Wait this long before typing: a re-type asked from the window waits
    /// for the focus to go back to the window the user was in.
    pub focus_wait: Duration,
}

/// What happened to a [`TypeJob`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeResult {
    /// Typed (or pasted).
    Typed {
        /// The job's utterance.
        utterance: u64,
        /// Something the user should know although the words went in
        /// (the clipboard could not be given back).
        note: Option<String>,
    },
    /// Deliberately not typed (filter, own window), and why.
    Skipped {
        /// The job's utterance.
        utterance: u64,
        /// Why, for the user.
        why: String,
    },
    /// Could not type, and what to do about it.
    Failed {
        /// The job's utterance.
        utterance: u64,
        /// What went wrong.
        why: String,
    },
}

/// How long after the last paste (and its [`PASTE_READ`]) the user's
/// clipboard is put back, so that a slow target still reads the words.
const GIVE_BACK_AFTER: Duration = Duration::from_millis(500);

/// How long the target gets to read the clipboard after the paste keys.
const PASTE_READ: Duration = Duration::from_millis(300);

/// How long a paste waits for the clipboard to show the words it set.
const CLIPBOARD_SETTLE: Duration = Duration::from_secs(1);

/// How long typing waits for a menu to let go of the keyboard.
#[cfg(target_os = "linux")]
const MENU_WAIT: Duration = Duration::from_secs(120);

/// Starts the `typing` thread; results go to `report`.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn(
    report: impl Fn(TypeResult) + Send + 'static,
) -> std::io::Result<(SyncSender<TypeJob>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::sync_channel::<TypeJob>(QUEUE);
    let handle = crate::runtime::thread::spawn("typing", move || {
        let session = Session::detect();
        let mut desk = Desk::default();
        let mut next = None;
        while let Some(job) = next.take().or_else(|| rx.recv().ok()) {
            std::thread::sleep(job.focus_wait);
            let mut result = type_one(&session, &job, &mut desk);
            if desk.stash.is_some() {
                // The user's clipboard goes back only once no words
                // follow for a while: put back between two pastes, a
                // slow target could read it instead of the words.
                match rx.recv_timeout(GIVE_BACK_AFTER) {
                    Ok(job) => next = Some(job),
                    Err(_) => result = desk.give_back(result),
                }
            }
            report(result);
        }
    })?;
    Ok((tx, handle))
}

/// What stopped typing part-way: how many bytes of the text went in first.
#[derive(Debug)]
pub struct Stopped {
    /// Bytes of the text typed before the stop.
    pub typed: usize,
    /// What went wrong, for the user.
    pub why: String,
}

/// Why typing gave up when a menu kept the keyboard.
pub const MENU_STAYED_OPEN: &str =
    "a menu kept the keyboard for two minutes, so the words could not be typed";

/// What the typing thread keeps from one job to the next: the virtual
/// keyboard (Wayland sends a keymap when it is made; once is enough) and the
/// clipboard (on X11 the clipboard's owner serves its text: it must outlive
/// the paste that put the user's text back), with the user's own text while
/// pastes borrow it.
#[derive(Default)]
struct Desk {
    keys: Option<enigo::Enigo>,
    clipboard: Option<arboard::Clipboard>,
    /// What the clipboard held before the first of a run of pastes: `Some(None)`
    /// when it held no text (empty, or an image), which cannot be put back.
    stash: Option<Option<String>>,
}

impl Desk {
    /// The keyboard for typing with enigo, made on first use.
    fn keys(&mut self) -> Result<&mut enigo::Enigo, String> {
        let keys = match self.keys.take() {
            Some(keys) => keys,
            None => enigo::Enigo::new(&enigo::Settings::default())
                .map_err(|e| format!("cannot send keys to this desktop ({e})"))?,
        };
        Ok(self.keys.insert(keys))
    }

    /// The clipboard, opened on first use.
    fn clipboard(&mut self) -> Result<&mut arboard::Clipboard, String> {
        let clipboard = match self.clipboard.take() {
            Some(clipboard) => clipboard,
            None => {
                arboard::Clipboard::new().map_err(|e| format!("cannot open the clipboard ({e})"))?
            }
        };
        Ok(self.clipboard.insert(clipboard))
    }

    /// Puts the user's clipboard back after a run of pastes; a failure
    /// becomes a note on `result`, since the words did go in.
    fn give_back(&mut self, result: TypeResult) -> TypeResult {
        let Some(Some(saved)) = self.stash.take() else {
            return result;
        };
        let problem = match self.clipboard() {
            Ok(clipboard) => clipboard.set_text(saved).err().map(|e| e.to_string()),
            Err(e) => Some(e),
        };
        let Some(problem) = problem else {
            return result;
        };
        let note =
            format!("the words were pasted, but your clipboard could not be put back: {problem}");
        match result {
            TypeResult::Typed { utterance, .. } => TypeResult::Typed {
                utterance,
                note: Some(note),
            },
            TypeResult::Skipped { utterance, why } | TypeResult::Failed { utterance, why } => {
                TypeResult::Failed {
                    utterance,
                    why: format!("{why}; {note}"),
                }
            }
        }
    }
}

/// The kind of desktop session, from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// An X server (`DISPLAY`).
    X11,
    /// A Wayland compositor (`WAYLAND_DISPLAY`).
    Wayland,
    /// Windows' or macOS's own desktop, there whenever the app runs.
    Native,
    /// No graphical session.
    None,
}

impl Session {
    /// Reads `WAYLAND_DISPLAY` and `DISPLAY` (Linux); elsewhere the
    /// system's desktop.
    #[must_use]
    pub fn detect() -> Self {
        if !cfg!(target_os = "linux") {
            return Self::Native;
        }
        let set = |k| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        if set("WAYLAND_DISPLAY") {
            Self::Wayland
        } else if set("DISPLAY") {
            Self::X11
        } else {
            Self::None
        }
    }
}

/// The focused window, as far as the session tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FocusedWindow {
    /// Title.
    pub title: String,
    /// `WM_CLASS` (instance and class), if known.
    pub class: String,
    /// Owning process, if known.
    pub pid: Option<u32>,
}

/// Decides whether the allow/deny lists let text go to this window.
/// `None` means yes; `Some(why)` means no.
#[must_use]
pub fn filter(window: &FocusedWindow, settings: &TypingSettings) -> Option<String> {
    let haystack = format!("{} {}", window.title, window.class).to_lowercase();
    let allow_rules = has_rules(&settings.allow);
    let hit = |list: &[String]| {
        list.iter()
            .map(|s| s.trim().to_lowercase())
            .find(|s| !s.is_empty() && haystack.contains(s.as_str()))
    };
    if let Some(rule) = hit(&settings.deny) {
        return Some(format!(
            "not typed into {:?}: it matches the deny list entry {rule:?}",
            window.title
        ));
    }
    if allow_rules && hit(&settings.allow).is_none() {
        return Some(format!(
            "not typed into {:?}: it is not on the allow list",
            window.title
        ));
    }
    None
}

/// Whether a list holds a rule (blank entries are no rule).
fn has_rules(list: &[String]) -> bool {
    list.iter().any(|s| !s.trim().is_empty())
}

fn type_one(session: &Session, job: &TypeJob, desk: &mut Desk) -> TypeResult {
    let utterance = job.utterance;
    let skipped = |why| TypeResult::Skipped { utterance, why };
    let failed = |why| TypeResult::Failed { utterance, why };
    let has_rules = has_rules(&job.settings.allow) || has_rules(&job.settings.deny);
    match session {
        Session::None => {
            return failed(
                "no desktop session (neither DISPLAY nor WAYLAND_DISPLAY is set)".into(),
            );
        }
        Session::X11 => {
            if let Some(window) = focused_x11() {
                if window.pid == Some(std::process::id()) {
                    return skipped(
                        "not typed: TonnyTray's own window has focus (use the hotkey from the app you want to type into)"
                            .into(),
                    );
                }
                if let Some(why) = filter(&window, &job.settings) {
                    return skipped(why);
                }
            } else if has_rules {
                return skipped(
                    "not typed: the focused window is unknown, so the allow/deny list cannot be checked"
                        .into(),
                );
            }
        }
        Session::Wayland if has_rules => {
            return skipped(
                "not typed: Wayland does not say which window has focus, so the allow/deny list cannot be checked"
                    .into(),
            );
        }
        Session::Native if has_rules => {
            return skipped(
                "not typed: the focused window is not read on this system yet, so the allow/deny list cannot be checked"
                    .into(),
            );
        }
        Session::Wayland | Session::Native => {}
    }
    tracing::debug!(
        "typing {} characters of utterance {utterance}",
        job.text.chars().count()
    );
    let typed = match job.settings.method {
        TypingMethod::Auto => type_text(*session, &job.text, job.settings.delay_ms, desk),
        TypingMethod::Clipboard => Err(Stopped {
            typed: 0,
            why: "clipboard chosen in settings".into(),
        }),
    };
    let Err(Stopped { typed, why }) = typed else {
        return TypeResult::Typed {
            utterance,
            note: None,
        };
    };
    if why == MENU_STAYED_OPEN {
        return failed(why);
    }
    // Only what did not go in yet, so nothing is typed twice.
    let rest = &job.text[typed..];
    match paste(*session, rest, desk) {
        Ok(()) => TypeResult::Typed {
            utterance,
            note: None,
        },
        Err(paste_problem) => failed(format!(
            "could not type ({why}) nor paste ({paste_problem})"
        )),
    }
}

/// Types the text a character at a time: through XTEST on X11, else with
/// enigo.
fn type_text(session: Session, text: &str, delay_ms: u32, desk: &mut Desk) -> Result<(), Stopped> {
    let delay = Duration::from_millis(delay_ms.into());
    #[cfg(not(target_os = "linux"))]
    let _ = session;
    #[cfg(target_os = "linux")]
    if session == Session::X11 {
        let mut typer = super::xtest::Typer::connect().map_err(|why| Stopped { typed: 0, why })?;
        return typer.type_text(text, delay, MENU_WAIT);
    }
    let keys = desk.keys().map_err(|why| Stopped { typed: 0, why })?;
    let mut refused = None;
    for (at, c) in text.char_indices() {
        let key = match c {
            '\n' | '\r' => enigo::Key::Return,
            '\t' => enigo::Key::Tab,
            c if c.is_control() => continue,
            c => enigo::Key::Unicode(c),
        };
        if let Err(e) = enigo::Keyboard::key(keys, key, enigo::Direction::Click) {
            refused = Some(Stopped {
                typed: at,
                why: format!("the desktop refused a typed key ({e})"),
            });
            break;
        }
        std::thread::sleep(delay);
    }
    match refused {
        // The connection may be gone (the compositor restarted): the next
        // job makes a new one.
        Some(stopped) => {
            desk.keys = None;
            Err(stopped)
        }
        None => Ok(()),
    }
}

#[cfg(target_os = "linux")]
fn focused_x11() -> Option<FocusedWindow> {
    let focus = super::xtest::Typer::connect().ok()?.focused_window()?;
    Some(FocusedWindow {
        title: focus.title,
        class: focus.class,
        pid: focus.pid,
    })
}

#[cfg(not(target_os = "linux"))]
fn focused_x11() -> Option<FocusedWindow> {
    None
}

/// Pastes through the clipboard. The user's clipboard is kept in the desk
/// and put back after the last paste of a run ([`Desk::give_back`]).
fn paste(session: Session, text: &str, desk: &mut Desk) -> Result<(), String> {
    if session == Session::None {
        return Err("no desktop session".into());
    }
    if text.is_empty() {
        return Ok(());
    }
    if desk.stash.is_none() {
        // Exactly as it was, whitespace included.
        let saved = desk.clipboard()?.get_text().ok();
        desk.stash = Some(saved);
    }
    let clipboard = desk.clipboard()?;
    clipboard
        .set_text(text)
        .map_err(|e| format!("the clipboard did not take the text ({e})"))?;
    // Setting the selection reaches the compositor or X server after a
    // round trip; a paste before that would insert the old contents.
    let deadline = std::time::Instant::now() + CLIPBOARD_SETTLE;
    while clipboard.get_text().ok().as_deref() != Some(text) {
        if std::time::Instant::now() >= deadline {
            return Err("the clipboard did not show the words after setting them".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    paste_shortcut(session, desk)?;
    // The target asks for the clipboard's text after the key press; the
    // next paste must not replace it before then (on X11 a paste of "my"
    // inserted the following piece instead).
    std::thread::sleep(PASTE_READ);
    Ok(())
}

/// Presses the paste shortcut (Ctrl+V; Cmd+V on macOS).
///
/// On Wayland this runs `wtype`: enigo's virtual keyboard cannot hold a
/// modifier under sway 1.7 (Shift+B and Ctrl+D arrived in foot as "b" and
/// "d"; plain characters, which typing needs, arrive as sent), while wtype's
/// modifiers work.
#[cfg(target_os = "linux")]
fn paste_shortcut(session: Session, _desk: &mut Desk) -> Result<(), String> {
    match session {
        Session::X11 => super::xtest::Typer::connect()?.paste_shortcut(MENU_WAIT),
        Session::Wayland => wtype_paste(),
        Session::None | Session::Native => Err("no desktop session".into()),
    }
}

/// Presses the paste shortcut (Ctrl+V; Cmd+V on macOS) with enigo.
#[cfg(not(target_os = "linux"))]
fn paste_shortcut(_session: Session, desk: &mut Desk) -> Result<(), String> {
    let modifier = if cfg!(target_os = "macos") {
        enigo::Key::Meta
    } else {
        enigo::Key::Control
    };
    let keys = desk.keys()?;
    let pressed = enigo::Keyboard::key(keys, modifier, enigo::Direction::Press).and_then(|()| {
        enigo::Keyboard::key(keys, enigo::Key::Unicode('v'), enigo::Direction::Click)
    });
    // Let go of the modifier whatever happened, or it would stay down.
    let released = enigo::Keyboard::key(keys, modifier, enigo::Direction::Release);
    pressed
        .and(released)
        .map_err(|e| format!("the desktop refused the paste keys ({e})"))
}

/// Ctrl+V through `wtype`. It sends its keymap and types at once, and the
/// focused client can drop the first key before the keymap reaches it (5 of
/// 16 calls under sway 1.7 with foot); 50 ms first avoided that (0 of 15).
#[cfg(target_os = "linux")]
fn wtype_paste() -> Result<(), String> {
    let out = std::process::Command::new("wtype")
        .args(["-s", "50", "-M", "ctrl", "v", "-m", "ctrl"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "wtype is not installed (the paste on Wayland needs it)".to_owned()
            }
            _ => format!("cannot run wtype: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "wtype failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(title: &str, class: &str) -> FocusedWindow {
        FocusedWindow {
            title: title.into(),
            class: class.into(),
            pid: None,
        }
    }

    fn settings(allow: &[&str], deny: &[&str]) -> TypingSettings {
        TypingSettings {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: deny.iter().map(|s| (*s).to_owned()).collect(),
            ..TypingSettings::default()
        }
    }

    #[test]
    fn empty_lists_allow_every_window() {
        assert_eq!(filter(&window("notes", "gedit"), &settings(&[], &[])), None);
        assert_eq!(
            filter(&window("notes", "gedit"), &settings(&[" "], &[""])),
            None
        );
    }

    #[test]
    fn deny_wins_and_matches_title_or_class_case_insensitively() {
        let s = settings(&["term"], &["KeePass"]);
        let why = filter(&window("Passwords", "keepassxc"), &s).expect("denied");
        assert!(
            why.contains("deny list") && why.contains("keepass"),
            "{why}"
        );
        assert_eq!(filter(&window("bash", "XTerm"), &s), None);
    }

    #[test]
    fn an_allow_list_keeps_out_everything_else() {
        let s = settings(&["xterm"], &[]);
        let why = filter(&window("Inbox", "thunderbird"), &s).expect("not allowed");
        assert!(why.contains("allow list"), "{why}");
    }

    #[test]
    fn without_a_desktop_nothing_is_typed_and_it_says_why() {
        let job = TypeJob {
            utterance: 7,
            text: "hello".into(),
            settings: TypingSettings::default(),
            focus_wait: Duration::ZERO,
        };
        match type_one(&Session::None, &job, &mut Desk::default()) {
            TypeResult::Failed { utterance, why } => {
                assert_eq!(utterance, 7);
                assert!(why.contains("DISPLAY"), "{why}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
