//! X11 plumbing shared by the hotkey and typing: connecting to `DISPLAY`,
//! finding keys in the keyboard mapping, and which window has focus.

use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{AtomEnum, ConnectionExt as _, Window};
use x11rb::rust_connection::RustConnection;

/// Connects to `DISPLAY`; the connection and the screen's root window.
///
/// # Errors
/// When the X server cannot be reached.
pub fn connect() -> Result<(RustConnection, Window), String> {
    let (conn, screen) =
        x11rb::connect(None).map_err(|e| format!("cannot reach the X server ({e})"))?;
    let root = conn
        .setup()
        .roots
        .get(screen)
        .ok_or("the X server has no such screen")?
        .root;
    Ok((conn, root))
}

/// The window that has the keyboard focus, as its owner describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Focus {
    /// `_NET_WM_NAME`, else `WM_NAME`.
    pub title: String,
    /// `WM_CLASS` as "instance, Class".
    pub class: String,
    /// `_NET_WM_PID`, when the owner sets it.
    pub pid: Option<u32>,
}

/// The focused window: the input focus, or the nearest ancestor of it that
/// names itself (`WM_CLASS`), since toolkits often focus a child window.
/// `None` when nothing has focus or the server does not answer.
#[must_use]
pub fn focused_window(conn: &RustConnection, root: Window) -> Option<Focus> {
    let mut window = conn.get_input_focus().ok()?.reply().ok()?.focus;
    // 0 is None and 1 is PointerRoot: no window of anyone's.
    if window <= 1 {
        return None;
    }
    let property = |w: Window, name: u32, kind: u32| -> Vec<u8> {
        conn.get_property(false, w, name, kind, 0, 1024)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| r.value)
            .unwrap_or_default()
    };
    let atom = |name: &[u8]| -> u32 {
        conn.intern_atom(false, name)
            .ok()
            .and_then(|c| c.reply().ok())
            .map_or(0, |r| r.atom)
    };
    let wm_class = |w| property(w, AtomEnum::WM_CLASS.into(), AtomEnum::STRING.into());
    let mut class = wm_class(window);
    while class.is_empty() {
        let parent = conn.query_tree(window).ok()?.reply().ok()?.parent;
        if parent == root || parent == 0 {
            break;
        }
        window = parent;
        class = wm_class(window);
    }
    let utf8 = atom(b"UTF8_STRING");
    let mut title = property(window, atom(b"_NET_WM_NAME"), utf8);
    if title.is_empty() {
        title = property(window, AtomEnum::WM_NAME.into(), AtomEnum::STRING.into());
    }
    let pid = property(window, atom(b"_NET_WM_PID"), AtomEnum::CARDINAL.into());
    Some(Focus {
        title: String::from_utf8_lossy(&title).into_owned(),
        class: String::from_utf8_lossy(&class)
            .split('\0')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        pid: pid
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes),
    })
}

/// The keyboard mapping: for each keycode from `min_keycode`, its keysyms
/// by column (column 0 plain, column 1 with Shift).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    /// The first keycode described.
    pub min_keycode: u8,
    /// Keysyms per keycode.
    pub per_keycode: usize,
    /// `per_keycode` keysyms for each keycode in turn; 0 is none.
    pub syms: Vec<u32>,
}

impl KeyMap {
    /// Reads the server's current mapping.
    ///
    /// # Errors
    /// When the X server does not answer.
    pub fn read(conn: &RustConnection) -> Result<Self, String> {
        let setup = conn.setup();
        let min_keycode = setup.min_keycode;
        let count = setup.max_keycode - min_keycode + 1;
        let reply = conn
            .get_keyboard_mapping(min_keycode, count)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| format!("the X server did not give its keyboard mapping ({e})"))?;
        Ok(Self {
            min_keycode,
            per_keycode: usize::from(reply.keysyms_per_keycode),
            syms: reply.keysyms,
        })
    }

    /// Where a keysym sits: its keycode, and whether Shift is needed.
    #[must_use]
    pub fn find(&self, sym: u32) -> Option<(u8, bool)> {
        if self.per_keycode == 0 {
            return None;
        }
        self.syms
            .chunks(self.per_keycode)
            .enumerate()
            .find_map(|(i, syms)| {
                let code = self.keycode(i)?;
                if syms[0] == sym {
                    Some((code, false))
                } else if syms.get(1) == Some(&sym) {
                    Some((code, true))
                } else {
                    None
                }
            })
    }

    /// A keycode with no keysyms at all, free to borrow. From the top: low
    /// keycodes are the real keys of most keyboards.
    #[must_use]
    pub fn spare(&self) -> Option<u8> {
        if self.per_keycode == 0 {
            return None;
        }
        let per = self.per_keycode;
        (0..self.syms.len() / per)
            .rev()
            .find(|&i| self.syms[i * per..(i + 1) * per].iter().all(|&s| s == 0))
            .and_then(|i| self.keycode(i))
    }

    /// Records that `code` now has `syms` (after a remap), so later
    /// look-ups agree with the server.
    pub fn set(&mut self, code: u8, syms: &[u32]) {
        let at = usize::from(code.saturating_sub(self.min_keycode)) * self.per_keycode;
        if let Some(slot) = self.syms.get_mut(at..at + self.per_keycode) {
            slot.copy_from_slice(syms);
        }
    }

    fn keycode(&self, index: usize) -> Option<u8> {
        u8::try_from(usize::from(self.min_keycode) + index).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(syms: &[u32]) -> KeyMap {
        KeyMap {
            min_keycode: 8,
            per_keycode: 2,
            syms: syms.to_vec(),
        }
    }

    #[test]
    fn keys_are_found_by_column_and_spares_from_the_top() {
        // Keycodes 8.. with two columns: 8 = a/A, 9 = empty, 10 = 1/!, 11 = empty.
        let mut keys = map(&[0x61, 0x41, 0, 0, 0x31, 0x21, 0, 0]);
        assert_eq!(keys.find(0x61), Some((8, false)));
        assert_eq!(keys.find(0x41), Some((8, true)));
        assert_eq!(keys.find(0x21), Some((10, true)));
        assert_eq!(keys.find(0xe9), None);
        assert_eq!(keys.spare(), Some(11));
        keys.set(11, &[0xe9, 0xe9]);
        assert_eq!(keys.find(0xe9), Some((11, false)));
        assert_eq!(keys.spare(), Some(9));
        assert_eq!(map(&[0x61, 0x41]).spare(), None);
        let empty = KeyMap {
            per_keycode: 0,
            ..map(&[])
        };
        assert_eq!(empty.find(0x61), None);
        assert_eq!(empty.spare(), None);
    }
}
