//! Who may send keys to the desktop right now: the `typing` thread while it
//! types (a character on X11, a piece of a few words with a tool), or the
//! tray menu while it is being opened or is open.
//!
//! An X11 menu grabs the keyboard, and every synthetic key sent while the
//! grab holds goes to the menu instead of the window the user was dictating
//! into. Checking "is the menu open?" before typing is not enough: a click
//! on the tray icon can open the menu in the middle of a word. So the two
//! take turns under one lock. The tray thread calls [`KeyGate::menu_input`]
//! around every pointer event it dispatches (the menu pops up and grabs
//! inside that dispatch), and the typing thread holds [`KeyGate::typing`]
//! for each character or piece it sends.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long the tray thread waits for typing in flight: long enough for a
/// slow piece, short enough that a stuck typing tool cannot freeze the tray.
const TRAY_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Turns {
    /// The menu is shown (it holds the keyboard).
    menu_open: bool,
    /// The tray thread is dispatching a pointer event that may open it.
    menu_input: bool,
    /// The typing thread is sending keys.
    typing: bool,
}

/// The shared lock; see the module documentation.
#[derive(Debug, Default)]
pub struct KeyGate {
    turns: Mutex<Turns>,
    changed: Condvar,
}

/// Held by the typing thread while it sends a character or piece; dropping
/// it lets the tray go on.
#[must_use = "the turn ends when this is dropped"]
pub struct TypingTurn<'a>(&'a KeyGate);

impl Drop for TypingTurn<'_> {
    fn drop(&mut self) {
        self.0.lock().typing = false;
        self.0.changed.notify_all();
    }
}

impl KeyGate {
    /// A gate with nothing open and nothing typing.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Turns> {
        // The state is three flags that are each valid on their own, so a
        // panic elsewhere while holding the lock leaves nothing half-done.
        self.turns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits while `busy` holds, at most `limit`; the lock, and whether
    /// `busy` ended in time.
    fn wait_while(
        &self,
        limit: Duration,
        busy: impl Fn(&Turns) -> bool,
    ) -> (MutexGuard<'_, Turns>, bool) {
        let deadline = Instant::now() + limit;
        let mut turns = self.lock();
        while busy(&turns) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return (turns, false);
            };
            turns = self
                .changed
                .wait_timeout(turns, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        (turns, true)
    }

    /// Waits until the menu is closed and not being opened, then takes the
    /// keyboard. `None` when the menu stayed open for `limit`.
    pub fn typing(&self, limit: Duration) -> Option<TypingTurn<'_>> {
        let (mut turns, free) = self.wait_while(limit, |t| t.menu_open || t.menu_input);
        if !free {
            return None;
        }
        turns.typing = true;
        Some(TypingTurn(self))
    }

    /// Runs `dispatch` (a pointer event that may open the menu) once no key
    /// is in flight; typing waits until it returns. After two seconds the
    /// event goes through anyway so the tray never freezes.
    pub fn menu_input<T>(&self, dispatch: impl FnOnce() -> T) -> T {
        self.wait_while(TRAY_WAIT, |t| t.typing).0.menu_input = true;
        let out = dispatch();
        self.lock().menu_input = false;
        self.changed.notify_all();
        out
    }

    /// Records that the menu was shown or hidden.
    pub fn set_menu_open(&self, open: bool) {
        self.lock().menu_open = open;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn typing_waits_for_the_menu_to_close() {
        let gate = Arc::new(KeyGate::new());
        gate.set_menu_open(true);
        assert!(gate.typing(Duration::from_millis(30)).is_none());
        let closer = Arc::clone(&gate);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            closer.set_menu_open(false);
        });
        assert!(gate.typing(Duration::from_secs(5)).is_some());
        t.join().expect("closer");
    }

    #[test]
    fn a_menu_click_waits_for_the_word_in_flight() {
        let gate = Arc::new(KeyGate::new());
        let word_done = Arc::new(AtomicBool::new(false));
        let turn = gate.typing(Duration::from_secs(1)).expect("free");
        let (g, done) = (Arc::clone(&gate), Arc::clone(&word_done));
        let tray = std::thread::spawn(move || g.menu_input(|| done.load(Ordering::SeqCst)));
        std::thread::sleep(Duration::from_millis(50));
        word_done.store(true, Ordering::SeqCst);
        drop(turn);
        assert!(
            tray.join().expect("tray"),
            "the click was dispatched before the word finished"
        );
    }

    #[test]
    fn typing_waits_while_a_click_is_being_dispatched() {
        let gate = Arc::new(KeyGate::new());
        let g = Arc::clone(&gate);
        gate.menu_input(move || {
            // Inside the dispatch the menu is not open yet, but typing must
            // still wait: the grab may be a moment away.
            assert!(g.typing(Duration::from_millis(30)).is_none());
        });
        assert!(gate.typing(Duration::from_millis(30)).is_some());
    }
}
