//! `outage`: every server down for a while; every device retries until it is back.

use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use super::{Context, Run, panels, process_rows, steady, together};
use crate::fleet::{Action, Backoff};
use crate::proxy::BUCKET;
use crate::report::{Report, Unit};
use crate::stats::ms;
use crate::timeline::{self, Series};

/// How long after the servers are back the devices may take before they count as failed.
pub const AFTER_RETURN: Duration = Duration::from_secs(60);

/// What one outage run measured, for the comparison of jitter and herd.
pub struct Measured {
    /// Most requests in one 100 ms bucket from the servers' return on.
    pub peak_after_return: u32,
}

/// One steady fleet on a fresh cluster; every server down for `outage`; back.
pub fn run(
    ctx: &mut Context,
    outage: Duration,
    backoff: Backoff,
    jitter: bool,
    seed: u64,
) -> Result<(Run, Measured), String> {
    let t0 = Instant::now();
    let cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    let setup = ctx.setup(None, Some(backoff));
    let (mut fleet, sampler) = steady(ctx, &cluster, &setup, seed, t0)?;
    std::thread::sleep(Duration::from_millis(1000));

    // A bound on the retries, generous enough for starting every device's thread first.
    let until = Instant::now() + outage + AFTER_RETURN + Duration::from_secs(30);
    let action = if jitter {
        Action::RetryJitter { until }
    } else {
        Action::RetryHerd { backoff, until }
    };
    let who = together(0..fleet.len());
    let shared = Mutex::new(cluster);
    let (down_tx, down_rx) = mpsc::channel::<Instant>();
    let (noticed, outcomes, (back_at, last_back)) = std::thread::scope(|s| {
        let shared = &shared;
        let restorer = s.spawn(move || {
            let down_at = down_rx.recv().map_err(|_| "the outage never began".to_owned())?;
            std::thread::sleep(outage.saturating_sub(down_at.elapsed()));
            let mut cluster = shared.lock().unwrap_or_else(|p| p.into_inner());
            cluster.bring_all_back()
        });
        // Every device notices at once, right after every server was killed.
        let (noticed, outcomes) = fleet.act(&who, action, &vec![true; k], AFTER_RETURN + outage, || {
            let mut cluster = shared.lock().unwrap_or_else(|p| p.into_inner());
            let _ = down_tx.send(Instant::now());
            for i in 0..k {
                cluster.kill(i);
            }
        });
        drop(down_tx);
        let back = restorer
            .join()
            .map_err(|_| "bringing the servers back panicked".to_owned())?;
        Ok::<_, String>((noticed, outcomes, back?))
    })?;
    let cluster = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    let down_at = noticed;
    std::thread::sleep(Duration::from_millis(1000));
    let devices = sampler.finish(k, fleet.len());

    let mut report = Report::default();
    let connected: Vec<_> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
    let failures = fleet.len() - connected.len();
    let last = connected.iter().map(|o| o.at + o.took).max();
    report.row("failures", failures as f64, Unit::Count);
    super::note_failure(&mut report, &outcomes, fleet.len());
    report.row(
        "time until all are connected, from the first server's return",
        last.map_or(f64::NAN, |t| ms(t.saturating_duration_since(back_at))),
        Unit::Ms,
    );
    let mut back: Vec<Duration> = connected
        .iter()
        .map(|o| (o.at + o.took).saturating_duration_since(back_at))
        .collect();
    back.sort();
    for (name, q) in [("median", 0.5), ("p99", 0.99)] {
        let at = back.get(((back.len() as f64 * q) as usize).min(back.len().saturating_sub(1)));
        report.row(
            format!("{name} time until connected, from the first server's return"),
            at.map_or(f64::NAN, |t| ms(*t)),
            Unit::Ms,
        );
    }
    report.row(
        "time until all are connected, from the outage's start",
        last.map_or(f64::NAN, |t| ms(t.saturating_duration_since(down_at))),
        Unit::Ms,
    );
    let total = timeline::total_requests(&cluster, t0.elapsed());
    let bucket_of = |t: Instant| (t.duration_since(t0).as_millis() / BUCKET.as_millis()) as usize;
    let peak_after = total[bucket_of(back_at).min(total.len())..]
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    report.row(
        "peak requests per 100 ms from the first server's return on",
        f64::from(peak_after),
        Unit::Count,
    );
    report.row(
        "requests that reached a server from the first return on",
        total[bucket_of(back_at).min(total.len())..]
            .iter()
            .map(|&v| f64::from(v))
            .sum(),
        Unit::Count,
    );
    process_rows(&mut report, &fleet);
    report.invariant("every device is connected again", failures == 0);
    cluster.shutdown();

    let label = match (backoff.handshake, jitter) {
        (false, true) => "core's connect_with_retry, full jitter",
        (false, false) => "same backoff without jitter (the herd, driven by this tool)",
        (true, true) => "core's connect_with_retry, handshake profile (± 10 %)",
        (true, false) => "handshake intervals without the ± 10 % (driven by this tool)",
    };
    let marks = vec![
        (down_at.duration_since(t0).as_secs_f64(), "every server down".to_owned()),
        (back_at.duration_since(t0).as_secs_f64(), "first server back".to_owned()),
        (
            last_back.duration_since(t0).as_secs_f64(),
            "last server back".to_owned(),
        ),
    ];
    let axis = super::Axis {
        origin: down_at.duration_since(t0).as_secs_f64(),
        from: -1.0,
        x_desc: "seconds since every server went down".into(),
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
        Measured {
            peak_after_return: peak_after,
        },
    ))
}

/// The prefix of one outage run's figures: its profile and whether the retry is the core's
/// (`jitter`) or the tool's herd; socket and model runs name them alike.
pub fn prefix(handshake: bool, jitter: bool) -> &'static str {
    match (handshake, jitter) {
        (false, true) => "with jitter: ",
        (false, false) => "herd (no jitter): ",
        (true, true) => "handshake ± 10 %: ",
        (true, false) => "handshake herd (no ± 10 %): ",
    }
}
