//! The event callback: the client's events handed to C as a `#[repr(C)]` struct.

use std::ffi::{CString, c_char, c_void};

use scoutlb_core::{Event, EventSink, Severity};

/// What kind of event a `scoutlb_event` reports. Numbers are never reused.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum scoutlb_event_kind {
    /// An event this version of the C ABI has no number for yet; `kind_name` says which.
    SCOUTLB_EVENT_OTHER = 0,
    /// An attempt on a server began.
    SCOUTLB_EVENT_ATTEMPT_STARTED = 1,
    /// An attempt failed; the message says why.
    SCOUTLB_EVENT_ATTEMPT_FAILED = 2,
    /// An attempt succeeded and won the race: its server is the one in use.
    SCOUTLB_EVENT_ATTEMPT_SUCCEEDED = 3,
    /// A new server list was accepted and cached.
    SCOUTLB_EVENT_SERVER_LIST_UPDATED = 4,
    /// A server list was refused; the cached list is kept.
    SCOUTLB_EVENT_SERVER_LIST_REJECTED = 5,
    /// The default server changed; `server` is the new one.
    SCOUTLB_EVENT_DEFAULT_CHANGED = 6,
    /// The state file had a problem; the client carries on as the message says.
    SCOUTLB_EVENT_STATE_FILE_PROBLEM = 7,
    /// The ManagerLoadBalancer entry resolved to addresses.
    SCOUTLB_EVENT_BALANCER_RESOLVED = 8,
    /// The ManagerLoadBalancer entry could not be resolved; the failover order takes over.
    SCOUTLB_EVENT_BALANCER_FAILED = 9,
    /// An attempt answered but is held: a more preferred server is still within its patience.
    SCOUTLB_EVENT_ATTEMPT_HELD = 10,
    /// An attempt (or the balancer lookup) ran out of patience: it goes on, and the next
    /// candidate starts beside it. Not a failure.
    SCOUTLB_EVENT_PATIENCE_RAN_OUT = 11,
    /// The keys adopted from signed lists changed (a key rotation); the message names them.
    SCOUTLB_EVENT_LIST_KEYS_CHANGED = 12,
    /// This connect call's https attempts check no certificate (`tls_verify` `"none"`): said
    /// before the first attempt of every call (behaviour.md, "TLS").
    SCOUTLB_EVENT_TLS_UNVERIFIED = 13,
    /// A server refused this device; the call ended without trying another server.
    SCOUTLB_EVENT_DEVICE_REFUSED = 14,
    /// A server relocated this device; `server` is the target, tried first at the next start-up.
    SCOUTLB_EVENT_RELOCATION_PENDING = 15,
    /// The device moved where a server relocated it; `server` is its default server now.
    SCOUTLB_EVENT_RELOCATED = 16,
    /// A relocation was not followed; the message says why.
    SCOUTLB_EVENT_RELOCATION_FAILED = 17,
    /// A list showed a lighter server: the device plans to move there (`scoutlb_client_rebalance_plan`).
    SCOUTLB_EVENT_REBALANCE_PLANNED = 18,
    /// The device moved to the lighter server; `server` is its default server now.
    SCOUTLB_EVENT_REBALANCED = 19,
    /// The planned move failed; nothing changed.
    SCOUTLB_EVENT_REBALANCE_FAILED = 20,
}

/// How much an event matters; also the minimum severity given to `scoutlb_config_set_event_callback`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum scoutlb_severity {
    /// Routine detail (attempts started, list updates).
    SCOUTLB_SEVERITY_DEBUG = 0,
    /// A notable change (success, new default server).
    SCOUTLB_SEVERITY_INFO = 1,
    /// A problem the client worked around (failed attempt, refused list, state-file problem).
    SCOUTLB_SEVERITY_WARNING = 2,
}

impl scoutlb_severity {
    /// Check a severity given by C as a number.
    pub(crate) fn from_u32(n: u32) -> Option<Self> {
        [
            Self::SCOUTLB_SEVERITY_DEBUG,
            Self::SCOUTLB_SEVERITY_INFO,
            Self::SCOUTLB_SEVERITY_WARNING,
        ]
        .into_iter()
        .find(|s| *s as u32 == n)
    }

    fn of(s: Severity) -> Self {
        match s {
            Severity::Debug => Self::SCOUTLB_SEVERITY_DEBUG,
            Severity::Info => Self::SCOUTLB_SEVERITY_INFO,
            Severity::Warning => Self::SCOUTLB_SEVERITY_WARNING,
        }
    }
}

/// One event, lent to the event callback for the duration of the call.
///
/// Owned by the library; the struct (never NULL) and every pointer in it are valid only until the
/// callback returns, on the thread that calls it: copy what you keep. New fields may be
/// appended in later versions (the library allocates this struct, never the caller).
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct scoutlb_event {
    /// A `scoutlb_event_kind` number; unknown numbers may appear in later versions.
    pub kind: u32,
    /// A `scoutlb_severity` number.
    pub severity: u32,
    /// A short stable name of the kind, such as `"attempt_failed"`.
    pub kind_name: *const c_char,
    /// The server the event is about, as `host:port` (`[v6]:port`), or NULL when none.
    pub server: *const c_char,
    /// A readable one-line description, for logs.
    pub message: *const c_char,
}

/// The event callback: receives `user_data` as given and one event.
///
/// Called on the thread that made the client call that caused the event (several threads at once
/// when the client is shared), never after that call returned. It must not call into the same
/// client on its own thread, and must not unwind (C++ exceptions, longjmp) through the library. It
/// may wait for another thread that calls the same client: no client lock is held while it runs
/// (behaviour.md, Surfaces).
#[allow(non_camel_case_types)]
pub type scoutlb_event_callback = Option<unsafe extern "C" fn(user_data: *mut c_void, event: *const scoutlb_event)>;

/// A user_data pointer passed back to C as is; C promises its callbacks are thread-safe.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub *mut c_void);

// SAFETY: the pointer is never dereferenced by Rust, only handed back to the C callback, whose
// documentation requires it to be usable from the threads that call it.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

/// An event sink that calls a C function.
pub(crate) struct CallbackSink {
    pub callback: unsafe extern "C" fn(*mut c_void, *const scoutlb_event),
    pub user_data: UserData,
    pub min_severity: scoutlb_severity,
}

fn kind_of(event: &Event) -> scoutlb_event_kind {
    use scoutlb_event_kind::*;
    match event {
        Event::AttemptStarted { .. } => SCOUTLB_EVENT_ATTEMPT_STARTED,
        Event::AttemptFailed { .. } => SCOUTLB_EVENT_ATTEMPT_FAILED,
        Event::AttemptSucceeded { .. } => SCOUTLB_EVENT_ATTEMPT_SUCCEEDED,
        Event::ServerListUpdated { .. } => SCOUTLB_EVENT_SERVER_LIST_UPDATED,
        Event::ServerListRejected { .. } => SCOUTLB_EVENT_SERVER_LIST_REJECTED,
        Event::DefaultChanged { .. } => SCOUTLB_EVENT_DEFAULT_CHANGED,
        Event::StateFileProblem { .. } => SCOUTLB_EVENT_STATE_FILE_PROBLEM,
        Event::BalancerResolved { .. } => SCOUTLB_EVENT_BALANCER_RESOLVED,
        Event::BalancerFailed { .. } => SCOUTLB_EVENT_BALANCER_FAILED,
        Event::AttemptHeld { .. } => SCOUTLB_EVENT_ATTEMPT_HELD,
        Event::PatienceRanOut { .. } => SCOUTLB_EVENT_PATIENCE_RAN_OUT,
        Event::ListKeysChanged { .. } => SCOUTLB_EVENT_LIST_KEYS_CHANGED,
        Event::TlsUnverified => SCOUTLB_EVENT_TLS_UNVERIFIED,
        Event::DeviceRefused { .. } => SCOUTLB_EVENT_DEVICE_REFUSED,
        Event::RelocationPending { .. } => SCOUTLB_EVENT_RELOCATION_PENDING,
        Event::Relocated { .. } => SCOUTLB_EVENT_RELOCATED,
        Event::RelocationFailed { .. } => SCOUTLB_EVENT_RELOCATION_FAILED,
        Event::RebalancePlanned { .. } => SCOUTLB_EVENT_REBALANCE_PLANNED,
        Event::Rebalanced { .. } => SCOUTLB_EVENT_REBALANCED,
        Event::RebalanceFailed { .. } => SCOUTLB_EVENT_REBALANCE_FAILED,
        _ => SCOUTLB_EVENT_OTHER,
    }
}

/// A C string of `text`, with any interior NUL replaced so nothing is lost silently.
pub(crate) fn c_string(text: String) -> CString {
    CString::new(text).unwrap_or_else(|e| {
        let text = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\u{2400}");
        CString::new(text).unwrap_or_default()
    })
}

impl EventSink for CallbackSink {
    fn event(&self, event: &Event) {
        let severity = scoutlb_severity::of(event.severity());
        if severity < self.min_severity {
            return;
        }
        let kind_name = c_string(event.kind().to_string());
        let server = event.server().map(|s| c_string(s.to_string()));
        let message = c_string(event.to_string());
        let c_event = scoutlb_event {
            kind: kind_of(event) as u32,
            severity: severity as u32,
            kind_name: kind_name.as_ptr(),
            server: server.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            message: message.as_ptr(),
        };
        // SAFETY: the callback was given by C with this user_data; the event and its strings live
        // until it returns.
        unsafe { (self.callback)(self.user_data.0, &c_event) };
    }
}
