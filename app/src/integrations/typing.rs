//! Typing committed words into the focused window, on the `typing` thread.
//!
//! X11 types through the XTEST extension a character at a time
//! ([`super::xtest`]); Wayland uses `wtype` or `ydotool`. When typing does
//! not work, the text is pasted through the clipboard (`xclip` or `wl-copy`)
//! and the user's clipboard is put back. The per-app allow/deny list is
//! checked against the focused window's title and class (X11 only: Wayland
//! does not tell other clients which window has focus). Every outcome is
//! reported back; a failure is never swallowed.
//!
//! On X11 every character waits while a menu (the tray's, drawn by the
//! panel, or any app's) holds the keyboard, so a menu opening mid-sentence
//! never receives the rest of it ([`super::xtest`]). Wayland gives other
//! clients no such view; tools type a piece of a few words at a time.
//!
//! External tools on Wayland and for the clipboard rather than a crate:
//! they are what those desktops ship for this, they work across the
//! compositors that allow it, and a crate would need uinput code of our own.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
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

/// How long typing waits for a menu to let go of the keyboard.
const MENU_WAIT: Duration = Duration::from_secs(120);

/// Starts the `typing` thread; results go to `report`.
///
/// # Errors
/// When the thread cannot be spawned.
pub fn spawn(
    report: impl Fn(TypeResult) + Send + 'static,
) -> std::io::Result<(SyncSender<TypeJob>, JoinHandle<()>)> {
    let (tx, rx) = mpsc::sync_channel::<TypeJob>(QUEUE);
    let handle = std::thread::Builder::new()
        .name("typing".into())
        .spawn(move || {
            let session = Session::detect();
            for job in rx {
                report(type_one(&session, &job));
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

/// How long one piece of typing with a tool may take: each piece costs a
/// start of the tool (about 30 ms for xdotool, measured), and a user's own
/// keys pressed meanwhile land between pieces, not inside one.
const PIECE_BUDGET_MS: u32 = 250;

/// Splits text into pieces of whole words, each short enough to type within
/// [`PIECE_BUDGET_MS`] at `delay_ms` per character (but never less than a
/// word). Joining the pieces gives the text back exactly.
fn pieces(text: &str, delay_ms: u32) -> Vec<&str> {
    let max_chars = (PIECE_BUDGET_MS / delay_ms.max(1)) as usize;
    let mut pieces: Vec<&str> = Vec::new();
    let (mut start, mut end, mut chars) = (0, 0, 0);
    for word in words(text) {
        let len = word.chars().count();
        if chars > 0 && chars + len > max_chars {
            pieces.push(&text[start..end]);
            start = end;
            chars = 0;
        }
        chars += len;
        end += word.len();
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Splits text into words, each with the whitespace before it, so that
/// joining the pieces gives the text back exactly.
fn words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() && in_word {
            pieces.push(&text[start..i]);
            start = i;
            in_word = false;
        } else if !c.is_whitespace() {
            in_word = true;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The kind of desktop session, from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// An X server (`DISPLAY`).
    X11,
    /// A Wayland compositor (`WAYLAND_DISPLAY`).
    Wayland,
    /// No graphical session.
    None,
}

impl Session {
    /// Reads `WAYLAND_DISPLAY` and `DISPLAY`.
    #[must_use]
    pub fn detect() -> Self {
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

fn type_one(session: &Session, job: &TypeJob) -> TypeResult {
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
        Session::Wayland => {}
    }
    tracing::debug!(
        "typing {} characters of utterance {utterance}",
        job.text.chars().count()
    );
    let typed = match job.settings.method {
        TypingMethod::Auto => type_text(*session, &job.text, job.settings.delay_ms),
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
    match paste(*session, rest) {
        Ok(note) => TypeResult::Typed { utterance, note },
        Err(paste_problem) => failed(format!(
            "could not type ({why}) nor paste ({paste_problem})"
        )),
    }
}

/// Types the text: on X11 a character at a time through XTEST, elsewhere
/// with the session's tool a piece at a time.
fn type_text(session: Session, text: &str, delay_ms: u32) -> Result<(), Stopped> {
    #[cfg(target_os = "linux")]
    if session == Session::X11 {
        let mut typer = super::xtest::Typer::connect().map_err(|why| Stopped { typed: 0, why })?;
        return typer.type_text(text, Duration::from_millis(delay_ms.into()), MENU_WAIT);
    }
    let mut typed = 0;
    for piece in pieces(text, delay_ms) {
        type_with_tool(session, piece, delay_ms).map_err(|why| Stopped { typed, why })?;
        typed += piece.len();
    }
    Ok(())
}

fn focused_x11() -> Option<FocusedWindow> {
    let id = output(Command::new("xdotool").arg("getwindowfocus"))?;
    let title = output(Command::new("xdotool").args(["getwindowname", &id])).unwrap_or_default();
    let pid =
        output(Command::new("xdotool").args(["getwindowpid", &id])).and_then(|p| p.parse().ok());
    let class = output(Command::new("xprop").args(["-id", &id, "WM_CLASS"]))
        .and_then(|line| {
            line.split_once('=')
                .map(|(_, v)| v.replace('"', "").trim().to_owned())
        })
        .unwrap_or_default();
    Some(FocusedWindow { title, class, pid })
}

/// Runs a command and returns its trimmed stdout when it succeeds.
fn output(cmd: &mut Command) -> Option<String> {
    raw_output(cmd).map(|s| s.trim().to_owned())
}

/// Runs a command and returns its stdout exactly when it succeeds.
fn raw_output(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How long wtype waits before its first key. It hands the compositor a
/// keymap and types at once, and the focused client can drop the first key
/// before the keymap reaches it: under sway 1.7 with foot, 5 of 16 wtype
/// calls lost their first character (the space between pieces, or a
/// letter); with this pause, 0 of 15.
const WTYPE_SETTLE_MS: &str = "50";

/// Types with the session's tool. The text goes on stdin, never on the
/// command line, where every local user could read it in `ps`.
fn type_with_tool(session: Session, text: &str, delay_ms: u32) -> Result<(), String> {
    let delay = delay_ms.to_string();
    let input = Some(text);
    match session {
        Session::X11 => run(
            "xdotool",
            &["type", "--clearmodifiers", "--delay", &delay, "--file", "-"],
            input,
        ),
        Session::Wayland => run("wtype", &["-s", WTYPE_SETTLE_MS, "-d", &delay, "-"], input)
            .or_else(|e| {
                run("ydotool", &["type", "--file", "/dev/stdin"], input)
                    .map_err(|e2| format!("{e}; {e2}"))
            }),
        Session::None => Err("no desktop session".into()),
    }
}

/// Pastes through the clipboard and puts the user's clipboard back; the
/// `Ok` value is a note when the words went in but the clipboard could not
/// be restored.
fn paste(session: Session, text: &str) -> Result<Option<String>, String> {
    let (get, set, keys): (&[&str], &[&str], &[&str]) = match session {
        Session::X11 => (
            &["xclip", "-selection", "clipboard", "-o"],
            &["xclip", "-selection", "clipboard", "-i"],
            &["xdotool", "key", "--clearmodifiers", "ctrl+v"],
        ),
        Session::Wayland => (
            &["wl-paste", "--no-newline"],
            &["wl-copy"],
            &[
                "wtype",
                "-s",
                WTYPE_SETTLE_MS,
                "-M",
                "ctrl",
                "v",
                "-m",
                "ctrl",
            ],
        ),
        Session::None => return Err("no desktop session".into()),
    };
    // Exactly as it was, whitespace included; `None` when it held no text
    // (empty, or an image), which cannot be put back as text.
    let saved = raw_output(Command::new(get[0]).args(&get[1..]));
    set_clipboard(set, get, text)?;
    run(keys[0], &keys[1..], None)?;
    // The target reads the clipboard asynchronously after the key press.
    std::thread::sleep(Duration::from_millis(300));
    let Some(saved) = saved else {
        return Ok(None);
    };
    Ok(set_clipboard(set, get, &saved)
        .err()
        .map(|e| format!("the words were pasted, but your clipboard could not be put back: {e}")))
}

/// Puts text on the clipboard. xclip and wl-copy leave a child behind that
/// serves the selection and keeps any inherited pipe open, so their output
/// is not read: only the exit status of the command itself.
fn set_clipboard(command: &[&str], get: &[&str], text: &str) -> Result<(), String> {
    let tool = command[0];
    if find_in_path(tool).is_none() {
        return Err(format!("{tool} is not installed"));
    }
    let mut child = Command::new(tool)
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to {tool}: {e}"))?;
    }
    let status = child
        .wait()
        .map_err(|e| format!("{tool} did not finish: {e}"))?;
    if !status.success() {
        return Err(format!("{tool} failed ({status})"));
    }
    // The child that serves the selection takes it over asynchronously:
    // wait until the clipboard really holds the text, or a paste (or the
    // next save) would see the old content.
    for _ in 0..50 {
        if raw_output(Command::new(get[0]).args(&get[1..])).as_deref() == Some(text) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("the clipboard did not take the text from {tool}"))
}

/// Runs a tool, feeding `stdin` if given; the error names the tool and what
/// to install when it is missing.
fn run(tool: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    if find_in_path(tool).is_none() {
        return Err(format!("{tool} is not installed"));
    }
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("cannot write to {tool}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{tool} did not finish: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!("{tool} failed ({}): {}", out.status, err.trim()))
    }
}

/// The full path of an executable on `PATH`.
#[must_use]
pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
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
    fn a_missing_tool_is_named() {
        let e = run("tonnytray-no-such-tool", &[], None).expect_err("missing");
        assert_eq!(e, "tonnytray-no-such-tool is not installed");
    }

    #[test]
    fn words_keep_their_spacing_and_join_back_exactly() {
        for text in [
            " Please add  apples.",
            "one",
            "",
            "  ",
            "tab\tthen\nline ",
            "naïve café",
        ] {
            assert_eq!(words(text).concat(), text, "{text:?}");
        }
        assert_eq!(
            words(" Please add  apples."),
            [" Please", " add", "  apples."]
        );
        assert_eq!(words("naïve café"), ["naïve", " café"]);
    }

    #[test]
    fn pieces_are_whole_words_within_the_typing_budget() {
        let text =
            " Please add apples and bananas to the shopping list. Remind me to call my sister.";
        for delay in [0, 1, 4, 12, 60, 1000] {
            let p = pieces(text, delay);
            assert_eq!(p.concat(), text, "delay {delay}");
            let max = (PIECE_BUDGET_MS / delay.max(1)) as usize;
            for piece in &p {
                let n = piece.chars().count();
                assert!(
                    n <= max || words(piece).len() == 1,
                    "{piece:?} at {delay} ms"
                );
                assert!(words(piece).concat() == *piece);
            }
        }
        // At the default 12 ms a character, ~20 characters a piece.
        assert_eq!(pieces(text, 12)[0], " Please add apples");
        assert_eq!(pieces(text, 1000).len(), words(text).len());
        assert_eq!(pieces(text, 0), [text]);
        assert_eq!(pieces("naïve café olé", 50), ["naïve", " café", " olé"]);
    }

    #[test]
    fn without_a_desktop_nothing_is_typed_and_it_says_why() {
        let job = TypeJob {
            utterance: 7,
            text: "hello".into(),
            settings: TypingSettings::default(),
        };
        match type_one(&Session::None, &job) {
            TypeResult::Failed { utterance, why } => {
                assert_eq!(utterance, 7);
                assert!(why.contains("DISPLAY"), "{why}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
