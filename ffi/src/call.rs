//! Event-loop calls (behaviour.md, "Event loops"): a connect started on a client, whose sockets
//! and timeout the agent's own loop (poll, epoll, GLib, libuv) watches, processed when they are
//! ready, then finished into a `scoutlb_connected`.

use std::ffi::c_int;

use scoutlb_core::{Interest, PendingCall};

use crate::args::arg_out;
use crate::client as clients;
use crate::handle::{self, Handle};
use crate::status::{Failure, boundary, scoutlb_status};

/// One event-loop connect call of a client: `scoutlb_client_start_connect` makes it,
/// `scoutlb_client_finish` (or `scoutlb_call_free`) ends it.
///
/// Not thread-safe: use a call from one thread at a time (the loop's). Its client must outlive it.
#[allow(non_camel_case_types)]
pub struct scoutlb_call {
    _private: [u8; 0],
}

// SAFETY: every `scoutlb_call` pointer handed to C comes from `handle::into_raw` of a `PendingCall`.
unsafe impl Handle for scoutlb_call {
    type Inner = PendingCall;
    const NAME: &'static str = "call";
}

/// Wait until the socket can be read (poll's `POLLIN`).
pub const SCOUTLB_WATCH_READ: u32 = 1;
/// Wait until the socket can be written (poll's `POLLOUT`).
pub const SCOUTLB_WATCH_WRITE: u32 = 2;

/// One socket of a call, and what to wait for on it.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct scoutlb_watch {
    /// The file descriptor; open until the next `scoutlb_call_process` at least. Never close it.
    pub fd: c_int,
    /// `SCOUTLB_WATCH_READ` or `SCOUTLB_WATCH_WRITE`.
    pub events: u32,
}

/// Start a call with `begin` and hand it out through `call_out`.
///
/// # Safety
/// As the exported functions that call it.
unsafe fn start(
    name: &str,
    client: *const crate::scoutlb_client,
    call_out: *mut *mut scoutlb_call,
    begin: impl FnOnce(&scoutlb_core::Client) -> scoutlb_core::Result<PendingCall>,
) -> scoutlb_status {
    boundary(name, || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { clients::client(client) }?;
        let out = arg_out(call_out, "call_out")?;
        let call = begin(client)?;
        // SAFETY: `out` is not NULL and the caller guarantees it is valid for a write.
        unsafe { out.write(handle::into_raw::<scoutlb_call>(call)) };
        Ok(())
    })
}

/// Start a start-up (the ManagerLoadBalancer, then the failover order) on the caller's event
/// loop: no thread is started and nothing blocks (behaviour.md, "Event loops").
///
/// On success `*call_out` receives a call: watch its sockets (`scoutlb_call_watches`) until its
/// timeout (`scoutlb_call_timeout_ms`), call `scoutlb_call_process` when one is ready or the time
/// came, and once `scoutlb_call_is_done` hand it to `scoutlb_client_finish`. Fails with
/// `SCOUTLB_UNSUPPORTED` for `"probe": "callback"` or `"none"`, `SCOUTLB_CANCELLED` while the
/// client is cancelled.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `call_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_start_connect(
    client: *const crate::scoutlb_client,
    call_out: *mut *mut scoutlb_call,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe { start("scoutlb_client_start_connect", client, call_out, |c| c.start_connect()) }
}

/// Start a reconnect (the failover order from the default server) on the caller's event loop, as
/// `scoutlb_client_start_connect` does.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `call_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_start_reconnect(
    client: *const crate::scoutlb_client,
    call_out: *mut *mut scoutlb_call,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        start("scoutlb_client_start_reconnect", client, call_out, |c| {
            c.start_reconnect()
        })
    }
}

/// Start the planned move to a lighter server on the caller's event loop, as
/// `scoutlb_client_rebalance` makes it (behaviour.md, "Rebalance"): `*call_out` receives a call
/// to drive and finish like a connect's, or NULL when no move is planned (`SCOUTLB_OK`).
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `call_out` is NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_start_rebalance(
    client: *const crate::scoutlb_client,
    call_out: *mut *mut scoutlb_call,
) -> scoutlb_status {
    boundary("scoutlb_client_start_rebalance", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { clients::client(client) }?;
        let out = arg_out(call_out, "call_out")?;
        let call = client
            .start_rebalance()?
            .map_or(std::ptr::null_mut(), handle::into_raw::<scoutlb_call>);
        // SAFETY: `out` is not NULL and the caller guarantees it is valid for a write.
        unsafe { out.write(call) };
        Ok(())
    })
}

/// The sockets to watch now: writes up to `capacity` of them to `out` (which may be NULL when
/// `capacity` is 0) and their number to `*count_out`; with more than `capacity`, call again with
/// a larger array. A call has one socket per running attempt and, while names are looked up,
/// one or two (UDP, TCP) per name server and DNS question.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call; `out` is NULL or valid for `capacity` writes; `count_out` is
/// NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_watches(
    call: *const scoutlb_call,
    out: *mut scoutlb_watch,
    capacity: usize,
    count_out: *mut usize,
) -> scoutlb_status {
    boundary("scoutlb_call_watches", || {
        // SAFETY: forwarded from the caller.
        let call = unsafe { handle::borrow(call) }?;
        let count_out = arg_out(count_out, "count_out")?;
        if capacity > 0 {
            arg_out(out, "out")?;
        }
        let watches = call.watches();
        for (i, w) in watches.iter().take(capacity).enumerate() {
            let events = match w.interest {
                Interest::Read => SCOUTLB_WATCH_READ,
                _ => SCOUTLB_WATCH_WRITE,
            };
            // SAFETY: `out` is valid for `capacity` writes and `i < capacity`.
            unsafe { out.add(i).write(scoutlb_watch { fd: w.fd, events }) };
        }
        // SAFETY: not NULL, and valid for a write.
        unsafe { count_out.write(watches.len()) };
        Ok(())
    })
}

/// How long the loop may wait at most, in milliseconds rounded up (for `poll`), before calling
/// `scoutlb_call_process` when no socket is ready; -1 once the call is done (or `call` is NULL).
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_timeout_ms(call: *const scoutlb_call) -> i64 {
    let mut ms = -1;
    boundary("scoutlb_call_timeout_ms", || {
        // SAFETY: forwarded from the caller.
        let call = unsafe { handle::borrow(call) }?;
        if let Some(t) = call.timeout() {
            ms = i64::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
        }
        Ok(())
    });
    ms
}

/// Do all that can be done now: read and write the ready sockets, start and end attempts, report
/// events (on this thread, through the client's event callback). Call it when a watched socket
/// is ready or the timeout passed; a call too many does no harm.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_process(call: *mut scoutlb_call) -> scoutlb_status {
    boundary("scoutlb_call_process", || {
        // SAFETY: forwarded from the caller.
        unsafe { handle::borrow_mut(call) }?.process();
        Ok(())
    })
}

/// Whether the call is decided: hand it to `scoutlb_client_finish`. False for NULL.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_is_done(call: *const scoutlb_call) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { handle::borrow(call) }.is_ok_and(PendingCall::is_done)
}

/// Decide the call now as cancelled and close its sockets; `scoutlb_client_finish` then gives
/// `SCOUTLB_CANCELLED`.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_cancel(call: *mut scoutlb_call) -> scoutlb_status {
    boundary("scoutlb_call_cancel", || {
        // SAFETY: forwarded from the caller.
        unsafe { handle::borrow_mut(call) }?.cancel();
        Ok(())
    })
}

/// End a call and take its result, as `scoutlb_client_connect` gives it (the state file is saved
/// now). Frees the call, whatever the result; a call that is not done is cancelled first
/// (`SCOUTLB_CANCELLED`). A call of another client is refused (`SCOUTLB_UNSUPPORTED`) and freed.
///
/// Thread safety: may be called from several threads at once, each with its own call.
///
/// # Safety
/// `client` is NULL or a live client; `call` is NULL or a live call, not used after this;
/// `connected_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_finish(
    client: *const crate::scoutlb_client,
    call: *mut scoutlb_call,
    connected_out: *mut crate::scoutlb_connected,
) -> scoutlb_status {
    const NAME: &str = "scoutlb_client_finish";
    if call.is_null() {
        return boundary(NAME, || {
            Err(Failure::new(
                scoutlb_status::SCOUTLB_NULL_ARGUMENT,
                "argument `call` is NULL",
            ))
        });
    }
    // SAFETY: not NULL, a live call that the caller gives up; freed whatever happens next.
    let call = *unsafe { handle::from_raw(call) };
    // SAFETY: forwarded from the caller.
    unsafe { clients::connect_call(NAME, client, connected_out, move |c| c.finish(call)) }
}

/// End try number `tries` (from 1) of a retrying call on the agent's loop, as
/// `scoutlb_client_finish` does; when the try failed and the retry profile gives another,
/// `*retry_out` is true and `*wait_ms_out` the wait before it in ms, else false and 0
/// (behaviour.md, "Event loops", Retrying). The failed try is recorded in the device and its
/// state file as `scoutlb_client_connect_with_retry` records it (a refused device waits
/// [`retry.cap_ms` / 2, `retry.cap_ms`]); the status and the last error are the try's either way.
/// Frees the call, whatever the result; `tries` 0 fails with `SCOUTLB_INVALID_ARGUMENT`.
///
/// Thread safety: may be called from several threads at once, each with its own call.
///
/// # Safety
/// `client` is NULL or a live client; `call` is NULL or a live call, not used after this;
/// `connected_out`, `retry_out` and `wait_ms_out` are NULL or valid pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_finish_try(
    client: *const crate::scoutlb_client,
    call: *mut scoutlb_call,
    tries: u32,
    connected_out: *mut crate::scoutlb_connected,
    retry_out: *mut bool,
    wait_ms_out: *mut u64,
) -> scoutlb_status {
    const NAME: &str = "scoutlb_client_finish_try";
    let call = (!call.is_null()).then(|| {
        // SAFETY: not NULL, a live call that the caller gives up; freed whatever happens next.
        *unsafe { handle::from_raw(call) }
    });
    boundary(NAME, || {
        let call =
            call.ok_or_else(|| Failure::new(scoutlb_status::SCOUTLB_NULL_ARGUMENT, "argument `call` is NULL"))?;
        let (retry_out, wait_ms_out) = (arg_out(retry_out, "retry_out")?, arg_out(wait_ms_out, "wait_ms_out")?);
        if tries == 0 {
            return Err(Failure::new(
                scoutlb_status::SCOUTLB_INVALID_ARGUMENT,
                "`tries` counts the tries of the retrying call from 1, so it is never 0",
            ));
        }
        // SAFETY: not NULL, and valid by the caller's promise.
        unsafe { (*retry_out, *wait_ms_out) = (false, 0) };
        // SAFETY: forwarded from the caller.
        unsafe {
            clients::connect_body(client, connected_out, |c| {
                c.finish(call).inspect_err(|e| {
                    if let Some(wait) = c.retry_wait(tries, e) {
                        // SAFETY: checked above.
                        (*retry_out, *wait_ms_out) = (true, u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                    }
                })
            })
        }
    })
}

/// Free a call without its result: it is cancelled and its sockets closed. NULL does nothing.
///
/// Thread safety: not with other functions on the same call.
///
/// # Safety
/// `call` is NULL or a live call, not used after this.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_call_free(call: *mut scoutlb_call) {
    let _ = boundary("scoutlb_call_free", || {
        if !call.is_null() {
            // SAFETY: not NULL, a live call that the caller gives up.
            drop(unsafe { handle::from_raw(call) });
        }
        Ok(())
    });
}
