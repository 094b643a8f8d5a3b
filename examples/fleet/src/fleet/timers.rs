//! The loop driver's timer queue: which device is due when (its moment, a call's timeout, a
//! retry's wait), a later entry for the same device superseding the earlier ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Moments at which devices (by their slot) are due; an entry counts only while it is the
/// latest one of its slot.
#[derive(Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// The generation of each slot's latest entry.
    latest: Vec<u64>,
}

impl Timers {
    /// `slot` is due at `at`; earlier entries of the slot no longer count.
    pub(super) fn set(&mut self, slot: usize, at: Instant) {
        if self.latest.len() <= slot {
            self.latest.resize(slot + 1, 0);
        }
        self.latest[slot] += 1;
        self.heap.push(Reverse((at, slot, self.latest[slot])));
    }

    /// `slot` is not due at any moment any more.
    pub(super) fn clear(&mut self, slot: usize) {
        if let Some(g) = self.latest.get_mut(slot) {
            *g += 1;
        }
    }

    /// The earliest moment at which an entry that counts is due.
    pub(super) fn next(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, slot, generation))) = self.heap.peek() {
            if self.latest[slot] == generation {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// The next slot due by `now`, taken off the queue.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<usize> {
        let at = self.next()?;
        if at > now {
            return None;
        }
        let Reverse((_, slot, _)) = self.heap.pop()?;
        self.latest[slot] += 1;
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_later_entry_supersedes_and_due_slots_come_in_order() {
        let t = Instant::now();
        let mut timers = Timers::default();
        timers.set(0, t + Duration::from_millis(5));
        timers.set(1, t + Duration::from_millis(1));
        timers.set(0, t + Duration::from_millis(3));
        timers.set(2, t + Duration::from_millis(2));
        timers.clear(2);
        assert_eq!(timers.next(), Some(t + Duration::from_millis(1)));
        assert_eq!(timers.pop_due(t), None);
        let late = t + Duration::from_millis(10);
        assert_eq!(timers.pop_due(late), Some(1));
        assert_eq!(timers.pop_due(late), Some(0));
        assert_eq!(
            timers.pop_due(late),
            None,
            "0's first entry was superseded, 2's cleared"
        );
        assert_eq!(timers.next(), None);
    }
}
