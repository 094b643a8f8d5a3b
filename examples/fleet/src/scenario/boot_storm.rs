//! `boot-storm`: every device powers on within the window, its default a live server.

use std::time::{Duration, Instant};

use super::{Axis, Context, Run, boot, outcome_rows, panels, prepare, process_rows, sample, traffic_rows};
use crate::cli::Defaults;
use crate::report::Report;
use crate::timeline;

/// One boot storm on a fresh cluster.
pub fn run(ctx: &mut Context, defaults: Defaults, seed: u64) -> Result<Run, String> {
    let t0 = Instant::now();
    let cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    let setup = ctx.setup(None, None);
    let default_of = move |i: usize| match defaults {
        Defaults::One => 0,
        Defaults::Spread => i % k,
    };
    let mut fleet = prepare(ctx, &cluster, &setup, &default_of)?;
    let sampler = sample(&fleet, t0);
    let (start, outcomes) = boot(ctx, &cluster, &mut fleet, seed);
    std::thread::sleep(Duration::from_millis(500));
    let devices = sampler.finish(k, fleet.len());

    let mut report = Report::default();
    super::boot_time_row(&mut report, &outcomes, start);
    let (failures, migrations) = outcome_rows(&mut report, "connect latency", fleet.len(), &outcomes);
    traffic_rows(&mut report, &cluster);
    process_rows(&mut report, &fleet);
    report.invariant("no failures", failures == 0);
    report.invariant("no migrations", migrations == 0);
    let requests = timeline::requests(&cluster, t0.elapsed());
    cluster.shutdown();
    let label = format!(
        "boot storm, {} devices, window {}",
        fleet.len(),
        humantime::format_duration(ctx.common.window)
    );
    let marks = vec![(start.duration_since(t0).as_secs_f64(), "window starts".to_owned())];
    let axis = Axis {
        origin: start.duration_since(t0).as_secs_f64(),
        from: -0.5,
        x_desc: "seconds since the window started".into(),
    };
    Ok(Run {
        report,
        chart: vec![panels(&label, &axis, devices, requests, marks)],
    })
}
