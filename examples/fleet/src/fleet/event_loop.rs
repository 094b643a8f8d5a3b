//! The loop driver: every device's calls on the core's event-loop driver (`Client::start_connect`,
//! `Client::start_reconnect`, a `PendingCall`, `Client::finish`), multiplexed with epoll on a few
//! loop threads, with a timer queue for the devices' moments, the calls' timeouts and the retry
//! waits. No thread per device, none per attempt.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::Timespec;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use scoutlb::{Client, Connected, Interest, PendingCall};

use super::timers::Timers;
use super::{Action, Device, Outcome, Shared, begin, conclude, moved, planned};

/// Longest wait of a loop thread in epoll, so that it sees the time limit.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// Events taken from epoll at once.
const EVENTS: usize = 4096;

/// Calls in flight now, over every loop thread.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Most calls in flight at once so far.
static MOST_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// The most connect calls that were in flight at once in this process on the loop driver.
pub fn most_in_flight() -> usize {
    MOST_IN_FLIGHT.load(Ordering::Relaxed)
}

/// Each device of `who` (sorted by offset) acts `offset` after the moment `trigger` returns, on
/// `threads` loop threads (device j of `who` on thread j mod `threads`; one thread: the calling
/// one), with at most `most` calls in flight at once (a device due beyond waits for its turn).
/// Waits at most `limit` after the last moment; the moment zero and the outcomes.
#[allow(clippy::too_many_arguments)]
pub(super) fn act(
    devices: &[Arc<Device>],
    who: &[(usize, Duration)],
    action: Action,
    shared: &Shared,
    threads: usize,
    most: usize,
    limit: Duration,
    trigger: impl FnOnce(),
) -> (Instant, Vec<Outcome>) {
    trigger();
    let zero = Instant::now();
    let last = who.last().map_or(Duration::ZERO, |&(_, offset)| offset);
    let deadline = zero + last + limit;
    let threads = threads.clamp(1, who.len().max(1));
    let shard = |t: usize| -> Vec<(&Device, Instant)> {
        who.iter()
            .skip(t)
            .step_by(threads)
            .map(|&(index, offset)| (&*devices[index], zero + offset))
            .collect()
    };
    let outcomes = if threads == 1 {
        run(shard(0), action, shared, most, deadline)
    } else {
        std::thread::scope(|s| {
            let loops: Vec<_> = (0..threads)
                .map(|t| {
                    let mine = shard(t);
                    std::thread::Builder::new()
                        .name("fleet-loop".into())
                        .spawn_scoped(s, move || run(mine, action, shared, most / threads, deadline))
                })
                .collect();
            let mut all = Vec::with_capacity(who.len());
            for handle in loops {
                match handle
                    .map_err(|e| e.to_string())
                    .and_then(|h| h.join().map_err(|_| "it panicked".into()))
                {
                    Ok(outcomes) => all.extend(outcomes),
                    Err(e) => log_lost(&e),
                }
            }
            all
        })
    };
    (zero, outcomes)
}

/// A loop thread that did not start or ended badly: its devices have no outcome (they count as
/// not finished), and why is said on stderr.
fn log_lost(why: &str) {
    eprintln!("scoutlb-fleet: a loop thread of the devices was lost: {why}");
}

/// Where one device's action is.
enum Stage {
    /// Its moment (or the end of a retry's wait) has not come.
    Due,
    /// Its call runs.
    Calling(Box<PendingCall>),
    /// Its outcome is out.
    Done,
}

/// One device of a loop thread.
struct Task<'a> {
    device: &'a Device,
    /// When it acts next: its moment, or the end of a retry's wait.
    at: Instant,
    stage: Stage,
    /// Its client and outcome once it began.
    begun: Option<(Arc<Client>, Outcome)>,
    /// Tries made (the retrying actions).
    tries: u32,
    /// The sockets registered in epoll for its call.
    fds: Vec<(RawFd, Interest)>,
    /// It is in this round's list of tasks to step.
    queued: bool,
    /// A check-in that planned a rebalance: its outcome, and the move's target and window
    /// (the move is due at `at`, or running).
    checked_in: Option<(Outcome, usize, Duration)>,
}

/// The calls of one loop thread in flight, and the devices due that wait for their turn.
struct Turns {
    /// Most calls in flight at once on this thread.
    most: usize,
    /// Calls in flight now.
    running: usize,
    /// Devices due while `most` calls ran, in the order they came due.
    waiting: VecDeque<usize>,
}

/// Runs the devices of one loop thread, each acting at its moment (or its turn, while `most`
/// calls are in flight), until all are done or the `deadline`; their outcomes.
fn run(
    devices: Vec<(&Device, Instant)>,
    action: Action,
    shared: &Shared,
    most: usize,
    deadline: Instant,
) -> Vec<Outcome> {
    let epoll = match epoll::create(CreateFlags::CLOEXEC) {
        Ok(e) => e,
        Err(e) => {
            log_lost(&format!("epoll_create: {e}"));
            return Vec::new();
        }
    };
    let mut timers = Timers::default();
    let mut tasks: Vec<Task<'_>> = devices
        .into_iter()
        .enumerate()
        .map(|(slot, (device, at))| {
            timers.set(slot, at);
            Task {
                device,
                at,
                stage: Stage::Due,
                begun: None,
                tries: 0,
                fds: Vec::new(),
                queued: false,
                checked_in: None,
            }
        })
        .collect();
    let mut left = tasks.len();
    let mut outcomes = Vec::with_capacity(left);
    let mut events = Vec::with_capacity(EVENTS);
    let mut ready = Vec::new();
    let mut turns = Turns {
        most: most.max(1),
        running: 0,
        waiting: VecDeque::new(),
    };
    while left > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = timers
            .next()
            .map_or(MAX_WAIT, |at| at.saturating_duration_since(now))
            .min(MAX_WAIT)
            .min(deadline - now);
        events.clear();
        let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        });
        // An interrupted wait only means another look now.
        let _ = epoll::wait(&epoll, spare_capacity(&mut events), Some(&timeout));
        for event in &events {
            queue(&mut tasks, &mut ready, event.data.u64() as usize);
        }
        let now = Instant::now();
        while let Some(slot) = timers.pop_due(now) {
            queue(&mut tasks, &mut ready, slot);
        }
        for slot in ready.drain(..) {
            tasks[slot].queued = false;
            if let Some(outcome) = step(&mut tasks[slot], slot, action, shared, &epoll, &mut timers, &mut turns) {
                outcomes.push(outcome);
                left -= 1;
            }
        }
        // Calls that ended make room for devices that wait for their turn.
        while turns.running < turns.most
            && let Some(slot) = turns.waiting.pop_front()
        {
            if let Some(outcome) = step(&mut tasks[slot], slot, action, shared, &epoll, &mut timers, &mut turns) {
                outcomes.push(outcome);
                left -= 1;
            }
        }
    }
    // Calls still running at the deadline are dropped (their sockets close): no outcome.
    IN_FLIGHT.fetch_sub(turns.running, Ordering::Relaxed);
    outcomes
}

/// Puts `slot` on this round's list of tasks to step, once.
fn queue(tasks: &mut [Task<'_>], ready: &mut Vec<usize>, slot: usize) {
    if let Some(task) = tasks.get_mut(slot)
        && !task.queued
    {
        task.queued = true;
        ready.push(slot);
    }
}

/// Moves one device on as far as it goes now; its outcome once it has one.
fn step(
    task: &mut Task<'_>,
    slot: usize,
    action: Action,
    shared: &Shared,
    epoll: &OwnedFd,
    timers: &mut Timers,
    turns: &mut Turns,
) -> Option<Outcome> {
    let now = Instant::now();
    match &mut task.stage {
        Stage::Done => return None,
        Stage::Due if now < task.at => {
            timers.set(slot, task.at);
            return None;
        }
        Stage::Due => {
            if task.begun.is_none() {
                match begin(task.device, task.at, action, shared) {
                    Ok(begun) => task.begun = Some(begun),
                    Err(outcome) => {
                        task.stage = Stage::Done;
                        return Some(outcome);
                    }
                }
            }
            if turns.running >= turns.most {
                turns.waiting.push_back(slot);
                return None;
            }
            let (client, _) = task.begun.as_ref()?;
            task.tries += 1;
            let started = match action {
                _ if task.checked_in.is_some() => match client.start_rebalance() {
                    Ok(Some(call)) => Ok(call),
                    other => return end_move(task, slot, shared, timers, other.map(|_| None)),
                },
                Action::Reconnect => client.start_reconnect(),
                _ => client.start_connect(),
            };
            match started {
                Ok(call) => {
                    turns.running += 1;
                    let now_in_flight = IN_FLIGHT.fetch_add(1, Ordering::Relaxed) + 1;
                    MOST_IN_FLIGHT.fetch_max(now_in_flight, Ordering::Relaxed);
                    task.stage = Stage::Calling(Box::new(call));
                }
                Err(e) => return end_try(task, slot, action, shared, timers, Err(e)),
            }
        }
        Stage::Calling(call) => call.process(),
    }
    let Stage::Calling(call) = &mut task.stage else {
        return None;
    };
    if !call.is_done() {
        watch(epoll, slot, &mut task.fds, call);
        let at = Instant::now() + call.timeout().unwrap_or(Duration::ZERO);
        timers.set(slot, at);
        return None;
    }
    // A decided call has closed its sockets: forget them (closing took them out of epoll).
    unwatch(epoll, &mut task.fds);
    let Stage::Calling(call) = std::mem::replace(&mut task.stage, Stage::Due) else {
        unreachable!("the stage was a call")
    };
    IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    turns.running -= 1;
    let (client, _) = task.begun.as_ref()?;
    let result = client.finish(*call);
    if task.checked_in.is_some() {
        return end_move(task, slot, shared, timers, result.map(Some));
    }
    end_try(task, slot, action, shared, timers, result)
}

/// After a try's `result`: the device waits for its next try (a retrying action whose call
/// failed, while its time lasts), or it is done and this is its outcome.
fn end_try(
    task: &mut Task<'_>,
    slot: usize,
    action: Action,
    shared: &Shared,
    timers: &mut Timers,
    result: scoutlb::Result<Connected>,
) -> Option<Outcome> {
    if let Some(wait) = retry_wait(task, action, &result) {
        task.at = Instant::now() + wait;
        task.stage = Stage::Due;
        timers.set(slot, task.at);
        return None;
    }
    if let Some((after, to, window)) = planned(action, &result, shared) {
        // The check-in is over; its planned move comes at its moment.
        let (_, outcome) = task.begun.as_ref()?;
        let outcome = conclude(task.device, outcome.clone(), result, shared);
        task.checked_in = Some((outcome, to, window));
        task.at = Instant::now() + after;
        task.stage = Stage::Due;
        timers.set(slot, task.at);
        return None;
    }
    task.stage = Stage::Done;
    timers.clear(slot);
    let (_, outcome) = task.begun.take()?;
    Some(conclude(task.device, outcome, result, shared))
}

/// After the planned move of a check-in ended with `result`: the device is done, and its
/// outcome is the check-in's with the move.
fn end_move(
    task: &mut Task<'_>,
    slot: usize,
    shared: &Shared,
    timers: &mut Timers,
    result: scoutlb::Result<Option<Connected>>,
) -> Option<Outcome> {
    task.stage = Stage::Done;
    timers.clear(slot);
    task.begun = None;
    let (mut outcome, to, window) = task.checked_in.take()?;
    outcome.moved = Some(Box::new(moved(task.device, to, window, result, shared)));
    Some(outcome)
}

/// The wait before the next try of a retrying action whose try ended with `result`, or `None`
/// when there is none (it succeeded, it is not a retrying action, the error is final, or the
/// next try would come after its time limit).
///
/// With jitter it is `connect_with_retry`'s own decision, `Client::retry_wait` (the retry
/// profile's waits with their jitter, a refused device's slower wait, the failed try recorded).
fn retry_wait(task: &Task<'_>, action: Action, result: &scoutlb::Result<Connected>) -> Option<Duration> {
    let (client, _) = task.begun.as_ref()?;
    let n = task.tries.saturating_sub(1);
    let (wait, until) = match (action, result) {
        (Action::RetryJitter { until }, Err(e)) => (client.retry_wait(task.tries, e)?, until),
        (
            Action::RetryHerd { backoff, until },
            Err(scoutlb::Error::AllFailed(_) | scoutlb::Error::DeviceRefused { .. }),
        ) => (backoff.ceiling(n), until),
        _ => return None,
    };
    (Instant::now() + wait < until).then_some(wait)
}

/// Registers the call's sockets in epoll for what they wait for now, in place of `fds`.
fn watch(epoll: &OwnedFd, slot: usize, fds: &mut Vec<(RawFd, Interest)>, call: &PendingCall) {
    let watches = call.watches();
    let data = EventData::new_u64(slot as u64);
    for &(fd, _) in fds.iter() {
        if !watches.iter().any(|w| w.fd == fd) {
            // SAFETY: only a number for epoll_ctl; a closed descriptor only makes it fail.
            let _ = epoll::delete(epoll, unsafe { BorrowedFd::borrow_raw(fd) });
        }
    }
    fds.clear();
    for w in watches {
        let flags = match w.interest {
            Interest::Read => EventFlags::IN,
            _ => EventFlags::OUT,
        };
        // SAFETY: the call keeps its sockets open until its next `process` (behaviour.md,
        // "Event loops"), and this is before it.
        let fd = unsafe { BorrowedFd::borrow_raw(w.fd) };
        // Modified in place; a socket new to epoll (or a new one under a reused number, whose
        // old registration went with the close) is added.
        if let Err(e) = epoll::modify(epoll, fd, data, flags)
            && e.raw_os_error() == rustix::io::Errno::NOENT.raw_os_error()
            && let Err(e) = epoll::add(epoll, fd, data, flags)
        {
            log_watch(&e.into());
        }
        fds.push((w.fd, w.interest));
    }
}

/// Takes the sockets of `fds` out of epoll.
fn unwatch(epoll: &OwnedFd, fds: &mut Vec<(RawFd, Interest)>) {
    for &(fd, _) in fds.iter() {
        // SAFETY: only a number for epoll_ctl; a closed descriptor only makes it fail.
        let _ = epoll::delete(epoll.as_fd(), unsafe { BorrowedFd::borrow_raw(fd) });
    }
    fds.clear();
}

/// A socket epoll does not take: its call still ends at its timeout.
fn log_watch(e: &io::Error) {
    eprintln!("scoutlb-fleet: epoll does not take a device's socket: {e}");
}
