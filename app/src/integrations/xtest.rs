//! Typing on X11 through the XTEST extension, one character at a time.
//!
//! Written here rather than run as `xdotool type`: before every character
//! this checks that the user holds no key and that nobody holds the
//! keyboard, so a Ctrl pressed mid-sentence (the user's own hotkey, say)
//! never turns the next letters into shortcuts, and a menu that grabbed the
//! keyboard (the tray's, drawn by the panel, or any app's) never receives
//! the rest of a sentence. An external tool typing a whole string cannot
//! pause between characters, and starting one per character costs about
//! 30 ms each.
//!
//! Who holds the keyboard is asked of the X server itself: a keyboard grab
//! of our own succeeds only when no other client holds one, and is let go
//! in the same write as the character's key events. Watching for menu
//! windows instead would come too late: GTK grabs the keyboard first and
//! maps its menu afterwards, and drop-downs that do not grab would stall
//! typing for nothing.
//!
//! A character with no key in the current layout is typed through a spare
//! keycode, mapped for the moment and put back afterwards (as xdotool does).

use std::time::{Duration, Instant};

use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _, GrabMode, GrabStatus, KeyButMask};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::typing::{MENU_STAYED_OPEN, Stopped};
use crate::x11::KeyMap;

/// `Shift_L`, `Control_L`, `Return` and `Tab` keysyms.
const SHIFT_L: u32 = 0xffe1;
const CONTROL_L: u32 = 0xffe3;
const RETURN: u32 = 0xff0d;
const TAB: u32 = 0xff09;

/// How long typing waits for the user to let go of the keys they hold
/// before typing anyway (a stuck key must not stop typing for good).
const KEY_WAIT: Duration = Duration::from_secs(10);

/// How long a remapped spare key keeps its character before the next one:
/// clients look the key up when they handle it, which may be a moment later.
const SPARE_SETTLE: Duration = Duration::from_millis(30);

/// The keysym for a character: Latin-1 keysyms equal the code point, the
/// rest are `0x0100_0000 + code point`. `None` for control characters.
#[must_use]
pub fn keysym(c: char) -> Option<u32> {
    match c {
        '\n' | '\r' => Some(RETURN),
        '\t' => Some(TAB),
        c if c.is_control() => None,
        c if (' '..='~').contains(&c) || ('\u{a0}'..='\u{ff}').contains(&c) => Some(u32::from(c)),
        c => Some(0x0100_0000 + u32::from(c)),
    }
}

/// A connection to the X server that types.
pub struct Typer {
    conn: RustConnection,
    root: xproto::Window,
    keys: KeyMap,
    /// The spare keycode while it is borrowed.
    borrowed: Option<u8>,
}

fn x_error(e: impl std::fmt::Display) -> String {
    format!("the X server refused a typing request ({e})")
}

impl Typer {
    /// Connects to `DISPLAY` and reads the keyboard mapping.
    ///
    /// # Errors
    /// When the X server cannot be reached or has no XTEST extension.
    pub fn connect() -> Result<Self, String> {
        let (conn, root) = crate::x11::connect()?;
        conn.xtest_get_version(2, 2)
            .map_err(x_error)?
            .reply()
            .map_err(|_| "the X server has no XTEST extension, so keys cannot be typed")?;
        let keys = KeyMap::read(&conn)?;
        Ok(Self {
            conn,
            root,
            keys,
            borrowed: None,
        })
    }

    /// Whether any key is down now, and whether Caps Lock is on.
    ///
    /// Any key, not only modifiers: while the user's hotkey is down its
    /// grab sends every key to the hotkey's owner, even after Ctrl and
    /// Shift are up, and letters the user types would interleave with ours.
    fn keyboard_state(&self) -> Result<(bool, bool), String> {
        let keys = self
            .conn
            .query_keymap()
            .map_err(x_error)?
            .reply()
            .map_err(x_error)?
            .keys;
        let mask = self
            .conn
            .query_pointer(self.root)
            .map_err(x_error)?
            .reply()
            .map_err(x_error)?
            .mask;
        Ok((
            keys.iter().any(|&byte| byte != 0),
            u16::from(mask) & u16::from(KeyButMask::LOCK) != 0,
        ))
    }

    /// The window that has focus now.
    #[must_use]
    pub fn focused_window(&self) -> Option<crate::x11::Focus> {
        crate::x11::focused_window(&self.conn, self.root)
    }

    /// Presses Ctrl+V (paste), with the same waits as a typed character.
    ///
    /// # Errors
    /// When a menu holds the keyboard past `menu_wait`, the layout has no
    /// Control or V key, or the X server fails.
    pub fn paste_shortcut(&mut self, menu_wait: Duration) -> Result<(), String> {
        self.wait_for_keys_up()?;
        let control = self
            .keys
            .find(CONTROL_L)
            .ok_or("the keyboard has no Control key")?
            .0;
        let (v, _) = self
            .keys
            .find(u32::from('v'))
            .ok_or("the keyboard has no V key")?;
        if !self.wait_for_keyboard(menu_wait)? {
            return Err(MENU_STAYED_OPEN.into());
        }
        self.press(v, Some(control))?;
        self.sync()
    }

    /// Waits until the server has handled everything sent so far: a
    /// connection closed right after its key events may lose them.
    fn sync(&self) -> Result<(), String> {
        self.conn
            .get_input_focus()
            .map_err(x_error)?
            .reply()
            .map_err(x_error)?;
        Ok(())
    }

    /// Waits until no other client holds the keyboard (a menu is open, a
    /// drag is under way), at most `limit`; `false` when it stayed held.
    ///
    /// On `true` our own probing grab is still held: the next key events
    /// must follow at once ([`Self::press`]), which lets go of it in the same
    /// write, so that no menu can grab in between.
    fn wait_for_keyboard(&self, limit: Duration) -> Result<bool, String> {
        let deadline = Instant::now() + limit;
        loop {
            let status = self
                .conn
                .grab_keyboard(
                    false,
                    self.root,
                    x11rb::CURRENT_TIME,
                    GrabMode::ASYNC,
                    GrabMode::ASYNC,
                )
                .map_err(x_error)?
                .reply()
                .map_err(x_error)?
                .status;
            if status == GrabStatus::SUCCESS {
                self.conn
                    .ungrab_keyboard(x11rb::CURRENT_TIME)
                    .map_err(x_error)?;
                return Ok(true);
            }
            if status != GrabStatus::ALREADY_GRABBED && status != GrabStatus::FROZEN {
                // The root is always viewable and the time is "now": any
                // other answer says nothing about a grab, so type.
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `text`, waiting `delay` after each character.
    ///
    /// # Errors
    /// When a menu holds the keyboard past `menu_wait` or the X server
    /// fails; [`Stopped::typed`] says how much went in.
    pub fn type_text(
        &mut self,
        text: &str,
        delay: Duration,
        menu_wait: Duration,
    ) -> Result<(), Stopped> {
        let result = self.type_chars(text, delay, menu_wait);
        let restored = self.give_back_spare();
        match (result, restored) {
            (Err(stopped), _) => Err(stopped),
            (Ok(()), Err(why)) => Err(Stopped {
                typed: text.len(),
                why,
            }),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    fn type_chars(
        &mut self,
        text: &str,
        delay: Duration,
        menu_wait: Duration,
    ) -> Result<(), Stopped> {
        for (at, c) in text.char_indices() {
            let stop = |why: String| Stopped { typed: at, why };
            let Some(sym) = keysym(c) else { continue };
            let caps = self.wait_for_keys_up().map_err(stop)?;
            let (code, shift_code) = self.key_for(sym, c, caps).map_err(stop)?;
            if !self.wait_for_keyboard(menu_wait).map_err(stop)? {
                return Err(stop(MENU_STAYED_OPEN.into()));
            }
            self.press(code, shift_code).map_err(stop)?;
            // The key is handled before the pause: a menu opening during it
            // then finds nothing of ours still queued in the server.
            self.sync().map_err(stop)?;
            std::thread::sleep(delay);
        }
        Ok(())
    }

    /// Waits until no key is held (or [`KEY_WAIT`] passed); returns whether
    /// Caps Lock is on.
    fn wait_for_keys_up(&self) -> Result<bool, String> {
        let deadline = Instant::now() + KEY_WAIT;
        let mut waited = false;
        loop {
            let (held, caps) = self.keyboard_state()?;
            if !held || Instant::now() >= deadline {
                if waited {
                    tracing::debug!("typing went on after a held key (still held: {held})");
                }
                return Ok(caps);
            }
            if !waited {
                tracing::debug!("typing waits for held keys to be let go");
                waited = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The keycode for a character, and the Shift keycode when Shift is
    /// needed; a character the layout lacks gets the spare keycode (a
    /// mapping change: done before the keyboard is checked, so that nothing
    /// waits on the server between the check and the key).
    fn key_for(&mut self, sym: u32, c: char, caps: bool) -> Result<(u8, Option<u8>), String> {
        let (code, mut shift) = match self.keys.find(sym) {
            Some(found) => found,
            None => (self.borrow_spare(sym)?, false),
        };
        // Caps Lock flips the level of letters.
        if caps && c.is_alphabetic() && c.to_lowercase().ne(c.to_uppercase()) {
            shift = !shift;
        }
        let shift_code = if shift {
            Some(
                self.keys
                    .find(SHIFT_L)
                    .ok_or("the keyboard has no Shift key")?
                    .0,
            )
        } else {
            None
        };
        Ok((code, shift_code))
    }

    /// Presses and releases the key, with `modifier` (Shift, or Control
    /// for a paste) held around it, in one write with whatever is queued
    /// before it (the probe's release of its grab).
    fn press(&self, code: u8, modifier: Option<u8>) -> Result<(), String> {
        if let Some(m) = modifier {
            self.fake(xproto::KEY_PRESS_EVENT, m)?;
        }
        self.fake(xproto::KEY_PRESS_EVENT, code)?;
        self.fake(xproto::KEY_RELEASE_EVENT, code)?;
        if let Some(m) = modifier {
            self.fake(xproto::KEY_RELEASE_EVENT, m)?;
        }
        self.conn.flush().map_err(x_error)?;
        if self.borrowed == Some(code) {
            std::thread::sleep(SPARE_SETTLE);
        }
        Ok(())
    }

    fn fake(&self, kind: u8, code: u8) -> Result<(), String> {
        self.conn
            .xtest_fake_input(kind, code, x11rb::CURRENT_TIME, self.root, 0, 0, 0)
            .map_err(x_error)?;
        Ok(())
    }

    /// Maps `sym` onto the spare keycode.
    fn borrow_spare(&mut self, sym: u32) -> Result<u8, String> {
        let code = match self.borrowed {
            Some(code) => code,
            None => self
                .keys
                .spare()
                .ok_or("the keyboard has no spare key for this character")?,
        };
        self.remap(code, sym)?;
        self.borrowed = Some(code);
        Ok(code)
    }

    fn give_back_spare(&mut self) -> Result<(), String> {
        let Some(code) = self.borrowed.take() else {
            return Ok(());
        };
        // Let the target read the last borrowed character first.
        std::thread::sleep(SPARE_SETTLE);
        self.remap(code, 0)
    }

    fn remap(&mut self, code: u8, sym: u32) -> Result<(), String> {
        let per = self.keys.per_keycode;
        let syms = vec![sym; per];
        let per_u8 = u8::try_from(per).map_err(x_error)?;
        self.conn
            .change_keyboard_mapping(1, code, per_u8, &syms)
            .map_err(x_error)?
            .check()
            .map_err(x_error)?;
        self.keys.set(code, &syms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysyms_follow_the_x11_rules() {
        assert_eq!(keysym('a'), Some(0x61));
        assert_eq!(keysym('é'), Some(0xe9));
        assert_eq!(keysym('€'), Some(0x0100_20ac));
        assert_eq!(keysym('\n'), Some(RETURN));
        assert_eq!(keysym('\u{7}'), None);
    }
}
