//! The opt-in rebalance from C (behaviour.md, "Rebalance"): the move the last connect planned, and
//! carrying it out.

use std::ffi::c_char;

use crate::args::{arg_out, copy_into_array};
use crate::client::{client, scoutlb_client, scoutlb_connected, write_connected};
use crate::server::SCOUTLB_SERVER_TEXT_SIZE;
use crate::status::{boundary, scoutlb_status};

/// A move to a lighter server that a connect planned.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct scoutlb_rebalance_plan {
    /// The server the device is on now (its default), as `host:port`.
    pub from: [c_char; SCOUTLB_SERVER_TEXT_SIZE],
    /// The lighter server it moves to, as `host:port`.
    pub to: [c_char; SCOUTLB_SERVER_TEXT_SIZE],
    /// When to move, in milliseconds counted from the connect that planned it.
    pub after_ms: u64,
    /// The window the moment was drawn in, in milliseconds (at least `rebalance.window_ms`).
    pub window_ms: u64,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The move the last connect planned (`rebalance.enabled`): `*planned` says whether there is one,
/// and then `*plan_out` holds it. Once `after_ms` has passed, `scoutlb_client_rebalance` carries it out.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `plan_out` and `planned` are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_rebalance_plan(
    client: *const scoutlb_client,
    plan_out: *mut scoutlb_rebalance_plan,
    planned: *mut bool,
) -> scoutlb_status {
    boundary("scoutlb_client_rebalance_plan", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        let out = arg_out(plan_out, "plan_out")?;
        let planned = arg_out(planned, "planned")?;
        let plan = client.rebalance_plan();
        if let Some(p) = &plan {
            let mut written = scoutlb_rebalance_plan {
                from: [0; SCOUTLB_SERVER_TEXT_SIZE],
                to: [0; SCOUTLB_SERVER_TEXT_SIZE],
                after_ms: millis(p.after),
                window_ms: millis(p.window),
            };
            copy_into_array(&p.from.to_string(), &mut written.from)?;
            copy_into_array(&p.to.to_string(), &mut written.to)?;
            // SAFETY: checked not NULL; valid for a write by the caller's promise.
            unsafe { out.write(written) };
        }
        // SAFETY: checked not NULL; valid for a write by the caller's promise.
        unsafe { planned.write(plan.is_some()) };
        Ok(())
    })
}

/// Carry out the planned move now: try its target only. When it answers it becomes the default
/// server (saved), `*moved` is true and `*connected_out` holds the connection; when it does not,
/// nothing changes and the call fails as a connect whose every attempt failed
/// (`SCOUTLB_ALL_FAILED`, a `SCOUTLB_EVENT_REBALANCE_FAILED` event). With no plan it does nothing
/// (`SCOUTLB_OK`, `*moved` false). The plan is spent either way. Blocks like `scoutlb_client_connect`.
///
/// Thread safety: may be called from several threads at once.
///
/// # Safety
/// `client` is NULL or a live client; `connected_out` and `moved` are NULL or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn scoutlb_client_rebalance(
    client: *const scoutlb_client,
    connected_out: *mut scoutlb_connected,
    moved: *mut bool,
) -> scoutlb_status {
    boundary("scoutlb_client_rebalance", || {
        // SAFETY: forwarded from the caller.
        let client = unsafe { self::client(client) }?;
        let out = arg_out(connected_out, "connected_out")?;
        let moved = arg_out(moved, "moved")?;
        // SAFETY: checked not NULL; valid for a write by the caller's promise.
        unsafe { moved.write(false) };
        crate::last_connect::remember(None, None);
        let Some(connected) = client.rebalance()? else {
            return Ok(());
        };
        crate::last_connect::remember(connected.save_error.as_deref(), connected.list_problem.as_deref());
        write_connected(connected, out)?;
        // SAFETY: as above.
        unsafe { moved.write(true) };
        Ok(())
    })
}
