//! The core's reason for an exception raised by a probe callable (behaviour.md, "Probes").
//!
//! A probe that uses sockets lets their errors through; they are failures of the same kinds as
//! the built-in probes': `ConnectionRefusedError` is `refused`, `TimeoutError` (and
//! `socket.timeout` on Python 3.9) is `timed_out`, any other `OSError` is `io` with its errno.
//! `scoutlb.ServerDrainingError` is `draining` with its `retry_after`, and
//! `scoutlb.ServerRefusesDeviceError` a refusal of the device with its `reason`. Other exceptions
//! are `callback`, with their text.

use std::io;
use std::time::Duration;

use pyo3::exceptions::{PyConnectionRefusedError, PyOSError, PyTimeoutError};
use pyo3::prelude::*;

use crate::callbacks::describe;

/// The failure reason of exception `err`, raised by a probe callable after `elapsed`.
pub fn fail_reason(py: Python<'_>, err: &PyErr, elapsed: Duration) -> scoutlb::FailReason {
    if let Some(reason) = steering(py, err) {
        return reason;
    }
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

/// The drain or refusal that `err` reports, when it is one of the exceptions of `scoutlb._steer`.
fn steering(py: Python<'_>, err: &PyErr) -> Option<scoutlb::FailReason> {
    let steer = py.import("scoutlb._steer").ok()?;
    let value = err.value(py);
    let is = |name: &str| {
        steer
            .getattr(name)
            .and_then(|class| value.is_instance(&class))
            .unwrap_or(false)
    };
    if is("ServerDrainingError") {
        let seconds = value
            .getattr("retry_after")
            .and_then(|s| s.extract::<Option<f64>>())
            .ok()
            .flatten();
        let drain = match seconds {
            None => scoutlb::steer::DRAIN_DEFAULT,
            Some(s) if s.is_nan() || s <= 0.0 => Duration::ZERO,
            // Beyond the cap the core applies anyway.
            Some(s) => Duration::from_secs_f64(s.min(scoutlb::steer::DRAIN_MAX.as_secs_f64())),
        };
        return Some(scoutlb::FailReason::Draining(drain));
    }
    if is("ServerRefusesDeviceError") {
        let reason = value
            .getattr("reason")
            .and_then(|r| r.extract::<String>())
            .unwrap_or_else(|_| describe(py, err));
        return Some(scoutlb::FailReason::DeviceRefused(reason));
    }
    None
}
