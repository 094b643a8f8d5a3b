//! The attempts of the last `SCOUTLB_ALL_FAILED` on a thread, readable one by one from C.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};

use scoutlb_core::Attempt;

use crate::args::{TextOut, arg_out, copy_into_array};
use crate::server::SCOUTLB_SERVER_TEXT_SIZE;
use crate::status::{Failure, catch, scoutlb_status};

/// Why an attempt failed, as a number (behaviour.md, "All fail"). Numbers are never reused.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum scoutlb_attempt_kind {
    /// A reason this version of the C ABI has no number for yet; the message says what happened.
    SCOUTLB_ATTEMPT_OTHER = 0,
    /// The connection was refused.
    SCOUTLB_ATTEMPT_REFUSED = 1,
    /// No answer within the attempt's time limit.
    SCOUTLB_ATTEMPT_TIMED_OUT = 2,
    /// The host name did not resolve (no such name, server failure, timed out, no records).
    SCOUTLB_ATTEMPT_DNS = 3,
    /// The TLS handshake or the certificate check failed.
    SCOUTLB_ATTEMPT_TLS = 4,
    /// The server answered with an HTTP status other than 200.
    SCOUTLB_ATTEMPT_HTTP_STATUS = 5,
    /// The server's answer was not a valid server list.
    SCOUTLB_ATTEMPT_INVALID_LIST = 6,
    /// Another network or operating-system error.
    SCOUTLB_ATTEMPT_IO = 7,
    /// The probe callback said no.
    SCOUTLB_ATTEMPT_CALLBACK = 8,
    /// The agent reported the failure (`scoutlb_client_report_failure`).
    SCOUTLB_ATTEMPT_REPORTED = 9,
    /// The call's `deadline_ms` passed before this candidate was tried or answered.
    SCOUTLB_ATTEMPT_DEADLINE = 10,
    /// Still running when another server won, after its patience had run out.
    SCOUTLB_ATTEMPT_OUT_OF_PATIENCE = 11,
    /// The server's list failed the signed-list checks (behaviour.md, "Signed lists").
    SCOUTLB_ATTEMPT_UNTRUSTED_LIST = 12,
    /// The server drains: another server for now (behaviour.md, "Servers that steer devices").
    SCOUTLB_ATTEMPT_DRAINING = 13,
    /// The server refuses this device; the message is its reason.
    SCOUTLB_ATTEMPT_DEVICE_REFUSED = 14,
}

use scoutlb_attempt_kind::*;

/// Every number with the core's name of its kind (`FailReason::kind`), the one table of both.
const KINDS: &[(scoutlb_attempt_kind, &CStr)] = &[
    (SCOUTLB_ATTEMPT_REFUSED, c"refused"),
    (SCOUTLB_ATTEMPT_TIMED_OUT, c"timed_out"),
    (SCOUTLB_ATTEMPT_DNS, c"dns"),
    (SCOUTLB_ATTEMPT_TLS, c"tls"),
    (SCOUTLB_ATTEMPT_HTTP_STATUS, c"http_status"),
    (SCOUTLB_ATTEMPT_INVALID_LIST, c"invalid_list"),
    (SCOUTLB_ATTEMPT_IO, c"io"),
    (SCOUTLB_ATTEMPT_CALLBACK, c"callback"),
    (SCOUTLB_ATTEMPT_REPORTED, c"reported"),
    (SCOUTLB_ATTEMPT_DEADLINE, c"deadline"),
    (SCOUTLB_ATTEMPT_OUT_OF_PATIENCE, c"out_of_patience"),
    (SCOUTLB_ATTEMPT_UNTRUSTED_LIST, c"untrusted_list"),
    (SCOUTLB_ATTEMPT_DRAINING, c"draining"),
    (SCOUTLB_ATTEMPT_DEVICE_REFUSED, c"device_refused"),
];

/// The number and the static name of the core's kind `name`; unknown kinds are `other`.
fn kind_of(name: &str) -> (scoutlb_attempt_kind, &'static CStr) {
    KINDS
        .iter()
        .find(|(_, n)| n.to_bytes() == name.as_bytes())
        .copied()
        .unwrap_or((SCOUTLB_ATTEMPT_OTHER, c"other"))
}

/// One attempt of the last failed call, written into a caller-owned struct by
/// `scoutlb_last_error_attempt`.
///
/// The caller owns it; the library keeps no pointer to it. `kind_name` points to static text
/// (never free it). Plain data: copy or share it freely between threads.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct scoutlb_attempt {
    /// The server tried, as `host:port` (`[v6]:port`).
    pub server: [c_char; SCOUTLB_SERVER_TEXT_SIZE],
    /// Why it failed: a `scoutlb_attempt_kind` number; later versions may add numbers.
    pub kind: u32,
    /// The kind as a short stable name, the same as Python's `Attempt.kind` and the `scoutlb`
    /// command's JSON: `"refused"`, `"timed_out"`, ... (`"other"` for `SCOUTLB_ATTEMPT_OTHER`).
    pub kind_name: *const c_char,
}

thread_local! {
    /// The attempts of this thread's last failed call (empty unless it was `SCOUTLB_ALL_FAILED`).
    static LAST_ATTEMPTS: RefCell<Vec<Attempt>> = const { RefCell::new(Vec::new()) };
}

/// Keep `attempts` as the attempts of this thread's last call (called by the boundary).
pub(crate) fn remember(attempts: Vec<Attempt>) {
    let _ = LAST_ATTEMPTS.try_with(|a| {
        if let Ok(mut a) = a.try_borrow_mut() {
            *a = attempts;
        }
    });
}

/// Run `f` on attempt `index` of this thread's last failed call.
fn with_attempt(index: usize, f: impl FnOnce(&Attempt) -> Result<(), Failure>) -> Result<(), Failure> {
    LAST_ATTEMPTS
        .try_with(|a| {
            let a = a.try_borrow().map_err(|_| busy())?;
            match a.get(index) {
                Some(attempt) => f(attempt),
                None => Err(Failure::new(
                    scoutlb_status::SCOUTLB_INVALID_ARGUMENT,
                    format!(
                        "attempt {index} does not exist: the last failed call has {} attempts",
                        a.len()
                    ),
                )),
            }
        })
        .unwrap_or_else(|_| Err(busy()))
}

fn busy() -> Failure {
    Failure::new(
        scoutlb_status::SCOUTLB_OTHER,
        "the attempts of this thread cannot be read now (the thread is ending)",
    )
}

/// The status of a reader: it never changes the thread's last error or attempts.
fn status_of(result: Result<(), Failure>) -> scoutlb_status {
    result
        .err()
        .map_or(scoutlb_status::SCOUTLB_OK, |failure| failure.status)
}

/// How many attempts the last failed call on this thread made: for `SCOUTLB_ALL_FAILED`, every
/// server tried (in the order of the candidates), each with why it failed; 0 after any other
/// result.
///
/// Read them with `scoutlb_last_error_attempt` and `scoutlb_last_error_attempt_message`, like
/// `scoutlb_last_error_message` (which names the same attempts in one text). Reading never changes
/// them; the next call on this thread that returns a status replaces them.
///
/// Thread safety: may be called from any thread; each thread has its own attempts.
///
/// # Safety
/// `count_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_last_error_attempt_count(count_out: *mut usize) -> scoutlb_status {
    status_of(catch("scoutlb_last_error_attempt_count", || {
        let out = arg_out(count_out, "count_out")?;
        let count = LAST_ATTEMPTS
            .try_with(|a| a.try_borrow().map(|a| a.len()).map_err(|_| busy()))
            .unwrap_or_else(|_| Err(busy()))?;
        // SAFETY: `out` was checked not NULL; the caller guarantees it is valid.
        unsafe { out.write(count) };
        Ok(())
    }))
}

/// Attempt number `index` (from 0) of the last failed call on this thread: its server and kind.
///
/// `SCOUTLB_INVALID_ARGUMENT` when `index` is not below `scoutlb_last_error_attempt_count`.
/// `*attempt_out` is written only on success. Does not change the last error or its attempts.
///
/// Thread safety: may be called from any thread; each thread has its own attempts.
///
/// # Safety
/// `attempt_out` is NULL or a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_last_error_attempt(index: usize, attempt_out: *mut scoutlb_attempt) -> scoutlb_status {
    status_of(catch("scoutlb_last_error_attempt", || {
        let out = arg_out(attempt_out, "attempt_out")?;
        with_attempt(index, |attempt| {
            let (kind, kind_name) = kind_of(attempt.reason.kind());
            let mut written = scoutlb_attempt {
                server: [0; SCOUTLB_SERVER_TEXT_SIZE],
                kind: kind as u32,
                kind_name: kind_name.as_ptr(),
            };
            copy_into_array(&attempt.server.to_string(), &mut written.server)?;
            // SAFETY: `out` was checked not NULL; the caller guarantees it is valid.
            unsafe { out.write(written) };
            Ok(())
        })
    }))
}

/// Why attempt number `index` of the last failed call on this thread failed, in words (such as
/// `"connection refused"` or `"timed out after 300 ms"`).
///
/// Text out as everywhere: `*out_len` receives the size including the NUL, also on
/// `SCOUTLB_BUFFER_TOO_SMALL` (call again with that size). `SCOUTLB_INVALID_ARGUMENT` when
/// `index` is out of range. Does not change the last error or its attempts.
///
/// Thread safety: may be called from any thread; each thread has its own attempts.
///
/// # Safety
/// `buf` points to `len` writable bytes (or is NULL with `len` 0); `out_len` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_last_error_attempt_message(
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    status_of(catch("scoutlb_last_error_attempt_message", || {
        // SAFETY: forwarded from the caller.
        let out = unsafe { TextOut::new(buf, len, out_len) }?;
        // SAFETY: forwarded from the caller.
        with_attempt(index, |attempt| unsafe { out.write(&attempt.reason.to_string()) })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scoutlb_core::FailReason;
    use std::time::Duration;

    #[test]
    fn every_kind_of_the_core_has_its_number() {
        let reasons = [
            FailReason::Refused,
            FailReason::TimedOut(Duration::from_millis(1)),
            FailReason::HttpStatus(500),
            FailReason::InvalidList("x".into()),
            FailReason::UntrustedList("x".into()),
            FailReason::Io {
                kind: std::io::ErrorKind::Other,
                message: "x".into(),
            },
            FailReason::Callback("x".into()),
            FailReason::Reported("x".into()),
            FailReason::Deadline,
        ];
        for reason in reasons {
            let (kind, name) = kind_of(reason.kind());
            assert_ne!(kind, SCOUTLB_ATTEMPT_OTHER, "{}", reason.kind());
            assert_eq!(name.to_str().unwrap(), reason.kind());
        }
        assert_eq!(kind_of("something new"), (SCOUTLB_ATTEMPT_OTHER, c"other"));
    }
}
