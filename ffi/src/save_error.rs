//! Why the last connect on a thread could not save the state file: the C side of `save_error`.

use std::cell::RefCell;
use std::ffi::c_char;

use crate::args::TextOut;
use crate::status::{catch, scoutlb_status};

thread_local! {
    /// The save error of this thread's last connect call; empty when it saved or failed.
    static LAST_SAVE_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Keep the save error of a connect call that just ended on this thread (`None`: saved, or no
/// connection).
pub(crate) fn remember(error: Option<&str>) {
    let _ = LAST_SAVE_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            e.clear();
            e.push_str(error.unwrap_or_default());
        }
    });
}

/// Why the last connect call on this thread could not save the state file (behaviour.md, "State
/// file"): set when that call returned `SCOUTLB_OK` with `saved` false, empty text otherwise.
///
/// The connect calls are `scoutlb_client_connect`, `_reconnect`, `_connect_with_retry` and
/// `_connect_with_retry_until`; other calls leave the text alone, and reading it never changes
/// it. The same reason came as a `SCOUTLB_EVENT_STATE_FILE_PROBLEM` event. `*out_len` receives
/// the size including the NUL, also on `SCOUTLB_BUFFER_TOO_SMALL` (call again with that size).
///
/// Thread safety: may be called from any thread; each thread has its own text.
///
/// # Safety
/// `buf` points to `len` writable bytes (or is NULL with `len` 0); `out_len` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_last_save_error(buf: *mut c_char, len: usize, out_len: *mut usize) -> scoutlb_status {
    let result = catch("scoutlb_last_save_error", || {
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        let text = LAST_SAVE_ERROR
            .try_with(|e| e.try_borrow().map(|e| e.clone()).unwrap_or_default())
            .unwrap_or_default();
        // SAFETY: forwarded from the caller.
        unsafe { out.write(&text) }
    });
    result
        .err()
        .map_or(scoutlb_status::SCOUTLB_OK, |failure| failure.status)
}
