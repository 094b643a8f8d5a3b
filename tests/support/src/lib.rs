//! scoutlb-testkit: every fixture of scoutlb's tests, in one place. Loopback HTTP servers with a
//! behaviour each ([`TestServer`]), ports that refuse, drop SYNs or never answer ([`ports`]), a
//! real dnsmasq and a SERVFAIL name server ([`dns`]), the `scoutlb` command and a device run by it ([`cli`]), a 4,096-entry server list ([`big_list`]), HAProxy ([`HaProxy`]), a throw-away PostgreSQL, `scout-server`
//! processes, the workspace's built binaries ([`built_binary`]), waiting for a condition
//! ([`wait_until`]), a file system that loses what was not fsynced ([`PowerCutFs`]), the order of
//! a file replacement's system calls under strace ([`syscall_order`]), and the one rule for a
//! missing prerequisite ([`skip`]).

pub mod big_list;
pub mod cli;
pub mod dns;
pub mod event_loop;
mod haproxy;
mod http;
mod lock_holder;
pub mod ports;
mod postgres;
pub mod power_cut;
mod scout_server;
pub mod signed;
pub mod syscall_order;

pub use haproxy::HaProxy;
pub use http::{
    Answer, Behaviour, Recorder, SteerServer, TestPki, TestServer, http_request, indexed_list_body, list_body,
};
pub use lock_holder::LockHolder;
pub use ports::{free_port, refused, unreachable, unreachable_many};

pub use postgres::PostgresServer;
pub use power_cut::PowerCutFs;
pub use scout_server::{DEADLINE, ScoutServerProcess, listed_ids};

use std::io::Write;
use std::process::Command;

/// The one environment variable that turns every missing prerequisite (a Debian package, FUSE,
/// root for a namespace, a built binary) into a test failure; `tests/run.sh` sets it, so nothing
/// can be skipped under the test command.
pub const REQUIRE_VAR: &str = "SCOUTLB_TEST_REQUIRE";

/// Whether missing prerequisites fail tests in this environment (`SCOUTLB_TEST_REQUIRE=1`).
pub fn prerequisites_required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// Report a missing prerequisite: `SKIPPED: <why>` on stderr, or a panic when
/// [`prerequisites_required`].
#[track_caller]
pub fn skip(why: &str) {
    assert!(
        !prerequisites_required(),
        "prerequisite missing ({REQUIRE_VAR}=1): {why}"
    );
    // Straight to stderr, past the test harness's capture, so `cargo test` shows every skip.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// The workspace's built binary `name` ([`built_binary`]), or `None` after reporting the skip
/// (a failure under the test command, [`skip`]).
pub fn built_binary_or_skip(name: &str) -> Option<std::path::PathBuf> {
    match built_binary(name) {
        Ok(path) => Some(path),
        Err(why) => {
            skip(&why);
            None
        }
    }
}

/// A binary of the workspace, built beforehand (`cargo build --bins`, as the test command does):
/// found beside the running test, in the same target folder. Tests never build another crate
/// themselves.
pub fn built_binary(name: &str) -> Result<std::path::PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the running test: {e}"))?;
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| format!("{} is not in a target folder", exe.display()))?;
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} is not built (cargo build --bins)", path.display()))
    }
}

/// Wait until `check` holds, polling every 20 ms; panics naming `what` after 30 s. Returns how long
/// it took.
#[track_caller]
pub fn wait_until(what: &str, check: impl FnMut() -> bool) -> std::time::Duration {
    let start = std::time::Instant::now();
    assert!(
        within(std::time::Duration::from_secs(30), check),
        "timed out after 30 s waiting for {what}"
    );
    start.elapsed()
}

/// Whether `check` comes true within `limit`, polling every 20 ms; unlike [`wait_until`] it never
/// panics, so a `Drop` can use it.
pub fn within(limit: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while !check() {
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

/// Runs `cmd`; its stdout, or an error with its output.
fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
