//! The thread driver: every device in flight on a thread of its own, with a blocking `Client` call.

use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use scoutlb::Client;

use super::{Action, Backoff, Device, Outcome, Shared, begin, conclude, moved, planned};

/// Stack of a device's thread: a connect call needs little (the probes run on the core's own threads).
const DEVICE_STACK: usize = 256 * 1024;

/// How far ahead of its moment a device's thread is started.
const LOOKAHEAD: Duration = Duration::from_secs(1);

/// Each device of `who` (sorted by offset) acts `offset` after the moment `trigger` returns, on a
/// thread of its own; the moment zero, the outcomes, and the threads that could not start.
///
/// Threads are started up to [`LOOKAHEAD`] ahead and sleep until their device's moment, so that
/// devices meant to act together do (starting a thread is not free on a busy machine). Waits at
/// most `limit` after the last moment for them all.
pub(super) fn act(
    devices: &[Arc<Device>],
    who: &[(usize, Duration)],
    action: Action,
    shared: &Arc<Shared>,
    limit: Duration,
    trigger: impl FnOnce(),
) -> (Instant, Vec<Outcome>, usize) {
    let gate = Arc::new(Gate::default());
    let (tx, rx) = mpsc::channel::<Outcome>();
    let (mut started, mut failures) = (0, 0);
    let mut base = None;
    let mut trigger = Some(trigger);
    for &(index, offset) in who {
        if offset >= LOOKAHEAD {
            let zero = *base.get_or_insert_with(|| gate.open(trigger.take()));
            if let Some(wait) = (zero + offset - LOOKAHEAD).checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        let device = Arc::clone(&devices[index]);
        let (tx, shared, gate) = (tx.clone(), Arc::clone(shared), Arc::clone(&gate));
        let spawned = thread::Builder::new()
            .name("fleet-device".into())
            .stack_size(DEVICE_STACK)
            .spawn(move || {
                let at = gate.wait() + offset;
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let _ = tx.send(perform(&device, at, action, &shared));
            });
        match spawned {
            Ok(_) => started += 1,
            Err(_) => failures += 1,
        }
    }
    let zero = base.unwrap_or_else(|| gate.open(trigger.take()));
    drop(tx);
    let last = who.last().map_or(Duration::ZERO, |&(_, offset)| offset);
    let deadline = zero + last + limit;
    let mut outcomes = Vec::with_capacity(started);
    while outcomes.len() < started {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(o) => outcomes.push(o),
            Err(_) => break,
        }
    }
    (zero, outcomes, failures)
}

/// The moment every device's offset counts from, once it is known.
#[derive(Default)]
struct Gate {
    zero: Mutex<Option<Instant>>,
    opened: Condvar,
}

impl Gate {
    /// Runs the trigger, then sets the moment zero to now and wakes the waiting devices.
    fn open(&self, trigger: Option<impl FnOnce()>) -> Instant {
        if let Some(t) = trigger {
            t();
        }
        let now = Instant::now();
        *self.zero.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        self.opened.notify_all();
        now
    }

    /// Waits for the moment zero.
    fn wait(&self) -> Instant {
        let mut zero = self.zero.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(z) = *zero {
                return z;
            }
            zero = self.opened.wait(zero).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// One device's action, on its own thread.
fn perform(device: &Device, at: Instant, action: Action, shared: &Shared) -> Outcome {
    let (client, outcome) = match begin(device, at, action, shared) {
        Ok(begun) => begun,
        Err(outcome) => return outcome,
    };
    let result = match action {
        Action::Boot | Action::Restart | Action::CheckIn => client.connect(),
        Action::Reconnect => client.reconnect(),
        Action::RetryJitter { until } => client.connect_with_retry_until(&|| Instant::now() >= until),
        Action::RetryHerd { backoff, until } => retry_without_jitter(&client, backoff, until),
    };
    let plan = planned(action, &result, shared);
    let mut outcome = conclude(device, outcome, result, shared);
    if let Some((after, to, window)) = plan {
        thread::sleep(after);
        outcome.moved = Some(Box::new(moved(device, to, window, client.rebalance(), shared)));
    }
    outcome
}

/// `connect()` again and again with `min(cap, base * factor^n)` between tries: the herd, no jitter.
/// A plain backoff: a refusal (`DeviceRefused`) is retried like any failure.
fn retry_without_jitter(client: &Client, backoff: Backoff, until: Instant) -> scoutlb::Result<scoutlb::Connected> {
    let mut n = 0;
    loop {
        match client.connect() {
            Err(scoutlb::Error::AllFailed(_) | scoutlb::Error::DeviceRefused { .. })
                if Instant::now() + backoff.ceiling(n) < until =>
            {
                thread::sleep(backoff.ceiling(n));
                n += 1;
            }
            other => return other,
        }
    }
}
