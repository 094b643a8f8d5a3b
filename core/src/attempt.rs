//! Attempts: the threads and the clock around a connect call ([`scoutlb_proto::Connect`]).
//!
//! Each attempt runs its probe on its own short-lived thread, bounded by the per-attempt timeout,
//! and reports "transport up" and its outcome over a channel; the balancer lookup runs on one too.
//! The call's state machine decides what starts when and which success wins. When it is decided,
//! or cancelled, the call returns at once; the attempts still running are abandoned: their
//! results are dropped unread, and their threads end within their own timeout.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use scoutlb_proto::race::Id;
use scoutlb_proto::{Connect, Step};

use crate::cancel::SLICE;
use crate::probe::{Probe, Reached, TransportUp};
use crate::{Evaluation, Event, FailReason, ManagerLoadBalancer};

/// A balancer lookup to run on its own thread: the evaluation, and the events to report.
pub(crate) type LookupJob = Box<dyn FnOnce() -> (Evaluation, Vec<Event>) + Send>;

/// What the threads of a call tell it.
enum Message {
    Up(Id),
    Done(Id, Result<Reached, FailReason>),
    Lookup(Evaluation, Vec<Event>),
}

/// What a call needs from its client.
pub(crate) struct Context<'a> {
    /// The probe that tries one server.
    pub probe: &'a Arc<dyn Probe>,
    /// Makes the lookup of the balancer entry.
    pub lookup: &'a dyn Fn(&ManagerLoadBalancer) -> LookupJob,
    /// Whether the agent cancelled; asked every [`SLICE`].
    pub stop: &'a dyn Fn() -> bool,
    /// Reports an event.
    pub emit: &'a mut dyn FnMut(Event),
}

/// Run `connect` with threads and the real clock until it is decided (or cancelled).
pub(crate) fn run(connect: &mut Connect, cx: Context<'_>) {
    let (tx, rx) = mpsc::channel::<Message>();
    let start = Instant::now();
    loop {
        let now = start.elapsed();
        while let Some(step) = connect.poll(now) {
            match step {
                Step::Resolve(entry) => {
                    let job = (cx.lookup)(&entry);
                    let tx = tx.clone();
                    let spawned = thread::Builder::new().name("scoutlb-lookup".into()).spawn(move || {
                        let (evaluation, events) = job();
                        let _ = tx.send(Message::Lookup(evaluation, events));
                    });
                    if let Err(e) = spawned {
                        log::warn!(target: "scoutlb", "cannot start the lookup thread: {e}");
                    }
                }
                Step::Start { id, server, timeout } => {
                    let (up_tx, done_tx, probe) = (tx.clone(), tx.clone(), Arc::clone(cx.probe));
                    let up = TransportUp::new(move || {
                        let _ = up_tx.send(Message::Up(id));
                    });
                    let spawned = thread::Builder::new().name("scoutlb-attempt".into()).spawn(move || {
                        let outcome = probe.probe_signalling(&server, timeout, &up);
                        // The receiver is gone when the call was decided: the result is dropped.
                        let _ = done_tx.send(Message::Done(id, outcome));
                    });
                    if let Err(e) = spawned {
                        let reason = FailReason::Io {
                            kind: e.kind(),
                            message: format!("cannot start an attempt thread: {e}"),
                        };
                        connect.failed(id, reason, now);
                    }
                }
                Step::Emit(event) => (cx.emit)(event),
                Step::Decided => return,
                _ => {}
            }
        }
        if (cx.stop)() {
            connect.cancel();
            continue;
        }
        let wait = connect.next_wake().unwrap_or(now).saturating_sub(now).min(SLICE);
        let message = match rx.recv_timeout(wait) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the sender `tx` is held by this loop"),
        };
        let now = start.elapsed();
        match message {
            Message::Up(id) => connect.transport_up(id, now),
            Message::Done(id, Ok(reached)) => connect.succeeded(id, reached.list, now),
            Message::Done(id, Err(reason)) => connect.failed(id, reason, now),
            Message::Lookup(evaluation, events) => connect.lookup_done(evaluation, events, now),
        }
    }
}
