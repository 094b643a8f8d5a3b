//! The core's reason for an exception raised by a probe callable (behaviour.md, "Probes").
//!
//! A probe that uses sockets lets their errors through; they are failures of the same kinds as
//! the built-in probes': `ConnectionRefusedError` is `refused`, `TimeoutError` (and
//! `socket.timeout` on Python 3.9) is `timed_out`, any other `OSError` is `io` with its errno.
//! Other exceptions are `callback`, with their text.

use std::io;
use std::time::Duration;

use pyo3::exceptions::{PyConnectionRefusedError, PyOSError, PyTimeoutError};
use pyo3::prelude::*;

use crate::callbacks::describe;

/// The failure reason of exception `err`, raised by a probe callable after `elapsed`.
pub fn fail_reason(py: Python<'_>, err: &PyErr, elapsed: Duration) -> scoutlb::FailReason {
    if err.is_instance_of::<PyConnectionRefusedError>(py) {
        return scoutlb::FailReason::Refused;
    }
    if err.is_instance_of::<PyTimeoutError>(py) || is_socket_timeout(py, err) {
        return scoutlb::FailReason::TimedOut(elapsed);
    }
    if err.is_instance_of::<PyOSError>(py) {
        let kind = err
            .value(py)
            .getattr("errno")
            .and_then(|n| n.extract::<i32>())
            .map_or(io::ErrorKind::Other, |n| io::Error::from_raw_os_error(n).kind());
        return scoutlb::FailReason::Io {
            kind,
            message: describe(py, err),
        };
    }
    scoutlb::FailReason::Callback(describe(py, err))
}

/// Whether `err` is a `socket.timeout`: its own class on Python 3.9, `TimeoutError` from 3.10.
fn is_socket_timeout(py: Python<'_>, err: &PyErr) -> bool {
    py.import("socket")
        .and_then(|socket| socket.getattr("timeout"))
        .and_then(|timeout| err.value(py).is_instance(&timeout))
        .unwrap_or(false)
}
