//! The scenarios in the model: the same moments, actions, figures and checks as the socket runs
//! (`crate::scenario`), on the simulated clock.
//!
//! The steady fleet of `server-down`, `outage` and `rolling-restart` starts connected (each
//! device on its default, as the socket runs' boot leaves it); the model does not replay that
//! boot. The fault comes 1 s into the run, as in the socket runs after their boot.

use std::time::Duration;

use super::ModelContext;
use super::sim::{Action, Health, Sim, SimOutcome};
use crate::cli::{Defaults, OrderChoice, Scenario, SignalChoice};
use crate::cluster;
use crate::fleet::{Backoff, Outcome};
use crate::proxy::BUCKET;
use crate::report::{Report, Unit};
use crate::scenario::{Axis, Run, arrivals, outcome_rows, panels, together};
use crate::stats::ms;
use crate::timeline::{self, Series};

/// Upper bound of a boot: the window plus this (as the socket runs).
const BOOT_SLACK: Duration = Duration::from_secs(60);
/// Longest wait for the devices of a server that went down (as the socket runs).
const RECONNECT_LIMIT: Duration = Duration::from_secs(60);
/// When the fault comes: after a steady second.
const STEADY: Duration = Duration::from_secs(1);
/// How long the pictures go on after the last device is done.
const TAIL: Duration = Duration::from_secs(1);

/// What a model run cost: its events, simulated time and most calls in flight at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end.
    pub simulated: Duration,
    /// Most connect calls in flight at once.
    pub peak_calls: usize,
}

impl Stats {
    fn add(&mut self, sim: &Sim) {
        self.events += sim.events;
        self.simulated += sim.now();
        self.peak_calls = self.peak_calls.max(sim.peak_calls);
    }
}

/// A faulty server in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Kill,
    Stop,
    Drain,
}

impl Fault {
    fn health(self) -> Health {
        match self {
            Fault::Kill => Health::Killed,
            Fault::Stop => Health::Stopped,
            Fault::Drain => Health::Drained,
        }
    }

    /// As the socket runs name it.
    fn name(self) -> &'static str {
        match self {
            Fault::Kill => "SIGKILL",
            Fault::Stop => "SIGSTOP",
            Fault::Drain => "drain (HTTP 503)",
        }
    }
}

/// One run of `scenario` in the model (several sub-runs as the socket runs make), in one report.
pub fn run(ctx: &ModelContext, scenario: &Scenario, seed: u64) -> Result<(Run, Stats), String> {
    let mut all = Run {
        report: Report::default(),
        chart: Vec::new(),
    };
    let mut stats = Stats::default();
    match *scenario {
        Scenario::BootStorm { defaults } => {
            let run = boot_storm(ctx, defaults, seed, &mut stats)?;
            all = run;
        }
        Scenario::ServerDown { signal, order, victim } => {
            let mut faults: Vec<Fault> = match signal {
                SignalChoice::Kill => vec![Fault::Kill],
                SignalChoice::Stop => vec![Fault::Stop],
                SignalChoice::Both => vec![Fault::Kill, Fault::Stop],
            };
            if ctx.common.model.model_drain {
                faults.push(Fault::Drain);
            }
            let orders: &[bool] = match order {
                OrderChoice::List => &[false],
                OrderChoice::Spread => &[true],
                OrderChoice::Both => &[false, true],
            };
            for &fault in &faults {
                for &spread in orders {
                    let run = server_down(ctx, fault, spread, victim, seed, &mut stats)?;
                    let prefix = format!("{}, {}: ", fault.name(), if spread { "spread" } else { "list" });
                    all.report.extend(&prefix, run.report);
                    all.chart.extend(run.chart);
                }
            }
        }
        Scenario::Outage {
            outage,
            retry_base,
            retry_cap,
            jitter,
            retry_profile,
        } => {
            if retry_profile != crate::cli::ProfileChoice::Backoff {
                return Err(
                    "--model runs the backoff retry profile only: run --retry-profile handshake on sockets (without --model)"
                        .into(),
                );
            }
            let backoff = Backoff {
                base: retry_base,
                factor: 2.0,
                cap: retry_cap,
                handshake: false,
            };
            let kinds = jitter.runs();
            let mut peaks = Vec::new();
            for &j in kinds {
                let (run, peak) = outage_run(ctx, outage, backoff, j, seed, &mut stats)?;
                all.report.extend(crate::scenario::outage::prefix(false, j), run.report);
                all.chart.extend(run.chart);
                peaks.push(peak);
            }
            crate::scenario::jitter_comparison(&mut all.report, &peaks);
        }
        Scenario::RollingRestart {
            pause,
            drain: None,
            rebalance,
        } if !rebalance.rebalance => {
            all = rolling_restart(ctx, pause, seed, &mut stats)?;
        }
        Scenario::RollingRestart { .. }
        | Scenario::Drain { .. }
        | Scenario::Refused { .. }
        | Scenario::Relocate { .. } => {
            return Err(format!(
                "--model does not run {}{} yet: run it on sockets (without --model)",
                scenario.name(),
                if matches!(scenario, Scenario::RollingRestart { drain: Some(_), .. }) {
                    " --drain"
                } else if matches!(scenario, Scenario::RollingRestart { .. }) {
                    " --rebalance"
                } else {
                    ""
                }
            ));
        }
    }
    Ok((all, stats))
}

/// A simulation of the fleet with `defaults`, connected to them when `connected`.
fn fleet(
    ctx: &ModelContext,
    spread: Option<bool>,
    retry: Option<Backoff>,
    default_of: &dyn Fn(usize) -> usize,
    connected: bool,
    seed: u64,
) -> Result<Sim, String> {
    let k = usize::from(ctx.common.servers);
    let addresses: Vec<String> = (0..k)
        .map(|i| format!("127.0.0.1:{}", super::sim::port_of(i)))
        .collect();
    let setup = ctx.setup(spread, retry);
    let config = crate::fleet::device_config(0, &addresses, None, &setup)?;
    Sim::new(ctx.params, config, k, ctx.common.devices, default_of, connected, seed)
}

/// The finished outcomes of `outcomes` in the socket runs' type (times from the anchor).
fn socket_outcomes(ctx: &ModelContext, sim: &Sim, outcomes: &[SimOutcome]) -> Vec<Outcome> {
    let mut first = sim.first_failure.clone();
    outcomes
        .iter()
        .filter_map(|o| {
            let took = o.took?;
            let result = match o.server {
                Some(i) => Ok(usize::from(i)),
                None => Err(first
                    .take()
                    .unwrap_or_else(|| "failed (the first failure is noted)".to_owned())),
            };
            Some(Outcome {
                at: ctx.anchor + o.at,
                took,
                result,
                expected: o.expected.map(usize::from),
                moved: None,
            })
        })
        .collect()
}

/// The pictures' series of a finished simulation: devices per server and offline; requests per 100 ms.
fn series(sim: &Sim) -> (Vec<Series>, Vec<Series>) {
    let k = sim.placement().len();
    let total = sim.len() as i64;
    let mut devices: Vec<Series> = (0..k)
        .map(|i| Series {
            name: format!("server {}", cluster::name(i)),
            points: sim.samples.iter().map(|(t, v)| (*t, v[i] as f64)).collect(),
        })
        .collect();
    devices.push(Series {
        name: crate::chart::OFFLINE.to_owned(),
        points: sim
            .samples
            .iter()
            .map(|(t, v)| (*t, (total - v.iter().sum::<i64>()).max(0) as f64))
            .collect(),
    });
    let requests = (0..k)
        .map(|i| Series {
            name: format!("server {}", cluster::name(i)),
            points: timeline::buckets_to_points(&padded(sim, i)),
        })
        .collect();
    (devices, requests)
}

/// Requests per 100 ms of server `i` until the end of the simulation (quiet buckets too).
fn padded(sim: &Sim, i: usize) -> Vec<u32> {
    let mut buckets = sim.buckets(i).to_vec();
    let end = (sim.now().as_nanos() / BUCKET.as_nanos()) as usize + 1;
    if buckets.len() < end {
        buckets.resize(end, 0);
    }
    buckets
}

/// Requests of every server from `from` (simulated) on.
fn requests_from(sim: &Sim, from: Duration) -> u64 {
    let skip = (from.as_nanos() / BUCKET.as_nanos()) as usize;
    (0..sim.placement().len())
        .map(|i| sim.buckets(i).iter().skip(skip).map(|&v| u64::from(v)).sum::<u64>())
        .sum()
}

/// The model's rows beside the figures: requests per server.
fn request_rows(report: &mut Report, sim: &Sim) {
    for i in 0..sim.placement().len() {
        report.row(
            format!("requests to {}", cluster::name(i)),
            sim.buckets(i).iter().map(|&v| u64::from(v)).sum::<u64>() as f64,
            Unit::Count,
        );
    }
}

fn boot_storm(ctx: &ModelContext, defaults: Defaults, seed: u64, stats: &mut Stats) -> Result<Run, String> {
    let k = usize::from(ctx.common.servers);
    let default_of = move |i: usize| match defaults {
        Defaults::One => 0,
        Defaults::Spread => i % k,
    };
    let mut sim = fleet(ctx, None, None, &default_of, false, seed)?;
    let who = arrivals(sim.len(), ctx.common.window, seed);
    let first = sim.act(&who, Action::Boot);
    sim.run_idle(ctx.common.window + BOOT_SLACK);
    sim.run_until(sim.now() + Duration::from_millis(500));
    let outcomes = socket_outcomes(ctx, &sim, &sim.outcomes[first..]);
    let mut report = Report::default();
    crate::scenario::boot_time_row(&mut report, &outcomes, ctx.anchor);
    let (failures, migrations) = outcome_rows(&mut report, "connect latency", sim.len(), &outcomes);
    request_rows(&mut report, &sim);
    report.invariant("no failures", failures == 0);
    report.invariant("no migrations", migrations == 0);
    stats.add(&sim);
    let (devices, requests) = series(&sim);
    let label = format!(
        "model: boot storm, {} devices, window {}",
        sim.len(),
        humantime::format_duration(ctx.common.window)
    );
    let axis = Axis {
        origin: 0.0,
        from: -0.5,
        x_desc: "simulated seconds since the window started".into(),
    };
    Ok(Run {
        report,
        chart: vec![panels(
            &label,
            &axis,
            devices,
            requests,
            vec![(0.0, "window starts".to_owned())],
        )],
    })
}

fn server_down(
    ctx: &ModelContext,
    fault: Fault,
    spread: bool,
    victim: usize,
    seed: u64,
    stats: &mut Stats,
) -> Result<Run, String> {
    let k = usize::from(ctx.common.servers);
    if k < 2 {
        return Err("server-down needs at least 2 servers (--servers)".into());
    }
    let mut sim = fleet(ctx, Some(spread), None, &|i| i % k, true, seed)?;
    sim.run_until(STEADY);
    let down = sim.now();
    sim.set_health(victim, fault.health());
    let who = together(sim.on_server(victim));
    let first = sim.act(&who, Action::Reconnect);
    sim.run_idle(RECONNECT_LIMIT);
    sim.run_until(sim.now() + TAIL);
    let outcomes = socket_outcomes(ctx, &sim, &sim.outcomes[first..]);
    let mut report = Report::default();
    let noticed = ctx.anchor + down;
    let (failures, all_back) =
        crate::scenario::server_down::back_rows(&mut report, victim, k, spread, who.len(), &outcomes, noticed);
    crate::scenario::note_failure(&mut report, &outcomes, who.len());
    let after = cluster::name(victim);
    report.row(
        format!("requests after {after} went down"),
        requests_from(&sim, down) as f64,
        Unit::Count,
    );
    stats.add(&sim);
    let (devices, requests) = series(&sim);
    let how = fault.name();
    let label = format!(
        "model: {how} to {after}, failover_order \"{}\": {} of {} back within {}",
        if spread { "spread" } else { "list" },
        who.len() - failures,
        who.len(),
        crate::report::show(all_back, Unit::Ms)
    );
    let at = down.as_secs_f64();
    let axis = Axis {
        origin: at,
        from: -1.0,
        x_desc: format!("simulated seconds since {how} to {after}"),
    };
    Ok(Run {
        report,
        chart: vec![panels(
            &label,
            &axis,
            devices,
            requests,
            vec![(at, format!("{how} to {after}"))],
        )],
    })
}

/// One outage in the model; its run and the peak of requests per 100 ms after the return.
fn outage_run(
    ctx: &ModelContext,
    outage: Duration,
    backoff: Backoff,
    jitter: bool,
    seed: u64,
    stats: &mut Stats,
) -> Result<(Run, u32), String> {
    let k = usize::from(ctx.common.servers);
    let mut sim = fleet(ctx, None, Some(backoff), &|i| i % k, true, seed)?;
    sim.run_until(STEADY);
    let down = sim.now();
    let after_return = crate::scenario::outage::AFTER_RETURN;
    let until = down + outage + after_return + Duration::from_secs(30);
    for i in 0..k {
        sim.set_health(i, Health::Killed);
    }
    // Every server restarts once the outage is over, and is back when it has started.
    let back = down + outage + ctx.common.model.restart();
    for i in 0..k {
        sim.schedule_health(back, i, Health::Up);
    }
    let action = if jitter {
        Action::RetryJitter { until }
    } else {
        Action::RetryHerd { backoff, until }
    };
    let first = sim.act(&together(0..sim.len()), action);
    sim.run_idle(after_return + outage);
    sim.run_until(sim.now() + TAIL);
    let outcomes = socket_outcomes(ctx, &sim, &sim.outcomes[first..]);
    let mut report = Report::default();
    let connected: Vec<_> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
    let failures = sim.len() - connected.len();
    let last = connected.iter().map(|o| o.at + o.took).max();
    report.row("failures", failures as f64, Unit::Count);
    crate::scenario::note_failure(&mut report, &outcomes, sim.len());
    let (back_at, down_at) = (ctx.anchor + back, ctx.anchor + down);
    report.row(
        "time until all are connected, from the first server's return",
        last.map_or(f64::NAN, |t| ms(t.saturating_duration_since(back_at))),
        Unit::Ms,
    );
    report.row(
        "time until all are connected, from the outage's start",
        last.map_or(f64::NAN, |t| ms(t.saturating_duration_since(down_at))),
        Unit::Ms,
    );
    let mut total: Vec<u32> = Vec::new();
    for i in 0..k {
        for (j, &v) in padded(&sim, i).iter().enumerate() {
            if total.len() <= j {
                total.push(0);
            }
            total[j] += v;
        }
    }
    let from = ((back.as_nanos() / BUCKET.as_nanos()) as usize).min(total.len());
    let peak = total[from..].iter().copied().max().unwrap_or(0);
    report.row(
        "peak requests per 100 ms from the first server's return on",
        f64::from(peak),
        Unit::Count,
    );
    report.row(
        "requests that reached a server from the first return on",
        total[from..].iter().map(|&v| u64::from(v)).sum::<u64>() as f64,
        Unit::Count,
    );
    report.invariant("every device is connected again", failures == 0);
    stats.add(&sim);
    let (devices, _) = series(&sim);
    let label = if jitter {
        "model: core's connect_with_retry, full jitter"
    } else {
        "model: same backoff without jitter (the herd)"
    };
    let marks = vec![
        (down.as_secs_f64(), "every server down".to_owned()),
        (back.as_secs_f64(), "every server back".to_owned()),
    ];
    let axis = Axis {
        origin: down.as_secs_f64(),
        from: -1.0,
        x_desc: "simulated seconds since every server went down".into(),
    };
    let requests = vec![Series {
        name: "all servers".into(),
        points: timeline::buckets_to_points(&total),
    }];
    Ok((
        Run {
            report,
            chart: vec![panels(label, &axis, devices, requests, marks)],
        },
        peak,
    ))
}

fn rolling_restart(ctx: &ModelContext, pause: Duration, seed: u64, stats: &mut Stats) -> Result<Run, String> {
    let k = usize::from(ctx.common.servers);
    if k < 2 {
        return Err("rolling-restart needs at least 2 servers (--servers)".into());
    }
    let mut sim = fleet(ctx, None, None, &|i| i % k, true, seed)?;
    sim.run_until(STEADY);
    let began = sim.now();
    let mut report = Report::default();
    let mut marks = Vec::new();
    let (mut failures, mut migrations, mut moved) = (0, 0, 0);
    for i in 0..k {
        marks.push((
            sim.now().as_secs_f64(),
            "a server stopped (A, B, ... in turn)".to_owned(),
        ));
        sim.set_health(i, Health::Killed);
        let who = together(sim.on_server(i));
        let first = sim.act(&who, Action::Reconnect);
        sim.run_idle(RECONNECT_LIMIT);
        let outcomes = socket_outcomes(ctx, &sim, &sim.outcomes[first..]);
        let back: Vec<Duration> = outcomes.iter().filter(|o| o.result.is_ok()).map(|o| o.took).collect();
        failures += who.len() - back.len();
        crate::scenario::note_failure(&mut report, &outcomes, who.len());
        migrations += outcomes.iter().filter(|o| o.migrated()).count();
        moved += back.len();
        report.row(
            format!("{}: its devices, all back after", cluster::name(i)),
            back.iter().max().copied().map_or(f64::NAN, ms),
            Unit::Ms,
        );
        let restarted = sim.now() + ctx.common.model.restart();
        sim.run_until(restarted);
        sim.set_health(i, Health::Up);
        marks.push((sim.now().as_secs_f64(), "it is back".to_owned()));
        sim.run_until(sim.now() + pause);
    }
    let took = sim.now() - began;
    sim.run_until(sim.now() + Duration::from_millis(500));
    crate::scenario::rolling_restart_rows(&mut report, [moved, failures, migrations], took, sim.placement());
    report.invariant("no failures", failures == 0);
    report.target("no migrations", migrations == 0);
    stats.add(&sim);
    let (devices, requests) = series(&sim);
    Ok(Run {
        report,
        chart: vec![panels(
            "model: rolling restart (SIGTERM, start again)",
            &Axis {
                origin: began.as_secs_f64(),
                from: -1.0,
                x_desc: "simulated seconds since the first server stopped".into(),
            },
            devices,
            requests,
            marks,
        )],
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    /// A model context and scenario from command-line words (after the program's name).
    fn parse(words: &[&str]) -> (ModelContext, Scenario) {
        let cli = Cli::try_parse_from(std::iter::once("scoutlb-fleet").chain(words.iter().copied())).unwrap();
        let ctx = ModelContext {
            device_keys: Default::default(),
            params: cli.common.model.params().unwrap(),
            common: cli.common,
            anchor: std::time::Instant::now(),
        };
        (ctx, cli.scenario)
    }

    /// Every figure of a report, by name.
    fn figures(report: &Report) -> Vec<(String, String)> {
        report
            .rows
            .iter()
            .map(|r| (r.name.clone(), format!("{:?}", r.value)))
            .collect()
    }

    fn figure(report: &Report, name: &str) -> f64 {
        report
            .rows
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no figure {name:?}"))
            .value
    }

    #[test]
    fn the_same_seed_gives_the_same_figures() {
        for words in [
            &["--model", "--devices", "1500", "--model-drain", "server-down"][..],
            &["--model", "--devices", "1000", "--window", "1s", "boot-storm"],
            &["--model", "--devices", "600", "outage", "--outage", "2s"],
            &["--model", "--devices", "600", "rolling-restart", "--pause", "1s"],
        ] {
            let (ctx, scenario) = parse(words);
            let (a, _) = run(&ctx, &scenario, 7).unwrap();
            let (b, _) = run(&ctx, &scenario, 7).unwrap();
            assert_eq!(figures(&a.report), figures(&b.report), "{words:?}");
            assert!(
                a.report.invariants.iter().all(|c| c.ok),
                "{words:?}: {:?}",
                a.report.invariants
            );
            // Another seed draws other answer times and jitter: the times differ.
            let (c, _) = run(&ctx, &scenario, 8).unwrap();
            assert_ne!(figures(&a.report), figures(&c.report), "{words:?}");
        }
    }

    #[test]
    fn every_device_of_a_killed_stopped_or_drained_server_goes_elsewhere() {
        let (ctx, scenario) = parse(&[
            "--model",
            "--devices",
            "3000",
            "--model-drain",
            "server-down",
            "--victim",
            "B",
        ]);
        let (run, _) = run(&ctx, &scenario, 1).unwrap();
        let r = &run.report;
        for fault in ["SIGKILL", "SIGSTOP", "drain (HTTP 503)"] {
            for order in ["list", "spread"] {
                let name = |f: &str| format!("{fault}, {order}: {f}");
                assert_eq!(figure(r, &name("devices of the dead server B")), 1000.0);
                assert_eq!(figure(r, &name("failures")), 0.0);
                let moved = figure(r, &name("moved to A")) + figure(r, &name("moved to C"));
                assert_eq!(moved, 1000.0, "{fault}, {order}");
                if order == "list" {
                    // "list": the next entry of the list, C, unless it is slower than A is patient.
                    assert_eq!(figure(r, &name("moved to C")), 1000.0, "{fault}");
                }
            }
        }
        // A killed server refuses at once; a stopped one is waited for (answer_delay, 1 s).
        assert!(figure(r, "SIGKILL, list: time until all are back") < 1000.0);
        assert!(figure(r, "SIGSTOP, list: time until all are back") > 1000.0);
    }

    #[test]
    fn a_server_past_its_capacity_makes_devices_queue() {
        // 1,000 devices of A to B, which answers 500 a second: the last is answered after 2 s.
        // Past the answer_delay (1 s) the waiting ones start C beside B, and C's queue is as long
        // as B's was then: B, more preferred, answers first. Every one is back.
        let (ctx, scenario) = parse(&[
            "--model",
            "--devices",
            "3000",
            "--servers",
            "3",
            "--model-capacity",
            "500",
            "server-down",
            "--signal",
            "kill",
            "--order",
            "list",
        ]);
        let (run, _) = run(&ctx, &scenario, 1).unwrap();
        let r = &run.report;
        assert_eq!(figure(r, "SIGKILL, list: failures"), 0.0);
        let last = figure(r, "SIGKILL, list: time until all are back");
        assert!((1900.0..2100.0).contains(&last), "{last}");
        let p50 = figure(r, "SIGKILL, list: back after noticing p50");
        assert!((900.0..1100.0).contains(&p50), "{p50}");
    }
}
