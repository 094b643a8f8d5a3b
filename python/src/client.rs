//! `scoutlb.Client`: the core client behind a frozen Python class; every call releases the GIL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::PyTraverseError;
use pyo3::exceptions::PyTypeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMapping, PySequence, PyString};
use serde_json::{Map, Value};

use crate::callbacks::{PyEvents, PyProbe, in_events_callback, takes_attempt};
use crate::convert;
use crate::errors::{self, ServerListError, config_key_error};
use crate::gate::{self, Gate, Waited};
use crate::pending::PendingCall;
use crate::types::{self, Connected, Server, type_name};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What `Client._finish` gives: the result, or the wait before the next try of a retrying call.
#[derive(IntoPyObject)]
#[allow(clippy::large_enum_variant)] // made once per call and handed straight to Python
enum Finished {
    Connected(Connected),
    Retry(f64),
}

/// A device's connection chooser (behaviour.md, "Start-up"); safe to share between threads.
#[pyclass(module = "scoutlb", name = "Client", frozen)]
pub struct Client {
    inner: scoutlb::Client,
    id: u64,
    probe: Option<Arc<PyProbe>>,
    events: Option<Arc<PyEvents>>,
    /// Open until `close()`; the callbacks pass it.
    gate: Arc<Gate>,
}

/// A callable argument (`probe`, `events`), or a `ConfigError` naming it.
fn callable(key: &str, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) if o.is_callable() => Ok(Some(o.clone().unbind())),
        Some(o) => Err(config_key_error(
            o.py(),
            key,
            format!("expected a callable, got {}", type_name(o)),
        )),
    }
}

impl Client {
    fn create(
        py: Python<'_>,
        config: scoutlb::Config,
        probe: Option<Py<PyAny>>,
        events: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let gate = Arc::new(Gate::new());
        let probe = probe.map(|callable| {
            Arc::new(PyProbe {
                with_attempt: takes_attempt(py, &callable),
                callable,
                gate: gate.clone(),
            })
        });
        let events = events.map(|callable| {
            Arc::new(PyEvents {
                callable,
                client_id: id,
                gate: gate.clone(),
            })
        });
        let mut builder = scoutlb::Client::builder(config);
        if let Some(p) = &probe {
            builder = builder.probe_arc(p.clone());
        }
        if let Some(e) = &events {
            builder = builder.events_arc(e.clone());
        }
        // Opening the state file may wait on another process's lock: release the GIL meanwhile.
        let inner = py.detach(|| builder.build()).map_err(|e| errors::to_py(py, e))?;
        Ok(Client {
            inner,
            id,
            probe,
            events,
            gate,
        })
    }

    /// Run `f` on the core client with the GIL released; core errors become Python exceptions.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&scoutlb::Client) -> scoutlb::Result<T> + Send,
    ) -> PyResult<T> {
        errors::guard(|| {
            self.check_reentry()?;
            let inner = &self.inner;
            py.detach(|| f(inner)).map_err(|e| errors::to_py(py, e))
        })
    }

    /// Refuse a call from this client's own events callback, which would deadlock the core, and
    /// any call after `close()`.
    fn check_reentry(&self) -> PyResult<()> {
        if !self.gate.is_open() {
            return Err(errors::Error::new_err("the client is closed"));
        }
        if in_events_callback(self.id) {
            return Err(errors::Error::new_err(
                "the events callback must not call back into its own client (it runs while the client is busy)",
            ));
        }
        Ok(())
    }

    /// The core's retrying connect, stopped by Ctrl-C (KeyboardInterrupt) or any signal handler
    /// that raises: the handlers run between tries and every 100 ms of a wait.
    fn retry_loop(&self, py: Python<'_>, reconnect: bool, stop: Option<&Bound<'_, PyAny>>) -> PyResult<Connected> {
        self.check_reentry()?;
        let stop: Option<Py<PyAny>> = stop.map(|s| s.clone().unbind());
        let raised: Mutex<Option<PyErr>> = Mutex::new(None);
        let check = || {
            Python::attach(|py| {
                let asked = match &stop {
                    None => Ok(false),
                    Some(event) => event.bind(py).call_method0("is_set").and_then(|v| v.is_truthy()),
                };
                match asked.and_then(|stopped| py.check_signals().map(|()| stopped)) {
                    Ok(stopped) => stopped,
                    Err(e) => {
                        *raised.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        true
                    }
                }
            })
        };
        let result = py.detach(|| {
            if reconnect {
                self.inner.reconnect_with_retry_until(&check)
            } else {
                self.inner.connect_with_retry_until(&check)
            }
        });
        if let Some(e) = raised.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        result.map(Connected::from).map_err(|e| errors::to_py(py, e))
    }

    fn default_port(&self) -> u16 {
        self.inner.config().default_port
    }

    /// A server list handed in as wire-format text, bytes or dict, or as a list of servers.
    fn list_arg(&self, py: Python<'_>, servers: &Bound<'_, PyAny>) -> PyResult<ListArg> {
        if let Ok(s) = servers.cast::<PyString>() {
            return s
                .to_cow()
                .map(|s| ListArg::Json(s.as_bytes().to_vec()))
                .map_err(|_| ServerListError::new_err("the server list text is not valid Unicode (lone surrogate)"));
        }
        if let Ok(b) = servers.cast::<PyBytes>() {
            return Ok(ListArg::Json(b.as_bytes().to_vec()));
        }
        if servers.cast::<PyMapping>().is_ok() {
            let dict = PyDict::new(py);
            dict.update(servers.cast::<PyMapping>()?)?;
            let text = py
                .import("json")?
                .call_method1("dumps", (dict,))
                .map_err(|e| ServerListError::new_err(format!("the server list is not JSON data: {}", e.value(py))))?;
            return Ok(ListArg::Json(text.cast::<PyString>()?.to_cow()?.as_bytes().to_vec()));
        }
        if servers.cast::<PySequence>().is_ok() {
            let mut list = Vec::new();
            for (i, item) in servers.try_iter()?.enumerate() {
                let server = Server::from_arg(&item?, self.default_port())
                    .map_err(|e| ServerListError::new_err(format!("entry {i}: {}", e.value(py))))?;
                list.push(server);
            }
            return Ok(ListArg::Servers(list));
        }
        Err(PyTypeError::new_err(format!(
            "a server list is JSON text (str or bytes), a dict, or a list of Server or address strings, got {}",
            type_name(servers)
        )))
    }
}

/// Whether `key` takes a list of strings (its default is `[]` in the one key table).
fn is_list_key(key: &str) -> bool {
    scoutlb::KEY_TABLE.iter().any(|k| k.name == key && k.default == "[]")
}

/// A server list as the agent handed it in.
enum ListArg {
    /// Wire-format JSON, parsed by the core.
    Json(Vec<u8>),
    /// Servers in order, already parsed.
    Servers(Vec<scoutlb::Server>),
}

/// The configuration text of `from_json`: a str, or bytes that must be UTF-8.
fn config_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|c| c.into_owned())
            .map_err(|_| errors::config_error(py, "configuration is not valid Unicode (lone surrogate)".into(), None));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map_err(|e| errors::config_error(py, format!("configuration is not valid UTF-8: {e}"), None));
    }
    Err(PyTypeError::new_err(format!(
        "the configuration is JSON text (str or bytes), got {}",
        type_name(obj)
    )))
}

#[pymethods]
impl Client {
    /// Create a client from keyword arguments named like the configuration keys (behaviour.md).
    #[new]
    #[pyo3(signature = (**config))]
    fn new(py: Python<'_>, config: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        errors::guard(|| {
            let mut map = Map::new();
            let mut probe = None;
            let mut events = None;
            let mut paths = Vec::new();
            if let Some(config) = config {
                for (k, v) in config.iter() {
                    let key: String = k.extract()?;
                    match key.as_str() {
                        "probe" if v.is_callable() => {
                            probe = Some(v.clone().unbind());
                            map.insert(key, Value::String("callback".into()));
                        }
                        "events" => events = callable("events", Some(&v))?,
                        // A str is a Sequence too: "10.0.0.1" would be ten one-letter servers.
                        k if is_list_key(k) && (v.is_instance_of::<PyString>() || v.is_instance_of::<PyBytes>()) => {
                            return Err(errors::config_type_error(
                                py,
                                &key,
                                format!(
                                    "expected a list of strings, got a single {} (write {key}=[{}])",
                                    type_name(&v),
                                    v.repr()?
                                ),
                            ));
                        }
                        k if convert::PATH_KEYS.contains(&k)
                            && let Some(path) = convert::os_path(&v)? =>
                        {
                            // The JSON map checks the path as text (not empty); the OS gets its bytes.
                            map.insert(key.clone(), Value::String(path.to_string_lossy().into_owned()));
                            paths.push((key, path));
                        }
                        _ => {
                            let value = convert::to_json(&key, &v)?;
                            map.insert(key, value);
                        }
                    }
                }
            }
            let mut config = scoutlb::Config::from_map(&map).map_err(|e| errors::to_py(py, e))?;
            for (key, path) in paths {
                match key.as_str() {
                    "state_file" => config.state_file = Some(path),
                    "ca_dir" => config.ca_dir = Some(path),
                    _ => config.ca_file = Some(path),
                }
            }
            Client::create(py, config, probe, events)
        })
    }

    /// Create a client from the JSON configuration text (behaviour.md, "Configuration keys").
    #[staticmethod]
    #[pyo3(signature = (text, probe = None, events = None))]
    fn from_json(
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        probe: Option<&Bound<'_, PyAny>>,
        events: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        errors::guard(|| {
            let text = config_text(text)?;
            let probe = callable("probe", probe)?;
            let events = callable("events", events)?;
            let config = py
                .detach(|| scoutlb::Config::from_json(&text))
                .map_err(|e| errors::to_py(py, e))?;
            Client::create(py, config, probe, events)
        })
    }

    /// Run the start-up procedure: ManagerLoadBalancer first, then the failover order.
    fn connect(&self, py: Python<'_>) -> PyResult<Connected> {
        self.run(py, |c| c.connect()).map(Connected::from)
    }

    /// After a lost connection: run the failover order from the default server (no balancer).
    fn reconnect(&self, py: Python<'_>) -> PyResult<Connected> {
        self.run(py, |c| c.reconnect()).map(Connected::from)
    }

    /// Connect, retrying on the retry profile's schedule until success or its limit (behaviour.md, "All fail");
    /// ends with `CancelledError` within 50 ms once `stop` (a `threading.Event`) is set.
    #[pyo3(signature = (*, stop = None))]
    fn connect_with_retry(&self, py: Python<'_>, stop: Option<&Bound<'_, PyAny>>) -> PyResult<Connected> {
        errors::guard(|| self.retry_loop(py, false, stop))
    }

    /// Reconnect, retrying like `connect_with_retry`: every try runs the failover order from the default server.
    #[pyo3(signature = (*, stop = None))]
    fn reconnect_with_retry(&self, py: Python<'_>, stop: Option<&Bound<'_, PyAny>>) -> PyResult<Connected> {
        errors::guard(|| self.retry_loop(py, true, stop))
    }

    /// Start a call for an event loop (behaviour.md, "Event loops"): `kind` is "connect",
    /// "reconnect" or "rebalance" (None when no move is planned); `scoutlb.aio` drives it.
    fn _start_call(&self, py: Python<'_>, kind: &str) -> PyResult<Option<PendingCall>> {
        // The first call of a client reads the hosts file: no GIL meanwhile.
        let started = match kind {
            "connect" => self.run(py, |c| c.start_connect().map(Some)),
            "reconnect" => self.run(py, |c| c.start_reconnect().map(Some)),
            "rebalance" => self.run(py, |c| c.start_rebalance()),
            other => Err(PyTypeError::new_err(format!(
                "_start_call takes \"connect\", \"reconnect\" or \"rebalance\", not {other:?}"
            ))),
        };
        started.map(|call| call.map(PendingCall::new))
    }

    /// Finish `call`: its result, or its error raised. After try number `tries` (from 1) of a
    /// retrying call, a failure that is retried gives the wait before the next try in seconds
    /// instead (behaviour.md, "All fail").
    #[pyo3(signature = (call, tries = 0))]
    fn _finish(&self, py: Python<'_>, call: &PendingCall, tries: u32) -> PyResult<Finished> {
        errors::guard(|| {
            let call = call.take()?;
            let inner = &self.inner;
            let outcome = py.detach(|| {
                inner.finish(call).map_err(|e| match tries {
                    0 => (None, e),
                    n => (inner.retry_wait(n, &e), e),
                })
            });
            match outcome {
                Ok(connected) => Ok(Finished::Connected(Connected::from(connected))),
                Err((Some(wait), _)) => Ok(Finished::Retry(wait.as_secs_f64())),
                Err((None, e)) => Err(errors::to_py(py, e)),
            }
        })
    }

    /// The probe callable and whether it takes a `ProbeAttempt`, or None (built-in probe).
    #[getter]
    fn _probe(&self, py: Python<'_>) -> Option<(Py<PyAny>, bool)> {
        self.probe.as_ref().map(|p| (p.callable.clone_ref(py), p.with_attempt))
    }

    /// Whether `cancel()` holds (until `reset_cancel()`).
    #[getter]
    fn _cancelled(&self) -> bool {
        self.inner.canceller().is_cancelled()
    }

    /// The move to a lighter server the last connect planned, or None (behaviour.md, "Rebalance").
    #[getter]
    fn rebalance_plan(&self) -> Option<types::RebalancePlan> {
        self.inner.rebalance_plan().map(types::RebalancePlan)
    }

    /// Carry out the planned move: try its target only; the new connection, or None when no move
    /// was planned. When the target does not answer, nothing changes and `AllServersFailedError`
    /// is raised (behaviour.md, "Rebalance").
    fn rebalance(&self, py: Python<'_>) -> PyResult<Option<Connected>> {
        self.run(py, |c| c.rebalance()).map(|c| c.map(Connected::from))
    }

    /// Cancel every running and later call of this client (`CancelledError` within 50 ms) until
    /// `reset_cancel()`; safe from any thread and from a signal handler (behaviour.md, "Cancel").
    fn cancel(&self) {
        self.inner.canceller().cancel();
    }

    /// Let calls run again after `cancel()`.
    fn reset_cancel(&self) {
        self.inner.canceller().reset();
    }

    /// The candidates of a start-up, in order: the balancer's addresses, then the failover order.
    fn candidates(&self, py: Python<'_>) -> PyResult<Vec<Server>> {
        self.run(py, |c| Ok(c.candidates())).map(types::servers)
    }

    /// The failover order from the default server, without the ManagerLoadBalancer.
    fn failover_order(&self, py: Python<'_>) -> PyResult<Vec<Server>> {
        self.run(py, |c| Ok(c.failover_order())).map(types::servers)
    }

    /// Report that the agent reached `server`: it becomes the default server and is persisted.
    fn report_success(&self, py: Python<'_>, server: &Bound<'_, PyAny>) -> PyResult<()> {
        let server = Server::from_arg(server, self.default_port())?;
        self.run(py, |c| c.report_success(&server))
    }

    /// Report that the agent could not reach `server`, with its own reason.
    fn report_failure(&self, py: Python<'_>, server: &Bound<'_, PyAny>, reason: &str) -> PyResult<()> {
        let server = Server::from_arg(server, self.default_port())?;
        self.run(py, |c| {
            c.report_failure(&server, reason);
            Ok(())
        })
    }

    /// Report that the connection to the current server was lost; returns the new order to try.
    fn connection_lost(&self, py: Python<'_>) -> PyResult<Vec<Server>> {
        self.run(py, |c| Ok(c.connection_lost())).map(types::servers)
    }

    /// Hand in a server list received by the agent's own protocol; a refused list keeps the cached one.
    #[pyo3(signature = (servers, from_server = None))]
    fn update_server_list(
        &self,
        py: Python<'_>,
        servers: &Bound<'_, PyAny>,
        from_server: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let from = match from_server {
            Some(s) if !s.is_none() => Some(Server::from_arg(s, self.default_port())?),
            _ => None,
        };
        match self.list_arg(py, servers)? {
            ListArg::Json(body) => self.run(py, |c| c.update_server_list_json(&body, from.as_ref())),
            ListArg::Servers(list) => self.run(py, |c| c.update_server_list_servers(list, from.as_ref())),
        }
    }

    /// The wait before retry number `n + 1`, in seconds, on the retry profile's schedule (behaviour.md, "All fail").
    fn backoff(&self, py: Python<'_>, n: u32) -> PyResult<f64> {
        self.run(py, |c| Ok(c.backoff(n).as_secs_f64()))
    }

    /// The cached server list (empty when none was received yet).
    #[getter]
    fn server_list(&self, py: Python<'_>) -> PyResult<Vec<Server>> {
        self.run(py, |c| Ok(c.server_list())).map(types::servers)
    }

    /// The default server: the last one connected to successfully, or None.
    #[getter]
    fn default_server(&self, py: Python<'_>) -> PyResult<Option<Server>> {
        self.run(py, |c| Ok(c.default_server())).map(|s| s.map(Server))
    }

    /// Why the state file was not used when the client was created (it could not be parsed and
    /// was moved aside), or None (behaviour.md, "State file").
    #[getter]
    fn state_dropped(&self) -> Option<String> {
        self.inner.state_dropped().map(str::to_owned)
    }

    /// The destination OU that DHCP option 222 named when the client was created, or None
    /// (behaviour.md, "First contact from DHCP").
    #[getter]
    fn dhcp_ou(&self) -> Option<String> {
        self.inner.dhcp_first_contact().and_then(|(_, c)| c.ou.clone())
    }

    /// The lease file whose DHCP option 222 gave first-contact servers, as a `pathlib.Path`, or None.
    #[getter]
    fn dhcp_lease(&self) -> Option<std::path::PathBuf> {
        self.inner.dhcp_first_contact().map(|(p, _)| p.to_path_buf())
    }

    /// The seed servers: the configured ones, or `ScoutSrv` when none is configured.
    #[getter]
    fn seeds(&self) -> Vec<Server> {
        types::servers(self.inner.seeds().to_vec())
    }

    /// Close the client: every later call raises `scoutlb.Error`, and once `close()` returns no
    /// callback of this client runs any more (it waits, Ctrl-C aside, for probe callables still
    /// running on abandoned attempts). Closing again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        errors::guard(|| {
            if in_events_callback(self.id) {
                return Err(errors::Error::new_err(
                    "the events callback must not close its own client (it runs while the client is busy)",
                ));
            }
            self.gate.close();
            match gate::wait_released(py, &self.gate, false)? {
                Waited::OwnThread => Err(errors::Error::new_err(
                    "a probe callable closed its own client: it is closed, but close() cannot wait for itself",
                )),
                Waited::Empty | Waited::Overdue(_) => Ok(()),
            }
        })
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        !self.gate.is_open()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Close the client at the end of a `with` block; exceptions go on.
    #[pyo3(signature = (exc_type = None, exc_value = None, traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc_value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = (exc_type, exc_value, traceback);
        self.close(py)
    }

    fn __repr__(&self) -> String {
        let seeds: Vec<String> = self.inner.seeds().iter().map(ToString::to_string).collect();
        let closed = if self.gate.is_open() { "" } else { " closed" };
        format!("<scoutlb.Client seeds=[{}]{closed}>", seeds.join(", "))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(p) = &self.probe {
            visit.call(&p.callable)?;
        }
        if let Some(e) = &self.events {
            visit.call(&e.callable)?;
        }
        Ok(())
    }
}

/// The failover order (behaviour.md) of a list, seeds and default server (`device_id` = spread mode).
#[pyfunction]
#[pyo3(signature = (servers, seeds, default = None, device_id = None))]
pub fn failover_order(
    servers: Option<Vec<Bound<'_, PyAny>>>,
    seeds: Vec<Bound<'_, PyAny>>,
    default: Option<&Bound<'_, PyAny>>,
    device_id: Option<&str>,
) -> PyResult<Vec<Server>> {
    errors::guard(|| {
        let parse = |items: &[Bound<'_, PyAny>]| -> PyResult<Vec<scoutlb::Server>> {
            items
                .iter()
                .map(|o| Server::from_arg(o, scoutlb::DEFAULT_PORT))
                .collect()
        };
        let list = servers.as_deref().map(parse).transpose()?;
        let seeds = parse(&seeds)?;
        let default = match default {
            Some(d) if !d.is_none() => Some(Server::from_arg(d, scoutlb::DEFAULT_PORT)?),
            _ => None,
        };
        let ranking = match device_id {
            Some(id) => scoutlb::Ranking::Spread(id),
            None => scoutlb::Ranking::List,
        };
        Ok(types::servers(scoutlb::failover_order(
            list.as_deref(),
            &seeds,
            default.as_ref(),
            ranking,
        )))
    })
}

/// Panic inside the boundary guard with the GIL released, so tests can see the panic surface as `scoutlb.Error`.
#[pyfunction]
pub fn _panic_for_test(py: Python<'_>, message: &str) -> PyResult<()> {
    errors::guard(|| {
        py.detach(|| -> () { panic!("{message}") });
        Ok(())
    })
}
