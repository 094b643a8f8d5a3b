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
    scoutlb_testkit::built_binary_or_skip("scout-server")
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

/// A `--config` file of patient devices: on a loaded machine a slow first attempt gets 2-3 s before
/// a second one starts beside it (and wins). Keep the folder while the file is used.
fn patient() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("patient.json");
    std::fs::write(&config, r#"{"attempt_delay_ms": 2000, "answer_delay_ms": 3000}"#).unwrap();
    let config = config.to_str().unwrap().to_owned();
    (dir, config)
}

#[test]
fn a_signed_fleet_boots_without_failures() {
    // Every device trusts only the key made at start: had a list not been signed and verified, every
    // connect would fail as untrusted_list. Patient devices, so that a loaded machine (verifying
    // costs CPU) starts no second attempt beside a slow first one.
    let (_dir, config) = patient();
    let Some(out) = fleet("boot-storm", &["--defaults", "one", "--signed", "--config", &config]) else {
        return;
    };
    assert!(out.stdout.contains("HTTP, signed lists"), "{}", out.stdout);
    assert_eq!(out.figure("failures"), 0.0);
    assert!(out.figure("requests to A") >= 1000.0);
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
fn outage_brings_every_device_back_with_the_handshake_profile() {
    let args = [
        "--outage",
        "2s",
        "--retry-base",
        "250ms",
        "--retry-profile",
        "handshake",
        "--jitter",
        "on",
    ];
    let Some(out) = fleet("outage", &args) else { return };
    assert_eq!(out.figure("handshake ± 10 %: failures"), 0.0);
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

#[test]
fn drain_moves_the_devices_of_a_elsewhere_keeps_their_default_and_a_start_up_brings_them_back() {
    // Patient devices: a drain answer that comes after another server won is an ordinary
    // failover (behaviour.md), which a loaded machine would otherwise cause for some devices.
    let (_dir, config) = patient();
    let Some(out) = fleet("drain", &["--retry-after", "60", "--config", &config]) else {
        return;
    };
    let of_a = out.figure("devices of the drained server A");
    assert!(of_a > 0.0, "A had no devices");
    assert_eq!(out.figure("failures"), 0.0);
    assert_eq!(out.figure("devices on A at the end of the drain"), 0.0);
    assert_eq!(out.figure("drained devices whose default is still A"), of_a);
    assert_eq!(out.figure("drain answers (503) of A"), of_a, "each device asked A once");
    assert_eq!(out.figure("back on A after undrain and a start-up"), of_a);
}

#[test]
fn rolling_restart_with_a_drain_keeps_the_defaults_and_the_shares() {
    let (_dir, config) = patient();
    let Some(out) = fleet(
        "rolling-restart",
        &["--pause", "1s", "--drain", "2", "--config", &config],
    ) else {
        return;
    };
    assert_eq!(out.figure("failures"), 0.0);
    assert_eq!(out.figure("devices offline at the end"), 0.0);
    assert_eq!(out.figure("failures of the start-up at the end"), 0.0);
    assert!(
        out.figure("largest/smallest share after the start-up") <= 1.3,
        "{}",
        out.stdout
    );
}

#[test]
fn rolling_restart_with_rebalance_spreads_the_fleet_again_within_the_cap() {
    // Without rebalance a rolling restart in list order leaves every device on A; with it the
    // check-in plans moves by the servers' loads, spread over max(window, deficit / (¾ × rate)).
    let (_dir, config) = patient();
    let Some(out) = fleet(
        "rolling-restart",
        &[
            "--pause",
            "1s",
            "--config",
            &config,
            "--rebalance",
            "--check-in",
            "2s",
            "--rebalance-window",
            "2s",
            "--rebalance-rate",
            "50",
        ],
    ) else {
        return;
    };
    assert_eq!(out.figure("failures"), 0.0);
    assert_eq!(out.figure("devices on A at the end"), 1000.0, "{}", out.stdout);
    assert_eq!(out.figure("devices that checked in"), 1000.0);
    let planned = out.figure("rebalance moves planned");
    // A moves with probability E / load = 2/3: about 667, binomial.
    assert!((560.0..=770.0).contains(&planned), "{planned} planned moves");
    assert_eq!(out.figure("moves made"), planned);
    assert_eq!(out.figure("moves into A"), 0.0);
    // 333 into B at ¾ of 50 per second: a window of 8.9 s, not one burst (that would average 133).
    assert!(out.figure("longest window of a move") >= 8000.0, "{}", out.stdout);
    assert!(
        out.figure("busiest 5 s of moves into one server, per second") <= 50.0,
        "{}",
        out.stdout
    );
    assert!(out.figure("largest/smallest share after the rebalance") <= 1.3);
    assert_eq!(out.figure("devices offline after the rebalance"), 0.0);
}

#[test]
fn a_drain_that_keeps_the_devices_empties_a_by_the_rebalance_and_the_undrain_evens_out() {
    let (_dir, config) = patient();
    let Some(out) = fleet(
        "drain",
        &[
            "--config",
            &config,
            "--rebalance",
            "--check-in",
            "2s",
            "--rebalance-window",
            "2s",
            "--rebalance-rate",
            "50",
        ],
    ) else {
        return;
    };
    let of_a = out.figure("devices of the drained server A");
    assert!(of_a > 300.0, "A had {of_a} devices");
    // Every device of A, and no other, moves away; none into the draining A; none was answered 503.
    assert_eq!(out.figure("drain: rebalance moves planned"), of_a);
    assert_eq!(out.figure("drain: moves made"), of_a);
    assert_eq!(out.figure("drain: moves into A"), 0.0);
    assert_eq!(out.figure("drain: devices on A after the rebalance"), 0.0);
    assert_eq!(out.figure("drain: drain answers (503) of A"), 0.0);
    // 167 into each of B and C at ¾ of 50 per second: a window of 4.4 s, not one burst.
    assert!(
        out.figure("drain: longest window of a move") >= 4000.0,
        "{}",
        out.stdout
    );
    assert!(
        out.figure("drain: busiest 5 s of moves into one server, per second") <= 50.0,
        "{}",
        out.stdout
    );
    // After the undrain A is the lighter one: devices come back until the shares are even.
    assert!(out.figure("undrain: moves into A") > 200.0, "{}", out.stdout);
    assert_eq!(
        out.figure("undrain: moves into B") + out.figure("undrain: moves into C"),
        0.0
    );
    assert!(out.figure("undrain: largest/smallest share after the rebalance") <= 1.3);
    assert_eq!(out.figure("devices offline at the end"), 0.0);
}

#[test]
fn the_model_says_it_does_not_run_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(FLEET)
        .args(["--model", "--png-dir"])
        .arg(dir.path())
        .args(["rolling-restart", "--rebalance"])
        .output()
        .expect("run scoutlb-fleet --model");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--model does not run rolling-restart --rebalance yet"),
        "{stderr}"
    );
}

#[test]
fn relocate_moves_the_named_devices_to_b_and_no_other() {
    // Patient devices: on a loaded machine a slow answer of their own server must not send one
    // elsewhere, which would read as a device moved by the relocation.
    let (_dir, config) = patient();
    for mode in ["online", "offline"] {
        let Some(out) = fleet("relocate", &["--count", "200", "--mode", mode, "--config", &config]) else {
            return;
        };
        for (name, want) in [
            ("devices relocated to B by the admin command", 200.0),
            ("moved: relocated devices on B", 200.0),
            ("elsewhere: relocated devices on another server", 0.0),
            ("other devices that changed server", 0.0),
            ("failed: connects that failed (every step)", 0.0),
            // Each relocated device learned it once.
            ("answers with relocate (all servers)", 200.0),
            ("instructions left (in the cluster)", 0.0),
        ] {
            assert_eq!(out.figure(name), want, "{mode}: {name}");
        }
    }
}

#[test]
fn refused_devices_retry_slowly_and_known_ones_connect() {
    let args = ["refused", "--for", "6s", "--retry-base", "250ms", "--retry-cap", "4s"];
    let dir = tempfile::tempdir().unwrap();
    let Some((code, stdout, stderr)) = fleet_raw(&args, dir.path()) else {
        return;
    };
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let figure = |name: &str| -> f64 {
        let line = stdout
            .lines()
            .find(|l| l.split(" | ").next().map(str::trim_end) == Some(name))
            .unwrap_or_else(|| panic!("no figure {name:?} in:\n{stdout}"));
        line.split(" | ").nth(1).unwrap().trim().parse().unwrap()
    };
    for run in ["connect_with_retry", "plain backoff"] {
        assert_eq!(figure(&format!("{run}: known devices connected")), 150.0, "{run}");
        assert_eq!(figure(&format!("{run}: refused devices connected")), 0.0, "{run}");
    }
    // The contract: at most one retry per cap/2 = 2 s, 30 a minute; the plain backoff retries more.
    assert!(figure("connect_with_retry: retries per refused device per minute (after its first try)") <= 30.0);
    assert!(
        figure("connect_with_retry: requests per refused device")
            < figure("plain backoff: requests per refused device"),
        "{stdout}"
    );
    assert!(dir.path().join("fleet-refused.png").is_file());
}

/// Runs the tool with `args` (after the common ones) and 300 devices; its exit code, stdout, stderr.
fn fleet_raw(args: &[&str], png_dir: &std::path::Path) -> Option<(Option<i32>, String, String)> {
    let bin = scout_server()?;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = Command::new(FLEET)
        .args(["--devices", "300", "--window", "1s", "--png-dir"])
        .arg(png_dir)
        .arg("--scout-server")
        .arg(&bin)
        .args(args)
        .output()
        .expect("run scoutlb-fleet");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    println!("{stdout}\n{stderr}");
    Some((out.status.code(), stdout, stderr))
}

#[test]
fn server_down_kills_the_victim_it_is_given_and_reports_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--json",
        "server-down",
        "--victim",
        "B",
        "--signal",
        "kill",
        "--order",
        "list",
    ];
    let Some((code, stdout, stderr)) = fleet_raw(&args, dir.path()) else {
        return;
    };
    assert_eq!(code, Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document on stdout");
    assert_eq!(doc["verdict"], "PASS", "{doc}");
    assert_eq!(doc["scenario"], "server-down");
    let figure = |name: &str| {
        doc["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no figure {name:?}: {doc}"))["median"]
            .as_f64()
            .unwrap()
    };
    let of_b = figure("SIGKILL, list: devices of the dead server B");
    assert!(of_b > 0.0, "{doc}");
    // In list order the devices of B go to the next server, C; none to A.
    assert_eq!(figure("SIGKILL, list: moved to C"), of_b, "{doc}");
    assert_eq!(figure("SIGKILL, list: moved to A"), 0.0, "{doc}");
    assert!(doc["invariants"].as_array().unwrap().iter().all(|c| c["holds"] == true));
    assert!(
        stderr.contains("open files: soft limit"),
        "progress goes to stderr: {stderr}"
    );
    // "soft limit N (raised from M)" only when M differs from N.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("open files: soft limit "))
        .unwrap();
    let now = line["open files: soft limit ".len()..].split(' ').next().unwrap();
    assert!(!line.contains(&format!("(raised from {now})")), "{line}");
    let png = std::path::Path::new(doc["picture"].as_str().unwrap());
    assert!(std::fs::read(png).unwrap().starts_with(b"\x89PNG"), "{}", png.display());
}

#[test]
fn devices_take_the_config_file_and_a_fleet_that_cannot_boot_says_what_to_change() {
    let dir = tempfile::tempdir().unwrap();
    // The devices speak HTTPS to plain-HTTP servers (the file's scheme and connect_timeout_ms):
    // every device fails, so there is no steady fleet.
    let config = dir.path().join("devices.json");
    std::fs::write(&config, r#"{"scheme": "https", "connect_timeout_ms": 2000}"#).unwrap();
    let args = ["--config", config.to_str().unwrap(), "server-down"];
    let Some((code, _, stderr)) = fleet_raw(&args, dir.path()) else {
        return;
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("devices connected while the fleet booted"), "{stderr}");
    // A TLS hello to a plain-HTTP server waits for an answer until the file's connect_timeout_ms.
    assert!(
        stderr.contains("timed out after 2000 ms") || stderr.contains("TLS"),
        "the devices did not use the file's keys: {stderr}"
    );
    for remedy in ["widen --window (now 1s)", "--scout-server target/release/scout-server"] {
        assert!(stderr.contains(remedy), "no remedy {remedy:?}: {stderr}");
    }

    // What cannot be made is refused before any server starts, with the reason.
    std::fs::write(&config, r#"{"servers": ["10.0.0.1"]}"#).unwrap();
    let (code, _, stderr) = fleet_raw(&args, dir.path()).unwrap();
    assert_eq!(code, Some(2));
    assert!(stderr.contains("`servers` is set by the tool"), "{stderr}");
    let (code, _, stderr) = fleet_raw(&["server-down", "--victim", "D"], dir.path()).unwrap();
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--victim D names no server: there are 3 (A to C)"),
        "{stderr}"
    );
}

/// Runs the tool's model with `args` (no server needed); its exit code and stdout.
fn model(args: &[&str], png_dir: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(FLEET)
        .args(["--model", "--json", "--png-dir"])
        .arg(png_dir)
        .args(args)
        .output()
        .expect("run scoutlb-fleet --model");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model run 1:"), "{stderr}");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_model_gives_the_same_figures_for_the_same_seed_and_draws_its_picture() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--devices", "2000", "--seed", "5", "server-down"];
    let (code, first) = model(&args, dir.path());
    assert_eq!(code, Some(0), "{first}");
    let doc: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert!(
        doc["title"].as_str().unwrap().starts_with("model: server-down"),
        "{doc}"
    );
    assert_eq!(doc["verdict"], "PASS");
    let png = dir.path().join("fleet-model-server-down.png");
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    let (_, again) = model(&args, dir.path());
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(doc["figures"], again["figures"]);
}

#[test]
fn a_small_model_run_agrees_with_a_small_socket_run() {
    let Some(bin) = scout_server() else { return };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // 600 devices, A killed: its 200 reconnect on sockets and in the model.
    let out = Command::new(FLEET)
        .args([
            "--calibrate",
            "--calibrate-devices",
            "600",
            "--window",
            "1s",
            "--json",
            "--png-dir",
        ])
        .arg(dir.path())
        .arg("--scout-server")
        .arg(&bin)
        .args(["server-down", "--signal", "kill", "--order", "spread"])
        .output()
        .expect("run scoutlb-fleet --calibrate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 0: every figure agrees; 1: the tool names those that do not (the times, on a busy machine).
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let figures = doc["sizes"][0]["figures"].as_array().unwrap();
    // Where the devices go hardly depends on how busy the machine is: those must agree.
    let shares: Vec<_> = figures
        .iter()
        .filter(|f| f["name"].as_str().unwrap().contains("moved to"))
        .collect();
    assert_eq!(shares.len(), 2, "{doc}");
    for f in shares {
        assert_eq!(f["agree"], true, "{f} in {doc}");
    }
    for png in ["fleet-model-server-down-600.png", "fleet-server-down-600.png"] {
        assert!(dir.path().join(png).is_file(), "{png}");
    }
}

/// Runs a boot storm of 1,000 devices all at once (`--window 0`) on `driver`; its stdout.
fn all_at_once(driver: &str) -> Option<String> {
    let bin = scout_server()?;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(FLEET)
        .args(["--devices", "1000", "--window", "0", "--driver", driver, "--png-dir"])
        .arg(dir.path())
        .arg("--scout-server")
        .arg(&bin)
        .args(["boot-storm", "--defaults", "spread"])
        .output()
        .expect("run scoutlb-fleet");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stdout}");
    Some(stdout)
}

/// The value of the figure `name` in a report printed on `stdout`.
fn figure_of(stdout: &str, name: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.split(" | ").next().map(str::trim_end) == Some(name))
        .unwrap_or_else(|| panic!("no figure {name:?} in:\n{stdout}"));
    line.split(" | ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_loop_driver_runs_a_thousand_calls_at_once_on_a_few_threads() {
    let Some(out) = all_at_once("loop") else { return };
    // Hundreds of calls were in flight together, and the process kept its fixed threads: main,
    // the thread counter, the placement sampler, the proxies' runtime, the servers' output
    // readers (11 in all); none per device.
    assert!(
        figure_of(&out, "most calls in flight at once (loop driver, so far)") >= 100.0,
        "{out}"
    );
    assert!(
        figure_of(&out, "peak threads of this process (sampled every 20 ms)") <= 16.0,
        "{out}"
    );
}

#[test]
fn the_thread_driver_starts_a_thread_per_device_in_flight() {
    // The same storm on threads: the thread count sees them (and the thread driver keeps working).
    let Some(out) = all_at_once("threads") else { return };
    assert!(
        figure_of(&out, "peak threads of this process (sampled every 20 ms)") >= 1000.0,
        "{out}"
    );
    assert!(out.contains("a thread per device"), "{out}");
}
