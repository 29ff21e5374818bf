//! The global hotkey, turned into [`Command::HotkeyPressed`] /
//! [`Command::HotkeyReleased`] for the core, which decides what they mean in
//! push-to-talk or toggle mode.
//!
//! The global-hotkey crate parses bindings and serves Windows and macOS; on
//! X11 an event-driven grab of our own ([`x11`]) listens instead, because
//! the crate's X11 backend polls. On Wayland a global hotkey registers
//! "successfully" and then never fires, so the session is checked first:
//! there the desktop portal's GlobalShortcuts ([`portal`]) is asked for the
//! key, and where the desktop has none, the user is told to bind a key of
//! the desktop's own to `tonnytray ptt press` / `ptt release` (or
//! `toggle`). Each outcome is told to the core as the hotkey's path, which
//! the window shows.

#[cfg(target_os = "linux")]
pub mod portal;
#[cfg(target_os = "linux")]
pub mod x11;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use global_hotkey::GlobalHotKeyManager;
use global_hotkey::hotkey::HotKey;

#[cfg(target_os = "linux")]
use crate::integrations::typing::Session;
use crate::messages::{Command, Notice};

/// What listens for the key.
enum Backend {
    #[cfg(target_os = "linux")]
    X11(x11::X11Hotkey),
    /// Held for its drop, which ends the portal session.
    #[cfg(target_os = "linux")]
    Portal(#[allow(dead_code)] portal::PortalHotkey),
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

    /// Binds `binding` (e.g. "Ctrl+Shift+V"), replacing the previous one,
    /// and tells the core how the hotkey now listens
    /// ([`Command::HotkeyPath`]).
    ///
    /// # Errors
    /// A message for the user: the binding is invalid or taken, or the
    /// session has no global hotkeys.
    pub fn bind(&mut self, binding: &str) -> Result<(), String> {
        let result = self.listen(binding);
        let path = match &result {
            Ok(None) => return Ok(()),
            Ok(Some(path)) => path.clone(),
            Err(_) => "not listening (see the problem above)".into(),
        };
        (self.to_core)(Command::HotkeyPath(path));
        result.map(drop)
    }

    /// [`Hotkey::bind`]'s work; `Some` path when it changed here.
    fn listen(&mut self, binding: &str) -> Result<Option<String>, String> {
        let hotkey: HotKey = binding
            .parse()
            .map_err(|e| format!("hotkey {binding:?} is not a key combination: {e}"))?;
        if self.current == Some(hotkey) {
            return Ok(None);
        }
        #[cfg(target_os = "linux")]
        match Session::detect() {
            // Native is Windows' and macOS's: never seen on Linux.
            Session::X11 if !portal_wanted() => {}
            Session::Native => {}
            Session::X11 => return self.bind_portal(hotkey, binding, false),
            Session::Wayland => return self.bind_portal(hotkey, binding, true),
            Session::None => {
                return Err(
                    "no X11 display (DISPLAY is not set), so the global hotkey cannot work; use the window or tray"
                        .into(),
                );
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
        let path = match &self.backend {
            #[cfg(target_os = "linux")]
            Some(Backend::X11(x11)) => {
                // The old grab is let go inside.
                self.current = None;
                x11.grab(&hotkey).map_err(|e| match e {
                    x11::GrabError::Taken => taken(),
                    x11::GrabError::Other(why) => format!("cannot register {binding}: {why}"),
                })?;
                format!("{binding}, grabbed on the X11 display")
            }
            Some(Backend::Crate(manager)) => {
                if let Some(old) = self.current.take() {
                    let _ = manager.unregister(old);
                }
                manager.register(hotkey).map_err(|e| match e {
                    global_hotkey::Error::AlreadyRegistered(_) => taken(),
                    other => format!("cannot register {binding}: {other}"),
                })?;
                format!("{binding}, registered with the system")
            }
            #[cfg(target_os = "linux")]
            Some(Backend::Portal(_)) | None => return Err("global hotkeys are unavailable".into()),
            #[cfg(not(target_os = "linux"))]
            None => return Err("global hotkeys are unavailable".into()),
        };
        self.current_id.store(hotkey.id(), Ordering::Relaxed);
        self.current = Some(hotkey);
        Ok(Some(path))
    }

    /// Asks the desktop portal for the key. The answer comes later, from
    /// the portal's thread; on Wayland without the portal, the desktop's
    /// own key bindings (running `tonnytray ptt`) are the way.
    #[cfg(target_os = "linux")]
    fn bind_portal(
        &mut self,
        hotkey: HotKey,
        binding: &str,
        wayland: bool,
    ) -> Result<Option<String>, String> {
        use portal::PortalEvent;
        // The old session (or grab) ends before the new one is asked for.
        self.backend = None;
        self.current = None;
        let to_core = Arc::clone(&self.to_core);
        // Told before the thread starts, so its answer cannot be overwritten.
        to_core(Command::HotkeyPath(format!(
            "asking the desktop portal (GlobalShortcuts) for {binding}…"
        )));
        let fallback = compositor_bindings(binding);
        let path = |text: String| Command::HotkeyPath(text);
        let portal = portal::PortalHotkey::start(&hotkey, move |event| match event {
            PortalEvent::Pressed => to_core(Command::HotkeyPressed),
            PortalEvent::Released => to_core(Command::HotkeyReleased),
            PortalEvent::Bound(key) if key.is_empty() => {
                to_core(path("the desktop portal, with no key bound yet".into()));
                to_core(Command::Notice(
                    "the desktop bound no key to TonnyTray's push to talk: pick one in the desktop's shortcut settings".into(),
                ));
            }
            PortalEvent::Bound(key) => to_core(path(format!(
                "{key}, bound by the desktop portal (change it in the desktop's shortcut settings)"
            ))),
            PortalEvent::Unavailable(why) if wayland => {
                tracing::info!("no GlobalShortcuts portal ({why}): the desktop's bindings it is");
                to_core(path(
                    "your desktop's key bindings, running `tonnytray ptt press` / `ptt release`"
                        .into(),
                ));
                // How to bind the keys: something to do once, not a fault.
                to_core(Command::Notice(Notice::info(fallback.clone())));
            }
            PortalEvent::Unavailable(why) => {
                to_core(path("not listening: no GlobalShortcuts portal".into()));
                to_core(Command::Notice(Notice::warning(format!(
                    "TONNYTRAY_HOTKEY_BACKEND=portal, but the desktop has no GlobalShortcuts portal ({why}); unset it to use the X11 hotkey"
                ))));
            }
            PortalEvent::Failed(why) => {
                to_core(path("not listening: the desktop portal failed".into()));
                to_core(Command::Notice(Notice::error(format!("hotkey: {why}"))));
            }
        })?;
        self.backend = Some(Backend::Portal(portal));
        self.current_id.store(hotkey.id(), Ordering::Relaxed);
        self.current = Some(hotkey);
        Ok(None)
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

/// The portal on X11 too, when the user asks for it (so that the desktop's
/// shortcut settings own the key).
#[cfg(target_os = "linux")]
fn portal_wanted() -> bool {
    std::env::var("TONNYTRAY_HOTKEY_BACKEND").is_ok_and(|v| v == "portal")
}

/// What to do on Wayland when the desktop has no GlobalShortcuts portal.
#[cfg(target_os = "linux")]
fn compositor_bindings(binding: &str) -> String {
    format!(
        "on Wayland the hotkey is your desktop's: bind {binding} to run `tonnytray ptt press` and its release to run `tonnytray ptt release` (sway, Hyprland), or bind one shortcut to `tonnytray toggle` (GNOME, KDE); the README shows how"
    )
}
