//! The attempts of a `callback` probe in an event-loop call (behaviour.md, "Event loops"): the call
//! hands each one to the agent's loop, whose own probe runs it and reports on it here.

use std::ffi::{c_char, c_int};
use std::time::Duration;

use scoutlb_core::{FailReason, Interest, PendingCall, ServerList, Watch};

use crate::args::{arg_bytes, arg_out, arg_str, copy_into_array};
use crate::call::{SCOUTLB_WATCH_READ, SCOUTLB_WATCH_WRITE, scoutlb_call};
use crate::handle;
use crate::server::SCOUTLB_SERVER_TEXT_SIZE;
use crate::status::{Failure, boundary, scoutlb_status};

/// An attempt the call asks the agent's own probe to run.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct scoutlb_probe_request {
    /// The attempt's number in this call, for the reports on it.
    pub attempt: u64,
    /// The server to try, as `host:port` (`[v6]:port`), NUL-terminated.
    pub server: [c_char; SCOUTLB_SERVER_TEXT_SIZE],
    /// How long the attempt may take, in milliseconds.
    pub timeout_ms: u64,
}

/// Take the next attempt for the agent's probe to run, once: `*found` says whether there was one.
/// Look after the start and after every `scoutlb_call_process` or report on an attempt.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call; `out` and `found` are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_next_probe(
    call: *mut scoutlb_call,
    out: *mut scoutlb_probe_request,
    found: *mut bool,
) -> scoutlb_status {
    boundary("scoutlb_call_next_probe", || {
        // SAFETY: forwarded from the caller.
        let call = unsafe { handle::borrow_mut(call) }?;
        let out = arg_out(out, "out")?;
        let found = arg_out(found, "found")?;
        let request = call.next_probe_request();
        if let Some(r) = &request {
            let mut written = scoutlb_probe_request {
                attempt: r.attempt,
                server: [0; SCOUTLB_SERVER_TEXT_SIZE],
                timeout_ms: u64::try_from(r.timeout.as_millis()).unwrap_or(u64::MAX),
            };
            copy_into_array(&r.server.to_string(), &mut written.server)?;
            // SAFETY: checked not NULL; valid for a write by the caller's promise.
            unsafe { out.write(written) };
        }
        // SAFETY: checked not NULL; valid for a write by the caller's promise.
        unsafe { found.write(request.is_some()) };
        Ok(())
    })
}

/// Take the next attempt the call gave up (past its time, or the call was decided), once: the
/// agent stops that probe; reports on it are ignored. `*found` says whether there was one.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call; `attempt` and `found` are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_next_abandoned(
    call: *mut scoutlb_call,
    attempt: *mut u64,
    found: *mut bool,
) -> scoutlb_status {
    boundary("scoutlb_call_next_abandoned", || {
        // SAFETY: forwarded from the caller.
        let call = unsafe { handle::borrow_mut(call) }?;
        let attempt = arg_out(attempt, "attempt")?;
        let found = arg_out(found, "found")?;
        let gone = call.next_abandoned_probe();
        // SAFETY: both checked not NULL; valid for a write by the caller's promise.
        unsafe {
            attempt.write(gone.unwrap_or(0));
            found.write(gone.is_some());
        }
        Ok(())
    })
}

/// The socket the agent's probe of `attempt` waits on (`events`: `SCOUTLB_WATCH_READ` or
/// `SCOUTLB_WATCH_WRITE`), listed by `scoutlb_call_watches` with the call's own; `fd` -1 clears it.
/// An attempt the call no longer runs is ignored.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_probe_watch(
    call: *mut scoutlb_call,
    attempt: u64,
    fd: c_int,
    events: u32,
) -> scoutlb_status {
    boundary("scoutlb_call_probe_watch", || {
        // SAFETY: forwarded from the caller.
        let call = unsafe { handle::borrow_mut(call) }?;
        let watch = match (fd, events) {
            (fd, _) if fd < 0 => None,
            (fd, SCOUTLB_WATCH_READ) => Some(Watch {
                fd,
                interest: Interest::Read,
            }),
            (fd, SCOUTLB_WATCH_WRITE) => Some(Watch {
                fd,
                interest: Interest::Write,
            }),
            (_, other) => {
                return Err(Failure::new(
                    scoutlb_status::SCOUTLB_INVALID_ARGUMENT,
                    format!("events is {other}: SCOUTLB_WATCH_READ or SCOUTLB_WATCH_WRITE"),
                ));
            }
        };
        call.probe_watch(attempt, watch);
        Ok(())
    })
}

/// The agent's probe of `attempt` has its transport up (its connection is made; with TLS, the
/// handshake done): it is granted `answer_delay_ms`, so a slow but working default keeps its device.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_probe_up(call: *mut scoutlb_call, attempt: u64) -> scoutlb_status {
    report("scoutlb_call_probe_up", call, |c| c.probe_up(attempt))
}

/// The agent's probe of `attempt` reached its server; `list` (`len` bytes of wire-format JSON) is
/// the server list it received, or NULL. A body that is no list fails the attempt as a bad
/// response and returns `SCOUTLB_INVALID_SERVER_LIST`.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call; `list` is NULL or valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_probe_reached(
    call: *mut scoutlb_call,
    attempt: u64,
    list: *const u8,
    len: usize,
) -> scoutlb_status {
    boundary("scoutlb_call_probe_reached", || {
        // SAFETY: forwarded from the caller.
        let call = unsafe { handle::borrow_mut(call) }?;
        if list.is_null() {
            call.probe_done(attempt, Ok(None));
            return Ok(());
        }
        // SAFETY: forwarded from the caller: valid for `len` bytes.
        let body = unsafe { arg_bytes(list, len, "list") }?;
        match ServerList::from_json(body) {
            Ok(list) => {
                call.probe_done(attempt, Ok(Some(list)));
                Ok(())
            }
            Err(e) => {
                call.probe_done(attempt, Err(FailReason::InvalidList(e.0.clone())));
                Err(scoutlb_core::Error::from(e).into())
            }
        }
    })
}

/// The agent's probe of `attempt` failed, with `message` (NUL-terminated UTF-8, copied; NULL:
/// no reason given).
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call; `message` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_probe_failed(
    call: *mut scoutlb_call,
    attempt: u64,
    message: *const c_char,
) -> scoutlb_status {
    boundary("scoutlb_call_probe_failed", || {
        // SAFETY: forwarded from the caller.
        let call = unsafe { handle::borrow_mut(call) }?;
        let message = if message.is_null() {
            "no reason given".to_string()
        } else {
            // SAFETY: forwarded from the caller: a NUL-terminated string.
            unsafe { arg_str(message, "message") }?.to_string()
        };
        call.probe_done(attempt, Err(FailReason::Callback(message)));
        Ok(())
    })
}

/// The server of `attempt` drains (behaviour.md, "Servers that steer devices"): use another
/// server for now, and this one again after `retry_after_ms` (capped at one hour).
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_probe_draining(
    call: *mut scoutlb_call,
    attempt: u64,
    retry_after_ms: u64,
) -> scoutlb_status {
    let drain = FailReason::Draining(Duration::from_millis(retry_after_ms));
    report("scoutlb_call_probe_draining", call, |c| {
        c.probe_done(attempt, Err(drain))
    })
}

/// The server of `attempt` refuses this device, with `reason` (NUL-terminated UTF-8, copied): the
/// call ends with `SCOUTLB_DEVICE_REFUSED` and no other server is tried.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call; `reason` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_probe_refused(
    call: *mut scoutlb_call,
    attempt: u64,
    reason: *const c_char,
) -> scoutlb_status {
    boundary("scoutlb_call_probe_refused", || {
        // SAFETY: forwarded from the caller.
        let call = unsafe { handle::borrow_mut(call) }?;
        // SAFETY: forwarded from the caller: NULL or a NUL-terminated string.
        let reason = unsafe { arg_str(reason, "reason") }?;
        call.probe_done(attempt, Err(FailReason::DeviceRefused(reason.to_string())));
        Ok(())
    })
}

/// One report on a call, through the boundary.
fn report(name: &'static str, call: *mut scoutlb_call, f: impl FnOnce(&mut PendingCall)) -> scoutlb_status {
    boundary(name, || {
        // SAFETY: forwarded from the public function's caller: NULL or a live call.
        let call = unsafe { handle::borrow_mut(call) }?;
        f(call);
        Ok(())
    })
}
