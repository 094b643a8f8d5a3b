//! Cancelling a client's calls from another thread or a signal handler (behaviour.md, "Cancel").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a waiting call looks whether it was cancelled: within the 50 ms it promises, and
/// rarely enough that a thousand devices in flight in one process cost little (40 wakes a second each).
pub(crate) const SLICE: Duration = Duration::from_millis(25);

/// Cancels every call running on one client, and every later one until [`Canceller::reset`].
///
/// Cheap to clone and share between threads. [`Canceller::cancel`] only stores an atomic flag,
/// so it may be called from a signal handler.
#[derive(Clone, Debug, Default)]
pub struct Canceller(Arc<AtomicBool>);

impl Canceller {
    /// A canceller that has not cancelled.
    pub fn new() -> Self {
        Canceller::default()
    }

    /// End every running call of the client with [`crate::Error::Cancelled`] within 50 ms, and
    /// refuse later calls the same way until [`Canceller::reset`].
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Canceller::cancel`] was called (and not reset since).
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Let calls run again.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Sleep until `until`, looking every [`SLICE`] whether `stop` says to stop; returns false when it did.
pub(crate) fn sleep_until(until: Instant, stop: &dyn Fn() -> bool) -> bool {
    loop {
        if stop() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(SLICE));
    }
}
