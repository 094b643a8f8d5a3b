//! `rolling-restart`: the servers are stopped (SIGTERM) and started again one by one; with
//! `--drain S` each one drains S seconds first (`--drain-on-stop`), and every device starts up
//! once at the end; with `--rebalance` the devices' opt-in rebalance is on, and every device
//! checks in once at the end and makes the move it plans ([`super::rebalance`]).

use std::time::{Duration, Instant};

use super::{Context, Run, arrivals, panels, process_rows, steady, together};
use crate::cli::RebalanceArgs;
use crate::cluster;
use crate::fleet::Action;
use crate::report::{Report, Unit};
use crate::stats::ms;
use crate::timeline;

/// Longest wait for the devices of a stopped server.
const RECONNECT_LIMIT: Duration = Duration::from_secs(60);

/// One steady fleet on a fresh cluster; every server restarted in turn, `pause` apart (drained
/// `drain` seconds before each stop, when given); with `rebalance.rebalance`, a check-in of every
/// device at the end, which makes the moves it plans.
pub fn run(
    ctx: &mut Context,
    pause: Duration,
    drain: Option<u64>,
    rebalance: RebalanceArgs,
    seed: u64,
) -> Result<Run, String> {
    let t0 = Instant::now();
    let mut cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    if k < 2 {
        return Err("rolling-restart needs at least 2 servers (--servers)".into());
    }
    let mut setup = ctx.setup(None, None);
    if rebalance.rebalance {
        setup.rebalance = Some(super::rebalance::key(&rebalance));
    }
    let (mut fleet, sampler) = steady(ctx, &cluster, &setup, seed, t0)?;
    std::thread::sleep(Duration::from_millis(1000));

    let mut report = Report::default();
    let mut marks = Vec::new();
    let (mut failures, mut migrations, mut moved) = (0, 0, 0);
    let began = Instant::now();
    for i in 0..k {
        marks.push((
            t0.elapsed().as_secs_f64(),
            "a server stopped (A, B, ... in turn)".to_owned(),
        ));
        let who = together(fleet.on_server(i));
        let mut up = vec![true; k];
        up[i] = false;
        let outcomes = match drain {
            None => {
                fleet
                    .act(&who, Action::Reconnect, &up, RECONNECT_LIMIT, || cluster.terminate(i))
                    .1
            }
            Some(seconds) => {
                // SIGTERM starts the drain: the server answers 503 + Retry-After while its
                // devices reconnect, then stops by itself.
                let mut signalled = Ok(());
                let (_, outcomes) = fleet.act(&who, Action::Reconnect, &up, RECONNECT_LIMIT, || {
                    signalled = cluster.signal_stop(i);
                });
                signalled?;
                cluster.wait_stopped(i, Duration::from_secs(seconds))?;
                marks.push((t0.elapsed().as_secs_f64(), "it stopped after its drain".to_owned()));
                outcomes
            }
        };
        let back: Vec<Duration> = outcomes.iter().filter(|o| o.result.is_ok()).map(|o| o.took).collect();
        failures += who.len() - back.len();
        super::note_failure(&mut report, &outcomes, who.len());
        migrations += outcomes.iter().filter(|o| o.migrated()).count();
        moved += back.len();
        report.row(
            format!("{}: its devices, all back after", cluster::name(i)),
            back.iter().max().copied().map_or(f64::NAN, ms),
            Unit::Ms,
        );
        cluster.bring_back(i)?;
        marks.push((t0.elapsed().as_secs_f64(), "it is back".to_owned()));
        std::thread::sleep(pause);
    }
    let took = began.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    super::rolling_restart_rows(
        &mut report,
        [moved, failures, migrations],
        took,
        &fleet.placement().snapshot(),
    );
    process_rows(&mut report, &fleet);
    report.invariant("no failures", failures == 0);
    let title = match drain {
        None => {
            report.target("no migrations", migrations == 0);
            "rolling restart (SIGTERM, start again)".to_owned()
        }
        Some(seconds) => {
            let offline = fleet.len() as i64 - fleet.placement().snapshot().iter().sum::<i64>();
            report.row("devices offline at the end", offline as f64, Unit::Count);
            report.target("no failures", failures == 0);
            report.target("no device offline at the end", offline == 0);
            let moved_default = (0..fleet.len()).filter(|&d| fleet.default_of(d) != Some(d % k)).count();
            report.row(
                "devices whose default is no longer their own server",
                moved_default as f64,
                Unit::Count,
            );
            // A start-up of every device: each goes to its default, which a drain never changes.
            marks.push((t0.elapsed().as_secs_f64(), "every device starts up".to_owned()));
            let who = arrivals(fleet.len(), ctx.common.window, seed);
            let (_, again) = fleet.act(&who, Action::Restart, &super::all_up(&cluster), RECONNECT_LIMIT, || ());
            let failed = fleet.len() - again.iter().filter(|o| o.result.is_ok()).count();
            super::note_failure(&mut report, &again, fleet.len());
            report.row("failures of the start-up at the end", failed as f64, Unit::Count);
            let shares = fleet.placement().snapshot();
            for (i, n) in shares.iter().enumerate() {
                report.row(
                    format!("devices on {} after a start-up of every device", cluster::name(i)),
                    *n as f64,
                    Unit::Count,
                );
            }
            let ratio = super::rebalance::share_ratio(&shares);
            report.row("largest/smallest share after the start-up", ratio, Unit::Ratio);
            report.target("after the start-up, largest/smallest share ≤ 1.3", ratio <= 1.3);
            std::thread::sleep(Duration::from_millis(500));
            format!("rolling restart, {seconds} s drain on SIGTERM, then all start up")
        }
    };
    let title = if rebalance.rebalance {
        std::thread::sleep(Duration::from_millis(500));
        let shares = super::rebalance::run(&mut fleet, &cluster, &rebalance, seed, &mut report, &mut marks, t0);
        super::rebalance::shares_target(&mut report, &shares);
        let offline = fleet.len() as i64 - fleet.placement().snapshot().iter().sum::<i64>();
        report.row("devices offline after the rebalance", offline as f64, Unit::Count);
        report.target("no device offline after the rebalance", offline == 0);
        std::thread::sleep(Duration::from_millis(500));
        format!("{title}, then rebalance")
    } else {
        title
    };
    let devices = sampler.finish(k, fleet.len());
    let requests = timeline::requests(&cluster, t0.elapsed());
    cluster.shutdown();
    Ok(Run {
        report,
        chart: vec![panels(
            &title,
            &super::Axis {
                origin: began.duration_since(t0).as_secs_f64(),
                from: -1.0,
                x_desc: "seconds since the first server stopped".into(),
            },
            devices,
            requests,
            marks,
        )],
    })
}
