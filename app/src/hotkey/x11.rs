//! The global hotkey on X11, event-driven: a passive key grab on the root
//! window and a thread that sleeps in `wait_for_event` until it fires.
//!
//! Written here rather than through global-hotkey on X11: its X11 backend
//! wakes every 50 ms to poll for events, which alone costs 0.14 % of a core
//! while the app sits idle in the tray (the target is ≤ 0.1 % for all of
//! it). This does the same grabs (once per NumLock/CapsLock combination,
//! since X11 matches modifiers exactly) with XKB's detectable auto-repeat,
//! so holding the key gives one press and one release, and costs nothing
//! until a key is pressed. global-hotkey still parses the binding and
//! serves Windows and macOS.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use global_hotkey::hotkey::{Code, HotKey, Modifiers};
use x11rb::connection::Connection as _;
use x11rb::errors::ReplyError;
use x11rb::protocol::xkb::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    ClientMessageEvent, ConnectionExt as _, CreateWindowAux, EventMask, GrabMode, KeyButMask,
    ModMask, WindowClass,
};
use x11rb::protocol::{ErrorKind, Event};
use x11rb::rust_connection::RustConnection;

use crate::x11::KeyMap;

/// What went wrong binding a key.
#[derive(Debug, PartialEq, Eq)]
pub enum GrabError {
    /// Another program holds this combination.
    Taken,
    /// Anything else, for the user.
    Other(String),
}

/// The key and modifiers currently grabbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grab {
    keycode: u8,
    mods: ModMask,
}

/// NumLock (Mod2) and CapsLock change the modifier state X11 matches
/// grabs against, so each grab is made with every combination of them.
fn locks() -> [ModMask; 4] {
    [
        ModMask::default(),
        ModMask::M2,
        ModMask::LOCK,
        ModMask::M2 | ModMask::LOCK,
    ]
}

/// The X11 keysym for a key code, for the keys a hotkey may use.
#[must_use]
pub fn keysym(code: Code) -> Option<u32> {
    let name = code.to_string();
    if let Some(letter) = name.strip_prefix("Key") {
        let c = letter.chars().next()?;
        return (letter.len() == 1 && c.is_ascii_uppercase())
            .then(|| u32::from(c.to_ascii_lowercase()));
    }
    if let Some(digit) = name.strip_prefix("Digit") {
        let c = digit.chars().next()?;
        return (digit.len() == 1 && c.is_ascii_digit()).then(|| u32::from(c));
    }
    if let Some(n) = name.strip_prefix('F').and_then(|n| n.parse::<u32>().ok()) {
        // XK_F1 .. XK_F35 are consecutive.
        return (1..=35).contains(&n).then(|| 0xffbe + n - 1);
    }
    Some(match code {
        Code::Space => 0x20,
        Code::Enter => 0xff0d,
        Code::Tab => 0xff09,
        Code::Escape => 0xff1b,
        Code::Backspace => 0xff08,
        Code::Insert => 0xff63,
        Code::Delete => 0xffff,
        Code::Home => 0xff50,
        Code::End => 0xff57,
        Code::PageUp => 0xff55,
        Code::PageDown => 0xff56,
        Code::ArrowLeft => 0xff51,
        Code::ArrowUp => 0xff52,
        Code::ArrowRight => 0xff53,
        Code::ArrowDown => 0xff54,
        Code::Pause => 0xff13,
        Code::ScrollLock => 0xff14,
        Code::PrintScreen => 0xff61,
        Code::Minus => 0x2d,
        Code::Equal => 0x3d,
        Code::BracketLeft => 0x5b,
        Code::BracketRight => 0x5d,
        Code::Backslash => 0x5c,
        Code::Semicolon => 0x3b,
        Code::Quote => 0x27,
        Code::Backquote => 0x60,
        Code::Comma => 0x2c,
        Code::Period => 0x2e,
        Code::Slash => 0x2f,
        _ => return None,
    })
}

/// The X11 modifier mask for a hotkey's modifiers.
#[must_use]
pub fn mod_mask(mods: Modifiers) -> ModMask {
    let mut mask = ModMask::default();
    if mods.contains(Modifiers::SHIFT) {
        mask |= ModMask::SHIFT;
    }
    if mods.contains(Modifiers::CONTROL) {
        mask |= ModMask::CONTROL;
    }
    if mods.contains(Modifiers::ALT) {
        mask |= ModMask::M1;
    }
    // global-hotkey turns "Super" into META.
    if mods.contains(Modifiers::META) {
        mask |= ModMask::M4;
    }
    mask
}

/// A connection holding at most one hotkey grab, and the thread that
/// reports it.
pub struct X11Hotkey {
    conn: Arc<RustConnection>,
    root: u32,
    /// An unmapped window of ours: a message sent to it wakes the thread.
    waker: u32,
    grab: Arc<Mutex<Option<Grab>>>,
    thread: Option<JoinHandle<()>>,
}

fn x_error(e: impl std::fmt::Display) -> String {
    format!("the X server refused a hotkey request ({e})")
}

impl X11Hotkey {
    /// Connects and starts the thread; `event(true)` on press, `event(false)`
    /// on release of the grabbed key.
    ///
    /// # Errors
    /// When the X server cannot be reached.
    pub fn start(event: impl Fn(bool) + Send + 'static) -> Result<Self, String> {
        let (conn, root) = crate::x11::connect()?;
        // Without this, holding the key sends release/press pairs at the
        // key-repeat rate and push-to-talk would stutter.
        conn.xkb_use_extension(1, 0)
            .map_err(x_error)?
            .reply()
            .map_err(x_error)?;
        let auto_repeat = xkb::PerClientFlag::DETECTABLE_AUTO_REPEAT;
        conn.xkb_per_client_flags(
            xkb::ID::USE_CORE_KBD.into(),
            auto_repeat,
            auto_repeat,
            xkb::BoolCtrl::default(),
            xkb::BoolCtrl::default(),
            xkb::BoolCtrl::default(),
        )
        .map_err(x_error)?
        .reply()
        .map_err(x_error)?;
        let waker = conn.generate_id().map_err(x_error)?;
        conn.create_window(
            0,
            waker,
            root,
            0,
            0,
            1,
            1,
            0,
            WindowClass::INPUT_ONLY,
            0,
            &CreateWindowAux::new(),
        )
        .map_err(x_error)?
        .check()
        .map_err(x_error)?;
        let conn = Arc::new(conn);
        let grab = Arc::new(Mutex::new(None));
        let thread = {
            let (conn, grab) = (Arc::clone(&conn), Arc::clone(&grab));
            crate::runtime::thread::spawn("hotkey", move || listen(&conn, &grab, waker, &event))
                .map_err(|e| format!("cannot start the hotkey thread: {e}"))?
        };
        Ok(Self {
            conn,
            root,
            waker,
            grab,
            thread: Some(thread),
        })
    }

    /// Grabs `hotkey`, releasing the key grabbed before.
    ///
    /// # Errors
    /// [`GrabError::Taken`] when another program holds the combination.
    pub fn grab(&self, hotkey: &HotKey) -> Result<(), GrabError> {
        let sym = keysym(hotkey.key).ok_or_else(|| {
            GrabError::Other(format!("{} cannot be used in a hotkey here", hotkey.key))
        })?;
        let keys = KeyMap::read(&self.conn).map_err(GrabError::Other)?;
        let keycode = keys.find(sym).map(|(code, _)| code).ok_or_else(|| {
            GrabError::Other(format!("the keyboard layout has no {} key", hotkey.key))
        })?;
        let wanted = Grab {
            keycode,
            mods: mod_mask(hotkey.mods),
        };
        let mut current = self.grab.lock().unwrap_or_else(PoisonError::into_inner);
        if *current == Some(wanted) {
            return Ok(());
        }
        if let Some(old) = current.take() {
            self.ungrab(old);
        }
        let locks = locks();
        for (done, lock) in locks.iter().enumerate() {
            let checked = self
                .conn
                .grab_key(
                    false,
                    self.root,
                    wanted.mods | *lock,
                    wanted.keycode,
                    GrabMode::ASYNC,
                    GrabMode::ASYNC,
                )
                .map_err(|e| GrabError::Other(x_error(e)))?
                .check();
            if let Err(e) = checked {
                // Undo the grabs made so far: half a hotkey is none.
                for lock in &locks[..done] {
                    let _ = self
                        .conn
                        .ungrab_key(wanted.keycode, self.root, wanted.mods | *lock);
                }
                let _ = self.conn.flush();
                return Err(match e {
                    ReplyError::X11Error(x) if x.error_kind == ErrorKind::Access => {
                        GrabError::Taken
                    }
                    other => GrabError::Other(x_error(other)),
                });
            }
        }
        *current = Some(wanted);
        Ok(())
    }

    fn ungrab(&self, grab: Grab) {
        for lock in locks() {
            let _ = self
                .conn
                .ungrab_key(grab.keycode, self.root, grab.mods | lock);
        }
        let _ = self.conn.flush();
    }
}

impl Drop for X11Hotkey {
    fn drop(&mut self) {
        if let Some(grab) = self
            .grab
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            self.ungrab(grab);
        }
        let wake = ClientMessageEvent::new(32, self.waker, 0u32, [0u32; 5]);
        let sent = self
            .conn
            .send_event(false, self.waker, EventMask::NO_EVENT, wake)
            .is_ok()
            && self.conn.flush().is_ok();
        if let (true, Some(thread)) = (sent, self.thread.take()) {
            let _ = thread.join();
        }
    }
}

/// The thread: reports presses and releases of the grabbed key until the
/// waker window gets a message or the connection ends.
fn listen(conn: &RustConnection, grab: &Mutex<Option<Grab>>, waker: u32, event: &impl Fn(bool)) {
    // X11 reports lock keys in the state too; only these four matter.
    let mods_of = |state: KeyButMask| {
        let held = KeyButMask::CONTROL | KeyButMask::SHIFT | KeyButMask::MOD1 | KeyButMask::MOD4;
        ModMask::from(u16::from(state & held))
    };
    let mut pressed = false;
    loop {
        let current = || *grab.lock().unwrap_or_else(PoisonError::into_inner);
        match conn.wait_for_event() {
            Ok(Event::KeyPress(e)) => {
                if let Some(g) = current()
                    && !pressed
                    && e.detail == g.keycode
                    && mods_of(e.state) == g.mods
                {
                    pressed = true;
                    event(true);
                }
            }
            Ok(Event::KeyRelease(e)) => {
                if pressed && current().is_some_and(|g| g.keycode == e.detail) {
                    pressed = false;
                    event(false);
                }
            }
            Ok(Event::ClientMessage(m)) if m.window == waker => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("hotkey: the X connection ended ({e}); the hotkey is off");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_keys_map_to_x11_keysyms() {
        assert_eq!(keysym(Code::KeyV), Some(u32::from(b'v')));
        assert_eq!(keysym(Code::Digit7), Some(u32::from(b'7')));
        assert_eq!(keysym(Code::F1), Some(0xffbe));
        assert_eq!(keysym(Code::F12), Some(0xffc9));
        assert_eq!(keysym(Code::Space), Some(0x20));
        assert_eq!(keysym(Code::Backquote), Some(0x60));
        assert_eq!(keysym(Code::NumpadAdd), None);
    }

    #[test]
    fn modifiers_map_to_the_x11_mask() {
        let mods = Modifiers::CONTROL | Modifiers::SHIFT;
        assert_eq!(mod_mask(mods), ModMask::CONTROL | ModMask::SHIFT);
        assert_eq!(
            mod_mask(Modifiers::ALT | Modifiers::META),
            ModMask::M1 | ModMask::M4
        );
        let sup: HotKey = "Super+F9".parse().expect("binding");
        assert_eq!(mod_mask(sup.mods), ModMask::M4);
        let parsed: HotKey = "Ctrl+Shift+V".parse().expect("binding");
        assert_eq!(mod_mask(parsed.mods), ModMask::CONTROL | ModMask::SHIFT);
        assert_eq!(keysym(parsed.key), Some(u32::from(b'v')));
    }
}
