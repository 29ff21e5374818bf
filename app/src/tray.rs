//! The tray icon and its menu, turned into [`Command`]s for the core and
//! [`WindowRequest`]s for the window. The icon shows the dictation state
//! (one PNG per state in `assets/icons`).
//!
//! On Linux the tray lives on its own `tray` thread running a GTK main loop
//! (tray-icon's appindicator backend needs one); updates reach it through
//! GLib's main context. A missing indicator library makes tray-icon panic:
//! that panic stays on the tray thread and comes back as a clear message,
//! and the app goes on without a tray.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use crate::integrations::key_gate::KeyGate;
use crate::messages::{Command, DictationState};
use crate::ui::Tab;

/// What the tray asks of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowRequest {
    /// Show the popover, or the dashboard on a tab.
    Show(Option<Tab>),
    /// Quit the app.
    Quit,
}

/// What the tray shows; the tray is updated only when this changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    /// The icon.
    pub state: DictationState,
    /// Paused by the user (the menu offers Resume).
    pub paused: bool,
    /// The status line.
    pub status: String,
    /// The last finished utterance.
    pub last: Option<String>,
}

/// Menu item ids.
mod id {
    pub const RECORD: &str = "record";
    pub const PAUSE: &str = "pause";
    pub const STATUS: &str = "status";
    pub const LAST: &str = "last";
    pub const DASHBOARD: &str = "dashboard";
    pub const SETTINGS: &str = "settings";
    pub const LOGS: &str = "logs";
    pub const RESTART_SERVER: &str = "restart-server";
    pub const QUIT: &str = "quit";
}

/// The RGBA pixels of a state's icon.
///
/// # Errors
/// When the embedded PNG cannot be decoded (a broken build).
pub fn icon_rgba(state: DictationState) -> Result<(Vec<u8>, u32, u32), String> {
    let bytes: &[u8] = match state {
        DictationState::Idle => include_bytes!("../../assets/icons/idle.png"),
        DictationState::Listening => include_bytes!("../../assets/icons/listening.png"),
        DictationState::Processing => include_bytes!("../../assets/icons/processing.png"),
        DictationState::Error => include_bytes!("../../assets/icons/error.png"),
        DictationState::Disabled => include_bytes!("../../assets/icons/disabled.png"),
    };
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::ALPHA | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(info.buffer_size());
    if info.color_type != png::ColorType::Rgba {
        return Err(format!("icon is {:?}, not RGBA", info.color_type));
    }
    Ok((buf, info.width, info.height))
}

fn icon(state: DictationState) -> Option<Icon> {
    let (rgba, w, h) = icon_rgba(state).ok()?;
    Icon::from_rgba(rgba, w, h).ok()
}

/// The tray's icon and the menu items that change.
struct Tray {
    icon: TrayIcon,
    record: MenuItem,
    pause: MenuItem,
    status: MenuItem,
    last: MenuItem,
}

impl Tray {
    fn build(gate: &Arc<KeyGate>) -> Result<Self, String> {
        let record = MenuItem::with_id(id::RECORD, "Start recording", true, None);
        let pause = MenuItem::with_id(id::PAUSE, "Pause", true, None);
        let status = MenuItem::with_id(id::STATUS, "Status: starting", false, None);
        let last = MenuItem::with_id(id::LAST, "Last: (nothing yet)", false, None);
        let menu = Menu::new();
        let items: [&dyn tray_icon::menu::IsMenuItem; 12] = [
            &record,
            &pause,
            &PredefinedMenuItem::separator(),
            &status,
            &last,
            &PredefinedMenuItem::separator(),
            &MenuItem::with_id(id::DASHBOARD, "Open dashboard", true, None),
            &MenuItem::with_id(id::SETTINGS, "Settings", true, None),
            &MenuItem::with_id(id::LOGS, "Logs", true, None),
            &MenuItem::with_id(id::RESTART_SERVER, "Restart speech server", true, None),
            &PredefinedMenuItem::separator(),
            &MenuItem::with_id(id::QUIT, "Quit", true, None),
        ];
        for item in items {
            menu.append(item).map_err(|e| e.to_string())?;
        }
        let icon = TrayIconBuilder::new()
            .with_menu(Box::new(menu.clone()))
            .with_tooltip("TonnyTray")
            .with_title("TonnyTray")
            .with_icon(icon(DictationState::Idle).ok_or("the tray icon could not be decoded")?)
            .build()
            .map_err(|e| e.to_string())?;
        watch_menu(&menu, gate);
        Ok(Self {
            icon,
            record,
            pause,
            status,
            last,
        })
    }

    fn show(&self, view: &TrayView) {
        let _ = self.icon.set_icon(icon(view.state));
        let _ = self
            .icon
            .set_tooltip(Some(format!("TonnyTray: {}", view.state.label())));
        self.record
            .set_text(if view.state == DictationState::Listening {
                "Stop recording"
            } else {
                "Start recording"
            });
        self.pause
            .set_text(if view.paused { "Resume" } else { "Pause" });
        self.status.set_text(format!(
            "Status: {} — {}",
            view.state.label(),
            shorten(&view.status, 60)
        ));
        let last = view.last.as_deref().map_or_else(
            || "Last: (nothing yet)".to_owned(),
            |t| format!("Last: {}", shorten(t, 40)),
        );
        self.last.set_text(last);
    }
}

/// Tells the gate while the menu is shown. An open menu holds the keyboard,
/// so X11 would hand words typed meanwhile to the menu; the typing thread
/// waits for it to close.
#[cfg(target_os = "linux")]
fn watch_menu(menu: &Menu, gate: &Arc<KeyGate>) {
    use gtk::prelude::WidgetExt as _;
    use tray_icon::menu::ContextMenu as _;
    // muda builds the GTK menu once and hands the same one to the indicator.
    let gtk_menu = menu.gtk_context_menu();
    let shown = Arc::clone(gate);
    gtk_menu.connect_show(move |_| shown.set_menu_open(true));
    let hidden = Arc::clone(gate);
    gtk_menu.connect_hide(move |_| hidden.set_menu_open(false));
}

/// Elsewhere menus do not swallow typed keys the same way.
#[cfg(not(target_os = "linux"))]
fn watch_menu(_menu: &Menu, _gate: &Arc<KeyGate>) {}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Routes menu clicks: recording commands to the core, the rest to the window.
fn install_menu_handler(
    to_core: Arc<dyn Fn(Command) + Send + Sync>,
    to_window: Arc<dyn Fn(WindowRequest) + Send + Sync>,
    paused: Arc<AtomicBool>,
) {
    let show = Arc::clone(&to_window);
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| match event.id.0.as_str() {
        id::RECORD => to_core(Command::ToggleRecording),
        id::PAUSE => to_core(Command::SetPaused(!paused.load(Ordering::Relaxed))),
        id::DASHBOARD => to_window(WindowRequest::Show(Some(Tab::Transcript))),
        id::SETTINGS => to_window(WindowRequest::Show(Some(Tab::Settings))),
        id::LOGS => to_window(WindowRequest::Show(Some(Tab::Logs))),
        id::RESTART_SERVER => to_core(Command::RestartServer),
        id::QUIT => to_window(WindowRequest::Quit),
        _ => {}
    }));
    tray_icon::TrayIconEvent::set_event_handler(Some(move |event| {
        // Linux's appindicator sends no click events; Windows and macOS do.
        if let tray_icon::TrayIconEvent::DoubleClick { .. } = event {
            show(WindowRequest::Show(Some(Tab::Transcript)));
        }
    }));
}

/// A running tray: call [`TrayHandle::show`] with each new view.
pub struct TrayHandle {
    paused: Arc<AtomicBool>,
    #[cfg(not(target_os = "linux"))]
    tray: Tray,
}

#[cfg(target_os = "linux")]
thread_local! {
    static TRAY: std::cell::RefCell<Option<Tray>> = const { std::cell::RefCell::new(None) };
}

impl TrayHandle {
    /// Shows the view (from any thread on Linux; the main thread elsewhere).
    pub fn show(&self, view: TrayView) {
        self.paused.store(view.paused, Ordering::Relaxed);
        #[cfg(target_os = "linux")]
        gtk::glib::MainContext::default().invoke(move || {
            TRAY.with(|t| {
                if let Some(tray) = t.borrow().as_ref() {
                    tray.show(&view);
                }
            });
        });
        #[cfg(not(target_os = "linux"))]
        self.tray.show(&view);
    }
}

/// Says so when no tray host is running to show the icon (Linux: the icon
/// then exists but nobody draws it until a panel with a tray starts).
#[must_use]
pub fn host_problem() -> Option<String> {
    #[cfg(target_os = "linux")]
    if !linux::host_running() {
        return Some(
            "no system tray is running, so the tray icon cannot be seen; it appears when a panel with a tray starts. Meanwhile use the window and the hotkey"
                .into(),
        );
    }
    None
}

/// Starts the tray. On Linux this spawns the `tray` thread and waits for
/// the icon to exist (or fail) before returning.
///
/// # Errors
/// A message saying why there is no tray and what to install.
pub fn spawn(
    to_core: Arc<dyn Fn(Command) + Send + Sync>,
    to_window: Arc<dyn Fn(WindowRequest) + Send + Sync>,
    gate: Arc<KeyGate>,
) -> Result<TrayHandle, String> {
    let paused = Arc::new(AtomicBool::new(false));
    install_menu_handler(to_core, to_window, Arc::clone(&paused));
    #[cfg(target_os = "linux")]
    {
        linux::spawn(gate)?;
        Ok(TrayHandle { paused })
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(TrayHandle {
            paused,
            tray: Tray::build(&gate)?,
        })
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    use super::{KeyGate, TRAY, Tray};

    const HINT: &str = "install libayatana-appindicator3-1 (or libappindicator3-1) and run a panel with a system tray; TonnyTray works from its window and hotkey meanwhile";

    /// Whether a tray host is there to show the icon: an XEmbed tray (the
    /// `_NET_SYSTEM_TRAY_S<n>` selection has an owner) or a
    /// StatusNotifierItem watcher on the session bus. Without either,
    /// tray-icon "succeeds" and nothing is shown.
    pub(super) fn host_running() -> bool {
        xembed_tray_running() || status_notifier_watcher_running()
    }

    fn xembed_tray_running() -> bool {
        use x11rb::connection::Connection as _;
        use x11rb::protocol::xproto::ConnectionExt as _;
        let Ok((conn, screen)) = x11rb::connect(None) else {
            return false;
        };
        let name = format!("_NET_SYSTEM_TRAY_S{screen}");
        let owner = conn
            .intern_atom(false, name.as_bytes())
            .ok()
            .and_then(|c| c.reply().ok())
            .and_then(|a| conn.get_selection_owner(a.atom).ok())
            .and_then(|c| c.reply().ok())
            .map_or(0, |r| r.owner);
        let _ = conn.flush();
        owner != 0
    }

    fn status_notifier_watcher_running() -> bool {
        use gtk::gio;
        use gtk::glib::ToVariant as _;
        let Ok(bus) = gio::bus_get_sync(gio::BusType::Session, gio::Cancellable::NONE) else {
            return false;
        };
        bus.call_sync(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "NameHasOwner",
            Some(&("org.kde.StatusNotifierWatcher",).to_variant()),
            None,
            gio::DBusCallFlags::NONE,
            1000,
            gio::Cancellable::NONE,
        )
        .ok()
        .and_then(|reply| reply.get::<(bool,)>())
        .is_some_and(|(owned,)| owned)
    }

    /// Dispatches every pointer click on the tray thread under the gate: the
    /// menu pops up and grabs the keyboard inside that dispatch, so no word
    /// can be half-typed when it does.
    fn take_turns_on_clicks(gate: &Arc<KeyGate>) {
        use gtk::gdk::{Event, EventType};
        let gate = Arc::clone(gate);
        Event::set_handler(Some(move |event: &mut Event| {
            if matches!(
                event.event_type(),
                EventType::ButtonPress
                    | EventType::DoubleButtonPress
                    | EventType::TripleButtonPress
                    | EventType::ButtonRelease
            ) {
                gate.menu_input(|| gtk::main_do_event(event));
            } else {
                gtk::main_do_event(event);
            }
        }));
    }

    pub(super) fn spawn(gate: Arc<KeyGate>) -> Result<(), String> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("tray".into())
            .spawn(move || {
                let built = std::panic::catch_unwind(|| {
                    gtk::init().map_err(|e| format!("GTK could not start ({e})"))?;
                    take_turns_on_clicks(&gate);
                    Tray::build(&gate)
                });
                let outcome = match built {
                    Ok(Ok(tray)) => {
                        TRAY.with(|t| *t.borrow_mut() = Some(tray));
                        Ok(())
                    }
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err("the tray indicator library could not be loaded".to_owned()),
                };
                let ok = outcome.is_ok();
                let _ = tx.send(outcome);
                if ok {
                    gtk::main();
                }
            })
            .map_err(|e| format!("cannot start the tray thread: {e}"))?;
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("no tray icon: {e}; {HINT}")),
            Err(_) => Err(format!(
                "no tray icon: the tray did not start in time; {HINT}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_distinct_decodable_icon() {
        let mut centres = Vec::new();
        for state in [
            DictationState::Idle,
            DictationState::Listening,
            DictationState::Processing,
            DictationState::Error,
            DictationState::Disabled,
        ] {
            let (rgba, w, h) = icon_rgba(state).expect("icon");
            assert_eq!((w, h), (64, 64));
            assert_eq!(rgba.len(), 64 * 64 * 4);
            // A pixel inside the disc, left of the microphone glyph.
            let at = (32 * 64 + 10) * 4;
            let px = &rgba[at..at + 4];
            let expected = crate::ui::widgets::state_colour(state);
            assert_eq!(
                px,
                [expected.r(), expected.g(), expected.b(), 255],
                "{state:?}"
            );
            centres.push(px.to_vec());
        }
        centres.dedup();
        assert_eq!(centres.len(), 5);
    }

    #[test]
    fn long_menu_text_is_shortened() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("abcdefghijkl", 5), "abcde…");
    }
}
