//! The global hotkey through the XDG desktop portal's GlobalShortcuts
//! interface: the desktop (KDE Plasma, GNOME 48+, Hyprland) owns the key
//! and says when it goes down and when it comes up, which is the one way a
//! Wayland app gets a push-to-talk key. On X11 it is used when asked for
//! (`TONNYTRAY_HOTKEY_BACKEND=portal`), so that the desktop's own shortcut
//! settings list and change it.
//!
//! zbus directly rather than the ashpd crate: Plasma 5.27's backend (Debian
//! 12) binds only the shortcuts listed in `CreateSession`'s options, a key
//! ashpd cannot send. They are sent there and in `BindShortcuts` (as the
//! specification has it), so old and new backends both bind them. The
//! client runs zbus's async API on its own thread, raced against a stop
//! channel; dropping the connection ends the portal session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use futures_lite::StreamExt as _;
use global_hotkey::hotkey::{Code, HotKey, Modifiers};
use zbus::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const DESTINATION: &str = "org.freedesktop.portal.Desktop";
const PATH: &str = "/org/freedesktop/portal/desktop";
const INTERFACE: &str = "org.freedesktop.portal.GlobalShortcuts";
/// The one shortcut this app binds.
pub const SHORTCUT: &str = "push-to-talk";
/// Stable, so that the desktop keeps a key the user assigned in its own
/// settings from one start to the next (KDE names the component after it).
const SESSION_TOKEN: &str = "tonnytray";

/// What the portal thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalEvent {
    /// The key went down (repeats while held are dropped).
    Pressed,
    /// The key came up.
    Released,
    /// The desktop bound the shortcut; the key it chose, as it describes it
    /// (empty: none yet, the user must pick one in the desktop's settings).
    Bound(String),
    /// The desktop has no GlobalShortcuts portal (no portal at all, or one
    /// without that interface).
    Unavailable(String),
    /// The portal said no, or stopped answering.
    Failed(String),
}

/// The running portal client; dropping it ends the session.
pub struct PortalHotkey {
    stop: async_channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl PortalHotkey {
    /// Starts the `hotkey-portal` thread, which binds `hotkey` and reports
    /// everything after that through `report`.
    ///
    /// # Errors
    /// When the thread cannot start.
    pub fn start(
        hotkey: &HotKey,
        report: impl Fn(PortalEvent) + Send + 'static,
    ) -> Result<Self, String> {
        let trigger = trigger(hotkey);
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let thread = crate::runtime::thread::spawn("hotkey-portal", move || {
            zbus::block_on(futures_lite::future::or(
                async {
                    if let Err(event) = listen(trigger.as_deref(), &report).await {
                        report(event);
                    }
                },
                async {
                    // Closed (the handle dropped) is the stop.
                    let _ = stopped.recv().await;
                },
            ));
        })
        .map_err(|e| format!("cannot start the hotkey's portal thread: {e}"))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for PortalHotkey {
    fn drop(&mut self) {
        self.stop.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds the shortcut and forwards its presses until the portal goes away.
/// Returns only with the event that ended it.
async fn listen(trigger: Option<&str>, report: &impl Fn(PortalEvent)) -> Result<(), PortalEvent> {
    let unavailable = |e: zbus::Error| PortalEvent::Unavailable(format!("{e}"));
    let conn = Connection::session().await.map_err(unavailable)?;
    let portal = zbus::proxy::Builder::<zbus::Proxy<'_>>::new(&conn)
        .destination(DESTINATION)
        .and_then(|b| b.path(PATH))
        .and_then(|b| b.interface(INTERFACE))
        .map_err(unavailable)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(unavailable)?;
    // A portal without the interface fails here, before anything is asked.
    portal
        .get_property::<u32>("version")
        .await
        .map_err(unavailable)?;
    let mut activated = portal
        .receive_signal("Activated")
        .await
        .map_err(|e| failed(&e))?;
    let mut deactivated = portal
        .receive_signal("Deactivated")
        .await
        .map_err(|e| failed(&e))?;

    let shortcuts = shortcuts(trigger);
    let token = next_token();
    let mut options: HashMap<&str, Value<'_>> = HashMap::new();
    options.insert("handle_token", Value::from(token.as_str()));
    options.insert("session_handle_token", Value::from(SESSION_TOKEN));
    // Read by Plasma 5.27 only; the specification ignores unknown keys.
    options.insert("shortcuts", Value::from(shortcuts.clone()));
    let created = request(&conn, &portal, "CreateSession", &(options,), &token).await?;
    let session = session_handle(&created)
        .ok_or_else(|| PortalEvent::Failed("the portal created no session".into()))?;

    let token = next_token();
    let mut options: HashMap<&str, Value<'_>> = HashMap::new();
    options.insert("handle_token", Value::from(token.as_str()));
    let session_path = OwnedObjectPath::try_from(session.clone())
        .map_err(|e| PortalEvent::Failed(format!("the portal's session handle: {e}")))?;
    let bound = request(
        &conn,
        &portal,
        "BindShortcuts",
        &(session_path, shortcuts, "", options),
        &token,
    )
    .await?;
    report(PortalEvent::Bound(
        bound_trigger(&bound).unwrap_or_default(),
    ));

    let mut held = false;
    loop {
        let (down, message) =
            futures_lite::future::or(async { (true, activated.next().await) }, async {
                (false, deactivated.next().await)
            })
            .await;
        let Some(message) = message else {
            return Err(PortalEvent::Failed(
                "the desktop portal stopped; the hotkey no longer works until TonnyTray restarts"
                    .into(),
            ));
        };
        let Ok((from, id, _, _)) =
            message
                .body()
                .deserialize::<(OwnedObjectPath, String, u64, HashMap<String, OwnedValue>)>()
        else {
            continue;
        };
        if from.as_str() != session || id != SHORTCUT || down == held {
            continue;
        }
        held = down;
        report(if down {
            PortalEvent::Pressed
        } else {
            PortalEvent::Released
        });
    }
}

fn failed(e: &zbus::Error) -> PortalEvent {
    PortalEvent::Failed(format!("the desktop portal: {e}"))
}

/// Request tokens must be unique per connection (and valid path elements).
fn next_token() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("tonnytray{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Calls a portal method that answers through a Request object's
/// `Response` signal, and returns the response's results.
async fn request(
    conn: &Connection,
    portal: &zbus::Proxy<'_>,
    method: &str,
    body: &(impl serde::Serialize + zbus::zvariant::DynamicType),
    token: &str,
) -> Result<HashMap<String, OwnedValue>, PortalEvent> {
    let sender = conn
        .unique_name()
        .map(|n| n.trim_start_matches(':').replace('.', "_"))
        .ok_or_else(|| PortalEvent::Failed("no name on the session bus".into()))?;
    // Subscribed before the call, so that a quick answer is not missed.
    let path = format!("{PATH}/request/{sender}/{token}");
    let answer = zbus::Proxy::new(
        conn,
        DESTINATION,
        path.as_str(),
        "org.freedesktop.portal.Request",
    )
    .await
    .map_err(|e| failed(&e))?;
    let mut responses = answer
        .receive_signal("Response")
        .await
        .map_err(|e| failed(&e))?;
    portal
        .call_method(method, body)
        .await
        .map_err(|e| failed(&e))?;
    let message = responses
        .next()
        .await
        .ok_or_else(|| PortalEvent::Failed(format!("the portal did not answer {method}")))?;
    let (code, results) = message
        .body()
        .deserialize::<(u32, HashMap<String, OwnedValue>)>()
        .map_err(|e| PortalEvent::Failed(format!("the portal's answer to {method}: {e}")))?;
    match code {
        0 => Ok(results),
        1 => Err(PortalEvent::Failed(
            "the desktop's shortcut dialog was cancelled, so the hotkey is not bound; change the hotkey in Settings to be asked again".into(),
        )),
        _ => Err(PortalEvent::Failed(format!(
            "the desktop portal refused {method} (code {code})"
        ))),
    }
}

/// The shortcut list the portal takes: `a(sa{sv})`.
fn shortcuts(trigger: Option<&str>) -> Vec<(&'static str, HashMap<&'static str, Value<'static>>)> {
    let mut info = HashMap::new();
    info.insert("description", Value::from("Push to talk (TonnyTray)"));
    if let Some(trigger) = trigger {
        info.insert("preferred_trigger", Value::from(trigger.to_owned()));
    }
    vec![(SHORTCUT, info)]
}

/// The session handle (a string in the specification, an object path from
/// some backends).
fn session_handle(results: &HashMap<String, OwnedValue>) -> Option<String> {
    match &**results.get("session_handle")? {
        Value::Str(s) => Some(s.to_string()),
        Value::ObjectPath(p) => Some(p.to_string()),
        _ => None,
    }
}

/// The key the desktop bound to our shortcut, as it describes it.
fn bound_trigger(results: &HashMap<String, OwnedValue>) -> Option<String> {
    let Value::Array(list) = &**results.get("shortcuts")? else {
        return None;
    };
    list.iter().find_map(|entry| {
        let Value::Structure(entry) = entry else {
            return None;
        };
        let [Value::Str(id), Value::Dict(info)] = entry.fields() else {
            return None;
        };
        (id.as_str() == SHORTCUT)
            .then(|| {
                info.get::<&str, String>(&"trigger_description")
                    .ok()
                    .flatten()
            })
            .flatten()
    })
}

/// The hotkey in the XDG shortcuts specification's terms (`CTRL+SHIFT+v`:
/// modifiers, then an XKB keysym name), or `None` for a key it cannot name.
#[must_use]
pub fn trigger(hotkey: &HotKey) -> Option<String> {
    let mut parts: Vec<String> = [
        (Modifiers::CONTROL, "CTRL"),
        (Modifiers::ALT, "ALT"),
        (Modifiers::SHIFT, "SHIFT"),
        // global-hotkey turns "Super" into META.
        (Modifiers::META, "LOGO"),
    ]
    .iter()
    .filter(|(m, _)| hotkey.mods.intersects(*m))
    .map(|(_, name)| (*name).to_owned())
    .collect();
    parts.push(keysym_name(hotkey.key)?);
    Some(parts.join("+"))
}

/// The XKB keysym name of a key a hotkey may use.
fn keysym_name(code: Code) -> Option<String> {
    let name = code.to_string();
    if let Some(letter) = name.strip_prefix("Key").filter(|l| l.len() == 1) {
        return Some(letter.to_ascii_lowercase());
    }
    if let Some(digit) = name.strip_prefix("Digit").filter(|d| d.len() == 1) {
        return Some(digit.to_owned());
    }
    if name
        .strip_prefix('F')
        .is_some_and(|n| n.parse::<u8>().is_ok())
    {
        return Some(name);
    }
    Some(
        match code {
            Code::Space => "space",
            Code::Enter => "Return",
            Code::Tab => "Tab",
            Code::Escape => "Escape",
            Code::Backspace => "BackSpace",
            Code::Insert => "Insert",
            Code::Delete => "Delete",
            Code::Home => "Home",
            Code::End => "End",
            Code::PageUp => "Prior",
            Code::PageDown => "Next",
            Code::ArrowLeft => "Left",
            Code::ArrowUp => "Up",
            Code::ArrowRight => "Right",
            Code::ArrowDown => "Down",
            Code::Pause => "Pause",
            Code::ScrollLock => "Scroll_Lock",
            Code::PrintScreen => "Print",
            Code::Minus => "minus",
            Code::Equal => "equal",
            Code::BracketLeft => "bracketleft",
            Code::BracketRight => "bracketright",
            Code::Backslash => "backslash",
            Code::Semicolon => "semicolon",
            Code::Quote => "apostrophe",
            Code::Backquote => "grave",
            Code::Comma => "comma",
            Code::Period => "period",
            Code::Slash => "slash",
            _ => return None,
        }
        .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger_of(binding: &str) -> Option<String> {
        trigger(&binding.parse().expect("binding"))
    }

    #[test]
    fn bindings_become_xdg_shortcut_triggers() {
        assert_eq!(trigger_of("Ctrl+Shift+V").as_deref(), Some("CTRL+SHIFT+v"));
        assert_eq!(trigger_of("Super+Space").as_deref(), Some("LOGO+space"));
        assert_eq!(trigger_of("Alt+F9").as_deref(), Some("ALT+F9"));
        assert_eq!(trigger_of("Ctrl+Alt+1").as_deref(), Some("CTRL+ALT+1"));
        assert_eq!(trigger_of("Ctrl+PageUp").as_deref(), Some("CTRL+Prior"));
        assert_eq!(trigger_of("F12").as_deref(), Some("F12"));
    }

    #[test]
    fn a_key_without_a_keysym_name_has_no_trigger() {
        assert_eq!(trigger_of("Ctrl+NumpadAdd"), None);
    }

    #[test]
    fn the_bound_key_is_read_from_the_portals_answer() {
        let mut info = HashMap::new();
        info.insert("description", Value::from("Push to talk (TonnyTray)"));
        info.insert("trigger_description", Value::from("Ctrl+Shift+F9"));
        let list = vec![("other", HashMap::new()), (SHORTCUT, info)];
        let mut results = HashMap::new();
        results.insert(
            "shortcuts".to_owned(),
            OwnedValue::try_from(Value::from(list)).expect("owned"),
        );
        assert_eq!(bound_trigger(&results).as_deref(), Some("Ctrl+Shift+F9"));
        results.clear();
        assert_eq!(bound_trigger(&results), None);
    }

    #[test]
    fn the_session_handle_is_read_as_a_string_or_a_path() {
        let path = "/org/freedesktop/portal/desktop/session/1_2/tonnytray";
        for value in [
            Value::from(path),
            Value::from(zbus::zvariant::ObjectPath::try_from(path).expect("path")),
        ] {
            let mut results = HashMap::new();
            results.insert(
                "session_handle".to_owned(),
                OwnedValue::try_from(value).expect("owned"),
            );
            assert_eq!(session_handle(&results).as_deref(), Some(path));
        }
    }
}
