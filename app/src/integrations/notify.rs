//! Desktop notifications (freedesktop, over the session bus) and the
//! confirmation beep, on their own thread, so a slow or absent notification
//! daemon or sound device never holds up the core.
//! Without one, the first failure is logged once and the rest are dropped:
//! the window and tray still show everything a notification would.

use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;

/// Notifications waiting to be shown; more are dropped (they are a
/// convenience, the window holds the same news).
const QUEUE: usize = 16;

/// What the thread is asked to do.
enum Note {
    Show(String, String),
    Beep,
}

/// The beep: 880 Hz for 120 ms at a quarter of full scale, 16 kHz.
fn beep_samples() -> Vec<i16> {
    (0..1_920)
        .map(|i| {
            let t = f64::from(i) / 16_000.0;
            // Truncation is the point: a sample in i16's range.
            #[allow(clippy::cast_possible_truncation)]
            let s = (8_192.0 * (2.0 * std::f64::consts::PI * 880.0 * t).sin()) as i16;
            s
        })
        .collect()
}

/// The running notification thread.
pub struct Notifier {
    tx: Option<SyncSender<Note>>,
    handle: Option<JoinHandle<()>>,
}

impl Notifier {
    /// Starts the `notify` thread.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn spawn() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Note>(QUEUE);
        let handle = crate::runtime::thread::spawn("notify", move || {
            let mut warned = false;
            for note in rx {
                let (summary, body) = match note {
                    Note::Show(summary, body) => (summary, body),
                    Note::Beep => {
                        let played = crate::audio::playback::Player::open(
                            crate::audio::playback::CutSignal::new(),
                        )
                        .and_then(|mut p| p.play(&beep_samples(), 16_000));
                        if let Err(e) = played {
                            tracing::warn!("the confirmation beep could not play: {e}");
                        }
                        continue;
                    }
                };
                let shown = notify_rust::Notification::new()
                    .appname("TonnyTray")
                    .summary(&summary)
                    .body(&body)
                    .timeout(notify_rust::Timeout::Milliseconds(6_000))
                    .show();
                if let Err(e) = shown
                    && !warned
                {
                    tracing::warn!("desktop notifications are unavailable: {e}");
                    warned = true;
                }
            }
        })?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Shows a notification (never blocks).
    pub fn show(&self, summary: &str, body: &str) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(Note::Show(summary.to_owned(), body.to_owned()));
        }
    }

    /// Plays the confirmation beep (never blocks).
    pub fn beep(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(Note::Beep);
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
