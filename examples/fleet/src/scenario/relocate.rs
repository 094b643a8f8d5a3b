//! `relocate`: a steady fleet; `scout-server relocate` (the admin command, on server A) names
//! devices that belong on another server; every device checks in once (a reconnect: the
//! relocated ones learn it from whichever server they are on), then starts up again (`online`) or
//! reconnects (`offline`): the relocated devices are on their target, no other device moved, and
//! no instruction is left in the cluster (behaviour.md, "Servers that steer devices", "Reference
//! cluster").

use std::process::Command;
use std::time::{Duration, Instant};

use super::{Context, Run, all_up, arrivals, panels, process_rows, steady, traffic_rows};
use crate::cli::RelocateMode;
use crate::cluster::{self, Cluster};
use crate::fleet::{self, Action, Fleet, Outcome};
use crate::report::{Report, Unit};
use crate::stats::ms;
use crate::timeline;

/// Slack after the window for a step's devices to finish.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// The server whose admin endpoint takes the command: A (any server would do: the instruction is
/// in the shared database).
const ASKED: usize = 0;

/// Wait after the last step for the servers to drop the instructions (they read the table every
/// 100 ms).
const SETTLE: Duration = Duration::from_millis(500);

/// One steady fleet on a fresh cluster; `count` devices not on `target` relocated to it, `mode`.
pub fn run(ctx: &mut Context, count: usize, target: usize, mode: RelocateMode, seed: u64) -> Result<Run, String> {
    let t0 = Instant::now();
    let cluster = ctx.cluster(t0)?;
    let k = cluster.len();
    if k < 2 || target >= k {
        return Err(format!(
            "relocate needs at least 2 servers and a target among them (--servers {k}, --to {})",
            cluster::name(target)
        ));
    }
    let setup = ctx.setup(None, None);
    let (mut fleet, sampler) = steady(ctx, &cluster, &setup, seed, t0)?;
    let n = fleet.len();
    // The first `count` devices, in id order, whose server is not the target.
    let start = servers_of(&fleet, k);
    let moved: Vec<usize> = (0..n).filter(|&i| start[i] != Some(target)).take(count).collect();
    if moved.len() < count {
        return Err(format!(
            "only {} devices are not on {}: relocate fewer (--count) or run more --devices",
            moved.len(),
            cluster::name(target)
        ));
    }
    let mut is_moved = vec![false; n];
    for &i in &moved {
        is_moved[i] = true;
    }
    std::thread::sleep(Duration::from_millis(1000));

    let asked_at = Instant::now();
    let answer = ask(&ctx.spec.bin, &cluster, &moved, target, mode)?;
    let command_took = asked_at.elapsed();
    // The other servers read the table every 100 ms: a device that asked one of them before
    // would not learn it at this check-in.
    everyone_knows(&cluster, count)?;
    let known_by_all = asked_at.elapsed();

    // Every device checks in once; then the relocated devices start up again (online) or
    // reconnect (offline), then the others do the same.
    let up = all_up(&cluster);
    let window = ctx.common.window;
    let learn_at = Instant::now();
    let (_, learned) = fleet.act(
        &arrivals(n, window, seed ^ 1),
        Action::Reconnect,
        &up,
        STEP_LIMIT,
        || (),
    );
    let step = match mode {
        RelocateMode::Online => Action::Restart,
        RelocateMode::Offline => Action::Reconnect,
    };
    let spread = |devices: &[usize], seed: u64| -> Vec<(usize, Duration)> {
        arrivals(devices.len(), window, seed)
            .into_iter()
            .map(|(j, offset)| (devices[j], offset))
            .collect()
    };
    let move_at = Instant::now();
    let (_, moving) = fleet.act(&spread(&moved, seed ^ 2), step, &up, STEP_LIMIT, || ());
    let rest: Vec<usize> = (0..n).filter(|&i| !is_moved[i]).collect();
    let rest_at = Instant::now();
    let (_, resting) = fleet.act(&spread(&rest, seed ^ 3), step, &up, STEP_LIMIT, || ());
    std::thread::sleep(SETTLE);
    let end = servers_of(&fleet, k);

    let on = |o: &Outcome| o.result.as_ref().ok().copied();
    let mut report = Report::default();
    report.row(
        format!("devices relocated to {} by the admin command", cluster::name(target)),
        answer,
        Unit::Count,
    );
    report.row("time of the admin command", ms(command_took), Unit::Ms);
    report.row(
        "time until every server answers the relocation (from the admin command)",
        ms(known_by_all),
        Unit::Ms,
    );
    let moved_n = moved.iter().filter(|&&d| end[d] == Some(target)).count();
    let elsewhere = moved.iter().filter(|&&d| end[d].is_some_and(|s| s != target)).count();
    for &d in moved.iter().filter(|&&d| end[d].is_some_and(|s| s != target)).take(5) {
        report.note(format!(
            "{} ended on {} (it started on {}, its default is {})",
            fleet::device_id(d),
            end[d].map_or("none".into(), cluster::name),
            start[d].map_or("none".into(), cluster::name),
            fleet.default_of(d).map_or("none".into(), cluster::name)
        ));
    }
    let others_moved = rest.iter().filter(|&&d| end[d] != start[d]).count();
    let failed = [(&learned, n), (&moving, moved.len()), (&resting, rest.len())]
        .iter()
        .map(|(outcomes, expected)| expected - outcomes.iter().filter(|o| o.result.is_ok()).count())
        .sum::<usize>();
    let last_move = moving
        .iter()
        .filter(|o| on(o) == Some(target))
        .map(|o| o.at + o.took)
        .max();
    let all_moved = last_move.map_or(f64::NAN, |t| ms(t.saturating_duration_since(asked_at)));
    report.row(
        format!("moved: relocated devices on {}", cluster::name(target)),
        moved_n as f64,
        Unit::Count,
    );
    report.row(
        "elsewhere: relocated devices on another server",
        elsewhere as f64,
        Unit::Count,
    );
    report.row("failed: connects that failed (every step)", failed as f64, Unit::Count);
    report.row("other devices that changed server", others_moved as f64, Unit::Count);
    report.row("time until all moved (from the admin command)", all_moved, Unit::Ms);
    let (mut relocate_answers, mut pending) = (0.0, 0.0_f64);
    for i in 0..k {
        let status = cluster.admin(i, "GET", "status")?;
        relocate_answers += status["relocated"].as_f64().unwrap_or(f64::NAN);
        // Each server holds the cluster's table: the largest is what is left.
        pending = pending.max(status["relocations_pending"].as_f64().unwrap_or(f64::NAN));
    }
    report.row("answers with relocate (all servers)", relocate_answers, Unit::Count);
    report.row("instructions left (in the cluster)", pending, Unit::Count);
    super::note_failure(&mut report, &learned, n);
    super::note_failure(&mut report, &moving, moved.len());
    super::note_failure(&mut report, &resting, rest.len());
    let devices = sampler.finish(k, n);
    traffic_rows(&mut report, &cluster);
    process_rows(&mut report, &fleet);
    report.target(
        format!("all {count} relocated devices on {}", cluster::name(target)),
        moved_n == count,
    );
    report.target("0 relocated devices elsewhere", elsewhere == 0);
    report.target("no failures", failed == 0);
    report.invariant("no other device changed server", others_moved == 0);
    report.target("every instruction dropped once its device arrived", pending == 0.0);
    let requests = timeline::requests(&cluster, t0.elapsed());
    cluster.shutdown();

    let at = |t: Instant| t.duration_since(t0).as_secs_f64();
    let label = format!(
        "{moved_n} of {count} relocated to {} ({}), {elsewhere} elsewhere, all within {}",
        cluster::name(target),
        mode.name(),
        crate::report::show(all_moved, Unit::Ms)
    );
    let marks = vec![
        (
            at(asked_at),
            format!("scout-server relocate --to {}", cluster::name(target)),
        ),
        (at(learn_at), "every device checks in: the relocated learn".to_owned()),
        (
            at(move_at),
            match mode {
                RelocateMode::Online => "the relocated start up: they move".to_owned(),
                RelocateMode::Offline => "the relocated reconnect: they move".to_owned(),
            },
        ),
        (at(rest_at), "the others do the same: they stay".to_owned()),
    ];
    let axis = super::Axis {
        origin: at(asked_at),
        from: -1.0,
        x_desc: "seconds since the admin command".into(),
    };
    Ok(Run {
        report,
        chart: vec![panels(&label, &axis, devices, requests, marks)],
    })
}

/// Longest wait for every server to serve a relocation.
const KNOWN_LIMIT: Duration = Duration::from_secs(10);

/// Waits until every server of `cluster` knows at least `count` relocations (their status's
/// `relocations_pending`).
fn everyone_knows(cluster: &Cluster, count: usize) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < KNOWN_LIMIT {
        let mut all = true;
        for i in 0..cluster.len() {
            let status = cluster.admin(i, "GET", "status")?;
            all &= status["relocations_pending"].as_u64().unwrap_or(0) >= count as u64;
        }
        if all {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(format!(
        "not every server served the relocation within {}",
        humantime::format_duration(KNOWN_LIMIT)
    ))
}

/// Runs `scout-server relocate` against server A's admin endpoint with a devices file; the
/// number of devices it says it relocated.
fn ask(
    bin: &std::path::Path,
    cluster: &Cluster,
    devices: &[usize],
    target: usize,
    mode: RelocateMode,
) -> Result<f64, String> {
    let admin = cluster
        .admin_addr(ASKED)
        .ok_or("the cluster was started without admin endpoints")?;
    let file = tempfile::NamedTempFile::new().map_err(|e| format!("cannot make the devices file: {e}"))?;
    let ids: String = devices.iter().map(|&i| fleet::device_id(i) + "\n").collect();
    std::fs::write(file.path(), ids).map_err(|e| format!("{}: {e}", file.path().display()))?;
    let out = Command::new(bin)
        .arg("relocate")
        .arg(admin.to_string())
        .args([
            "--to",
            &cluster::server_id(target),
            "--mode",
            mode.name(),
            "--devices-file",
        ])
        .arg(file.path())
        .output()
        .map_err(|e| format!("cannot run {} relocate: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "scout-server relocate failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "scout-server relocate printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    Ok(answer["relocating"].as_f64().unwrap_or(f64::NAN))
}

/// The server each device of `fleet` (of a cluster of `k`) is connected to now.
fn servers_of(fleet: &Fleet, k: usize) -> Vec<Option<usize>> {
    let mut on = vec![None; fleet.len()];
    for server in 0..k {
        for d in fleet.on_server(server) {
            on[d] = Some(server);
        }
    }
    on
}
