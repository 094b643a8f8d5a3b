//! The exception classes of `scoutlb`, the mapping of core errors onto them, and the panic guard.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use crate::types::Attempt;

create_exception!(
    scoutlb,
    Error,
    PyException,
    "Base class of every error raised by scoutlb."
);
create_exception!(
    scoutlb,
    ConfigError,
    Error,
    "A configuration key is unknown or has a wrong type or value; the message names the key."
);
create_exception!(
    scoutlb,
    InvalidServerError,
    ConfigError,
    "A server address could not be parsed."
);
create_exception!(
    scoutlb,
    ServerListError,
    Error,
    "A server list was refused (behaviour.md, Wire format); the cached list is kept."
);
create_exception!(
    scoutlb,
    StateFileError,
    Error,
    "The state file or its folder could not be read or written."
);
create_exception!(
    scoutlb,
    StateFormatError,
    StateFileError,
    "The state file was written by a newer scoutlb and is left untouched."
);
create_exception!(scoutlb, DnsError, Error, "A DNS lookup failed.");
create_exception!(
    scoutlb,
    AllServersFailedError,
    Error,
    "No candidate server could be reached; `attempts` lists every attempt and why it failed."
);
create_exception!(
    scoutlb,
    UnknownServerError,
    Error,
    "The named server is not known to this client."
);
create_exception!(
    scoutlb,
    UnsupportedError,
    Error,
    "The call is not possible with this client's configuration (such as connect() with probe=\"none\")."
);

create_exception!(
    scoutlb,
    DeviceRefusedError,
    Error,
    "A server refused this device (behaviour.md, \"Servers that steer devices\"); no other server was tried. `server` and `reason` say who and why."
);

/// `ConfigTypeError`, made at import: a `ConfigError` and a `TypeError` at once (pyo3's
/// exception classes have one base).
static CONFIG_TYPE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn config_type_error_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CONFIG_TYPE_ERROR
        .get_or_try_init(py, || {
            let namespace = PyDict::new(py);
            namespace.set_item("__module__", "scoutlb")?;
            namespace.set_item(
                "__doc__",
                "A configuration value of the wrong Python type, such as a single str for a list key \
                 (`servers=\"10.0.0.1\"`): both a ConfigError and a TypeError.",
            )?;
            let bases = PyTuple::new(py, [py.get_type::<ConfigError>(), py.get_type::<PyTypeError>()])?;
            let class = py
                .get_type::<PyType>()
                .call1(("ConfigTypeError", bases, namespace))?
                .cast_into::<PyType>()?;
            Ok(class.unbind())
        })
        .map(|class| class.bind(py))
}

/// A `ConfigTypeError` for `key` in the wording of the core's configuration errors.
pub fn config_type_error(py: Python<'_>, key: &str, message: impl std::fmt::Display) -> PyErr {
    match config_type_error_class(py) {
        Ok(class) => with_key(
            py,
            PyErr::from_type(class.clone(), format!("configuration key `{key}`: {message}")),
            Some(key),
        ),
        Err(e) => e,
    }
}

create_exception!(
    scoutlb,
    CancelledError,
    Error,
    "The call was cancelled (Client.cancel(), or the stop of a retrying call); behaviour.md, \"Cancel\"."
);

/// Add every exception class to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("ConfigTypeError", config_type_error_class(py)?)?;
    m.add("InvalidServerError", py.get_type::<InvalidServerError>())?;
    m.add("ServerListError", py.get_type::<ServerListError>())?;
    m.add("StateFileError", py.get_type::<StateFileError>())?;
    m.add("StateFormatError", py.get_type::<StateFormatError>())?;
    m.add("DnsError", py.get_type::<DnsError>())?;
    m.add("AllServersFailedError", py.get_type::<AllServersFailedError>())?;
    m.add("UnknownServerError", py.get_type::<UnknownServerError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add("DeviceRefusedError", py.get_type::<DeviceRefusedError>())?;
    Ok(())
}

/// The Python exception for a core error.
pub fn to_py(py: Python<'_>, e: scoutlb::Error) -> PyErr {
    use scoutlb::ErrorKind;
    let message = e.to_string();
    match e.kind() {
        ErrorKind::InvalidServer => invalid_server(py, message),
        ErrorKind::Config => {
            let key = match &e {
                scoutlb::Error::Config { key, .. } => Some(key.as_str()),
                _ => None,
            };
            config_error(py, message, key)
        }
        ErrorKind::InvalidServerList => ServerListError::new_err(message),
        ErrorKind::StateFile => StateFileError::new_err(message),
        ErrorKind::StateFormat => StateFormatError::new_err(message),
        ErrorKind::Dns => DnsError::new_err(message),
        ErrorKind::AllFailed => {
            let err = AllServersFailedError::new_err(message);
            let list: Vec<Attempt> = e.attempts().iter().cloned().map(Attempt::from).collect();
            let set = PyList::new(py, list).and_then(|l| err.value(py).setattr("attempts", l));
            match set {
                Ok(()) => err,
                Err(other) => other,
            }
        }
        ErrorKind::UnknownServer => UnknownServerError::new_err(message),
        ErrorKind::Unsupported => UnsupportedError::new_err(message),
        ErrorKind::Cancelled => CancelledError::new_err(message),
        ErrorKind::DeviceRefused => {
            let err = DeviceRefusedError::new_err(message);
            let set = match &e {
                scoutlb::Error::DeviceRefused { server, reason } => err
                    .value(py)
                    .setattr("server", crate::types::Server(server.clone()))
                    .and_then(|()| err.value(py).setattr("reason", reason)),
                _ => Ok(()),
            };
            match set {
                Ok(()) => err,
                Err(other) => other,
            }
        }
        _ => Error::new_err(message),
    }
}

/// A `ConfigError` whose `key` attribute names the configuration key (None when no single key).
pub fn config_error(py: Python<'_>, message: String, key: Option<&str>) -> PyErr {
    with_key(py, ConfigError::new_err(message), key)
}

/// An `InvalidServerError` (its `key` is None: it names no configuration key).
pub fn invalid_server(py: Python<'_>, message: String) -> PyErr {
    with_key(py, InvalidServerError::new_err(message), None)
}

fn with_key(py: Python<'_>, err: PyErr, key: Option<&str>) -> PyErr {
    match err.value(py).setattr("key", key) {
        Ok(()) => err,
        Err(other) => other,
    }
}

/// A `ConfigError` for `key` in the wording of the core's configuration errors.
pub fn config_key_error(py: Python<'_>, key: &str, message: impl std::fmt::Display) -> PyErr {
    config_error(py, format!("configuration key `{key}`: {message}"), Some(key))
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Run one call of the Python API; a Rust panic inside becomes `scoutlb.Error`, never `PanicException`.
pub fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(Error::new_err(format!(
            "internal error in scoutlb (a bug, please report it): {}",
            panic_message(payload.as_ref())
        ))),
    }
}

/// A panic message for code that must not unwind (callbacks on the core's threads).
pub fn caught(payload: &(dyn Any + Send)) -> String {
    format!("panic inside the scoutlb binding: {}", panic_message(payload))
}
