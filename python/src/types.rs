//! The value types of the Python API: `Server`, `Attempt`, `Connected` and `Event`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};

use crate::errors;

/// A management server endpoint: host (DNS name or IP literal) and port; immutable and hashable.
#[pyclass(module = "scoutlb", name = "Server", frozen, eq, ord, hash)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Server(pub scoutlb::Server);

// The signatures below spell the default port as a literal so that Python's `inspect` shows it.
const _: () = assert!(
    scoutlb::DEFAULT_PORT == 22123,
    "update the default port in the signatures"
);

/// A port argument: a Python int; a bool is refused with TypeError (behaviour.md, "Words").
pub struct PortArg(i64);

impl<'a, 'py> FromPyObject<'a, 'py> for PortArg {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err("a port is an int, not a bool"));
        }
        obj.extract::<i64>().map(PortArg)
    }
}

fn port_of(py: Python<'_>, PortArg(port): PortArg) -> PyResult<u16> {
    u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| errors::invalid_server(py, format!("port {port} is outside 1-65535")))
}

#[pymethods]
impl Server {
    /// Build a server from a host (name or IP literal, without brackets) and a port.
    #[new]
    #[pyo3(signature = (host, port = PortArg(22123)), text_signature = "(host, port=22123)")]
    fn new(py: Python<'_>, host: &str, port: PortArg) -> PyResult<Self> {
        errors::guard(|| {
            let port = port_of(py, port)?;
            scoutlb::Server::new(host, port)
                .map(Server)
                .map_err(|e| errors::to_py(py, e.into()))
        })
    }

    /// Parse `host`, `host:port`, `[v6]:port` or a bare IP literal; `default_port` fills in.
    #[staticmethod]
    #[pyo3(signature = (text, default_port = PortArg(22123)), text_signature = "(text, default_port=22123)")]
    fn parse(py: Python<'_>, text: &str, default_port: PortArg) -> PyResult<Self> {
        errors::guard(|| {
            let port = port_of(py, default_port)?;
            scoutlb::Server::parse(text, port)
                .map(Server)
                .map_err(|e| errors::to_py(py, e.into()))
        })
    }

    /// The host: a lower-case DNS name or a canonical IP literal (no brackets).
    #[getter]
    fn host(&self) -> &str {
        self.0.host()
    }

    /// The TCP port.
    #[getter]
    fn port(&self) -> u16 {
        self.0.port()
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Server({:?}, {})", self.0.host(), self.0.port())
    }

    fn __getnewargs__(&self) -> (&str, u16) {
        (self.0.host(), self.0.port())
    }
}

impl Server {
    /// A Python argument given as a `Server` or as address text, parsed with `default_port`.
    pub fn from_arg(obj: &Bound<'_, PyAny>, default_port: u16) -> PyResult<scoutlb::Server> {
        if let Ok(s) = obj.cast::<Server>() {
            return Ok(s.get().0.clone());
        }
        if let Ok(text) = obj.cast::<PyString>() {
            let text = text.to_cow()?;
            return scoutlb::Server::parse(&text, default_port).map_err(|e| errors::to_py(obj.py(), e.into()));
        }
        Err(PyTypeError::new_err(format!(
            "expected a scoutlb.Server or an address string, got {}",
            type_name(obj)
        )))
    }
}

/// The name of an object's type, for error messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an object".into())
}

/// Convert servers to a Python list.
pub fn servers(list: Vec<scoutlb::Server>) -> Vec<Server> {
    list.into_iter().map(Server).collect()
}

/// One failed attempt: the server, the kind of failure and its message.
#[pyclass(module = "scoutlb", name = "Attempt", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    server: Server,
    kind: String,
    message: String,
}

impl From<scoutlb::Attempt> for Attempt {
    fn from(a: scoutlb::Attempt) -> Self {
        Attempt {
            server: Server(a.server),
            kind: a.reason.kind().to_string(),
            message: a.reason.to_string(),
        }
    }
}

#[pymethods]
impl Attempt {
    /// An attempt as the library reports them (for tests of agents, and for pickling).
    #[new]
    fn new(server: &Bound<'_, PyAny>, kind: String, message: String) -> PyResult<Self> {
        errors::guard(|| {
            Ok(Attempt {
                server: Server(Server::from_arg(server, scoutlb::DEFAULT_PORT)?),
                kind,
                message,
            })
        })
    }

    fn __getnewargs__(&self) -> (Server, String, String) {
        (self.server.clone(), self.kind.clone(), self.message.clone())
    }

    /// The server tried.
    #[getter]
    fn server(&self) -> Server {
        self.server.clone()
    }

    /// Why it failed, as a short stable name: `refused`, `timed_out`, `dns`, `callback`, ...
    #[getter]
    fn kind(&self) -> &str {
        &self.kind
    }

    /// Why it failed, in words.
    #[getter]
    fn message(&self) -> &str {
        &self.message
    }

    fn __str__(&self) -> String {
        format!("{}: {}", self.server.0, self.message)
    }

    fn __repr__(&self) -> String {
        format!(
            "Attempt(server={}, kind={:?}, message={:?})",
            self.server.__repr__(),
            self.kind,
            self.message
        )
    }
}

/// The outcome of a successful connect.
#[pyclass(module = "scoutlb", name = "Connected", frozen)]
#[derive(Clone, Debug)]
pub struct Connected {
    server: Server,
    reached: Server,
    via_balancer: bool,
    failed: Vec<Attempt>,
    saved: bool,
    save_error: Option<String>,
    state_dropped: Option<String>,
    list_problem: Option<String>,
    rebalance: Option<RebalancePlan>,
}

impl From<scoutlb::Connected> for Connected {
    fn from(c: scoutlb::Connected) -> Self {
        Connected {
            server: Server(c.server),
            reached: Server(c.reached),
            via_balancer: c.via_balancer,
            failed: c.failed.into_iter().map(Attempt::from).collect(),
            saved: c.saved,
            save_error: c.save_error,
            state_dropped: c.state_dropped,
            list_problem: c.list_problem,
            rebalance: c.rebalance.map(RebalancePlan),
        }
    }
}

#[pymethods]
impl Connected {
    /// The server now in use and persisted as the default (the real server behind a balancer).
    #[getter]
    fn server(&self) -> Server {
        self.server.clone()
    }

    /// The address that answered the probe.
    #[getter]
    fn reached(&self) -> Server {
        self.reached.clone()
    }

    /// Whether the address came from the ManagerLoadBalancer entry.
    #[getter]
    fn via_balancer(&self) -> bool {
        self.via_balancer
    }

    /// The attempts that did not win: failed, or still running after their patience ran out.
    #[getter]
    fn failed(&self) -> Vec<Attempt> {
        self.failed.clone()
    }

    /// Whether the new state reached the state file (also True when nothing had to be saved).
    #[getter]
    fn saved(&self) -> bool {
        self.saved
    }

    /// Why the save failed, when `saved` is False; otherwise None.
    #[getter]
    fn save_error(&self) -> Option<String> {
        self.save_error.clone()
    }

    /// Why the state file was not used when the client was created (moved aside), or None.
    #[getter]
    fn state_dropped(&self) -> Option<String> {
        self.state_dropped.clone()
    }

    /// Why a server list was refused in this call (behaviour.md, "Signed lists"), or None.
    #[getter]
    fn list_problem(&self) -> Option<String> {
        self.list_problem.clone()
    }

    /// The move to a lighter server this connect planned (behaviour.md, "Rebalance"), or None.
    #[getter]
    fn rebalance(&self) -> Option<RebalancePlan> {
        self.rebalance.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Connected(server={}, reached={}, via_balancer={}, failed={}, saved={})",
            self.server.__repr__(),
            self.reached.__repr__(),
            if self.via_balancer { "True" } else { "False" },
            self.failed.len(),
            if self.saved { "True" } else { "False" }
        )
    }
}

/// Something that happened inside a client, passed to the `events` callback.
#[pyclass(module = "scoutlb", name = "Event", frozen)]
#[derive(Clone, Debug)]
pub struct Event {
    kind: &'static str,
    severity: &'static str,
    level: u8,
    server: Option<Server>,
    message: String,
    reason: Option<&'static str>,
    servers: Vec<Server>,
}

/// The Python `logging` level and name of an event severity.
pub fn level_of(severity: scoutlb::Severity) -> (u8, &'static str) {
    match severity {
        scoutlb::Severity::Debug => (10, "debug"),
        scoutlb::Severity::Info => (20, "info"),
        scoutlb::Severity::Warning => (30, "warning"),
    }
}

impl From<&scoutlb::Event> for Event {
    fn from(e: &scoutlb::Event) -> Self {
        let (level, severity) = level_of(e.severity());
        let reason = match e {
            scoutlb::Event::AttemptFailed { reason, .. } => Some(reason.kind()),
            _ => None,
        };
        let servers = match e {
            scoutlb::Event::ServerListUpdated { servers, .. } | scoutlb::Event::BalancerResolved { servers, .. } => {
                self::servers(servers.clone())
            }
            _ => Vec::new(),
        };
        Event {
            kind: e.kind(),
            severity,
            level,
            server: e.server().cloned().map(Server),
            message: e.to_string(),
            reason,
            servers,
        }
    }
}

#[pymethods]
impl Event {
    /// A short stable name of the kind of event, such as `attempt_failed`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// How much it matters: `debug`, `info` or `warning`.
    #[getter]
    fn severity(&self) -> &'static str {
        self.severity
    }

    /// The severity as a `logging` level number (10, 20 or 30).
    #[getter]
    fn level(&self) -> u8 {
        self.level
    }

    /// The server the event is about, if one.
    #[getter]
    fn server(&self) -> Option<Server> {
        self.server.clone()
    }

    /// The event in words, as it is logged.
    #[getter]
    fn message(&self) -> &str {
        &self.message
    }

    /// For `attempt_failed`: the kind of failure (`refused`, `timed_out`, ...); otherwise None.
    #[getter]
    fn reason(&self) -> Option<&'static str> {
        self.reason
    }

    /// For `server_list_updated` and `balancer_resolved`: the servers; otherwise empty.
    #[getter]
    fn servers(&self) -> Vec<Server> {
        self.servers.clone()
    }

    fn __str__(&self) -> &str {
        &self.message
    }

    fn __repr__(&self) -> String {
        format!(
            "Event(kind={:?}, severity={:?}, message={:?})",
            self.kind, self.severity, self.message
        )
    }
}

/// A move to a lighter server that a connect planned (behaviour.md, "Rebalance").
#[pyclass(module = "scoutlb", name = "RebalancePlan", frozen)]
#[derive(Clone, Debug)]
pub struct RebalancePlan(pub scoutlb::Plan);

#[pymethods]
impl RebalancePlan {
    /// The server the device is on now (its default).
    #[getter(from_server)]
    fn origin(&self) -> Server {
        Server(self.0.from.clone())
    }

    /// The lighter server it moves to.
    #[getter]
    fn to_server(&self) -> Server {
        Server(self.0.to.clone())
    }

    /// When to move, in seconds counted from the connect that planned it.
    #[getter]
    fn after(&self) -> f64 {
        self.0.after.as_secs_f64()
    }

    /// The window the moment was drawn in, in seconds (at least `rebalance.window_ms`).
    #[getter]
    fn window(&self) -> f64 {
        self.0.window.as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!(
            "RebalancePlan(from_server={}, to_server={}, after={:.3}, window={:.3})",
            self.0.from,
            self.0.to,
            self.0.after.as_secs_f64(),
            self.0.window.as_secs_f64()
        )
    }
}
