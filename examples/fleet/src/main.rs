//! `scoutlb-fleet`: thousands of scoutlb devices against a real scout-server cluster, measured.
//!
//! Every device is a real `scoutlb::Client` with its own state file, acting on a thread of its own
//! at its own moment. The cluster (k scout-server processes on one SQLite file or PostgreSQL) is
//! started by the tool, each server behind a counting proxy. Each scenario prints a table, the
//! targets met or missed, one verdict line, and writes a picture. Exit status: 0 PASS, 1 FAIL,
//! 2 when the run could not be made. `--model` runs the scenarios as a simulation instead
//! ([`model`]), `--calibrate` both ways.

mod chart;
mod cli;
mod cluster;
mod fleet;
mod limits;
mod model;
mod proxy;
mod report;
mod scenario;
mod stats;
mod timeline;
mod tls;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, OrderChoice, Scenario, SignalChoice};
use crate::cluster::{Database, ServerSpec};
use crate::fleet::Backoff;
use crate::report::{Report, say};
use crate::scenario::server_down::Fault;
use crate::scenario::{Context, Run};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // Every device of `refused` is in flight for the whole run: a smaller fleet by default.
    if matches!(cli.scenario, Scenario::Refused { .. })
        && matches.value_source("devices") == Some(clap::parser::ValueSource::DefaultValue)
    {
        cli.common.devices = scenario::refused::DEFAULT_DEVICES;
    }
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            // The reason may quote a server's text (behaviour.md, "Surfaces").
            eprintln!("scoutlb-fleet: {}", scoutlb::printable(&e));
            ExitCode::from(2)
        }
    }
}

/// What one invocation produced: its title, a report per run, the picture's rows and its file.
pub struct Done {
    /// The title of the table and the picture.
    pub title: String,
    /// One report per run.
    pub reports: Vec<Report>,
    /// The rows of the picture (of the last run).
    pub chart: Vec<(chart::Panel, chart::Panel)>,
    /// Where the picture goes.
    pub png: std::path::PathBuf,
}

/// Runs the scenario `--repeat` times (in the model with `--model`, both ways with
/// `--calibrate`), prints the report, draws the picture; whether every run passed.
fn run(cli: Cli) -> Result<bool, String> {
    check(&cli)?;
    let common = &cli.common;
    if common.model.calibrate {
        return model::calibrate::run(&cli);
    }
    let done = if common.model.model {
        model::reports(&cli)?
    } else {
        sockets(&cli)?
    };
    show(common.json, cli.scenario.name(), &done)
}

/// Draws the picture and prints the report (as JSON with `--json`); whether every run passed.
pub fn show(json: bool, scenario: &str, done: &Done) -> Result<bool, String> {
    std::fs::create_dir_all(done.png.parent().unwrap_or(std::path::Path::new(".")))
        .map_err(|e| format!("{}: {e}", done.png.display()))?;
    chart::write_png(&done.png, &done.title, &done.chart)?;
    let pass = if json {
        report::print_json(scenario, &done.title, &done.reports, &done.png)
    } else {
        let pass = report::print(&done.title, &done.reports);
        println!("picture: {}", done.png.display());
        pass
    };
    Ok(pass)
}

/// The checks of the options every way of running makes.
fn check(cli: &Cli) -> Result<(), String> {
    let common = &cli.common;
    if common.devices == 0 {
        return Err("--devices must be at least 1".into());
    }
    if let Scenario::ServerDown { victim, .. } = cli.scenario
        && victim >= usize::from(common.servers)
    {
        return Err(format!(
            "--victim {} names no server: there are {} (A to {}); give --servers {} or more, or another --victim",
            cluster::name(victim),
            common.servers,
            cluster::name(usize::from(common.servers) - 1),
            victim + 1
        ));
    }
    Ok(())
}

/// The scenario on sockets: `--repeat` runs against real clusters.
pub fn sockets(cli: &Cli) -> Result<Done, String> {
    let common = cli.common.clone();
    let device_keys = device_keys(common.config.as_deref())?;
    let bin = cluster::find_scout_server(common.scout_server.as_deref())?;
    let needed = limits::descriptors_needed(common.devices);
    let fds = limits::raise_descriptor_limit(needed).map_err(|e| format!("cannot raise the open-file limit: {e}"))?;
    let raised = match (fds.now > fds.before, fds.hard > fds.hard_before) {
        (_, true) => format!(
            "raised from {}, hard limit raised from {} to {}",
            fds.before, fds.hard_before, fds.hard
        ),
        (true, false) => format!("raised from {}", fds.before),
        (false, false) => "already the hard limit".to_owned(),
    };
    say(
        common.json,
        format_args!(
            "open files: soft limit {} ({raised}); {} devices need up to {needed} when all are in flight at once ({} per device)",
            fds.now,
            common.devices,
            limits::DESCRIPTORS_PER_DEVICE
        ),
    );
    if fds.hard < needed {
        say(
            common.json,
            format_args!(
                "note: the hard limit {} could not be raised to {needed} (that needs CAP_SYS_RESOURCE); the proxies inside this process share it (3 descriptors per device in flight: its socket and the proxy's two)",
                fds.hard
            ),
        );
    }
    // The loop driver keeps its calls within the limit (below); threads do not.
    if fds.now < needed && common.driver == cli::DriverChoice::Threads {
        say(
            common.json,
            "note: the limit is below that; in a storm where every device is in flight at once, connections may fail with \"Too many open files\" (raise the hard limit: ulimit -Hn, /etc/security/limits.conf)",
        );
    }
    limits::watch_threads().map_err(|e| format!("cannot start the thread that counts threads: {e}"))?;
    std::fs::create_dir_all(&common.png_dir).map_err(|e| format!("{}: {e}", common.png_dir.display()))?;
    let dir = tempfile::Builder::new()
        .prefix("scoutlb-fleet-cluster")
        .tempdir()
        .map_err(|e| format!("cannot make a temp folder: {e}"))?;
    let tls = if common.tls {
        Some(tls::self_signed(dir.path())?)
    } else {
        None
    };
    let db = if common.postgres {
        Database::Throwaway(
            scoutlb_testkit::PostgresServer::start().map_err(|e| format!("cannot start PostgreSQL: {e}"))?,
        )
    } else if let Some(url) = &common.db {
        Database::Url(url.clone())
    } else {
        Database::Sqlite(dir.path().to_owned())
    };
    let list_key = if common.signed {
        Some(cluster::list_key(&bin, dir.path())?)
    } else {
        None
    };
    let (admin, extra) = server_options(&cli.scenario, common.devices, dir.path())?;
    let spec = ServerSpec {
        bin,
        count: usize::from(common.servers),
        tls,
        list_key,
        admin,
        extra,
    };
    let at_once = match cli.scenario {
        Scenario::BootStorm { .. } if common.window.is_zero() => common.devices,
        Scenario::BootStorm { .. } => 0,
        // In a rolling restart the devices gather: the last server stopped may hold all of them.
        Scenario::Outage { .. }
        | Scenario::RollingRestart { .. }
        | Scenario::Refused { .. }
        | Scenario::Relocate { .. } => common.devices,
        Scenario::ServerDown { .. } | Scenario::Drain { .. } => common.devices.div_ceil(usize::from(common.servers)),
    };
    // Only the thread driver starts threads per device.
    if common.driver == cli::DriverChoice::Threads {
        limits::check_at_once(at_once, cli.scenario.name())?;
    }
    let mut ctx = Context::new(common.clone(), db, spec, device_keys);
    ctx.calls_at_once = limits::calls_at_once(fds.now);
    if common.driver == cli::DriverChoice::Loop && ctx.calls_at_once < common.devices {
        say(
            common.json,
            format_args!(
                "the loop keeps at most {} calls in flight at once ({} descriptors each); a device due beyond waits for its turn, and its wait counts in its time",
                ctx.calls_at_once,
                limits::DESCRIPTORS_PER_DEVICE
            ),
        );
    }
    let title = format!(
        "{}: {} devices, {} servers, {}, {}, window {}, {}",
        cli.scenario.name(),
        common.devices,
        common.servers,
        ctx.db.describe(),
        ctx.transport(),
        humantime::format_duration(common.window),
        ctx.driver_name()
    );
    say(common.json, &title);
    let mut reports = Vec::new();
    let mut chart = Vec::new();
    for r in 0..common.repeat {
        if common.repeat > 1 {
            say(common.json, format_args!("run {} of {}...", r + 1, common.repeat));
        }
        let run = run_once(&mut ctx, &cli.scenario, common.seed + u64::from(r))?;
        reports.push(run.report);
        chart = run.chart;
    }
    let png = common.png_dir.join(format!("fleet-{}.png", cli.scenario.name()));
    Ok(Done {
        title,
        reports,
        chart,
        png,
    })
}

/// One run of the scenario (several sub-runs for `server-down` and `outage`), in one report.
fn run_once(ctx: &mut Context, scenario: &Scenario, seed: u64) -> Result<Run, String> {
    match *scenario {
        Scenario::BootStorm { defaults } => scenario::boot_storm::run(ctx, defaults, seed),
        Scenario::ServerDown { signal, order, victim } => {
            let faults: &[Fault] = match signal {
                SignalChoice::Kill => &[Fault::Kill],
                SignalChoice::Stop => &[Fault::Stop],
                SignalChoice::Both => &[Fault::Kill, Fault::Stop],
            };
            let orders: &[bool] = match order {
                OrderChoice::List => &[false],
                OrderChoice::Spread => &[true],
                OrderChoice::Both => &[false, true],
            };
            let mut all = Run {
                report: Report::default(),
                chart: Vec::new(),
            };
            for &fault in faults {
                for &spread in orders {
                    let run = scenario::server_down::run(ctx, fault, spread, victim, seed)?;
                    let prefix = format!(
                        "{}, {}: ",
                        if fault == Fault::Kill { "SIGKILL" } else { "SIGSTOP" },
                        if spread { "spread" } else { "list" }
                    );
                    all.report.extend(&prefix, run.report);
                    all.chart.extend(run.chart);
                }
            }
            Ok(all)
        }
        Scenario::Outage {
            outage,
            retry_base,
            retry_cap,
            jitter,
            retry_profile,
        } => {
            let profiles = retry_profile.runs();
            let kinds = jitter.runs();
            let mut all = Run {
                report: Report::default(),
                chart: Vec::new(),
            };
            for &handshake in profiles {
                let backoff = Backoff {
                    base: retry_base,
                    factor: 2.0,
                    cap: retry_cap,
                    handshake,
                };
                if handshake {
                    say(
                        ctx.common.json,
                        format_args!(
                            "retry: profile handshake, timer {}, doubled after each try, {} retries; \"handshake ± 10 %\" is the core's connect_with_retry, \"handshake herd\" is this tool's loop with the same intervals and no ± 10 %",
                            humantime::format_duration(retry_base),
                            fleet::HANDSHAKE_RETRIES
                        ),
                    );
                } else {
                    say(
                        ctx.common.json,
                        format_args!(
                            "retry: base {}, factor 2, cap {}; \"with jitter\" is the core's connect_with_retry (full jitter), \"herd\" is this tool's loop with the same backoff and no jitter",
                            humantime::format_duration(retry_base),
                            humantime::format_duration(retry_cap)
                        ),
                    );
                }
                let mut peaks = Vec::new();
                for &j in kinds {
                    let (run, measured) = scenario::outage::run(ctx, outage, backoff, j, seed)?;
                    all.report.extend(scenario::outage::prefix(handshake, j), run.report);
                    all.chart.extend(run.chart);
                    peaks.push(measured.peak_after_return);
                }
                match (handshake, &peaks[..]) {
                    (false, _) => scenario::jitter_comparison(&mut all.report, &peaks),
                    (true, &[with, without]) => {
                        let ratio = if without == 0 {
                            f64::NAN
                        } else {
                            f64::from(with) / f64::from(without)
                        };
                        all.report.row(
                            "handshake: peak after the return, ± 10 % / herd",
                            ratio,
                            report::Unit::Ratio,
                        );
                    }
                    _ => {}
                }
            }
            Ok(all)
        }
        Scenario::RollingRestart {
            pause,
            drain,
            rebalance,
        } => scenario::rolling_restart::run(ctx, pause, drain, rebalance, seed),
        Scenario::Drain { retry_after, rebalance } => scenario::drain::run(ctx, retry_after, rebalance, seed),
        Scenario::Relocate { count, to, mode } => scenario::relocate::run(ctx, count, to, mode, seed),
        Scenario::Refused {
            known,
            run_for,
            retry_base,
            retry_cap,
        } => {
            let backoff = Backoff {
                base: retry_base,
                factor: 2.0,
                cap: retry_cap,
                handshake: false,
            };
            scenario::refused::run(ctx, known, run_for, backoff, seed)
        }
    }
}

/// What the scenario asks of every server: an admin endpoint, and further arguments (the
/// `--known-devices` file of `refused` is written into `dir`).
fn server_options(scenario: &Scenario, devices: usize, dir: &std::path::Path) -> Result<(bool, Vec<String>), String> {
    Ok(match *scenario {
        Scenario::Drain { .. } | Scenario::Relocate { .. } => (true, Vec::new()),
        Scenario::RollingRestart { drain: Some(s), .. } => (
            false,
            vec![
                "--drain-on-stop".into(),
                s.to_string(),
                "--retry-after".into(),
                s.to_string(),
            ],
        ),
        Scenario::Refused { known, .. } => {
            let file = dir.join("known-devices");
            std::fs::write(&file, scenario::refused::known_devices(known, devices))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let file = file.to_str().ok_or("the temp folder's path is not UTF-8")?.to_owned();
            (true, vec!["--known-devices".into(), file])
        }
        _ => (false, Vec::new()),
    })
}

/// The devices' keys of `--config`: a JSON object of the library's keys, checked now, without the
/// keys the tool sets itself and with a probe the tool can run (`http` or `tcp`).
pub fn device_keys(path: Option<&std::path::Path>) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let Some(path) = path else {
        return Ok(serde_json::Map::new());
    };
    let named = |why: String| format!("--config {}: {why}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| named(format!("cannot read it: {e}")))?;
    let keys = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(keys)) => keys,
        _ => {
            return Err(named(
                scoutlb::Config::from_json(&text)
                    .err()
                    .map_or_else(|| "not a JSON object".to_owned(), |e| e.to_string()),
            ));
        }
    };
    scoutlb::Config::from_map(&keys).map_err(|e| named(e.to_string()))?;
    if let Some(key) = fleet::TOOL_KEYS.iter().find(|k| keys.contains_key(**k)) {
        return Err(named(format!(
            "`{key}` is set by the tool for every device (the keys it sets: {}); leave it out",
            fleet::TOOL_KEYS.join(", ")
        )));
    }
    if let Some(probe) = keys.get("probe").and_then(|p| p.as_str())
        && !matches!(probe, "http" | "tcp")
    {
        return Err(named(format!(
            "`\"probe\": \"{probe}\"` cannot run in the tool: the devices probe with \"http\" or \"tcp\""
        )));
    }
    Ok(keys)
}
