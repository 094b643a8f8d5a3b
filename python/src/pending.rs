//! `scoutlb._native._PendingCall`: one event-loop connect call (behaviour.md, "Event loops"),
//! driven by `scoutlb.aio` on the asyncio loop; private, the stubs name it for `scoutlb.aio` only.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use pyo3::prelude::*;

use crate::callbacks::{ProbeAttempt, judge};
use crate::errors;
use crate::types::Server;

/// A connect call whose sockets the asyncio loop watches; handed back to `Client._finish`.
#[pyclass(module = "scoutlb._native", name = "_PendingCall", frozen)]
pub struct PendingCall {
    /// The core's call until `Client._finish` takes it; shared with the `ProbeAttempt`s handed
    /// to probe callables, whose `transport_up()` reaches it from any thread.
    call: Arc<Mutex<Option<scoutlb::PendingCall>>>,
}

impl PendingCall {
    /// Wrap a call just started.
    pub fn new(call: scoutlb::PendingCall) -> Self {
        PendingCall {
            call: Arc::new(Mutex::new(Some(call))),
        }
    }

    /// The core's call, once: finishing takes it.
    pub fn take(&self) -> PyResult<scoutlb::PendingCall> {
        self.lock()
            .take()
            .ok_or_else(|| errors::Error::new_err("this call was already finished"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<scoutlb::PendingCall>> {
        lock(&self.call)
    }

    /// Run `f` on the call, or `finished` once it was finished.
    fn with<T>(&self, finished: T, f: impl FnOnce(&mut scoutlb::PendingCall) -> T) -> PyResult<T> {
        errors::guard(|| Ok(self.lock().as_mut().map_or(finished, f)))
    }
}

fn lock(call: &Mutex<Option<scoutlb::PendingCall>>) -> std::sync::MutexGuard<'_, Option<scoutlb::PendingCall>> {
    call.lock().unwrap_or_else(|p| p.into_inner())
}

#[pymethods]
impl PendingCall {
    /// The sockets to watch now: (file descriptor, True to wait for writing, False for reading).
    fn watches(&self) -> PyResult<Vec<(i32, bool)>> {
        self.with(Vec::new(), |c| {
            c.watches()
                .into_iter()
                .map(|w| (w.fd, w.interest == scoutlb::Interest::Write))
                .collect()
        })
    }

    /// Seconds the loop may wait at most before `process()`, or None once the call is done.
    fn timeout(&self) -> PyResult<Option<f64>> {
        self.with(None, |c| c.timeout().map(|t| t.as_secs_f64()))
    }

    /// Do what can be done now (a watched socket became ready, or the timeout passed); events
    /// are reported to the client's events callable from here.
    fn process(&self) -> PyResult<()> {
        self.with((), |c| c.process())
    }

    /// Whether the call is decided (a finished call is).
    fn is_done(&self) -> PyResult<bool> {
        self.with(true, |c| c.is_done())
    }

    /// Decide the call now as cancelled; its sockets close.
    fn cancel(&self) -> PyResult<()> {
        self.with((), |c| c.cancel())
    }

    /// The next attempt for the client's probe callable to run, once: (attempt, server, timeout
    /// in seconds), or None (behaviour.md, "Event loops").
    fn next_probe_request(&self) -> PyResult<Option<(u64, Server, f64)>> {
        self.with(None, |c| {
            c.next_probe_request()
                .map(|r| (r.attempt, Server(r.server), r.timeout.as_secs_f64()))
        })
    }

    /// The next attempt the call gave up, once (its probe is cancelled), or None.
    fn next_abandoned_probe(&self) -> PyResult<Option<u64>> {
        self.with(None, |c| c.next_abandoned_probe())
    }

    /// The `ProbeAttempt` handed to a probe callable of three parameters for `attempt`.
    fn probe_attempt(&self, attempt: u64) -> ProbeAttempt {
        let call = Arc::clone(&self.call);
        ProbeAttempt::new(scoutlb::TransportUp::new(move || {
            if let Some(c) = lock(&call).as_mut() {
                c.probe_up(attempt);
            }
        }))
    }

    /// The probe callable of `attempt` returned `result`, or raised `error`, `elapsed` seconds
    /// after it started; judged as a blocking call judges it (behaviour.md, "Probes").
    #[pyo3(signature = (attempt, result, error, elapsed, probe_attempt = None))]
    fn probe_finished(
        &self,
        py: Python<'_>,
        attempt: u64,
        result: Bound<'_, PyAny>,
        error: Option<Bound<'_, PyAny>>,
        elapsed: f64,
        probe_attempt: Option<PyRef<'_, ProbeAttempt>>,
    ) -> PyResult<()> {
        let outcome = match error {
            Some(e) => Err(PyErr::from_value(e)),
            None => Ok(result),
        };
        let list = probe_attempt.and_then(|a| a.take_list());
        let elapsed = std::time::Duration::try_from_secs_f64(elapsed).unwrap_or_default();
        let started = Instant::now().checked_sub(elapsed).unwrap_or_else(Instant::now);
        let judged = judge(py, outcome, list, started);
        self.with((), |c| c.probe_done(attempt, judged.map(|r| r.list)))
    }
}
