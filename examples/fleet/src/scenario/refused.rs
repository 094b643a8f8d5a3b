//! `refused`: a cluster whose `--known-devices` names none or half of the fleet; every device
//! calls `connect_with_retry` for a fixed time. A refused device's retry waits [cap/2, cap]
//! (behaviour.md, "Servers that steer devices"): measured against a plain backoff that retries a
//! refusal like any failure.

use std::time::{Duration, Instant};

use super::{Context, Run, TOOL_ID, arrivals, panels, prepare, process_rows, sample};
use crate::cli::KnownChoice;
use crate::fleet::{self, Action, Backoff};
use crate::report::{Report, Unit};
use crate::timeline;

/// The fleet of `refused` without `--devices`: every device is in flight for the whole run, and
/// 10,000 at once need more threads than a small machine gives one process (about 4,800 here).
pub const DEFAULT_DEVICES: usize = 4000;

/// Slack after the devices' stop for their calls to end (a stop ends a call within 50 ms).
const STOP_SLACK: Duration = Duration::from_secs(10);

/// The `--known-devices` file of a fleet of `devices`: the tool's own id, and the devices `known` names.
pub fn known_devices(known: KnownChoice, devices: usize) -> String {
    let mut text = format!("# the tool itself, which fetches the list once\n{TOOL_ID}\n");
    for i in (0..devices).filter(|&i| is_known(known, i)) {
        text.push_str(&fleet::device_id(i));
        text.push('\n');
    }
    text
}

/// Whether device `i` is named in the `--known-devices` file.
pub fn is_known(known: KnownChoice, i: usize) -> bool {
    known == KnownChoice::Half && i.is_multiple_of(2)
}

/// Both runs on fresh clusters: the core's `connect_with_retry` (the contract), then a plain backoff.
pub fn run(
    ctx: &mut Context,
    known: KnownChoice,
    run_for: Duration,
    backoff: Backoff,
    seed: u64,
) -> Result<Run, String> {
    let mut all = Run {
        report: Report::default(),
        chart: Vec::new(),
    };
    let mut each = Vec::new();
    for plain in [false, true] {
        let (run, per_device) = one(ctx, known, run_for, backoff, plain, seed)?;
        let prefix = if plain {
            "plain backoff: "
        } else {
            "connect_with_retry: "
        };
        all.report.extend(prefix, run.report);
        all.chart.extend(run.chart);
        each.push(per_device);
    }
    if let [contract, plain] = each[..] {
        all.report.row(
            "requests per refused device, plain backoff / connect_with_retry",
            if contract > 0.0 { plain / contract } else { f64::NAN },
            Unit::Ratio,
        );
    }
    Ok(all)
}

/// One run: every device tries from its moment in the window until `run_for` after the window;
/// the requests per refused device.
fn one(
    ctx: &mut Context,
    known: KnownChoice,
    run_for: Duration,
    backoff: Backoff,
    plain: bool,
    seed: u64,
) -> Result<(Run, f64), String> {
    let t0 = Instant::now();
    let cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    let setup = ctx.setup(None, Some(backoff));
    let mut fleet = prepare(ctx, &cluster, &setup, &|i| i % k)?;
    let sampler = sample(&fleet, t0);
    let n = fleet.len();
    let who = arrivals(n, ctx.common.window, seed);
    let until = Instant::now() + ctx.common.window + run_for;
    let action = if plain {
        Action::RetryHerd { backoff, until }
    } else {
        Action::RetryJitter { until }
    };
    let began = Instant::now();
    let (_, outcomes) = fleet.act(&who, action, &super::all_up(&cluster), run_for + STOP_SLACK, || ());
    // A plain backoff may give up before the stop (its next try would come after it): both runs
    // are drawn until the stop.
    std::thread::sleep(until.saturating_duration_since(Instant::now()) + Duration::from_millis(500));
    let devices = sampler.finish(k, n);

    let known_n = (0..n).filter(|&i| is_known(known, i)).count();
    let refused_n = n - known_n;
    let mut refused_requests = 0.0;
    let mut served = 0.0;
    for i in 0..k {
        let status = cluster.admin(i, "GET", "status")?;
        refused_requests += status["refused"].as_f64().unwrap_or(f64::NAN);
        served += status["served"].as_f64().unwrap_or(f64::NAN);
    }
    // The minutes every refused device tried: from its moment to the stop.
    let minutes: f64 = who
        .iter()
        .filter(|(i, _)| !is_known(known, *i))
        .map(|(_, offset)| (until.saturating_duration_since(began + *offset)).as_secs_f64() / 60.0)
        .sum();
    let half_cap = backoff.cap.as_secs_f64() / 2.0;
    let bound = 60.0 / half_cap;

    let mut report = Report::default();
    report.row("devices known to the cluster", known_n as f64, Unit::Count);
    report.row("refused devices", refused_n as f64, Unit::Count);
    let (known_on, refused_on) = known_split(known, &fleet);
    report.row("known devices connected", known_on as f64, Unit::Count);
    report.row("refused devices connected", refused_on as f64, Unit::Count);
    report.row("requests served (200, at the servers)", served, Unit::Count);
    report.row("requests refused (403, at the servers)", refused_requests, Unit::Count);
    let per_device = if refused_n > 0 {
        refused_requests / refused_n as f64
    } else {
        f64::NAN
    };
    report.row("requests per refused device", per_device, Unit::Ratio);
    let retries_per_minute = if minutes > 0.0 {
        (refused_requests - refused_n as f64).max(0.0) / minutes
    } else {
        f64::NAN
    };
    report.row(
        "retries per refused device per minute (after its first try)",
        retries_per_minute,
        Unit::Ratio,
    );
    report.row(
        "the contract's most: retries per minute (60 s / (cap/2))",
        bound,
        Unit::Ratio,
    );
    let total = timeline::total_requests(&cluster, t0.elapsed());
    report.row(
        "peak requests per 100 ms (all servers)",
        f64::from(total.iter().copied().max().unwrap_or(0)),
        Unit::Count,
    );
    super::note_failure(&mut report, &outcomes, n);
    process_rows(&mut report, &fleet);
    report.invariant("every known device connected", known_on == known_n);
    report.invariant("no refused device connected", refused_on == 0);
    if !plain {
        report.target(
            format!(
                "no retry storm: a refused device retries at most once per cap/2 ({half_cap} s), {bound:.1} times a minute"
            ),
            retries_per_minute <= bound,
        );
    }
    let requests = timeline::requests(&cluster, t0.elapsed());
    cluster.shutdown();
    let label = format!(
        "{}: {per_device:.2} requests per refused device in {}",
        if plain { "plain backoff" } else { "connect_with_retry" },
        humantime::format_duration(run_for)
    );
    let axis = super::Axis {
        origin: began.duration_since(t0).as_secs_f64(),
        from: -1.0,
        x_desc: "seconds since the devices began".into(),
    };
    let stop = (
        until.duration_since(t0).as_secs_f64(),
        "the devices are stopped".to_owned(),
    );
    Ok((
        Run {
            report,
            chart: vec![panels(&label, &axis, devices, requests, vec![stop])],
        },
        per_device,
    ))
}

/// Known and refused devices that ended connected.
fn known_split(known: KnownChoice, fleet: &crate::fleet::Fleet) -> (usize, usize) {
    let mut split = (0, 0);
    for i in 0..fleet.len() {
        if fleet.is_connected(i) {
            if is_known(known, i) {
                split.0 += 1;
            } else {
                split.1 += 1;
            }
        }
    }
    split
}
