//! A lock that a child made by `fork` can take over (behaviour.md, "State file": fork).
//!
//! A `std::sync::Mutex` held by another thread at the moment of a `fork` stays locked for ever in
//! the child, where that thread does not exist: the child's first call on the client would hang.
//! [`ForkLock`] records the process id of its holder instead; all threads of a process share it,
//! so they take turns as with a mutex, but a process that finds another process's id there knows
//! that the holder was not copied by `fork` and takes the lock over. The sections it guards are
//! short and pure (the device's state machine), so the child's copy is at worst one step behind.

use std::cell::UnsafeCell;
use std::hint;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A mutual-exclusion lock around a `T` that survives `fork`; see the module docs.
pub(crate) struct ForkLock<T> {
    holder: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and a guard exists for at most one thread
// of a process at a time (the holder word is taken with compare-exchange); T moves between
// threads with it, so T: Send suffices, as for std's Mutex.
unsafe impl<T: Send> Sync for ForkLock<T> {}
// SAFETY: as above; owning the lock owns the value.
unsafe impl<T: Send> Send for ForkLock<T> {}

impl<T> std::fmt::Debug for ForkLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkLock")
            .field("holder", &self.holder.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The held lock; released when dropped.
pub(crate) struct ForkGuard<'a, T> {
    lock: &'a ForkLock<T>,
}

impl<T> ForkLock<T> {
    /// A lock around `value`, free.
    pub fn new(value: T) -> Self {
        ForkLock {
            holder: AtomicU32::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Wait for the other threads of this process, then hold the lock.
    pub fn lock(&self) -> ForkGuard<'_, T> {
        let mut tries = 0u32;
        loop {
            if let Some(guard) = self.try_lock() {
                return guard;
            }
            if tries < 64 {
                tries += 1;
                hint::spin_loop();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Hold the lock, waiting for the other threads of this process until `until` at the latest
    /// and not after `stop` says to stop; `None` when it was not had.
    pub fn lock_within(&self, until: Instant, stop: &dyn Fn() -> bool) -> Option<ForkGuard<'_, T>> {
        loop {
            if let Some(guard) = self.try_lock() {
                return Some(guard);
            }
            if stop() || Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Hold the lock if it is free, or held by a process this one was forked from.
    fn try_lock(&self) -> Option<ForkGuard<'_, T>> {
        let me = std::process::id();
        match self
            .holder
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Some(ForkGuard { lock: self }),
            // Held by the process this one was forked from: its thread does not exist here.
            Err(holder)
                if holder != me
                    && self
                        .holder
                        .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok() =>
            {
                Some(ForkGuard { lock: self })
            }
            Err(_) => None,
        }
    }
}

impl<T> Deref for ForkGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock, so no other guard of this process exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for ForkGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, so no other guard of this process exists.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for ForkGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.holder.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::ForkLock;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    #[test]
    fn threads_take_turns() {
        let lock = Arc::new(ForkLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *l.lock() += 1;
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*lock.lock(), 40_000);
    }

    #[test]
    fn a_lock_held_by_this_process_is_waited_for_until_the_limit() {
        let lock = ForkLock::new(());
        let _held = lock.lock();
        let soon = std::time::Instant::now() + std::time::Duration::from_millis(20);
        assert!(lock.lock_within(soon, &|| false).is_none());
        assert!(
            lock.lock_within(std::time::Instant::now() + std::time::Duration::from_secs(5), &|| true)
                .is_none()
        );
    }

    #[test]
    fn a_lock_held_by_another_process_is_taken_over() {
        let lock = ForkLock::new(1);
        // As a child finds it: held by its parent's thread, which fork did not copy.
        lock.holder.store(std::process::id().wrapping_add(1), Ordering::SeqCst);
        assert_eq!(*lock.lock(), 1);
    }
}
