//! The callback probe: the agent's own C function decides whether a server is reachable.

use std::ffi::{CStr, c_char, c_void};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use scoutlb_core::{FailReason, Probe, Reached, Server, ServerList, TransportUp};

use crate::args::{arg_bytes, arg_mut, arg_ref, arg_str};
use crate::status::{boundary, scoutlb_status};

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
    /// This attempt, for `scoutlb_probe_transport_up`, `scoutlb_probe_server_list`,
    /// `scoutlb_probe_draining` and `scoutlb_probe_refused`; valid only
    /// until the callback returns, on its thread. Never NULL.
    pub attempt: *mut scoutlb_probe_attempt,
}

/// One running attempt of a probe callback: what the callback tells the attempt race while it runs.
///
/// Owned by the library; lent to the callback through `scoutlb_probe_params.attempt` and valid only
/// until the callback returns, on the thread that calls it.
#[allow(non_camel_case_types)]
pub struct scoutlb_probe_attempt {
    up: TransportUp,
    list: Option<Result<ServerList, String>>,
    /// A drain or a refusal the callback reported; the attempt fails with it.
    steer: Option<FailReason>,
}

/// Tell the attempt race that this attempt's transport is up (the agent's own connection is made;
/// with TLS, the handshake is done), so it is granted `answer_delay_ms` instead of `attempt_delay_ms`
/// and a working but slow default keeps its devices (behaviour.md, "Attempts"). May be called more
/// than once.
///
/// Thread safety: call it only from the probe callback that received `attempt`, before it returns.
///
/// # Safety
/// `attempt` is NULL or the `attempt` of the running callback's params.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_probe_transport_up(attempt: *mut scoutlb_probe_attempt) -> scoutlb_status {
    boundary("scoutlb_probe_transport_up", || {
        // SAFETY: forwarded from the caller: NULL or the live attempt of the running callback.
        let attempt = unsafe { arg_ref(attempt, "attempt") }?;
        attempt.up.signal();
        Ok(())
    })
}

/// Hand in the server list (wire-format JSON, behaviour.md "Wire format") that the agent's own
/// protocol received from this server, so one request both proves the server alive and refreshes
/// the list. When the callback then returns `SCOUTLB_PROBE_REACHED` and this server wins, the list
/// is cached as the http probe's would be.
///
/// Returns `SCOUTLB_INVALID_SERVER_LIST` (the last error message says why) for a body that is not a
/// valid list; the attempt then fails as "bad response" whatever the callback returns. The body is
/// copied; `(NULL, 0)` is an empty body.
///
/// Thread safety: call it only from the probe callback that received `attempt`, before it returns.
///
/// # Safety
/// `attempt` is NULL or the `attempt` of the running callback's params; `body` points to `len`
/// readable bytes (or is NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_probe_server_list(
    attempt: *mut scoutlb_probe_attempt,
    body: *const u8,
    len: usize,
) -> scoutlb_status {
    boundary("scoutlb_probe_server_list", || {
        // SAFETY: forwarded from the caller: NULL or the live attempt of the running callback.
        let attempt = unsafe { arg_mut(attempt, "attempt") }?;
        // SAFETY: forwarded from the caller.
        let body = unsafe { arg_bytes(body, len, "body") }?;
        match ServerList::from_json(body) {
            Ok(list) => {
                attempt.list = Some(Ok(list));
                Ok(())
            }
            Err(e) => {
                attempt.list = Some(Err(e.0.clone()));
                Err(scoutlb_core::Error::from(e).into())
            }
        }
    })
}

/// Tell the device that this server drains (behaviour.md, "Servers that steer devices"): use
/// another server for now, and this one again after `retry_after_ms` (capped at one hour). The
/// attempt then fails as `SCOUTLB_ATTEMPT_DRAINING` whatever the callback returns; the last of
/// `scoutlb_probe_draining` and `scoutlb_probe_refused` counts.
///
/// Thread safety: call it only from the probe callback that received `attempt`, before it returns.
///
/// # Safety
/// `attempt` is NULL or the `attempt` of the running callback's params.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_probe_draining(
    attempt: *mut scoutlb_probe_attempt,
    retry_after_ms: u64,
) -> scoutlb_status {
    boundary("scoutlb_probe_draining", || {
        // SAFETY: forwarded from the caller: NULL or the live attempt of the running callback.
        let attempt = unsafe { arg_mut(attempt, "attempt") }?;
        attempt.steer = Some(FailReason::Draining(Duration::from_millis(retry_after_ms)));
        Ok(())
    })
}

/// Tell the device that this server refuses it, with `reason` (NUL-terminated UTF-8, copied;
/// behaviour.md, "Servers that steer devices"): the call then ends with `SCOUTLB_DEVICE_REFUSED`
/// and no other server is tried, whatever the callback returns; the last of
/// `scoutlb_probe_draining` and `scoutlb_probe_refused` counts.
///
/// Returns `SCOUTLB_INVALID_UTF8` for a reason that is not UTF-8 (nothing is recorded).
///
/// Thread safety: call it only from the probe callback that received `attempt`, before it returns.
///
/// # Safety
/// `attempt` is NULL or the `attempt` of the running callback's params; `reason` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_probe_refused(
    attempt: *mut scoutlb_probe_attempt,
    reason: *const c_char,
) -> scoutlb_status {
    boundary("scoutlb_probe_refused", || {
        // SAFETY: forwarded from the caller: NULL or the live attempt of the running callback.
        let attempt = unsafe { arg_mut(attempt, "attempt") }?;
        // SAFETY: forwarded from the caller: NULL or a NUL-terminated string.
        let reason = unsafe { arg_str(reason, "reason") }?;
        attempt.steer = Some(FailReason::DeviceRefused(reason.to_string()));
        Ok(())
    })
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
        self.probe_signalling(server, timeout, &TransportUp::ignored())
    }

    fn probe_signalling(&self, server: &Server, timeout: Duration, up: &TransportUp) -> Result<Reached, FailReason> {
        let open = self.gate.read().unwrap_or_else(|p| p.into_inner());
        if !*open {
            return Err(FailReason::Callback(
                "the client was freed before this attempt ran".into(),
            ));
        }
        let text = c_string(server.to_string());
        let host = c_string(server.host().to_string());
        let mut reason = [0 as c_char; SCOUTLB_PROBE_REASON_SIZE];
        let mut attempt = scoutlb_probe_attempt {
            up: up.clone(),
            list: None,
            steer: None,
        };
        let params = scoutlb_probe_params {
            server: text.as_ptr(),
            host: host.as_ptr(),
            port: server.port(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            reason: reason.as_mut_ptr(),
            reason_len: reason.len(),
            attempt: &mut attempt,
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
        if let Some(steer) = attempt.steer {
            return Err(steer);
        }
        match answer {
            a if a == scoutlb_probe_result::SCOUTLB_PROBE_REACHED as u32 => match attempt.list {
                None => Ok(Reached::default()),
                Some(Ok(list)) => Ok(Reached { list: Some(list) }),
                Some(Err(why)) => Err(FailReason::InvalidList(why)),
            },
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
