//! The global hotkey (global-hotkey crate), turned into
//! [`Command::HotkeyPressed`] / [`Command::HotkeyReleased`] for the core,
//! which decides what they mean in push-to-talk or toggle mode.
//!
//! global-hotkey works on X11, Windows and macOS. On Wayland, or with no
//! display at all, it registers "successfully" and then never fires, so the
//! session is checked first and the user is told what to do instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use global_hotkey::hotkey::HotKey;
use global_hotkey::{GlobalHotKeyEvent, GlobalHotKeyManager, HotKeyState};

use crate::integrations::typing::Session;
use crate::messages::Command;

/// The registered hotkey, if any.
pub struct Hotkey {
    manager: Option<GlobalHotKeyManager>,
    current: Option<HotKey>,
    current_id: Arc<AtomicU32>,
}

impl Hotkey {
    /// Installs the event handler; nothing is bound until [`Hotkey::bind`].
    pub fn new(to_core: Arc<dyn Fn(Command) + Send + Sync>) -> Self {
        let current_id = Arc::new(AtomicU32::new(0));
        let id = Arc::clone(&current_id);
        GlobalHotKeyEvent::set_event_handler(Some(move |event: GlobalHotKeyEvent| {
            if event.id() != id.load(Ordering::Relaxed) {
                return;
            }
            to_core(match event.state() {
                HotKeyState::Pressed => Command::HotkeyPressed,
                HotKeyState::Released => Command::HotkeyReleased,
            });
        }));
        Self {
            manager: None,
            current: None,
            current_id,
        }
    }

    /// Binds `binding` (e.g. "Ctrl+Shift+V"), replacing the previous one.
    ///
    /// # Errors
    /// A message for the user: the binding is invalid or taken, or the
    /// session has no global hotkeys.
    pub fn bind(&mut self, binding: &str) -> Result<(), String> {
        let hotkey: HotKey = binding
            .parse()
            .map_err(|e| format!("hotkey {binding:?} is not a key combination: {e}"))?;
        if self.current == Some(hotkey) {
            return Ok(());
        }
        if cfg!(target_os = "linux") {
            match Session::detect() {
                Session::X11 => {}
                Session::Wayland => {
                    return Err(format!(
                        "global hotkeys need X11; this is a Wayland session, so {binding} does nothing. Bind a shortcut in your desktop's settings to run `tonnytray toggle`, or use the window or tray"
                    ));
                }
                Session::None => {
                    return Err(
                        "no X11 display (DISPLAY is not set), so the global hotkey cannot work; use the window or tray"
                            .into(),
                    );
                }
            }
        }
        if self.manager.is_none() {
            self.manager = Some(
                GlobalHotKeyManager::new()
                    .map_err(|e| format!("global hotkeys are unavailable: {e}"))?,
            );
        }
        let Some(manager) = &self.manager else {
            return Err("global hotkeys are unavailable".into());
        };
        if let Some(old) = self.current.take() {
            let _ = manager.unregister(old);
        }
        manager.register(hotkey).map_err(|e| match e {
            global_hotkey::Error::AlreadyRegistered(_) => format!(
                "{binding} is already taken by another program; choose another key combination in Settings → Hotkey"
            ),
            other => format!("cannot register {binding}: {other}"),
        })?;
        self.current_id.store(hotkey.id(), Ordering::Relaxed);
        self.current = Some(hotkey);
        Ok(())
    }
}
