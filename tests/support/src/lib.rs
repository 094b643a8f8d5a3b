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

use std::net::TcpListener;
use std::process::Command;

/// When a missing prerequisite fails a test instead of skipping it.
#[derive(Clone, Copy, Debug)]
pub enum Require {
    /// Never: the test prints `SKIPPED: ...` and returns.
    Never,
    /// When this environment variable is set to `1` (like `SCOUTLB_E2E_REQUIRE=1`).
    WhenEnvIsOne(&'static str),
}

impl Require {
    /// Whether a missing prerequisite fails the test in this environment.
    pub fn holds(self) -> bool {
        match self {
            Require::Never => false,
            Require::WhenEnvIsOne(var) => std::env::var(var).is_ok_and(|v| v == "1"),
        }
    }

    /// Reports a missing prerequisite: `SKIPPED: <why>` on stderr, or a panic when [`Require::holds`].
    #[track_caller]
    pub fn skip(self, why: &str) {
        if let Require::WhenEnvIsOne(var) = self {
            assert!(!self.holds(), "prerequisite missing ({var}=1): {why}");
        }
        eprintln!("SKIPPED: {why}");
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
