//! `server-down`: a steady fleet loses one server (SIGKILL, or SIGSTOP: hung); its devices reconnect.

use std::time::{Duration, Instant};

use super::{Context, Run, outcome_rows, panels, process_rows, steady, together};
use crate::cluster;
use crate::fleet::Action;
use crate::fleet::Outcome;
use crate::report::{Report, Unit};
use crate::stats::ms;
use crate::timeline;

/// How the server goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL.
    Kill,
    /// SIGSTOP.
    Stop,
}

/// Longest wait for the devices of the dead server.
const RECONNECT_LIMIT: Duration = Duration::from_secs(60);

/// One steady fleet on a fresh cluster, server `victim` down, its devices back.
pub fn run(ctx: &mut Context, fault: Fault, spread: bool, victim: usize, seed: u64) -> Result<Run, String> {
    let t0 = Instant::now();
    let mut cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    if k < 2 {
        return Err("server-down needs at least 2 servers (--servers)".into());
    }
    let setup = ctx.setup(Some(spread), None);
    let (mut fleet, sampler) = steady(ctx, &cluster, &setup, seed, t0)?;
    std::thread::sleep(Duration::from_millis(1000));

    // Every device of the server notices at once, right after the signal (a reset reaches them
    // together): the worst case.
    let who = together(fleet.on_server(victim));
    let mut up = vec![true; k];
    up[victim] = false;
    let cpu_before = crate::limits::cpu_time();
    let mut down_at = Instant::now();
    let mut signalled = Ok(());
    let (noticed, outcomes) = fleet.act(&who, Action::Reconnect, &up, RECONNECT_LIMIT, || {
        down_at = Instant::now();
        signalled = match fault {
            Fault::Kill => {
                cluster.kill(victim);
                Ok(())
            }
            Fault::Stop => cluster.stop(victim),
        };
    });
    signalled?;
    let cpu = crate::limits::cpu_time().saturating_sub(cpu_before);
    std::thread::sleep(Duration::from_millis(1000));
    let devices = sampler.finish(k, fleet.len());

    let mut report = Report::default();
    let (failures, all_back) = back_rows(&mut report, victim, k, spread, who.len(), &outcomes, noticed);
    report.row("CPU time of this process while they reconnected", ms(cpu), Unit::Ms);
    let after = cluster::name(victim);
    let requests_after: u64 = (0..k)
        .map(|i| {
            cluster
                .traffic(i)
                .series(t0.elapsed())
                .iter()
                .skip((down_at.duration_since(t0).as_millis() / 100) as usize)
                .map(|&v| u64::from(v))
                .sum::<u64>()
        })
        .sum();
    report.row(
        format!("requests after {after} went down"),
        requests_after as f64,
        Unit::Count,
    );
    process_rows(&mut report, &fleet);
    let requests = timeline::requests(&cluster, t0.elapsed());
    cluster.shutdown();

    let how = match fault {
        Fault::Kill => "SIGKILL",
        Fault::Stop => "SIGSTOP",
    };
    // The answer first: how many devices came back, and how fast.
    let label = format!(
        "{how} to {after}, failover_order \"{}\": {} of {} back within {}",
        if spread { "spread" } else { "list" },
        who.len() - failures,
        who.len(),
        crate::report::show(all_back, Unit::Ms)
    );
    let marks = vec![(down_at.duration_since(t0).as_secs_f64(), format!("{how} to {after}"))];
    let axis = super::Axis {
        origin: down_at.duration_since(t0).as_secs_f64(),
        from: -1.0,
        x_desc: format!("seconds since {how} to {after}"),
    };
    Ok(Run {
        report,
        chart: vec![panels(&label, &axis, devices, requests, marks)],
    })
}

/// The figures and checks of the `n` devices of `victim` coming back (`outcomes`, from the moment
/// they `noticed`), shared by the socket runs and the model: how fast, where to, how evenly.
/// Returns the failures and the time until all were back (ms).
pub fn back_rows(
    report: &mut Report,
    victim: usize,
    k: usize,
    spread: bool,
    n: usize,
    outcomes: &[Outcome],
    noticed: Instant,
) -> (usize, f64) {
    report.row(
        format!("devices of the dead server {}", cluster::name(victim)),
        n as f64,
        Unit::Count,
    );
    let (failures, _) = outcome_rows(report, "back after noticing", n, outcomes);
    let last = outcomes
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| o.at + o.took)
        .max();
    let all_back = last.map_or(f64::NAN, |t| ms(t.saturating_duration_since(noticed)));
    report.row(ALL_BACK, all_back, Unit::Ms);
    let mut moved = vec![0usize; k];
    for o in outcomes {
        if let Ok(i) = o.result {
            moved[i] += 1;
        }
    }
    for (i, m) in moved.iter().enumerate().filter(|&(i, _)| i != victim) {
        report.row(format!("{MOVED_TO}{}", cluster::name(i)), *m as f64, Unit::Count);
    }
    let survivors: Vec<usize> = (0..k).filter(|&i| i != victim).map(|i| moved[i]).collect();
    let (largest, smallest) = (
        survivors.iter().copied().max().unwrap_or(0),
        survivors.iter().copied().min().unwrap_or(0),
    );
    let ratio = if smallest == 0 {
        f64::INFINITY
    } else {
        largest as f64 / smallest as f64
    };
    report.row("largest/smallest share of the survivors", ratio, Unit::Ratio);
    report.invariant("every device of the dead server is back", failures == 0 && n > 0);
    report.target("all back within 2 s of noticing", all_back <= 2000.0);
    if spread {
        report.target("spread: largest/smallest share ≤ 1.3", ratio <= 1.3);
    }
    (failures, all_back)
}

/// The figure of the time from noticing until the last device is back.
pub const ALL_BACK: &str = "time until all are back";

/// The start of the figures of how many devices went to each survivor ("moved to B").
pub const MOVED_TO: &str = "moved to ";
