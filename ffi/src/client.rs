//! `scoutlb_client`: connecting, the agent-driven calls and reading the state.

use std::ffi::{c_char, c_void};
use std::sync::{Arc, RwLock};

use scoutlb_core::{Client, Connected, Server};

use crate::args::{TextOut, arg_bytes, arg_opt_str, arg_out, arg_str, copy_into_array};
use crate::config::scoutlb_config;
use crate::event::CallbackSink;
use crate::handle::{self, Handle};
use crate::probe::{CallbackProbe, Gate, close};
use crate::server::{SCOUTLB_SERVER_TEXT_SIZE, lines};
use crate::status::{Failure, boundary, catch, scoutlb_status};
use crate::stop::{StopCallback, scoutlb_stop_callback};

/// A device's connection chooser: state, failover order and connecting.
///
/// Created by `scoutlb_client_new`, owned by the caller, released with `scoutlb_client_free`.
/// Thread-safe: every `scoutlb_client_*` function except `scoutlb_client_free` may be called on one
/// client from several threads at once. A NULL client gives `SCOUTLB_NULL_ARGUMENT`
/// (`scoutlb_client_free(NULL)` does nothing).
#[allow(non_camel_case_types)]
pub struct scoutlb_client {
    _private: [u8; 0],
}

/// What a `scoutlb_client` handle points to.
pub(crate) struct ClientHandle {
    client: Client,
    /// Closed by `scoutlb_client_free` so a probe callback never runs after it.
    gate: Option<Arc<Gate>>,
}

// SAFETY: every `scoutlb_client` pointer handed to C comes from `handle::into_raw` of a `ClientHandle`.
unsafe impl Handle for scoutlb_client {
    type Inner = ClientHandle;
    const NAME: &'static str = "client";
}

/// The outcome of a successful connect, written into a caller-owned struct.
///
/// The caller owns it (on its stack or heap) and the library keeps no pointer to it; it is written
/// only when the connect returns `SCOUTLB_OK`. Plain data: copy or share it freely between threads.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct scoutlb_connected {
    /// The server now in use and persisted as the default, as `host:port` (`[v6]:port`).
    pub server: [c_char; SCOUTLB_SERVER_TEXT_SIZE],
    /// The address that answered the probe (differs from `server` behind a load balancer).
    pub reached: [c_char; SCOUTLB_SERVER_TEXT_SIZE],
    /// Whether the address came from the ManagerLoadBalancer entry.
    pub via_balancer: bool,
    /// Whether the new state reached the state file (also true when nothing had to be saved or
    /// there is no state file). When false, the connection stands, and why the save failed was
    /// reported as a `SCOUTLB_EVENT_STATE_FILE_PROBLEM` event and is kept for
    /// `scoutlb_last_save_error`; the next connect saves again.
    /// (Added in 0.1 in what was padding: size and offsets of the other fields are unchanged.)
    pub saved: bool,
    /// Whether the state file could not be used when the client was created (it could not be
    /// parsed and was moved aside: the client started from its seeds), as reported then by a
    /// `SCOUTLB_EVENT_STATE_FILE_PROBLEM` event (behaviour.md, "State file"). (Added in 0.1 in
    /// what was padding, like `saved`.)
    pub state_dropped: bool,
    /// Whether a server list was refused in this call (behaviour.md, "Signed lists"): the saved
    /// list was kept; why is kept for `scoutlb_last_list_problem` and came as a
    /// `SCOUTLB_EVENT_SERVER_LIST_REJECTED` event. (Added in 0.1 in what was padding, like `saved`.)
    pub list_refused: bool,
    /// How many attempts did not win (each was reported as an event): those that failed, and
    /// those still running after their patience ran out.
    pub failed_attempts: u32,
}

// `saved`, `state_dropped` and `list_refused` sit in the padding after `via_balancer`: a caller built against the
// header without them allocates the same size and finds `failed_attempts` at the same offset.
const _: () = {
    assert!(std::mem::offset_of!(scoutlb_connected, saved) == 2 * SCOUTLB_SERVER_TEXT_SIZE + 1);
    assert!(std::mem::offset_of!(scoutlb_connected, state_dropped) == 2 * SCOUTLB_SERVER_TEXT_SIZE + 2);
    assert!(std::mem::offset_of!(scoutlb_connected, list_refused) == 2 * SCOUTLB_SERVER_TEXT_SIZE + 3);
    assert!(std::mem::offset_of!(scoutlb_connected, failed_attempts) == 2 * SCOUTLB_SERVER_TEXT_SIZE + 4);
    assert!(std::mem::size_of::<scoutlb_connected>() == 2 * SCOUTLB_SERVER_TEXT_SIZE + 8);
};

/// The client behind a C pointer.
///
/// # Safety
/// `p` is NULL or came from `scoutlb_client_new` and was not freed.
pub(crate) unsafe fn client<'a>(p: *const scoutlb_client) -> Result<&'a Client, Failure> {
    // SAFETY: forwarded from the caller.
    unsafe { handle::borrow(p) }.map(|h: &ClientHandle| &h.client)
}

/// Create a client from a config: open and load its state file, build its probe.
///
/// The config is only read; it may be freed right after. Fails with `SCOUTLB_CONFIG` (such as
/// `"probe": "callback"` without a probe callback), `SCOUTLB_STATE_FILE` (unwritable folder) or
/// `SCOUTLB_STATE_FORMAT` (state file from a newer scoutlb). On success `*client_out` receives a
/// client the caller frees with `scoutlb_client_free`.
///
/// Thread safety: may be called from any thread, with one config not modified meanwhile.
///
/// # Safety
/// `config` is NULL or a live config; `client_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_new(
    config: *const scoutlb_config,
    client_out: *mut *mut scoutlb_client,
) -> scoutlb_status {
    boundary("scoutlb_client_new", || {
        // SAFETY: forwarded from the caller.
        let handle = unsafe { handle::borrow(config) }?;
        let out = arg_out(client_out, "client_out")?;
        let mut builder = Client::builder(handle.config.clone());
        if let Some((callback, user_data, min_severity)) = handle.events {
            builder = builder.events(CallbackSink {
                callback,
                user_data,
                min_severity,
            });
        }
        let mut gate = None;
        // The core refuses a callback with a `probe` other than "callback", and the reverse.
        if let Some((callback, user_data)) = handle.probe {
            let g = Arc::new(RwLock::new(true));
            builder = builder.probe(CallbackProbe {
                callback,
                user_data,
                gate: Arc::clone(&g),
            });
            gate = Some(g);
        }
        if let Some(seed) = handle.seed {
            builder = builder.seed(seed);
        }
        let client = handle::into_raw(ClientHandle {
            client: builder.build()?,
            gate,
        });
        // SAFETY: `out` was checked not NULL; the caller guarantees it is valid.
        unsafe { out.write(client) };
        Ok(())
    })
}

/// Release a client; `scoutlb_client_free(NULL)` does nothing.
///
/// Waits for probe callbacks still running on abandoned attempts; after it returns no callback of
/// this client is called again. Thread safety: only when no other call on this client is running
/// or will start; never from inside one of its callbacks.
///
/// # Safety
/// `client` is NULL or came from `scoutlb_client_new` and was not freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_free(client: *mut scoutlb_client) {
    if client.is_null() {
        return;
    }
    // Not `boundary`: a function without a status keeps the last error of the call before it.
    let _ = catch("scoutlb_client_free", || {
        // SAFETY: the caller passes a client from `scoutlb_client_new`, freed once.
        let handle = unsafe { handle::from_raw(client) };
        if let Some(gate) = &handle.gate {
            close(gate);
        }
        drop(handle);
        Ok(())
    });
}

pub(crate) fn write_connected(result: Connected, out: *mut scoutlb_connected) -> Result<(), Failure> {
    let mut connected = scoutlb_connected {
        server: [0; SCOUTLB_SERVER_TEXT_SIZE],
        reached: [0; SCOUTLB_SERVER_TEXT_SIZE],
        via_balancer: result.via_balancer,
        saved: result.saved,
        state_dropped: result.state_dropped.is_some(),
        list_refused: result.list_problem.is_some(),
        failed_attempts: u32::try_from(result.failed.len()).unwrap_or(u32::MAX),
    };
    copy_into_array(&result.server.to_string(), &mut connected.server)?;
    copy_into_array(&result.reached.to_string(), &mut connected.reached)?;
    // SAFETY: `out` was checked not NULL; the caller guarantees it is valid.
    unsafe { out.write(connected) };
    Ok(())
}

/// Run the start-up procedure (behaviour.md, "Start-up"): the ManagerLoadBalancer's addresses, then the failover order.
///
/// Blocks until a server answers the probe or every candidate failed (bounded by `deadline_ms`).
/// The winner becomes the default server and is persisted; the list it sent is cached. Fails with
/// `SCOUTLB_ALL_FAILED` (the last error message names every attempt and why it failed) or
/// `SCOUTLB_UNSUPPORTED` with `"probe": "none"`. On success `*connected_out` is filled in.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `connected_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_connect(
    client: *const scoutlb_client,
    connected_out: *mut scoutlb_connected,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe { connect_call("scoutlb_client_connect", client, connected_out, Client::connect) }
}

/// After a lost connection: run the failover order from the default server (no balancer).
///
/// Blocks like `scoutlb_client_connect`, with the same results.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `connected_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_reconnect(
    client: *const scoutlb_client,
    connected_out: *mut scoutlb_connected,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe { connect_call("scoutlb_client_reconnect", client, connected_out, Client::reconnect) }
}

/// Connect, retrying on the schedule of the retry profile (the `retry` keys; behaviour.md, "All
/// fail") after all failed.
///
/// Blocks until success, or until the profile's limit of tries failed (`retry.max_tries`, or
/// `retry.max_retries` + 1 with `"handshake"`: `SCOUTLB_ALL_FAILED` naming the attempts of the last
/// try); without a limit it only returns on success or another error.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `connected_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_connect_with_retry(
    client: *const scoutlb_client,
    connected_out: *mut scoutlb_connected,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        connect_call(
            "scoutlb_client_connect_with_retry",
            client,
            connected_out,
            Client::connect_with_retry,
        )
    }
}

/// `scoutlb_client_connect_with_retry` that the caller can cancel: `stop` is asked about every
/// 25 ms, during the tries and the backoff waits, and returning nonzero ends the call with
/// `SCOUTLB_CANCELLED` within 50 ms (behaviour.md, "Cancel").
///
/// A NULL `stop` never cancels (the call is then `scoutlb_client_connect_with_retry`). `user_data` is
/// passed to `stop` unchanged. Results as `scoutlb_client_connect_with_retry`, plus
/// `SCOUTLB_CANCELLED` (nothing is written to `*connected_out`). See `scoutlb_stop_callback` for the
/// thread `stop` runs on. `scoutlb_client_cancel` cancels it too.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `stop`, when not NULL, is a valid function; `connected_out` is
/// NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_connect_with_retry_until(
    client: *const scoutlb_client,
    stop: scoutlb_stop_callback,
    user_data: *mut c_void,
    connected_out: *mut scoutlb_connected,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        retry_until(
            "scoutlb_client_connect_with_retry_until",
            client,
            stop,
            user_data,
            connected_out,
            Client::connect_with_retry_until,
        )
    }
}

/// Shared body of the retrying calls that a stop callback can cancel.
///
/// # Safety
/// As each of those functions.
unsafe fn retry_until(
    name: &'static str,
    client: *const scoutlb_client,
    stop: scoutlb_stop_callback,
    user_data: *mut c_void,
    connected_out: *mut scoutlb_connected,
    call: fn(&Client, &dyn Fn() -> bool) -> scoutlb_core::Result<scoutlb_core::Connected>,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        connect_call(name, client, connected_out, |c: &Client| {
            let stop = StopCallback::new(stop, user_data);
            call(c, &|| stop.stop())
        })
    }
}

/// Reconnect, retrying on the schedule of the retry profile (the `retry` keys) after all failed:
/// every try runs the failover order from the default server (no balancer), as
/// `scoutlb_client_reconnect` does (behaviour.md, "All fail").
///
/// Blocks and returns as `scoutlb_client_connect_with_retry`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `connected_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_reconnect_with_retry(
    client: *const scoutlb_client,
    connected_out: *mut scoutlb_connected,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        connect_call(
            "scoutlb_client_reconnect_with_retry",
            client,
            connected_out,
            Client::reconnect_with_retry,
        )
    }
}

/// `scoutlb_client_reconnect_with_retry` that the caller can cancel with `stop`, as
/// `scoutlb_client_connect_with_retry_until` does.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `stop`, when not NULL, is a valid function; `connected_out` is
/// NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_reconnect_with_retry_until(
    client: *const scoutlb_client,
    stop: scoutlb_stop_callback,
    user_data: *mut c_void,
    connected_out: *mut scoutlb_connected,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        retry_until(
            "scoutlb_client_reconnect_with_retry_until",
            client,
            stop,
            user_data,
            connected_out,
            Client::reconnect_with_retry_until,
        )
    }
}

/// Cancel every call running on `client` now, and every later one until
/// `scoutlb_client_reset_cancel`: each ends within 50 ms with `SCOUTLB_CANCELLED`
/// (behaviour.md, "Cancel").
///
/// Only stores a flag: async-signal-safe for a live client, so a SIGTERM handler may call it.
/// Thread safety: may be called from any thread, at any time, also while other calls run.
///
/// # Safety
/// `client` is NULL or a live client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_cancel(client: *const scoutlb_client) -> scoutlb_status {
    boundary("scoutlb_client_cancel", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        client.canceller().cancel();
        Ok(())
    })
}

/// Let calls of `client` run again after `scoutlb_client_cancel`.
///
/// Thread safety: may be called from any thread.
///
/// # Safety
/// `client` is NULL or a live client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_reset_cancel(client: *const scoutlb_client) -> scoutlb_status {
    boundary("scoutlb_client_reset_cancel", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        client.canceller().reset();
        Ok(())
    })
}

/// The wait before retry number `retry_index + 1` of `scoutlb_client_connect_with_retry`, in ms,
/// with a fresh draw: `"backoff"` uniform in `[0, min(cap, base * factor^retry_index)]`,
/// `"handshake"` `timer * 2^min(retry_index, max_retries - 1)` (at most a day) ± 10 %
/// (behaviour.md, "All fail").
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `wait_ms_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_backoff_ms(
    client: *const scoutlb_client,
    retry_index: u32,
    wait_ms_out: *mut u64,
) -> scoutlb_status {
    boundary("scoutlb_client_backoff_ms", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        let out = arg_out(wait_ms_out, "wait_ms_out")?;
        let ms = u64::try_from(client.backoff(retry_index).as_millis()).unwrap_or(u64::MAX);
        // SAFETY: `out` was checked not NULL; the caller guarantees it is valid.
        unsafe { out.write(ms) };
        Ok(())
    })
}

/// Shared body of the functions that write a list of servers as text.
///
/// # Safety
/// As each of those functions.
unsafe fn list_out(
    name: &str,
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    list: impl FnOnce(&Client) -> Vec<Server>,
) -> scoutlb_status {
    boundary(name, || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        // SAFETY: forwarded from the caller.
        unsafe { out.write(&lines(&list(client))) }
    })
}

/// The candidates of a start-up, in the order to try them: the ManagerLoadBalancer's addresses
/// (resolved once per client, blocking on DNS the first time), then the failover order.
///
/// For agent-driven use (`"probe": "none"`): try them in order and report each outcome. Written as
/// one `host:port` (`[v6]:port`) per line, each ending in `\n`, then a NUL. `*out_len` receives the
/// size including the NUL, also on `SCOUTLB_BUFFER_TOO_SMALL` (call again with that size).
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `buf` points to `len` writable bytes (or is NULL with `len`
/// 0); `out_len` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_candidates(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_out(
            "scoutlb_client_candidates",
            client,
            buf,
            len,
            out_len,
            Client::candidates,
        )
    }
}

/// The failover order from the default server, without the ManagerLoadBalancer (behaviour.md, "Failover order").
///
/// Same text format and buffer rules as `scoutlb_client_candidates`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_failover_order(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_out(
            "scoutlb_client_failover_order",
            client,
            buf,
            len,
            out_len,
            Client::failover_order,
        )
    }
}

/// Report that the connection to the current server was lost; writes the new order to try
/// (the default server again first, then the next ones; the balancer is not re-evaluated).
///
/// Same text format and buffer rules as `scoutlb_client_candidates`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_connection_lost(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_out(
            "scoutlb_client_connection_lost",
            client,
            buf,
            len,
            out_len,
            Client::connection_lost,
        )
    }
}

/// The cached server list (empty text when none was received yet).
///
/// Same text format and buffer rules as `scoutlb_client_candidates`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_server_list(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_out(
            "scoutlb_client_server_list",
            client,
            buf,
            len,
            out_len,
            Client::server_list,
        )
    }
}

/// The seed servers: the configured ones, or `scoutsrv:22123` when none is configured.
///
/// Same text format and buffer rules as `scoutlb_client_candidates`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_seeds(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_out("scoutlb_client_seeds", client, buf, len, out_len, |c| {
            c.seeds().to_vec()
        })
    }
}

/// The ManagerLoadBalancer's addresses (resolved once per client, blocking on DNS the first time);
/// empty text when none is configured or it could not be resolved (reported as an event).
///
/// Same text format and buffer rules as `scoutlb_client_candidates`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_balancer_addresses(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        list_out(
            "scoutlb_client_balancer_addresses",
            client,
            buf,
            len,
            out_len,
            Client::balancer_addresses,
        )
    }
}

/// The default server (the last one connected to) as `host:port` (`[v6]:port`), or empty text
/// when there is none yet.
///
/// `*out_len` receives the size including the NUL, also on `SCOUTLB_BUFFER_TOO_SMALL`;
/// `SCOUTLB_SERVER_TEXT_SIZE` bytes are always enough.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_default_server(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    boundary("scoutlb_client_default_server", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        let text = client.default_server().map(|s| s.to_string()).unwrap_or_default();
        // SAFETY: forwarded from the caller.
        unsafe { out.write(&text) }
    })
}

/// The destination OU that DHCP option 222 named when the client was created (behaviour.md,
/// "First contact from DHCP"), or empty text when it named none or no lease carried the option.
///
/// `*out_len` receives the size including the NUL, also on `SCOUTLB_BUFFER_TOO_SMALL`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_dhcp_ou(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    boundary("scoutlb_client_dhcp_ou", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        let ou = client.dhcp_first_contact().and_then(|(_, c)| c.ou.clone());
        // SAFETY: forwarded from the caller.
        unsafe { out.write(ou.as_deref().unwrap_or_default()) }
    })
}

/// The lease file whose DHCP option 222 gave first-contact servers when the client was created
/// (behaviour.md, "First contact from DHCP"), or empty text when none did. A name that is not
/// UTF-8 is written with U+FFFD in place of its bad bytes.
///
/// `*out_len` receives the size including the NUL, also on `SCOUTLB_BUFFER_TOO_SMALL`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_dhcp_lease(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    boundary("scoutlb_client_dhcp_lease", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        let lease = client
            .dhcp_first_contact()
            .map(|(p, _)| p.to_string_lossy().into_owned());
        // SAFETY: forwarded from the caller.
        unsafe { out.write(lease.as_deref().unwrap_or_default()) }
    })
}

/// The whole remembered state as the JSON document of the state file (behaviour.md, "State file").
///
/// `*out_len` receives the size including the NUL, also on `SCOUTLB_BUFFER_TOO_SMALL`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// As `scoutlb_client_candidates`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_state_json(
    client: *const scoutlb_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    boundary("scoutlb_client_state_json", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        // SAFETY: forwarded from the caller.
        unsafe { out.write(&client.state().to_json(std::time::SystemTime::now()).to_string()) }
    })
}

/// Report that the agent reached `server` by itself: it becomes the default and is persisted.
///
/// `server` is an address as in the configuration (`host`, `host:port`, `[v6]:port`; the
/// configured `default_port` fills in). Fails with `SCOUTLB_INVALID_SERVER`, or
/// `SCOUTLB_STATE_FILE` when persisting failed (the default changed in memory all the same).
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `server` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_report_success(
    client: *const scoutlb_client,
    server: *const c_char,
) -> scoutlb_status {
    boundary("scoutlb_client_report_success", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        // SAFETY: forwarded from the caller.
        let server = unsafe { arg_str(server, "server") }?;
        let server = client.parse_server(server)?;
        Ok(client.report_success(&server)?)
    })
}

/// Report that the agent could not reach `server`, with its own `reason` (reported as an event).
///
/// `server` as in `scoutlb_client_report_success`; `reason` is NUL-terminated UTF-8.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `server` and `reason` are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_report_failure(
    client: *const scoutlb_client,
    server: *const c_char,
    reason: *const c_char,
) -> scoutlb_status {
    boundary("scoutlb_client_report_failure", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        // SAFETY: forwarded from the caller.
        let server = unsafe { arg_str(server, "server") }?;
        // SAFETY: forwarded from the caller.
        let reason = unsafe { arg_str(reason, "reason") }?;
        let server = client.parse_server(server)?;
        client.report_failure(&server, reason);
        Ok(())
    })
}

/// Hand in a server list the agent received by its own protocol, as wire-format JSON (behaviour.md, "Wire format").
///
/// `body` holds `body_len` bytes (no NUL needed; `(NULL, 0)` is empty, hence refused). `from` is the
/// server that sent it, or NULL for the default server; when it is the default server and the list
/// names it with `self`, that entry becomes the default. A refused list fails with
/// `SCOUTLB_INVALID_SERVER_LIST` and keeps the cached one; `SCOUTLB_STATE_FILE` when persisting
/// failed (the list is cached in memory all the same).
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `body` is NULL or points to `body_len` readable bytes; `from`
/// is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_update_server_list(
    client: *const scoutlb_client,
    body: *const u8,
    body_len: usize,
    from: *const c_char,
) -> scoutlb_status {
    boundary("scoutlb_client_update_server_list", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        // SAFETY: forwarded from the caller.
        let body = unsafe { arg_bytes(body, body_len, "body") }?;
        // SAFETY: forwarded from the caller.
        let from = unsafe { arg_opt_str(from, "from") }?
            .map(|f| client.parse_server(f))
            .transpose()?;
        Ok(client.update_server_list_json(body, from.as_ref())?)
    })
}

/// The body shared by the connect calls (blocking, and the finish of an event-loop call): check
/// the arguments, run `connect`, write the result.
///
/// # Safety
/// `client` is NULL or a live client; `connected_out` is NULL or a valid pointer.
pub(crate) unsafe fn connect_call(
    name: &'static str,
    client: *const scoutlb_client,
    connected_out: *mut scoutlb_connected,
    connect: impl FnOnce(&Client) -> scoutlb_core::Result<Connected>,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    boundary(name, || unsafe { connect_body(client, connected_out, connect) })
}

/// Inside the boundary: check the client and `connected_out`, run `connect`, write the result
/// (and remember what the connect worked around).
///
/// # Safety
/// As [`connect_call`].
pub(crate) unsafe fn connect_body(
    client: *const scoutlb_client,
    connected_out: *mut scoutlb_connected,
    connect: impl FnOnce(&Client) -> scoutlb_core::Result<Connected>,
) -> Result<(), Failure> {
    // SAFETY: forwarded from the caller.
    let client = unsafe { self::client(client) }?;
    let out = arg_out(connected_out, "connected_out")?;
    crate::last_connect::remember(None, None);
    let connected = connect(client)?;
    crate::last_connect::remember(connected.save_error.as_deref(), connected.list_problem.as_deref());
    write_connected(connected, out)
}
