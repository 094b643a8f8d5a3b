//! `drain`: a steady fleet; server A is drained through its admin endpoint and its devices
//! reconnect elsewhere, their default staying A (behaviour.md, "Servers that steer devices");
//! then A is undrained and its devices start up again, back on A. With `--rebalance` the drain
//! keeps its devices (`drain?keep=true`, the entry marked draining): the devices check in and
//! leave A by the rebalance, at their moments, then after the undrain check in again and even
//! the cluster out.

use std::time::{Duration, Instant};

use super::{Context, Run, all_up, outcome_rows, panels, process_rows, steady, together, traffic_rows};
use crate::cli::RebalanceArgs;
use crate::cluster;
use crate::fleet::Action;
use crate::report::{Report, Unit};
use crate::stats::ms;
use crate::timeline;

/// Longest wait for the devices of the drained server, and for their start-up.
const RECONNECT_LIMIT: Duration = Duration::from_secs(60);

/// The drained server: A.
const DRAINED: usize = 0;

/// One steady fleet on a fresh cluster; A drained with `Retry-After: retry_after`, its devices
/// elsewhere; A undrained, its devices started up again. With `rebalance.rebalance` the drain
/// keeps its devices instead ([`keeping`]).
pub fn run(ctx: &mut Context, retry_after: u64, rebalance: RebalanceArgs, seed: u64) -> Result<Run, String> {
    if rebalance.rebalance {
        return keeping(ctx, &rebalance, seed);
    }
    let t0 = Instant::now();
    let cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    if k < 2 {
        return Err("drain needs at least 2 servers (--servers)".into());
    }
    let setup = ctx.setup(None, None);
    let (mut fleet, sampler) = steady(ctx, &cluster, &setup, seed, t0)?;
    std::thread::sleep(Duration::from_millis(1000));

    let a = cluster::name(DRAINED);
    // Every device of A learns of the drain at once (A closes its connections as it drains):
    // the worst case, as in server-down.
    let who = together(fleet.on_server(DRAINED));
    let n = who.len();
    let mut up = all_up(&cluster);
    up[DRAINED] = false;
    let mut drained_at = Instant::now();
    let mut drained = Ok(serde_json::Value::Null);
    let (noticed, outcomes) = fleet.act(&who, Action::Reconnect, &up, RECONNECT_LIMIT, || {
        drained_at = Instant::now();
        drained = cluster.admin(DRAINED, "POST", &format!("drain?retry_after={retry_after}"));
    });
    drained?;
    std::thread::sleep(Duration::from_millis(500));
    let on_a = fleet.placement().snapshot()[DRAINED].max(0) as usize;

    let mut report = Report::default();
    report.row(format!("devices of the drained server {a}"), n as f64, Unit::Count);
    let (failures, _) = outcome_rows(&mut report, "elsewhere after noticing", n, &outcomes);
    let last = outcomes
        .iter()
        .filter(|o| matches!(o.result, Ok(i) if i != DRAINED))
        .map(|o| o.at + o.took)
        .max();
    let elsewhere = last.map_or(f64::NAN, |t| ms(t.saturating_duration_since(noticed)));
    report.row("time until all are served elsewhere", elsewhere, Unit::Ms);
    report.row(
        format!("devices on {a} at the end of the drain"),
        on_a as f64,
        Unit::Count,
    );
    let kept = who
        .iter()
        .filter(|&&(d, _)| fleet.default_of(d) == Some(DRAINED))
        .count();
    report.row(
        format!("drained devices whose default is still {a}"),
        kept as f64,
        Unit::Count,
    );
    let status = cluster.admin(DRAINED, "GET", "status")?;
    report.row(
        format!("drain answers (503) of {a}"),
        status["drained"].as_f64().unwrap_or(f64::NAN),
        Unit::Count,
    );

    // The drain ends; a start-up (a new client: the drain was in memory only) brings them back.
    let undrained_at = Instant::now();
    cluster.admin(DRAINED, "POST", "undrain")?;
    std::thread::sleep(Duration::from_millis(500));
    let restarted_at = Instant::now();
    let (_, again) = fleet.act(&who, Action::Restart, &all_up(&cluster), RECONNECT_LIMIT, || ());
    let back = again.iter().filter(|o| o.result == Ok(DRAINED)).count();
    let failed_again = n - again.iter().filter(|o| o.result.is_ok()).count();
    super::note_failure(&mut report, &again, n);
    report.row(
        format!("back on {a} after undrain and a start-up"),
        back as f64,
        Unit::Count,
    );
    report.row("failures of that start-up", failed_again as f64, Unit::Count);
    std::thread::sleep(Duration::from_millis(1000));
    let devices = sampler.finish(k, fleet.len());
    traffic_rows(&mut report, &cluster);
    process_rows(&mut report, &fleet);
    report.invariant(
        format!("drain does not change defaults: every drained device's default is still {a}"),
        kept == n && n > 0,
    );
    report.target("no failures", failures == 0 && failed_again == 0);
    report.target(
        format!("at most 1 % of {a}'s devices still on {a} at the end of the drain"),
        on_a * 100 <= n,
    );
    report.target(
        format!("every drained device is back on {a} after undrain and a start-up"),
        back == n,
    );
    let requests = timeline::requests(&cluster, t0.elapsed());
    cluster.shutdown();

    let at = |t: Instant| t.duration_since(t0).as_secs_f64();
    let label = format!(
        "{a} drained: {} of {n} elsewhere within {}, {back} back on {a} at start-up",
        n - failures,
        crate::report::show(elsewhere, Unit::Ms)
    );
    let marks = vec![
        (at(drained_at), format!("{a} drained (Retry-After {retry_after} s)")),
        (at(undrained_at), format!("{a} undrained")),
        (at(restarted_at), "its devices start up: back".to_owned()),
    ];
    let axis = super::Axis {
        origin: at(drained_at),
        from: -1.0,
        x_desc: format!("seconds since {a} was drained"),
    };
    Ok(Run {
        report,
        chart: vec![panels(&label, &axis, devices, requests, marks)],
    })
}

/// How long the marks take to reach every server's list: the next read of the loads (1 s),
/// with room.
const MARK_DELAY: Duration = Duration::from_millis(2500);

/// A steady fleet with the rebalance on; A drained keeping its devices: every device checks in
/// and A's move away within the window (0 failures, ≤ 1 % left on A, the rate cap); A
/// undrained: every device checks in again and the cluster evens out.
fn keeping(ctx: &mut Context, args: &RebalanceArgs, seed: u64) -> Result<Run, String> {
    let t0 = Instant::now();
    let cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    if k < 2 {
        return Err("drain needs at least 2 servers (--servers)".into());
    }
    let mut setup = ctx.setup(None, None);
    setup.rebalance = Some(super::rebalance::key(args));
    let (mut fleet, sampler) = steady(ctx, &cluster, &setup, seed, t0)?;
    std::thread::sleep(Duration::from_millis(1000));
    let a = cluster::name(DRAINED);
    let at = |t: Instant| t.duration_since(t0).as_secs_f64();
    let n = fleet.on_server(DRAINED).len();
    let mut report = Report::default();
    report.row(format!("devices of the drained server {a}"), n as f64, Unit::Count);

    let drained_at = Instant::now();
    let status = cluster.admin(DRAINED, "POST", "drain?keep=true")?;
    if status["keep"] != true {
        return Err(format!("{a} did not start a drain that keeps its devices: {status}"));
    }
    let mut marks = vec![(at(drained_at), format!("{a} drained, keeping its devices"))];
    std::thread::sleep(MARK_DELAY);
    let mut away = Report::default();
    super::rebalance::run(&mut fleet, &cluster, args, seed, &mut away, &mut marks, t0);
    let left = fleet.placement().snapshot()[DRAINED].max(0) as usize;
    let planned = away.value("rebalance moves planned").unwrap_or(f64::NAN);
    away.target(
        format!("at most 1 % of {a}'s devices still on {a} at the end of the drain"),
        left * 100 <= n,
    );
    away.invariant(
        format!("no device moves into the draining {a}"),
        away.value(&format!("moves into {a}")) == Some(0.0),
    );
    away.target(
        format!("every device of {a} planned its move (and no other device)"),
        planned == n as f64,
    );
    let status = cluster.admin(DRAINED, "GET", "status")?;
    away.row(
        format!("drain answers (503) of {a}"),
        status["drained"].as_f64().unwrap_or(f64::NAN),
        Unit::Count,
    );
    let away_failed = failed_in(&away, fleet.len());
    report.extend("drain: ", away);

    let undrained_at = Instant::now();
    cluster.admin(DRAINED, "POST", "undrain")?;
    marks.push((at(undrained_at), format!("{a} undrained")));
    std::thread::sleep(MARK_DELAY);
    let mut back = Report::default();
    let shares = super::rebalance::run(&mut fleet, &cluster, args, seed ^ 1, &mut back, &mut marks, t0);
    super::rebalance::shares_target(&mut back, &shares);
    let failed = away_failed + failed_in(&back, fleet.len());
    report.extend("undrain: ", back);
    report.row("failures (check-ins and moves, both halves)", failed, Unit::Count);
    report.target("no failures", failed == 0.0);
    std::thread::sleep(Duration::from_millis(1000));
    let offline = fleet.len() as i64 - fleet.placement().snapshot().iter().sum::<i64>();
    report.row("devices offline at the end", offline as f64, Unit::Count);
    report.target("no device offline at the end", offline == 0);
    let devices = sampler.finish(k, fleet.len());
    traffic_rows(&mut report, &cluster);
    process_rows(&mut report, &fleet);
    let requests = timeline::requests(&cluster, t0.elapsed());
    cluster.shutdown();
    let shares: Vec<String> = shares.iter().map(i64::to_string).collect();
    let label = format!(
        "{a} drained, keeping its devices: {left} of {n} left; undrained: {}",
        shares.join(" / ")
    );
    let axis = super::Axis {
        origin: at(drained_at),
        from: -1.0,
        x_desc: format!("seconds since {a} was drained"),
    };
    Ok(Run {
        report,
        chart: vec![panels(&label, &axis, devices, requests, marks)],
    })
}

/// The failures of one rebalance half of `n` devices: check-ins that did not connect, and moves
/// that failed.
fn failed_in(half: &Report, n: usize) -> f64 {
    (n as f64 - half.value("devices that checked in").unwrap_or(0.0))
        + half.value("moves that failed (the device stayed)").unwrap_or(f64::NAN)
}
