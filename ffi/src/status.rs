//! Status codes, the thread-local last error, and the one boundary every exported call runs through.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::sync::OnceLock;

use std::panic::{self, AssertUnwindSafe};
use strum::IntoEnumIterator;

use scoutlb_core::{Error, ErrorKind};

/// The result of a call: `SCOUTLB_OK` or why it failed. Numbers are never reused.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
pub enum scoutlb_status {
    /// The call succeeded.
    SCOUTLB_OK = 0,
    /// The library hit an internal error (a Rust panic); the message says where.
    SCOUTLB_PANIC = 1,
    /// A required pointer argument was NULL.
    SCOUTLB_NULL_ARGUMENT = 2,
    /// A string argument was not valid UTF-8.
    SCOUTLB_INVALID_UTF8 = 3,
    /// The configuration is not valid JSON, has an unknown key, or a wrong type or value.
    SCOUTLB_CONFIG = 4,
    /// The state file or its folder could not be read or written.
    SCOUTLB_STATE_FILE = 5,
    /// No candidate server could be reached; the message names every attempt and why it failed.
    SCOUTLB_ALL_FAILED = 6,
    /// The caller's buffer is too small; `out_len` holds the size needed.
    SCOUTLB_BUFFER_TOO_SMALL = 7,
    /// A server list was refused; the cached list is kept.
    SCOUTLB_INVALID_SERVER_LIST = 8,
    /// A DNS lookup failed.
    SCOUTLB_DNS = 9,
    /// An argument is out of its range (such as an unknown enum value).
    SCOUTLB_INVALID_ARGUMENT = 10,
    /// A server address could not be parsed.
    SCOUTLB_INVALID_SERVER = 11,
    /// The state file was written by a newer scoutlb and is left untouched.
    SCOUTLB_STATE_FORMAT = 12,
    /// The named server is not known to this client.
    SCOUTLB_UNKNOWN_SERVER = 13,
    /// The call is not possible with this client's configuration (such as connect with `"probe": "none"`).
    SCOUTLB_UNSUPPORTED = 14,
    /// An error this version of the C ABI has no code for yet; the message has the detail.
    SCOUTLB_OTHER = 15,
    /// The caller's stop callback ended a retrying connect (`scoutlb_client_connect_with_retry_until`).
    SCOUTLB_CANCELLED = 16,
    /// A server refused this device (behaviour.md, "Servers that steer devices"); no other server
    /// was tried. `scoutlb_last_error_attempt` 0 names the server and its reason.
    SCOUTLB_DEVICE_REFUSED = 17,
}

use scoutlb_status::*;

impl scoutlb_status {
    /// The name of the code as in the header, such as `SCOUTLB_ALL_FAILED`: NUL-terminated,
    /// made once from the enum itself (the one list of the codes).
    pub(crate) fn name(self) -> &'static CStr {
        static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            scoutlb_status::iter()
                .map(|s| CString::new(<&'static str>::from(s)).unwrap_or_default())
                .collect()
        });
        &names[self as usize]
    }

    /// The code numbered `n`, if there is one.
    pub(crate) fn from_u32(n: u32) -> Option<Self> {
        scoutlb_status::iter().find(|s| *s as u32 == n)
    }
}

/// A failed call: its status code and the message kept as the thread's last error.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: scoutlb_status,
    pub message: String,
    /// For `SCOUTLB_ALL_FAILED`: every attempt, kept for `scoutlb_last_error_attempt`.
    pub attempts: Vec<scoutlb_core::Attempt>,
}

impl Failure {
    /// A failure with `status` and `message`.
    pub fn new(status: scoutlb_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            attempts: Vec::new(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            ErrorKind::InvalidServer => SCOUTLB_INVALID_SERVER,
            ErrorKind::Config => SCOUTLB_CONFIG,
            ErrorKind::InvalidServerList => SCOUTLB_INVALID_SERVER_LIST,
            ErrorKind::StateFile => SCOUTLB_STATE_FILE,
            ErrorKind::StateFormat => SCOUTLB_STATE_FORMAT,
            ErrorKind::Dns => SCOUTLB_DNS,
            ErrorKind::AllFailed => SCOUTLB_ALL_FAILED,
            ErrorKind::UnknownServer => SCOUTLB_UNKNOWN_SERVER,
            ErrorKind::Unsupported => SCOUTLB_UNSUPPORTED,
            ErrorKind::Cancelled => SCOUTLB_CANCELLED,
            ErrorKind::DeviceRefused => SCOUTLB_DEVICE_REFUSED,
            _ => SCOUTLB_OTHER,
        };
        let attempts = match &e {
            // The refusal as the one attempt, so C reads its server and reason like any other.
            Error::DeviceRefused { server, reason } => vec![scoutlb_core::Attempt {
                server: server.clone(),
                reason: scoutlb_core::FailReason::DeviceRefused(reason.clone()),
            }],
            _ => e.attempts().to_vec(),
        };
        Failure {
            attempts,
            ..Failure::new(status, e.to_string())
        }
    }
}

thread_local! {
    /// The message of the last failed call on this thread; empty after a successful call.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: &str) {
    let _ = LAST_ERROR.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            m.clear();
            m.push_str(message);
        }
    });
}

/// A copy of this thread's last error message.
pub(crate) fn last_error() -> String {
    LAST_ERROR
        .try_with(|m| m.try_borrow().map(|m| m.clone()).unwrap_or_default())
        .unwrap_or_default()
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic payload".into())
}

/// Run `body` with panics caught: a panic becomes a `SCOUTLB_PANIC` failure naming `name`.
///
/// The one place that catches panics; [`boundary`] adds the last-error bookkeeping.
pub(crate) fn catch(name: &str, body: impl FnOnce() -> Result<(), Failure>) -> Result<(), Failure> {
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(Failure::new(
            SCOUTLB_PANIC,
            format!("internal error in {name}: {}", panic_message(&*payload)),
        ))
    })
}

/// Run the body of exported function `name`: catch panics, map failures to a status code and
/// keep the message and the attempts as this thread's last error (cleared on success).
pub(crate) fn boundary(name: &str, body: impl FnOnce() -> Result<(), Failure>) -> scoutlb_status {
    match catch(name, body) {
        Ok(()) => {
            set_last_error("");
            crate::attempts::remember(Vec::new());
            SCOUTLB_OK
        }
        Err(failure) => {
            set_last_error(&failure.message);
            crate::attempts::remember(failure.attempts);
            failure.status
        }
    }
}

/// Copy this thread's last error message into a buffer.
///
/// The message is the detail of the last call on this thread that did not return `SCOUTLB_OK`
/// (for `SCOUTLB_ALL_FAILED`: every server tried and why it failed); it is empty after a call that
/// succeeded. This function itself never changes the message, so it may be called again with a
/// bigger buffer after `SCOUTLB_BUFFER_TOO_SMALL`. `*out_len` receives the size of the message
/// including its terminating NUL, also on `SCOUTLB_BUFFER_TOO_SMALL`.
///
/// Thread safety: may be called from any thread; each thread has its own message.
///
/// # Safety
/// `buf` points to `len` writable bytes (or is NULL with `len` 0); `out_len` is a valid pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_last_error_message(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> scoutlb_status {
    // Not `boundary`: reading the message must not replace it.
    let result = catch("scoutlb_last_error_message", || {
        // SAFETY: the caller passes a buffer of `len` bytes and a valid `out_len`.
        let out = unsafe { crate::args::TextOut::new(buf, len, out_len)? };
        // SAFETY: as above.
        unsafe { out.write(&last_error()) }
    });
    result.err().map_or(SCOUTLB_OK, |failure| failure.status)
}

/// The name of a status code as a static NUL-terminated string, such as `"SCOUTLB_ALL_FAILED"`.
///
/// Unknown numbers give `"SCOUTLB_UNKNOWN_STATUS"`. The string is static: never free it.
/// Thread safety: may be called from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn scoutlb_status_name(status: u32) -> *const c_char {
    scoutlb_status::from_u32(status)
        .map(|s| s.name())
        .unwrap_or(c"SCOUTLB_UNKNOWN_STATUS")
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_their_index_and_named_as_in_the_header() {
        for (i, s) in scoutlb_status::iter().enumerate() {
            assert_eq!(s as u32, i as u32);
            assert_eq!(s.name().to_str().unwrap(), format!("{s:?}"));
        }
        assert_eq!(scoutlb_status::from_u32(6), Some(SCOUTLB_ALL_FAILED));
        assert_eq!(scoutlb_status::from_u32(9999), None);
    }

    #[test]
    fn a_panic_becomes_a_status_with_its_message() {
        let status = boundary("scoutlb_test", || panic!("boom"));
        assert_eq!(status, SCOUTLB_PANIC);
        assert_eq!(last_error(), "internal error in scoutlb_test: boom");
        assert_eq!(boundary("scoutlb_test", || Ok(())), SCOUTLB_OK);
        assert_eq!(last_error(), "");
    }

    #[test]
    fn errors_keep_their_detail() {
        let status = boundary("scoutlb_test", || {
            Err(scoutlb_core::Config::from_json("{\"nope\": 1}").unwrap_err().into())
        });
        assert_eq!(status, SCOUTLB_CONFIG);
        assert!(last_error().contains("`nope`"), "{}", last_error());
    }

    #[test]
    fn a_cancelled_connect_has_its_own_code() {
        let status = boundary("scoutlb_test", || Err(Error::Cancelled.into()));
        assert_eq!(status, SCOUTLB_CANCELLED);
        assert!(last_error().contains("cancelled"), "{}", last_error());
    }
}
