//! What the last connect on a thread left to read beside its `scoutlb_connected`: why it could
//! not save the state file (`save_error`) and why a server list was refused (`list_problem`).

use std::cell::RefCell;
use std::ffi::c_char;
use std::thread::LocalKey;

use crate::args::TextOut;
use crate::status::{catch, scoutlb_status};

thread_local! {
    /// The save error of this thread's last connect call; empty when it saved or failed.
    static LAST_SAVE_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    /// Why a list was refused in this thread's last connect call; empty when none was.
    static LAST_LIST_PROBLEM: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set(cell: &'static LocalKey<RefCell<String>>, text: Option<&str>) {
    let _ = cell.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            e.clear();
            e.push_str(text.unwrap_or_default());
        }
    });
}

/// Keep what a connect call that just ended on this thread left (`None`s: no connection).
pub(crate) fn remember(save_error: Option<&str>, list_problem: Option<&str>) {
    set(&LAST_SAVE_ERROR, save_error);
    set(&LAST_LIST_PROBLEM, list_problem);
}

/// Copy the text of `cell` out to C, as every text getter of this crate does.
///
/// # Safety
/// As the getters below.
unsafe fn read(
    name: &'static str,
    cell: &'static LocalKey<RefCell<String>>,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    let result = catch(name, || {
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        let text = cell
            .try_with(|e| e.try_borrow().map(|e| e.clone()).unwrap_or_default())
            .unwrap_or_default();
        // SAFETY: forwarded from the caller.
        unsafe { out.write(&text) }
    });
    result
        .err()
        .map_or(scoutlb_status::SCOUTLB_OK, |failure| failure.status)
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
    // SAFETY: forwarded from the caller.
    unsafe { read("scoutlb_last_save_error", &LAST_SAVE_ERROR, buf, len, out_len) }
}

/// Why a server list was refused in the last connect call on this thread (behaviour.md, "Signed
/// lists"): set when that call returned `SCOUTLB_OK` with `list_refused` true, empty text
/// otherwise.
///
/// Which calls set it, and how the text is copied out, as for `scoutlb_last_save_error`. The
/// same reason came as a `SCOUTLB_EVENT_SERVER_LIST_REJECTED` event.
///
/// Thread safety: may be called from any thread; each thread has its own text.
///
/// # Safety
/// `buf` points to `len` writable bytes (or is NULL with `len` 0); `out_len` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_last_list_problem(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    // SAFETY: forwarded from the caller.
    unsafe { read("scoutlb_last_list_problem", &LAST_LIST_PROBLEM, buf, len, out_len) }
}
