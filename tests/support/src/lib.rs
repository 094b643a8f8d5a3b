//! Helpers shared by the scout-server tests and the end-to-end tests: a throw-away PostgreSQL, a
//! `scout-server` process, a free loopback port, a file system that loses what was not fsynced
//! ([`PowerCutFs`]), the order of a file replacement's system calls under strace
//! ([`syscall_order`]), and the rule for a missing prerequisite.

mod postgres;
pub mod power_cut;
mod scout_server;
pub mod syscall_order;

pub use postgres::PostgresServer;
pub use power_cut::PowerCutFs;
pub use scout_server::ScoutServerProcess;

use std::io::Write;
use std::net::TcpListener;
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

/// A binary of the workspace, built beforehand (`cargo test` of the workspace builds every one,
/// as does `cargo build`): found beside the running test, in the same target folder. Tests never
/// build another crate themselves.
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
        Err(format!("{} is not built (cargo build -p {name})", path.display()))
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
