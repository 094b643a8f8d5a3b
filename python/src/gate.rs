//! Gates the core's threads pass to call Python: one for the interpreter, closed by an `atexit`
//! hook, and one per client, closed by `Client.close()`. Closing waits for the calls inside.
//!
//! A probe callable of an abandoned attempt may still run when the script ends. Python must not
//! be entered from a thread it does not know once it finalizes (a crash in `PyGILState_Release`,
//! or the thread ended under Rust's feet), and pyo3's `try_attach` cannot refuse that below
//! CPython 3.13 (this abi3 module is built for 3.9). So every callback (probe, events, log
//! records) passes the interpreter's gate first: `atexit` hooks run before finalization, and
//! ours closes the gate, then waits, with the GIL released, until the callbacks inside returned.
//! A callback that would start later does not enter Python at all.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// How long past the time a callback was given (a probe's `timeout_seconds`) closing waits for it.
pub const GRACE: Duration = Duration::from_secs(1);

/// A gate for calls into Python; see the module documentation.
pub struct Gate {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    open: bool,
    /// The threads inside, one entry per pass.
    inside: Vec<ThreadId>,
    /// When the last of the calls inside should have returned (the latest deadline given).
    due: Option<Instant>,
}

/// A call inside the gate; leaving drops it.
pub struct Pass<'a> {
    gate: &'a Gate,
}

/// How a wait for the calls inside ended.
pub enum Waited {
    /// None is inside any more.
    Empty,
    /// Some were still inside when their time (plus [`GRACE`]) ran out: how many.
    Overdue(usize),
    /// The caller itself holds a pass: waiting would never end.
    OwnThread,
}

impl Gate {
    /// An open gate.
    pub const fn new() -> Self {
        Gate {
            state: Mutex::new(State {
                open: true,
                inside: Vec::new(),
                due: None,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Enter for a call expected to return within `expected`; `None` once the gate is closed.
    pub fn enter(&self, expected: Duration) -> Option<Pass<'_>> {
        let mut state = self.lock();
        if !state.open {
            return None;
        }
        let due = Instant::now() + expected;
        state.due = Some(state.due.map_or(due, |d| d.max(due)));
        state.inside.push(thread::current().id());
        Some(Pass { gate: self })
    }

    /// Whether the gate is still open.
    pub fn is_open(&self) -> bool {
        self.lock().open
    }

    /// Close the gate: no call enters any more. Answers whether it was open.
    pub fn close(&self) -> bool {
        std::mem::replace(&mut self.lock().open, false)
    }

    /// Wait up to `slice` for the calls inside to leave; with `bounded`, only until they are
    /// overdue (their expected time plus [`GRACE`]). `None`: still waiting, call again (between
    /// slices the caller checks for Ctrl-C).
    pub fn wait(&self, slice: Duration, bounded: bool) -> Option<Waited> {
        let me = thread::current().id();
        let mut state = self.lock();
        let until = Instant::now() + slice;
        loop {
            if state.inside.is_empty() {
                return Some(Waited::Empty);
            }
            if state.inside.contains(&me) {
                return Some(Waited::OwnThread);
            }
            let now = Instant::now();
            let overdue_at = state.due.filter(|_| bounded).map(|due| due + GRACE);
            if overdue_at.is_some_and(|at| now >= at) {
                return Some(Waited::Overdue(state.inside.len()));
            }
            if now >= until {
                return None;
            }
            let limit = overdue_at.map_or(until, |at| until.min(at));
            state = self
                .changed
                .wait_timeout(state, limit.saturating_duration_since(now))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        let me = thread::current().id();
        if let Some(i) = state.inside.iter().position(|t| *t == me) {
            state.inside.swap_remove(i);
        }
        drop(state);
        self.gate.changed.notify_all();
    }
}

/// The interpreter's gate, closed by the `atexit` hook [`at_exit`].
pub static INTERPRETER: Gate = Gate::new();

/// How long one wait lasts before Ctrl-C is checked again.
const SLICE: Duration = Duration::from_millis(100);

/// Wait with the GIL released until `gate` is empty (`Waited::Empty`), the caller holds a pass
/// itself, or (with `bounded`) the calls inside are overdue; Ctrl-C ends the wait with
/// `KeyboardInterrupt`.
pub fn wait_released(py: Python<'_>, gate: &Gate, bounded: bool) -> PyResult<Waited> {
    loop {
        if let Some(waited) = py.detach(|| gate.wait(SLICE, bounded)) {
            return Ok(waited);
        }
        py.check_signals()?;
    }
}

/// The `atexit` hook (registered when the module is imported): close the interpreter's gate,
/// then wait for the callbacks inside, each up to its own time plus [`GRACE`].
///
/// Registered at import, it runs after the hooks registered later and before the interpreter
/// finalizes. A callback still inside after its time is reported at WARNING: it may crash the
/// interpreter when it returns.
#[pyfunction]
pub fn at_exit(py: Python<'_>) -> PyResult<()> {
    INTERPRETER.close();
    if let Waited::Overdue(n) = wait_released(py, &INTERPRETER, true)? {
        let text = format!(
            "at exit, {n} callback(s) of scoutlb still ran {} s past the time they were given \
             (a probe callable's timeout_seconds); the interpreter may crash when they return",
            GRACE.as_secs()
        );
        py.import("logging")?
            .call_method1("getLogger", ("scoutlb",))?
            .call_method1("warning", (text,))?;
    }
    Ok(())
}
