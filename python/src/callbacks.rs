//! Python callables as the core's probe and event sink, and the bridge of `log` records to `logging`.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyBool;

use crate::errors;
use crate::gate::{Gate, INTERPRETER};
use crate::probe_error;
use crate::types::{Event, Server, type_name};

thread_local! {
    /// The id of the client whose events callback runs on this thread (0 = none).
    static IN_EVENTS: Cell<u64> = const { Cell::new(0) };
}

/// Whether this thread is inside the events callback of client `id`.
pub fn in_events_callback(id: u64) -> bool {
    IN_EVENTS.with(|c| c.get() == id)
}

/// The text of a Python exception: `TypeName: message`.
pub(crate) fn describe(py: Python<'_>, err: &PyErr) -> String {
    let name = err
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    match err.value(py).str() {
        Ok(text) if !text.to_string_lossy().is_empty() => format!("{name}: {}", text.to_string_lossy()),
        _ => name,
    }
}

/// Hand a Ctrl-C that surfaced in Python code run by the library (a callback, `logging`) back to
/// the interpreter; answers whether `err` was one.
///
/// The signal handler raises `KeyboardInterrupt` in whatever Python code the main thread runs
/// next, which may be a log record or an events callback whose errors the library must not raise
/// into the connection logic. Caught there, the interrupt would be lost; it is signalled again
/// instead, so the retry loop's check or the interpreter itself raises it.
fn keep_interrupt(py: Python<'_>, err: &PyErr) -> bool {
    if !err.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
        return false;
    }
    // SAFETY: PyErr_SetInterrupt takes no arguments and only marks SIGINT as pending; it may be
    // called from any thread.
    unsafe { pyo3::ffi::PyErr_SetInterrupt() };
    true
}

/// A callback probe: `callable(server, timeout_seconds) -> bool`, or with a third argument, the
/// [`ProbeAttempt`], `callable(server, timeout_seconds, attempt) -> bool`; run on the core's attempt threads.
pub struct PyProbe {
    /// The agent's callable.
    pub callable: Py<PyAny>,
    /// Whether it takes the attempt as a third argument.
    pub with_attempt: bool,
    /// The client's gate, closed by `Client.close()`.
    pub gate: Arc<Gate>,
}

/// Why a probe call did not enter Python: the interpreter exits.
const SHUTTING_DOWN: &str = "the Python interpreter is shutting down";
/// Why a probe call did not enter Python: `Client.close()` was called.
const CLOSED: &str = "the client was closed before this attempt ran";

/// Whether `callable` takes three positional arguments (server, timeout, attempt).
pub fn takes_attempt(py: Python<'_>, callable: &Py<PyAny>) -> bool {
    py.import("inspect")
        .and_then(|inspect| inspect.call_method1("signature", (callable.bind(py),)))
        .and_then(|signature| signature.call_method1("bind", (py.None(), py.None(), py.None())))
        .is_ok()
}

impl PyProbe {
    fn call(
        &self,
        server: &scoutlb::Server,
        timeout: Duration,
        up: &scoutlb::TransportUp,
    ) -> Result<scoutlb::Reached, scoutlb::FailReason> {
        use scoutlb::FailReason::Callback;
        // Behaviour.md, "Probes": not once the interpreter exits or the client was closed.
        let Some(_interpreter) = INTERPRETER.enter(timeout) else {
            return Err(Callback(SHUTTING_DOWN.into()));
        };
        let Some(_client) = self.gate.enter(timeout) else {
            return Err(Callback(CLOSED.into()));
        };
        let started = Instant::now();
        let answer = Python::try_attach(|py| {
            let server = Server(server.clone());
            let (result, attempt) = if self.with_attempt {
                let attempt = Py::new(py, ProbeAttempt::new(up.clone())).map_err(|e| Callback(describe(py, &e)))?;
                let result = self
                    .callable
                    .bind(py)
                    .call1((server, timeout.as_secs_f64(), attempt.clone_ref(py)));
                (result, Some(attempt))
            } else {
                (self.callable.bind(py).call1((server, timeout.as_secs_f64())), None)
            };
            let list = attempt.and_then(|a| a.get().take_list());
            judge(py, result, list, started)
        });
        answer.unwrap_or_else(|| Err(Callback(SHUTTING_DOWN.into())))
    }
}

impl scoutlb::Probe for PyProbe {
    fn probe(&self, server: &scoutlb::Server, timeout: Duration) -> Result<scoutlb::Reached, scoutlb::FailReason> {
        self.probe_signalling(server, timeout, &scoutlb::TransportUp::ignored())
    }

    fn probe_signalling(
        &self,
        server: &scoutlb::Server,
        timeout: Duration,
        up: &scoutlb::TransportUp,
    ) -> Result<scoutlb::Reached, scoutlb::FailReason> {
        match catch_unwind(AssertUnwindSafe(|| self.call(server, timeout, up))) {
            Ok(outcome) => outcome,
            Err(payload) => Err(scoutlb::FailReason::Callback(errors::caught(payload.as_ref()))),
        }
    }
}

/// What a probe callable's answer means (behaviour.md, "Probes"): `True` reached (with the list
/// handed to its `ProbeAttempt`, if any), anything else or an exception raised `started` ago a
/// failure. A coroutine (an `async def` probe called by a blocking call) is closed unawaited and
/// fails the attempt, saying where such a probe runs.
pub fn judge(
    py: Python<'_>,
    result: PyResult<Bound<'_, PyAny>>,
    list: Option<Result<scoutlb::ServerList, String>>,
    started: Instant,
) -> Result<scoutlb::Reached, scoutlb::FailReason> {
    use scoutlb::FailReason::{Callback, InvalidList};
    match result {
        Ok(value) => match value.cast::<PyBool>() {
            Ok(b) if b.is_true() => match list {
                None => Ok(scoutlb::Reached::default()),
                Some(Ok(list)) => Ok(scoutlb::Reached { list: Some(list) }),
                Some(Err(why)) => Err(InvalidList(why)),
            },
            Ok(_) => Err(Callback("the probe callback returned False".to_string())),
            Err(_) if is_coroutine(py, &value) => {
                // Unawaited, it would warn when collected: close it now.
                let _ = value.call_method0("close");
                Err(Callback(
                    "the probe callback is an async def: it runs only on the asyncio loop (scoutlb.aio)".to_string(),
                ))
            }
            Err(_) => Err(Callback(format!(
                "the probe callback returned {}, not a bool",
                type_name(&value)
            ))),
        },
        Err(e) => {
            keep_interrupt(py, &e);
            Err(probe_error::fail_reason(py, &e, started.elapsed()))
        }
    }
}

/// Whether `value` is a coroutine object.
fn is_coroutine(py: Python<'_>, value: &Bound<'_, PyAny>) -> bool {
    py.import("inspect")
        .and_then(|inspect| inspect.call_method1("iscoroutine", (value,)))
        .and_then(|b| b.is_truthy())
        .unwrap_or(false)
}

/// One running attempt of a probe callable that takes it as its third argument: what the callable
/// tells the attempt race while it runs (behaviour.md, "Attempts"). Meaningful only during the call.
#[pyclass(module = "scoutlb", name = "ProbeAttempt", frozen)]
pub struct ProbeAttempt {
    up: scoutlb::TransportUp,
    list: Mutex<Option<Result<scoutlb::ServerList, String>>>,
}

impl ProbeAttempt {
    /// An attempt whose `transport_up()` signals `up`.
    pub fn new(up: scoutlb::TransportUp) -> Self {
        ProbeAttempt {
            up,
            list: Mutex::new(None),
        }
    }

    /// The list handed in, once.
    pub fn take_list(&self) -> Option<Result<scoutlb::ServerList, String>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[pymethods]
impl ProbeAttempt {
    /// Tell the race that the agent's own connection is up: the attempt gets `answer_delay_ms`.
    fn transport_up(&self) {
        self.up.signal();
    }

    /// Hand in the server list (wire-format JSON, `bytes` or `str`) this server sent; cached when
    /// it wins. A body that is no list raises `ServerListError`, and the attempt fails as a bad response.
    fn server_list(&self, body: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes: Vec<u8> = if let Ok(text) = body.extract::<String>() {
            text.into_bytes()
        } else if let Ok(bytes) = body.extract::<Vec<u8>>() {
            bytes
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "server_list takes bytes or str, not {}",
                type_name(body)
            )));
        };
        let parsed = scoutlb::ServerList::from_json(&bytes);
        let result = match &parsed {
            Ok(_) => Ok(()),
            Err(e) => Err(errors::to_py(body.py(), e.clone().into())),
        };
        *self.list.lock().unwrap_or_else(|p| p.into_inner()) = Some(parsed.map_err(|e| e.0));
        result
    }
}

/// The events callback: `callable(event)`, run on the thread that made the call.
pub struct PyEvents {
    /// The agent's callable.
    pub callable: Py<PyAny>,
    /// The id of the client it belongs to, to refuse calls back into that client.
    pub client_id: u64,
    /// The client's gate, closed by `Client.close()`.
    pub gate: Arc<Gate>,
}

impl scoutlb::EventSink for PyEvents {
    fn event(&self, event: &scoutlb::Event) {
        let event = Event::from(event);
        // Not once the interpreter exits or the client was closed (the gate module).
        let Some(_interpreter) = INTERPRETER.enter(Duration::ZERO) else {
            return;
        };
        let Some(_client) = self.gate.enter(Duration::ZERO) else {
            return;
        };
        // Nothing may unwind into the core; a failing callback is logged, never raised into the call.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            Python::try_attach(|py| {
                let previous = IN_EVENTS.with(|c| c.replace(self.client_id));
                let result = self.callable.bind(py).call1((event,));
                IN_EVENTS.with(|c| c.set(previous));
                if let Err(e) = result {
                    if keep_interrupt(py, &e) {
                        return;
                    }
                    let text = format!("the events callback raised {}", describe(py, &e));
                    let logged = py.import("logging").and_then(|logging| {
                        let kwargs = pyo3::types::PyDict::new(py);
                        kwargs.set_item("exc_info", e.value(py))?;
                        logging
                            .call_method1("getLogger", ("scoutlb",))?
                            .call_method("error", (text,), Some(&kwargs))
                    });
                    if let Err(e) = logged
                        && !keep_interrupt(py, &e)
                    {
                        e.write_unraisable(py, None);
                    }
                }
            })
        }));
    }
}

/// Forwards the core's `log` records (target `scoutlb`) to the Python logger of the same name.
struct LogBridge;

static BRIDGE: LogBridge = LogBridge;

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let t = metadata.target();
        t == "scoutlb" || t.starts_with("scoutlb::")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level: u8 = match record.level() {
            log::Level::Error => 40,
            log::Level::Warn => 30,
            log::Level::Info => 20,
            log::Level::Debug => 10,
            log::Level::Trace => 5,
        };
        // Not once the interpreter exits (the gate module): such a record is dropped.
        let Some(_interpreter) = INTERPRETER.enter(Duration::ZERO) else {
            return;
        };
        let _ = catch_unwind(AssertUnwindSafe(|| {
            Python::try_attach(|py| {
                let logged = (|| -> PyResult<()> {
                    let logger = py
                        .import("logging")?
                        .call_method1("getLogger", (record.target().replace("::", "."),))?;
                    if logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
                        // The record names the Rust source that logged it (behaviour.md, "Surfaces"),
                        // not the Python caller that `logging` would find on the stack.
                        let record = logger.call_method1(
                            "makeRecord",
                            (
                                logger.getattr("name")?,
                                level,
                                record.file().unwrap_or("scoutlb"),
                                record.line().unwrap_or(0),
                                record.args().to_string(),
                                pyo3::types::PyTuple::empty(py),
                                py.None(),
                                record.module_path().unwrap_or("scoutlb"),
                            ),
                        )?;
                        logger.call_method1("handle", (record,))?;
                    }
                    Ok(())
                })();
                // A broken logging setup must not break the connection logic; logging reports its own
                // handler errors. A Ctrl-C that landed in logging is handed back.
                if let Err(e) = logged {
                    keep_interrupt(py, &e);
                }
            })
        }));
    }

    fn flush(&self) {}
}

/// Route the core's logs, and the report of a panic in this module, to Python's `logging` (once per process).
///
/// The panic hook belongs to this extension's own copy of the Rust standard library, so it sees
/// only panics of scoutlb's code; a panic is a bug, reported at ERROR and never printed.
pub fn install_log_bridge() {
    if log::set_logger(&BRIDGE).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
        std::panic::set_hook(Box::new(|info| {
            log::error!(target: "scoutlb", "internal error (a bug in scoutlb, please report it): {info}");
        }));
    }
}
