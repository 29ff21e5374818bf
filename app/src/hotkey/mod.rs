//! The global hotkey, turned into [`Command::HotkeyPressed`] /
//! [`Command::HotkeyReleased`] for the core, which decides what they mean in
//! push-to-talk or toggle mode.
//!
//! The global-hotkey crate parses bindings and serves Windows and macOS; on
//! X11 an event-driven grab of our own ([`x11`]) listens instead, because
//! the crate's X11 backend polls. On Wayland, or with no display at all, a
//! global hotkey registers "successfully" and then never fires, so the
//! session is checked first and the user is told what to do instead: on
//! Wayland, a key binding of the desktop's own that runs `tonnytray ptt
//! press` / `ptt release` (or `toggle`).

#[cfg(target_os = "linux")]
pub mod x11;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use global_hotkey::GlobalHotKeyManager;
use global_hotkey::hotkey::HotKey;

use crate::integrations::typing::Session;
use crate::messages::Command;

/// What listens for the key.
enum Backend {
    #[cfg(target_os = "linux")]
    X11(x11::X11Hotkey),
    // Built only where there is no X11 backend of our own.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    Crate(GlobalHotKeyManager),
}

/// The registered hotkey, if any.
pub struct Hotkey {
    to_core: Arc<dyn Fn(Command) + Send + Sync>,
    backend: Option<Backend>,
    current: Option<HotKey>,
    current_id: Arc<AtomicU32>,
}

impl Hotkey {
    /// Nothing listens until [`Hotkey::bind`] starts a backend.
    pub fn new(to_core: Arc<dyn Fn(Command) + Send + Sync>) -> Self {
        Self {
            to_core,
            backend: None,
            current: None,
            current_id: Arc::new(AtomicU32::new(0)),
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
                        "on Wayland the hotkey is your desktop's: bind {binding} to run `tonnytray ptt press` and its release to run `tonnytray ptt release` (sway, Hyprland), or bind one shortcut to `tonnytray toggle` (GNOME, KDE); the README shows how"
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
        if self.backend.is_none() {
            self.backend = Some(self.start_backend()?);
        }
        let taken = || {
            format!(
                "{binding} is already taken by another program; choose another key combination in Settings → Hotkey"
            )
        };
        match &self.backend {
            #[cfg(target_os = "linux")]
            Some(Backend::X11(x11)) => {
                // The old grab is let go inside.
                self.current = None;
                x11.grab(&hotkey).map_err(|e| match e {
                    x11::GrabError::Taken => taken(),
                    x11::GrabError::Other(why) => format!("cannot register {binding}: {why}"),
                })?;
            }
            Some(Backend::Crate(manager)) => {
                if let Some(old) = self.current.take() {
                    let _ = manager.unregister(old);
                }
                manager.register(hotkey).map_err(|e| match e {
                    global_hotkey::Error::AlreadyRegistered(_) => taken(),
                    other => format!("cannot register {binding}: {other}"),
                })?;
            }
            None => return Err("global hotkeys are unavailable".into()),
        }
        self.current_id.store(hotkey.id(), Ordering::Relaxed);
        self.current = Some(hotkey);
        Ok(())
    }

    fn start_backend(&self) -> Result<Backend, String> {
        #[cfg(target_os = "linux")]
        {
            let to_core = Arc::clone(&self.to_core);
            x11::X11Hotkey::start(move |pressed| {
                to_core(if pressed {
                    Command::HotkeyPressed
                } else {
                    Command::HotkeyReleased
                });
            })
            .map(Backend::X11)
            .map_err(|e| format!("global hotkeys are unavailable: {e}"))
        }
        #[cfg(not(target_os = "linux"))]
        {
            use global_hotkey::{GlobalHotKeyEvent, HotKeyState};
            let (id, to_core) = (Arc::clone(&self.current_id), Arc::clone(&self.to_core));
            GlobalHotKeyEvent::set_event_handler(Some(move |event: GlobalHotKeyEvent| {
                if event.id() != id.load(Ordering::Relaxed) {
                    return;
                }
                to_core(match event.state() {
                    HotKeyState::Pressed => Command::HotkeyPressed,
                    HotKeyState::Released => Command::HotkeyReleased,
                });
            }));
            GlobalHotKeyManager::new()
                .map(Backend::Crate)
                .map_err(|e| format!("global hotkeys are unavailable: {e}"))
        }
    }
}
