//! A one-slot, latest-wins mailbox between two threads: the sender
//! replaces whatever the receiver has not taken yet, so it never blocks
//! and never queues, and a slow receiver sees only the newest value.
//! Used where only the newest state matters (the tray's view): an
//! unbounded channel would let a stuck receiver grow memory without limit,
//! and a bounded one would drop the newest value rather than the stale one.
//!
//! Closing is sticky: once the sender closed (or was dropped), a value
//! sent after cannot revive the receiver, so a thread told to stop does
//! stop even when a last update races the stop.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct State<T> {
    value: Option<T>,
    closed: bool,
}

struct Slot<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Puts values in the slot; dropping it closes the mailbox.
pub struct Sender<T> {
    slot: Arc<Slot<T>>,
}

/// Takes the newest value out of the slot.
pub struct Receiver<T> {
    slot: Arc<Slot<T>>,
}

/// What [`Receiver::recv_timeout`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<T> {
    /// The newest value sent since the last one taken.
    Value(T),
    /// Nothing new within the time.
    Timeout,
    /// The sender closed the mailbox; nothing more will come.
    Closed,
}

/// A new, empty, open mailbox.
#[must_use]
pub fn mailbox<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
            value: None,
            closed: false,
        }),
        changed: Condvar::new(),
    });
    (
        Sender {
            slot: Arc::clone(&slot),
        },
        Receiver { slot },
    )
}

impl<T> Sender<T> {
    /// Replaces the value waiting in the slot (if any) with `value`.
    /// Ignored once the mailbox is closed.
    pub fn send(&self, value: T) {
        let mut state = self.slot.lock();
        if state.closed {
            return;
        }
        state.value = Some(value);
        drop(state);
        self.slot.changed.notify_one();
    }

    /// Closes the mailbox: the receiver gets what is waiting, then
    /// [`Received::Closed`].
    pub fn close(&self) {
        self.slot.lock().closed = true;
        self.slot.changed.notify_one();
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> Receiver<T> {
    /// Waits for a new value; `None` once the mailbox is closed and empty.
    pub fn recv(&self) -> Option<T> {
        let mut state = self.slot.lock();
        loop {
            if let Some(v) = state.value.take() {
                return Some(v);
            }
            if state.closed {
                return None;
            }
            state = self
                .slot
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits at most `timeout` for a new value.
    pub fn recv_timeout(&self, timeout: Duration) -> Received<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.slot.lock();
        loop {
            if let Some(v) = state.value.take() {
                return Received::Value(v);
            }
            if state.closed {
                return Received::Closed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Received::Timeout;
            }
            state = self
                .slot
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The waiting value, if any, without blocking (`None` also when
    /// closed).
    pub fn try_recv(&self) -> Option<T> {
        self.slot.lock().value.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_receiver_sees_only_the_newest_value() {
        let (tx, rx) = mailbox();
        for n in 0..1000 {
            tx.send(n);
        }
        assert_eq!(rx.try_recv(), Some(999));
        assert_eq!(rx.try_recv(), None);
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(10)),
            Received::Timeout
        );
    }

    #[test]
    fn close_delivers_what_waits_then_ends_and_stays_closed() {
        let (tx, rx) = mailbox();
        tx.send("last view");
        tx.close();
        // A value racing the stop cannot revive the receiver.
        tx.send("late");
        assert_eq!(rx.recv(), Some("last view"));
        assert_eq!(rx.recv(), None);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Received::Closed);
    }

    #[test]
    fn dropping_the_sender_wakes_a_waiting_receiver() {
        let (tx, rx) = mailbox::<u32>();
        let waiter =
            crate::runtime::thread::spawn("latest-test", move || rx.recv()).expect("spawn");
        std::thread::sleep(Duration::from_millis(20));
        drop(tx);
        assert_eq!(waiter.join().expect("join"), None);
    }

    #[test]
    fn a_value_sent_while_waiting_is_received() {
        let (tx, rx) = mailbox();
        let waiter = crate::runtime::thread::spawn("latest-test", move || {
            rx.recv_timeout(Duration::from_secs(30))
        })
        .expect("spawn");
        std::thread::sleep(Duration::from_millis(20));
        tx.send(7);
        assert_eq!(waiter.join().expect("join"), Received::Value(7));
    }
}
