//! The tray icon and its menu, turned into [`Command`]s for the core and
//! [`WindowRequest`]s for the window. The icon shows the dictation state
//! (one PNG per state in `assets/icons`).
//!
//! On Linux the icon is a StatusNotifierItem on the session bus (tray-icon's
//! `ksni` backend: no GTK in the process). It lives on its own `tray` thread,
//! which takes each new [`TrayView`] from a channel. The menu is drawn by the
//! panel (the StatusNotifier host), so typing cannot see it from here: the
//! X11 typer instead pauses while anyone holds the keyboard
//! ([`crate::integrations::xtest`]). A left click opens the popover.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tray_icon::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use crate::messages::{Command, DictationState};
use crate::runtime::latest;
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
    fn build() -> Result<Self, String> {
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
    tray_icon::TrayIconEvent::set_event_handler(Some(move |event| match event {
        // A StatusNotifier host sends Activate on a left click; Windows and
        // macOS send Click too (their right click opens the menu).
        tray_icon::TrayIconEvent::Click {
            button: tray_icon::MouseButton::Left,
            button_state: tray_icon::MouseButtonState::Up,
            ..
        } => show(WindowRequest::Show(None)),
        tray_icon::TrayIconEvent::DoubleClick { .. } => {
            show(WindowRequest::Show(Some(Tab::Transcript)));
        }
        _ => {}
    }));
}

/// A running tray: call [`TrayHandle::show`] with each new view.
pub struct TrayHandle {
    paused: Arc<AtomicBool>,
    /// The newest view to show (latest wins: the tray never falls behind
    /// the core); closing it stops the `tray` thread (Linux).
    views: latest::Sender<TrayView>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl TrayHandle {
    /// Shows the view (from any thread).
    pub fn show(&self, view: TrayView) {
        self.paused.store(view.paused, Ordering::Relaxed);
        self.views.send(view);
    }

    /// Removes the icon and joins the `tray` thread (Linux); views sent
    /// after this are ignored.
    pub fn stop(&self) {
        self.views.close();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// The part of the tray that must stay on the main thread (Windows,
/// macOS): [`MainTray::pump`] it from the window's frame.
pub struct MainTray {
    #[cfg(not(target_os = "linux"))]
    tray: Tray,
    #[cfg(not(target_os = "linux"))]
    views: latest::Receiver<TrayView>,
}

impl MainTray {
    /// Applies the newest view sent since the last call.
    pub fn pump(&self) {
        #[cfg(not(target_os = "linux"))]
        if let Some(view) = self.views.try_recv() {
            self.tray.show(&view);
        }
    }
}

/// Starts the tray. On Linux this spawns the `tray` thread and waits for
/// the icon to exist (or fail) before returning; when no panel can show the
/// icon, that thread tells the core (a notice) and takes the notice back
/// once a panel that can appears.
///
/// # Errors
/// A message saying why there is no tray and what to do.
pub fn spawn(
    to_core: Arc<dyn Fn(Command) + Send + Sync>,
    to_window: Arc<dyn Fn(WindowRequest) + Send + Sync>,
) -> Result<(TrayHandle, MainTray), String> {
    let paused = Arc::new(AtomicBool::new(false));
    #[cfg(target_os = "linux")]
    let notices = Arc::clone(&to_core);
    install_menu_handler(to_core, to_window, Arc::clone(&paused));
    #[cfg(target_os = "linux")]
    {
        let (views, thread) = linux::spawn(notices)?;
        Ok((
            TrayHandle {
                paused,
                views,
                thread: std::sync::Mutex::new(Some(thread)),
            },
            MainTray {},
        ))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let (views, rx) = latest::mailbox();
        Ok((
            TrayHandle {
                paused,
                views,
                thread: std::sync::Mutex::new(None),
            },
            MainTray {
                tray: Tray::build()?,
                views: rx,
            },
        ))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::{Arc, mpsc};
    use std::time::Duration;

    use super::{Tray, TrayView};
    use crate::messages::Command;
    use crate::runtime::latest::{self, Received};

    const WATCHER: &str = "org.kde.StatusNotifierWatcher";

    /// What to do when the panel cannot show the icon.
    const HINT: &str = "use a panel with a StatusNotifier tray (KDE Plasma, GNOME with the AppIndicator extension, waybar, xfce4-panel's status notifier plugin, or snixembed for an old-style tray); meanwhile use the window and the hotkey";

    /// How often, while no panel can show the icon, the tray asks again
    /// (a panel often starts after the app at login).
    const RECHECK: Duration = Duration::from_secs(2);

    /// What the user should know when no StatusNotifier host (a panel that
    /// draws the icon) is registered. An old-style XEmbed tray (its
    /// `_NET_SYSTEM_TRAY_S<n>` selection has an owner) cannot show a
    /// StatusNotifierItem, which is worth naming.
    fn host_problem(bus: Option<&zbus::blocking::Connection>) -> Option<String> {
        if bus.is_some_and(host_registered) {
            return None;
        }
        Some(if xembed_tray_running() {
            format!(
                "the system tray here is an old-style (XEmbed) tray, which cannot show TonnyTray's icon; {HINT}"
            )
        } else {
            format!("no system tray is running, so the tray icon cannot be seen; {HINT}")
        })
    }

    fn host_registered(bus: &zbus::blocking::Connection) -> bool {
        zbus::blocking::Proxy::new(bus, WATCHER, "/StatusNotifierWatcher", WATCHER)
            .and_then(|watcher| watcher.get_property::<bool>("IsStatusNotifierHostRegistered"))
            .unwrap_or(false)
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

    /// Starts the `tray` thread: it builds the icon, then shows each view
    /// it is sent until it is sent `None` or the sender is dropped (the
    /// icon goes with it).
    /// While no panel can show the icon it says so through `to_core`, asks
    /// again every [`RECHECK`], and takes the notice back when one can.
    pub(super) fn spawn(
        to_core: Arc<dyn Fn(Command) + Send + Sync>,
    ) -> Result<(latest::Sender<TrayView>, std::thread::JoinHandle<()>), String> {
        let (views, rx) = latest::mailbox::<TrayView>();
        let (built_tx, built_rx) = mpsc::channel();
        let thread = crate::runtime::thread::spawn("tray", move || {
            let tray = match Tray::build() {
                Ok(tray) => {
                    let _ = built_tx.send(Ok(()));
                    tray
                }
                Err(e) => {
                    let _ = built_tx.send(Err(e));
                    return;
                }
            };
            let bus = zbus::blocking::Connection::session().ok();
            let mut problem = host_problem(bus.as_ref());
            if let Some(p) = &problem {
                tracing::warn!("{p}");
                to_core(Command::Notice(p.clone().into()));
            }
            loop {
                let view = if problem.is_some() && bus.is_some() {
                    match rx.recv_timeout(RECHECK) {
                        Received::Value(view) => Some(view),
                        Received::Timeout => None,
                        Received::Closed => break,
                    }
                } else {
                    match rx.recv() {
                        Some(view) => Some(view),
                        None => break,
                    }
                };
                if let Some(view) = view {
                    tray.show(&view);
                }
                if problem.is_some() && bus.as_ref().is_some_and(host_registered) {
                    tracing::info!("a tray host appeared; the tray icon is shown");
                    if let Some(p) = problem.take() {
                        to_core(Command::WithdrawNotice(p));
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the tray thread: {e}"))?;
        match built_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok((views, thread)),
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
