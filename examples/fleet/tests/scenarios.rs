//! Each scenario once with 1,000 devices against a real three-server cluster: the invariants hold
//! (no failures, no migrations in the boot storm, everyone back after a server goes down). Timings
//! are printed by the tool, never asserted here.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The tool under test.
const FLEET: &str = env!("CARGO_BIN_EXE_scoutlb-fleet");

/// One scenario at a time: each one loads the whole machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The `scout-server` binary beside the tool in the target folder (built by a workspace `cargo test`).
fn scout_server() -> Option<PathBuf> {
    match scoutlb_testkit::built_binary("scout-server") {
        Ok(path) => Some(path),
        Err(why) => {
            scoutlb_testkit::skip(&why);
            None
        }
    }
}

/// What one run of the tool printed.
struct Output {
    stdout: String,
    png: PathBuf,
    _dir: tempfile::TempDir,
}

impl Output {
    /// The value of the figure named `name` (a `name | value` line), as a number.
    fn figure(&self, name: &str) -> f64 {
        let line = self
            .stdout
            .lines()
            .find(|l| l.split(" | ").next().map(str::trim_end) == Some(name))
            .unwrap_or_else(|| panic!("no figure {name:?} in:\n{}", self.stdout));
        let value = line.split(" | ").nth(1).unwrap().trim();
        let number = value.split_whitespace().next().unwrap();
        number
            .parse()
            .unwrap_or_else(|_| panic!("figure {name:?} is not a number: {line}"))
    }
}

/// Runs the tool with 1,000 devices on a 2 s window and `args`; asserts that it passed and drew its picture.
fn fleet(scenario: &str, args: &[&str]) -> Option<Output> {
    let bin = scout_server()?;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(FLEET)
        .args(["--devices", "1000", "--window", "2s", "--png-dir"])
        .arg(dir.path())
        .arg("--scout-server")
        .arg(&bin)
        .arg(scenario)
        .args(args)
        .output()
        .expect("run scoutlb-fleet");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("\nverdict: PASS"),
        "scoutlb-fleet {scenario} did not pass ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let png = dir.path().join(format!("fleet-{scenario}.png"));
    let head = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
    assert!(head.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", png.display());
    Some(Output { stdout, png, _dir: dir })
}

#[test]
fn boot_storm_has_no_failures_and_no_migrations() {
    let Some(out) = fleet("boot-storm", &["--defaults", "one"]) else {
        return;
    };
    assert_eq!(out.figure("failures"), 0.0);
    assert_eq!(
        out.figure("migrations (not on the first live server of its order)"),
        0.0
    );
    assert_eq!(
        out.figure("requests to B"),
        0.0,
        "every default is A and A never failed"
    );
    assert!(out.figure("requests to A") >= 1000.0);
    assert!(out.png.is_file());
}

#[test]
fn server_down_brings_every_device_back() {
    let Some(out) = fleet("server-down", &[]) else { return };
    for run in ["SIGKILL, list", "SIGKILL, spread", "SIGSTOP, list", "SIGSTOP, spread"] {
        let moved = out.figure(&format!("{run}: devices of the dead server A"));
        assert!(moved > 0.0, "{run}: A had no devices");
        assert_eq!(out.figure(&format!("{run}: failures")), 0.0, "{run}");
        let back = out.figure(&format!("{run}: moved to B")) + out.figure(&format!("{run}: moved to C"));
        assert_eq!(back, moved, "{run}: every device of A is on B or C");
    }
}

#[test]
fn outage_brings_every_device_back_with_and_without_jitter() {
    let args = ["--outage", "2s", "--retry-base", "250ms", "--retry-cap", "2s"];
    let Some(out) = fleet("outage", &args) else { return };
    assert_eq!(out.figure("with jitter: failures"), 0.0);
    assert_eq!(out.figure("herd (no jitter): failures"), 0.0);
}

#[test]
fn rolling_restart_has_no_failures() {
    let Some(out) = fleet("rolling-restart", &["--pause", "1s"]) else {
        return;
    };
    assert_eq!(out.figure("failures"), 0.0);
    assert!(
        out.figure("devices that moved (their server stopped)") >= 1000.0,
        "every device was on a stopped server once"
    );
}
