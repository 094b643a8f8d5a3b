//! The attempt race: when each candidate starts and which success wins.
//!
//! The rule (docs/behaviour.md, "Attempts"): candidates start in order, staggered, and the *most
//! preferred available* candidate wins. A started candidate is *connecting* until its transport is
//! up; its *patience* runs out `attempt_delay` after its start while it connects, or
//! `answer_delay` after its transport came up. The next candidate starts when no running
//! candidate is within its patience. A success is final only when no higher-ranked candidate is
//! still running within its patience; otherwise it is held. A failure ends an attempt at once,
//! `timeout` ends it at the latest, and `deadline` ends the race.
//!
//! [`Race`] is a pure state machine, like the protocol cores of quinn-proto or h11: no threads, no
//! clock, no I/O. The caller tells it what happened and when ([`Race::transport_up`],
//! [`Race::succeeded`], [`Race::failed`], [`Race::lookup_answered`]), asks it what to do now
//! ([`Race::poll`]) and when to ask again ([`Race::next_wake`]). Times are durations since the race
//! began, so tests drive it with a simulated clock; the client drives it with threads and
//! `Instant`. An agent that tries servers itself (`"probe": "none"`) can drive it too.
//!
//! A race can begin with a pending name lookup ranked above every candidate (the
//! ManagerLoadBalancer entry): it is connecting, with `attempt_delay` as its patience, until its
//! answer comes; its addresses then join the race at its rank, and the first starts at once.

use std::collections::VecDeque;
use std::time::Duration;

/// The time limits of one race.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timing {
    /// Patience of a connecting attempt; zero = until it ends. Defaults to 250 ms.
    pub attempt_delay: Duration,
    /// Patience of an attempt whose transport is up; zero = until it ends. Defaults to 1 second.
    pub answer_delay: Duration,
    /// Limit of one attempt. Defaults to 3 seconds.
    pub timeout: Duration,
    /// Limit of the whole race. Defaults to 30 seconds.
    pub deadline: Duration,
}

/// Identifies one candidate of a race; stable while the race lasts.
pub type Id = usize;

/// How far a running attempt got when its patience ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The name lookup had not answered.
    Resolving,
    /// The transport was not up yet.
    Connecting,
    /// The transport was up; the answer had not come.
    Answering,
}

/// What the caller must do or know now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start the attempt on this candidate.
    Start(Id),
    /// The patience of this attempt ran out: it goes on, and later candidates may start beside it.
    PatienceRanOut {
        /// The attempt (or the lookup).
        id: Id,
        /// How far it got.
        stage: Stage,
    },
    /// This attempt reached its time limit: it counts as failed (a later answer is ignored).
    TimedOut(Id),
    /// This attempt succeeded but is held: a higher-ranked attempt is still within its patience.
    Held {
        /// The held success.
        id: Id,
        /// The highest-ranked attempt it waits for.
        behind: Id,
    },
    /// The race is decided: this candidate wins. Final.
    Won(Id),
    /// Every candidate failed. Final.
    AllFailed,
    /// The deadline passed before any success. Final.
    DeadlinePassed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started yet.
    Waiting,
    /// Started at `start`; transport up at `up`, if it is.
    Running { start: Duration, up: Option<Duration> },
    /// Succeeded; held until it wins or loses.
    Succeeded,
    /// Failed, timed out, or (the lookup) answered.
    Ended,
}

#[derive(Clone, Debug)]
struct Slot<T> {
    id: Id,
    /// The candidate, or `None` for the pending lookup.
    item: Option<T>,
    phase: Phase,
    /// The stages whose patience ran out and was reported.
    ran_out: Vec<Stage>,
    /// Whether this success was reported as held.
    held: bool,
}

impl<T> Slot<T> {
    fn stage(&self) -> Option<Stage> {
        match (self.phase, &self.item) {
            (Phase::Running { .. }, None) => Some(Stage::Resolving),
            (Phase::Running { up: None, .. }, Some(_)) => Some(Stage::Connecting),
            (Phase::Running { up: Some(_), .. }, Some(_)) => Some(Stage::Answering),
            _ => None,
        }
    }

    /// When the patience of the current stage runs out; `None` = not running or never.
    fn patience_end(&self, timing: &Timing) -> Option<Duration> {
        let (since, delay) = match self.phase {
            Phase::Running { start, up: None } => (start, timing.attempt_delay),
            Phase::Running { up: Some(up), .. } => (up, timing.answer_delay),
            _ => return None,
        };
        (!delay.is_zero()).then(|| since + delay)
    }

    /// Running and within its patience at `now`.
    fn patient(&self, timing: &Timing, now: Duration) -> bool {
        matches!(self.phase, Phase::Running { .. }) && self.patience_end(timing).is_none_or(|end| now < end)
    }

    /// When the attempt's own time limit ends it (the lookup has its own limit).
    fn expiry(&self, timing: &Timing) -> Option<Duration> {
        match (self.phase, &self.item) {
            (Phase::Running { start, .. }, Some(_)) => Some(start + timing.timeout),
            _ => None,
        }
    }
}

/// The attempt race of one connect call, as a pure state machine.
#[derive(Clone, Debug)]
pub struct Race<T> {
    timing: Timing,
    /// Slots in rank order, the most preferred first.
    slots: Vec<Slot<T>>,
    next_id: Id,
    actions: VecDeque<Action>,
    done: bool,
}

impl<T: PartialEq> Race<T> {
    /// A race over `candidates`, the most preferred first; the first starts at the first poll.
    pub fn new(candidates: Vec<T>, timing: Timing) -> Self {
        let mut race = Race {
            timing,
            slots: Vec::with_capacity(candidates.len()),
            next_id: 0,
            actions: VecDeque::new(),
            done: false,
        };
        for item in candidates {
            let slot = race.slot(Some(item));
            race.slots.push(slot);
        }
        race
    }

    /// A race whose top rank is a name lookup, pending since time zero; returns the race and the
    /// lookup's id.
    pub fn with_lookup(candidates: Vec<T>, timing: Timing) -> (Self, Id) {
        let mut race = Race::new(candidates, timing);
        let mut lookup = race.slot(None);
        lookup.phase = Phase::Running {
            start: Duration::ZERO,
            up: None,
        };
        let id = lookup.id;
        race.slots.insert(0, lookup);
        (race, id)
    }

    fn slot(&mut self, item: Option<T>) -> Slot<T> {
        let id = self.next_id;
        self.next_id += 1;
        Slot {
            id,
            item,
            phase: Phase::Waiting,
            ran_out: Vec::new(),
            held: false,
        }
    }

    /// The candidate behind `id`; `None` for the lookup or an unknown id.
    pub fn candidate(&self, id: Id) -> Option<&T> {
        self.find(id).and_then(|i| self.slots[i].item.as_ref())
    }

    /// The time limits of this race.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// Whether a final action was returned.
    pub fn is_decided(&self) -> bool {
        self.done
    }

    /// Whether attempt (or lookup) `id` is running: started, not yet ended or succeeded.
    pub fn is_running(&self, id: Id) -> bool {
        self.find(id)
            .is_some_and(|i| matches!(self.slots[i].phase, Phase::Running { .. }))
    }

    /// Whether candidate `id` was not started yet.
    pub fn is_waiting(&self, id: Id) -> bool {
        self.find(id).is_some_and(|i| self.slots[i].phase == Phase::Waiting)
    }

    /// The candidates not started yet, in rank order.
    pub fn waiting(&self) -> impl Iterator<Item = Id> + '_ {
        self.slots.iter().filter(|s| s.phase == Phase::Waiting).map(|s| s.id)
    }

    fn find(&self, id: Id) -> Option<usize> {
        self.slots.iter().position(|s| s.id == id)
    }

    fn running(&mut self, id: Id) -> Option<&mut Slot<T>> {
        if self.done {
            return None;
        }
        let i = self.find(id)?;
        let slot = &mut self.slots[i];
        matches!(slot.phase, Phase::Running { .. }).then_some(slot)
    }

    /// The transport of attempt `id` came up at `now` (TCP connected; with TLS, the handshake done).
    pub fn transport_up(&mut self, id: Id, now: Duration) {
        if let Some(slot) = self.running(id)
            && let Phase::Running { start, up: None } = slot.phase
            && slot.item.is_some()
        {
            slot.phase = Phase::Running { start, up: Some(now) };
        }
    }

    /// Attempt `id` succeeded at `now`; returns whether it counts (it was still running).
    pub fn succeeded(&mut self, id: Id, _now: Duration) -> bool {
        match self.running(id) {
            Some(slot) if slot.item.is_some() => {
                slot.phase = Phase::Succeeded;
                true
            }
            _ => false,
        }
    }

    /// Attempt `id` failed at `now`; returns whether it counts (it was still running).
    pub fn failed(&mut self, id: Id, _now: Duration) -> bool {
        match self.running(id) {
            Some(slot) => {
                slot.phase = Phase::Ended;
                true
            }
            None => false,
        }
    }

    /// The lookup `id` answered at `now` with `addresses`, the most preferred first.
    ///
    /// Addresses already started keep their place; the others join at the lookup's rank (moving
    /// up from a lower rank where they were waiting), and the first of them starts at once.
    /// No addresses is the same as a failed lookup. Returns whether the answer counts.
    pub fn lookup_answered(&mut self, id: Id, now: Duration, addresses: Vec<T>) -> bool {
        let Some(i) = self.find(id).filter(|&i| self.slots[i].item.is_none()) else {
            return false;
        };
        if self.running(id).is_none() {
            return false;
        }
        self.slots[i].phase = Phase::Ended;
        let mut at = i + 1;
        let mut first = true;
        for address in addresses {
            if let Some(j) = self.slots.iter().position(|s| s.item.as_ref() == Some(&address)) {
                if self.slots[j].phase != Phase::Waiting || j < at {
                    continue;
                }
                // A waiting candidate of a lower rank moves up to the lookup's rank.
                self.slots.remove(j);
            }
            let mut slot = self.slot(Some(address));
            if first {
                slot.phase = Phase::Running { start: now, up: None };
                self.actions.push_back(Action::Start(slot.id));
                first = false;
            }
            self.slots.insert(at, slot);
            at += 1;
        }
        true
    }

    /// What to do at `now`: call until it returns `None`, then wait until [`Race::next_wake`] or
    /// the next thing that happens. After a final action it returns `None`.
    pub fn poll(&mut self, now: Duration) -> Option<Action> {
        if let Some(action) = self.actions.pop_front() {
            return Some(action);
        }
        if self.done {
            return None;
        }
        self.step(now);
        let action = self.actions.pop_front();
        if matches!(
            action,
            Some(Action::Won(_) | Action::AllFailed | Action::DeadlinePassed)
        ) {
            self.done = true;
            self.actions.clear();
        }
        action
    }

    /// Work out the actions due at `now` into the queue.
    fn step(&mut self, now: Duration) {
        let timing = self.timing;
        // 1. Attempts past their own time limit end.
        for slot in &mut self.slots {
            if slot.expiry(&timing).is_some_and(|end| end <= now) {
                slot.phase = Phase::Ended;
                self.actions.push_back(Action::TimedOut(slot.id));
            }
        }
        // 2. Patience that ran out is reported once per stage.
        for slot in &mut self.slots {
            if let Some(stage) = slot.stage()
                && slot.patience_end(&timing).is_some_and(|end| end <= now)
                && !slot.ran_out.contains(&stage)
            {
                slot.ran_out.push(stage);
                self.actions.push_back(Action::PatienceRanOut { id: slot.id, stage });
            }
        }
        if !self.actions.is_empty() {
            return;
        }
        // 3. The highest-ranked success wins unless a higher-ranked attempt is within its patience.
        let mut behind = None;
        for slot in &mut self.slots {
            if slot.phase == Phase::Succeeded {
                match behind {
                    None => {
                        self.actions.push_back(Action::Won(slot.id));
                        return;
                    }
                    Some(behind) if !slot.held => {
                        slot.held = true;
                        self.actions.push_back(Action::Held { id: slot.id, behind });
                    }
                    Some(_) => {}
                }
            } else if behind.is_none() && slot.patient(&timing, now) {
                behind = Some(slot.id);
            }
        }
        // 4. The deadline ends the race: the best held success wins, if there is one.
        if now >= timing.deadline {
            let held = self.slots.iter().find(|s| s.phase == Phase::Succeeded);
            self.actions
                .push_back(held.map_or(Action::DeadlinePassed, |s| Action::Won(s.id)));
            return;
        }
        // 5. The next candidate starts when nobody running is within its patience.
        if behind.is_none()
            && let Some(slot) = self.slots.iter_mut().find(|s| s.phase == Phase::Waiting)
        {
            slot.phase = Phase::Running { start: now, up: None };
            self.actions.push_back(Action::Start(slot.id));
            return;
        }
        // 6. Nothing running, nothing held, nothing left to start: all failed.
        if self
            .slots
            .iter()
            .all(|s| matches!(s.phase, Phase::Ended | Phase::Waiting))
            && self.actions.is_empty()
        {
            self.actions.push_back(Action::AllFailed);
        }
    }

    /// When to poll again if nothing happens before: the next patience end, time limit or the
    /// deadline; `None` once the race is decided.
    pub fn next_wake(&self) -> Option<Duration> {
        if self.done {
            return None;
        }
        if !self.actions.is_empty() {
            return Some(Duration::ZERO);
        }
        let timing = &self.timing;
        self.slots
            .iter()
            .flat_map(|s| {
                let patience = s
                    .patience_end(timing)
                    .filter(|_| s.stage().is_some_and(|st| !s.ran_out.contains(&st)));
                [patience, s.expiry(timing)]
            })
            .flatten()
            .chain([timing.deadline])
            .min()
    }
}
