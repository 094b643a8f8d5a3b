//! `rolling-restart`: the servers are stopped (SIGTERM) and started again one by one.

use std::time::{Duration, Instant};

use super::{Context, Run, panels, process_rows, steady, together};
use crate::cluster;
use crate::fleet::Action;
use crate::report::{Report, Unit};
use crate::stats::ms;
use crate::timeline;

/// Longest wait for the devices of a stopped server.
const RECONNECT_LIMIT: Duration = Duration::from_secs(60);

/// One steady fleet on a fresh cluster; every server restarted in turn, `pause` apart.
pub fn run(ctx: &mut Context, pause: Duration, seed: u64) -> Result<Run, String> {
    let t0 = Instant::now();
    let mut cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    if k < 2 {
        return Err("rolling-restart needs at least 2 servers (--servers)".into());
    }
    let setup = ctx.setup(None, None);
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
        let (_, outcomes) = fleet.act(&who, Action::Reconnect, &up, RECONNECT_LIMIT, || cluster.terminate(i));
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
    let devices = sampler.finish(k, fleet.len());
    report.row("devices that moved (their server stopped)", moved as f64, Unit::Count);
    report.row("failures", failures as f64, Unit::Count);
    report.row(
        "migrations (not on the first live server of its order)",
        migrations as f64,
        Unit::Count,
    );
    report.row("time of the whole rolling restart", ms(took), Unit::Ms);
    for (i, n) in fleet.placement().snapshot().iter().enumerate() {
        report.row(
            format!("devices on {} at the end", cluster::name(i)),
            *n as f64,
            Unit::Count,
        );
    }
    process_rows(&mut report, &fleet);
    report.invariant("no failures", failures == 0);
    report.target("no migrations", migrations == 0);
    let requests = timeline::requests(&cluster, t0.elapsed());
    cluster.shutdown();
    Ok(Run {
        report,
        chart: vec![panels(
            "rolling restart (SIGTERM, start again)",
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
