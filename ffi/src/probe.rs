//! The callback probe: the agent's own C function decides whether a server is reachable.

use std::ffi::{CStr, c_char, c_void};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use scoutlb_core::{FailReason, Probe, Reached, Server};

use crate::event::{UserData, c_string};

/// The answer of a probe callback. Any other number counts as a failure.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum scoutlb_probe_result {
    /// The server answered the agent's own protocol.
    SCOUTLB_PROBE_REACHED = 0,
    /// The server could not be reached; the callback may write why into `reason`.
    SCOUTLB_PROBE_FAILED = 1,
}

/// Size of the `reason` buffer lent to a probe callback, including the terminating NUL.
pub const SCOUTLB_PROBE_REASON_SIZE: usize = 256;

/// What a probe callback is asked to try, lent for the duration of the call.
///
/// Owned by the library and valid (never NULL) only until the callback returns, on the thread that
/// calls it; copy what you keep. New fields may be appended in later versions (the library allocates this struct).
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct scoutlb_probe_params {
    /// The server as `host:port` (`[v6]:port`), NUL-terminated.
    pub server: *const c_char,
    /// The host alone: a lower-case DNS name or an IP literal without brackets.
    pub host: *const c_char,
    /// The TCP port.
    pub port: u16,
    /// The time the attempt may take, in milliseconds; the library stops waiting after it.
    pub timeout_ms: u64,
    /// A buffer of `reason_len` bytes, zeroed, where the callback may write a NUL-terminated
    /// UTF-8 reason for a failure (it appears in events and the all-failed message).
    pub reason: *mut c_char,
    /// Size of `reason` in bytes (`SCOUTLB_PROBE_REASON_SIZE`).
    pub reason_len: usize,
}

/// The probe callback: receives `user_data` as given and the server to try; returns a
/// `scoutlb_probe_result` number.
///
/// Called on the library's attempt threads, several at once when attempts overlap (see
/// `attempt_delay_ms`): it must be thread-safe. It is never called once `scoutlb_client_free` of the
/// client has returned (the free waits for calls already running). It must not call into the client
/// and must not unwind (C++ exceptions, longjmp) through the library.
#[allow(non_camel_case_types)]
pub type scoutlb_probe_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, params: *const scoutlb_probe_params) -> u32>;

/// Whether the client of a probe is still alive; callbacks run under its read lock.
pub(crate) type Gate = RwLock<bool>;

/// A probe that calls a C function, until its client is freed.
pub(crate) struct CallbackProbe {
    pub callback: unsafe extern "C" fn(*mut c_void, *const scoutlb_probe_params) -> u32,
    pub user_data: UserData,
    pub gate: Arc<Gate>,
}

/// Close the gate: wait for running callbacks, and keep any later attempt from calling C.
pub(crate) fn close(gate: &Gate) {
    *gate.write().unwrap_or_else(|p| p.into_inner()) = false;
}

impl Probe for CallbackProbe {
    fn probe(&self, server: &Server, timeout: Duration) -> Result<Reached, FailReason> {
        let open = self.gate.read().unwrap_or_else(|p| p.into_inner());
        if !*open {
            return Err(FailReason::Callback(
                "the client was freed before this attempt ran".into(),
            ));
        }
        let text = c_string(server.to_string());
        let host = c_string(server.host().to_string());
        let mut reason = [0 as c_char; SCOUTLB_PROBE_REASON_SIZE];
        let params = scoutlb_probe_params {
            server: text.as_ptr(),
            host: host.as_ptr(),
            port: server.port(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            reason: reason.as_mut_ptr(),
            reason_len: reason.len(),
        };
        // SAFETY: C gave this callback and user_data; the params and buffers live until it returns.
        let answer = unsafe { (self.callback)(self.user_data.0, &params) };
        drop(open);
        // The callback may have filled the whole buffer: force a terminating NUL.
        reason[SCOUTLB_PROBE_REASON_SIZE - 1] = 0;
        // SAFETY: the array is NUL-terminated (last byte forced to 0).
        let message = unsafe { CStr::from_ptr(reason.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        match answer {
            a if a == scoutlb_probe_result::SCOUTLB_PROBE_REACHED as u32 => Ok(Reached::default()),
            a if a == scoutlb_probe_result::SCOUTLB_PROBE_FAILED as u32 => {
                Err(FailReason::Callback(if message.is_empty() {
                    "no reason given".into()
                } else {
                    message
                }))
            }
            other => Err(FailReason::Callback(format!(
                "the callback returned {other}, which is not a scoutlb_probe_result{}",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(" ({message})")
                }
            ))),
        }
    }
}
