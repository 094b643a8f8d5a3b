//! The stop callback: lets the caller cancel a retrying connect from C (behaviour.md, "Cancel").

use std::ffi::c_void;
use std::time::Instant;

/// What a stop callback is told, lent for the duration of the call.
///
/// Owned by the library and valid (never NULL) only until the callback returns, on the thread that
/// calls it. New fields may be appended in later versions (the library allocates this struct).
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct scoutlb_stop_params {
    /// Milliseconds since the retrying connect began.
    pub elapsed_ms: u64,
}

/// The stop callback of `scoutlb_client_connect_with_retry_until`: receives `user_data` as given;
/// returns nonzero to cancel the connect, 0 to go on.
///
/// Called on the thread that called `scoutlb_client_connect_with_retry_until` (or
/// `scoutlb_client_reconnect_with_retry_until`) about every 25 ms, during the tries and the backoff
/// waits, never after that call returned. It must
/// not call into the same client and must not unwind (C++ exceptions, longjmp) through the library.
#[allow(non_camel_case_types)]
pub type scoutlb_stop_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, params: *const scoutlb_stop_params) -> u32>;

/// Ask the C stop callback, if any, whether to stop: the `stop` of `Client::connect_with_retry_until`.
pub(crate) struct StopCallback {
    callback: scoutlb_stop_callback,
    user_data: *mut c_void,
    started: Instant,
}

impl StopCallback {
    /// A stop check that calls `callback` with `user_data`; a NULL callback never stops.
    pub fn new(callback: scoutlb_stop_callback, user_data: *mut c_void) -> Self {
        StopCallback {
            callback,
            user_data,
            started: Instant::now(),
        }
    }

    /// Whether the callback asks to stop now.
    pub fn stop(&self) -> bool {
        let Some(callback) = self.callback else {
            return false;
        };
        let params = scoutlb_stop_params {
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        // SAFETY: C gave this callback and user_data; the params live until it returns.
        unsafe { callback(self.user_data, &params) != 0 }
    }
}
