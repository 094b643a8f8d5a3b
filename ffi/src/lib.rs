//! C ABI for scoutlb: opaque handles, status codes with a readable last error, callbacks with
//! `void *user_data`, and text copied into caller-owned buffers.
//!
//! Every exported function runs through [`status::boundary`]: panics are caught, NULL pointers
//! and invalid UTF-8 are refused, and failures map to a `scoutlb_status` code plus a thread-local
//! message (`scoutlb_last_error_message`). The header `include/scoutlb.h` is generated from this
//! crate by cbindgen (`ffi/gen-header.sh`).

mod args;
mod attempts;
mod call;
mod call_probe;
mod client;
mod config;
mod config_builder;
mod event;
mod handle;
mod last_connect;
mod probe;
mod rebalance;
mod server;
mod status;
mod stop;

use std::ffi::c_char;

pub use attempts::{scoutlb_attempt, scoutlb_attempt_kind};
pub use call::{SCOUTLB_WATCH_READ, SCOUTLB_WATCH_WRITE, scoutlb_call, scoutlb_watch};
pub use call_probe::scoutlb_probe_request;
pub use client::{scoutlb_client, scoutlb_connected};
pub use config::scoutlb_config;
pub use event::{scoutlb_event, scoutlb_event_callback, scoutlb_event_kind, scoutlb_severity};
pub use probe::{SCOUTLB_PROBE_REASON_SIZE, scoutlb_probe_callback, scoutlb_probe_params, scoutlb_probe_result};
pub use rebalance::scoutlb_rebalance_plan;
pub use server::SCOUTLB_SERVER_TEXT_SIZE;
pub use status::scoutlb_status;
pub use stop::{scoutlb_stop_callback, scoutlb_stop_params};

/// The version of the library as a static NUL-terminated string, such as `"0.1.0"`.
///
/// Compare with the `SCOUTLB_VERSION` macros to detect a header/library mismatch. Never free it.
/// Thread safety: may be called from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn scoutlb_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}
