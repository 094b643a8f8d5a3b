//! The scenarios, and what they share: a fresh cluster per run, the fleet's boot, the figures.

pub mod boot_storm;
pub mod drain;
pub mod outage;
pub mod rebalance;
pub mod refused;
pub mod relocate;
pub mod rolling_restart;
pub mod server_down;

use std::sync::Arc;
use std::time::{Duration, Instant};

use scoutlb::{Client, Config, ServerList};
use serde_json::{Map, Value, json};

use crate::chart::Panel;
use crate::cli::Common;
use crate::cli::DriverChoice;
use crate::cluster::{self, Cluster, Database, ServerSpec};
use crate::fleet::{Action, Backoff, DeviceSetup, Driver, Fleet, Outcome};
use crate::limits;
use crate::report::{Report, Unit};
use crate::stats::{ms, percentile};
use crate::timeline::{Sampler, Series};

/// Upper bound of a boot: the window plus this.
const BOOT_SLACK: Duration = Duration::from_secs(60);

/// What every run of a scenario uses.
pub struct Context {
    /// The command-line options.
    pub common: Common,
    /// The database the clusters use.
    pub db: Database,
    /// How servers are started.
    pub spec: ServerSpec,
    /// The devices' configuration keys from `--config` (empty without it).
    pub device_keys: Arc<Map<String, Value>>,
    /// Most calls in flight at once on the loop driver (from the open-file limit).
    pub calls_at_once: usize,
    clusters: u32,
}

/// What a run produces: its figures and the pictures' rows.
pub struct Run {
    /// The figures and checks.
    pub report: Report,
    /// Rows of the picture: a label and two panels.
    pub chart: Vec<(Panel, Panel)>,
}

impl Context {
    /// A context for the runs of one invocation.
    pub fn new(common: Common, db: Database, spec: ServerSpec, device_keys: Map<String, Value>) -> Context {
        Context {
            common,
            db,
            spec,
            device_keys: Arc::new(device_keys),
            calls_at_once: usize::MAX,
            clusters: 0,
        }
    }

    /// Starts a cluster on a fresh database (where the database allows it).
    pub fn cluster(&mut self, t0: Instant) -> Result<Cluster, String> {
        self.clusters += 1;
        let db = self.db.for_cluster(self.clusters);
        Cluster::start(&self.spec, &db, t0)
    }

    /// The device settings of this invocation (`--config`, `--tls`) with the given order and
    /// backoff (`None`: as `--config` says, else the library's defaults).
    pub fn setup(&self, spread: Option<bool>, retry: Option<Backoff>) -> DeviceSetup {
        DeviceSetup {
            base: Arc::clone(&self.device_keys),
            ca_file: self.spec.tls.as_ref().map(|t| t.cert.clone()),
            list_key: self.spec.list_key.as_ref().map(|(_, public)| public.clone()),
            spread,
            retry,
            rebalance: None,
        }
    }

    /// Where the devices' state folders go: `--state-dir`, else /dev/shm (a tmpfs, so that ten
    /// thousand devices sharing one disk do not measure that disk), else the temp folder.
    pub fn state_dir(&self) -> std::path::PathBuf {
        match &self.common.state_dir {
            Some(d) => d.clone(),
            None if std::path::Path::new("/dev/shm").is_dir() => "/dev/shm".into(),
            None => std::env::temp_dir(),
        }
    }

    /// The driver of the devices' calls (`--driver`, `--loop-threads`).
    pub fn driver(&self) -> Driver {
        match self.common.driver {
            DriverChoice::Loop => Driver::Loop {
                threads: usize::from(self.common.loop_threads),
                most: self.calls_at_once,
            },
            DriverChoice::Threads => Driver::Threads,
        }
    }

    /// The driver as the title names it.
    pub fn driver_name(&self) -> String {
        match self.driver() {
            Driver::Threads => "a thread per device".into(),
            Driver::Loop { threads: 1, .. } => "event loop (1 thread)".into(),
            Driver::Loop { threads, .. } => format!("event loop ({threads} threads)"),
        }
    }

    /// The transport, as the tables name it.
    pub fn transport(&self) -> &'static str {
        match (self.spec.tls.is_some(), self.spec.list_key.is_some()) {
            (true, true) => "HTTPS, signed lists",
            (true, false) => "HTTPS",
            (false, true) => "HTTP, signed lists",
            (false, false) => "HTTP",
        }
    }
}

/// The `device_id` the tool itself uses to fetch the list (a `--known-devices` file names it).
pub const TOOL_ID: &str = "scoutlb-fleet";

/// The server list as a device receives it, fetched once from the cluster.
pub fn fetch_list(cluster: &Cluster, setup: &DeviceSetup) -> Result<ServerList, String> {
    let mut doc = json!({ "servers": cluster.addresses(), "device_id": TOOL_ID });
    if let Some(ca) = &setup.ca_file {
        doc["scheme"] = json!("https");
        doc["ca_file"] = json!(ca);
    }
    if let Some(key) = &setup.list_key {
        doc["list_keys"] = json!([key]);
    }
    let config = Config::from_json(&doc.to_string()).map_err(|e| e.to_string())?;
    let client = Client::new(config).map_err(|e| e.to_string())?;
    client
        .connect()
        .map_err(|e| format!("the cluster does not answer: {e}"))?;
    client
        .state()
        .list
        .ok_or_else(|| "the cluster sent no server list".to_owned())
}

/// Arrival offsets of `n` devices: uniform at random within `window` (seeded); all zero for a zero window.
pub fn arrivals(n: usize, window: Duration, seed: u64) -> Vec<(usize, Duration)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|i| (i, window.mul_f64(if window.is_zero() { 0.0 } else { rng.f64() })))
        .collect()
}

/// Every device in `devices` acting at offset zero.
pub fn together(devices: impl IntoIterator<Item = usize>) -> Vec<(usize, Duration)> {
    devices.into_iter().map(|d| (d, Duration::ZERO)).collect()
}

/// Every server's state as "up" (for [`Fleet::act`]).
pub fn all_up(cluster: &Cluster) -> Vec<bool> {
    vec![true; cluster.len()]
}

/// A fleet whose device i has server `default_of(i)` as its default and the cluster's list cached.
pub fn prepare(
    ctx: &Context,
    cluster: &Cluster,
    setup: &DeviceSetup,
    default_of: &dyn Fn(usize) -> usize,
) -> Result<Fleet, String> {
    let list = fetch_list(cluster, setup)?;
    let mut fleet = Fleet::prepare(
        &ctx.state_dir(),
        ctx.common.devices,
        &cluster.addresses(),
        &list,
        default_of,
        setup,
    )?;
    fleet.set_driver(ctx.driver());
    Ok(fleet)
}

/// Boots `fleet` over the window; the window's start and the outcomes.
pub fn boot(ctx: &Context, cluster: &Cluster, fleet: &mut Fleet, seed: u64) -> (Instant, Vec<Outcome>) {
    let who = arrivals(fleet.len(), ctx.common.window, seed);
    fleet.act(&who, Action::Boot, &all_up(cluster), BOOT_SLACK, || ())
}

/// A fleet with its defaults spread over the servers, sampled from before its boot; every device connected.
pub fn steady(
    ctx: &Context,
    cluster: &Cluster,
    setup: &DeviceSetup,
    seed: u64,
    t0: Instant,
) -> Result<(Fleet, Sampler), String> {
    let k = cluster.len();
    let mut fleet = prepare(ctx, cluster, setup, &|i| i % k)?;
    let sampler = sample(&fleet, t0);
    let (_, outcomes) = boot(ctx, cluster, &mut fleet, seed);
    let connected = outcomes.iter().filter(|o| o.result.is_ok()).count();
    if connected < fleet.len() {
        let why = outcomes
            .iter()
            .find_map(|o| o.result.as_ref().err())
            .map_or("it did not finish in time".to_owned(), |e| e.clone());
        return Err(format!(
            "only {connected} of {} devices connected while the fleet booted, so there is no steady fleet to test; the first failure: {why}\n{}",
            fleet.len(),
            boot_remedy(ctx)
        ));
    }
    Ok((fleet, sampler))
}

/// What to change when the fleet could not boot: a wider window, more time per device, a faster server.
pub fn boot_remedy(ctx: &Context) -> String {
    let bin = ctx.spec.bin.display().to_string();
    let debug = if bin.contains("/debug/") {
        " (a debug build: several times slower under load)"
    } else {
        ""
    };
    format!(
        "remedy: widen --window (now {}) so that fewer devices boot at once, or run fewer --devices; give each device more time (--config FILE with a larger connect_timeout_ms or deadline_ms); or use the release server: cargo build --release -p scout-server and --scout-server target/release/scout-server (this run used {bin}{debug}, by default the scout-server beside this tool)",
        humantime::format_duration(ctx.common.window)
    )
}

/// Latency percentiles, failures and migrations of a set of outcomes, as rows named after `what`.
pub fn outcome_rows(report: &mut Report, what: &str, expected: usize, outcomes: &[Outcome]) -> (usize, usize) {
    let mut took: Vec<Duration> = outcomes.iter().filter(|o| o.result.is_ok()).map(|o| o.took).collect();
    took.sort();
    let failures = expected - took.len();
    let migrations = outcomes.iter().filter(|o| o.migrated()).count();
    report.row(format!("{what} p50"), ms(percentile(&took, 50.0)), Unit::Ms);
    report.row(format!("{what} p99"), ms(percentile(&took, 99.0)), Unit::Ms);
    report.row(
        format!("{what} max"),
        ms(took.last().copied().unwrap_or_default()),
        Unit::Ms,
    );
    report.row("failures", failures as f64, Unit::Count);
    report.row(
        "migrations (not on the first live server of its order)",
        migrations as f64,
        Unit::Count,
    );
    note_failure(report, outcomes, expected);
    (failures, migrations)
}

/// Notes the first failure's reason, and devices that never reported.
pub fn note_failure(report: &mut Report, outcomes: &[Outcome], expected: usize) {
    if let Some(e) = outcomes.iter().find_map(|o| o.result.as_ref().err()) {
        report.note(format!("first failure: {e}"));
    }
    if outcomes.len() < expected {
        report.note(format!(
            "{} devices did not finish within the time limit",
            expected - outcomes.len()
        ));
    }
}

/// Rows with the requests and the peak of open connections per server.
pub fn traffic_rows(report: &mut Report, cluster: &Cluster) {
    for i in 0..cluster.len() {
        let t = cluster.traffic(i);
        report.row(
            format!("requests to {}", cluster::name(i)),
            t.total() as f64,
            Unit::Count,
        );
        report.row(
            format!("peak open connections to {}", cluster::name(i)),
            t.peak() as f64,
            Unit::Count,
        );
    }
}

/// The rows of the process: its peak resident memory and threads, the most calls in flight at
/// once (loop driver), the machine's load, and thread spawns that failed (if any).
pub fn process_rows(report: &mut Report, fleet: &Fleet) {
    if let Some(kib) = limits::peak_rss_kib() {
        report.row("peak RSS of this process (VmHWM)", kib as f64 / 1024.0, Unit::Mib);
    }
    if let Some(n) = limits::peak_threads() {
        report.row(
            "peak threads of this process (sampled every 20 ms)",
            n as f64,
            Unit::Count,
        );
    }
    if matches!(fleet.driver(), Driver::Loop { .. }) {
        report.row(
            "most calls in flight at once (loop driver, so far)",
            crate::fleet::most_in_flight() as f64,
            Unit::Count,
        );
    }
    if let Some(load) = limits::load_average() {
        report.row("load average of the machine (1 min) at the end", load, Unit::Ratio);
    }
    if fleet.spawn_failures > 0 {
        report.row(
            "device threads that could not start",
            fleet.spawn_failures as f64,
            Unit::Count,
        );
    }
    if fleet.driver() == Driver::Threads {
        report.invariant("every device thread started", fleet.spawn_failures == 0);
    }
}

/// Where the x axis of a run's pictures starts: `origin` (seconds since the start), named by
/// `x_desc`, shown from `from` seconds (negative: before it).
pub struct Axis {
    /// The moment counted as 0.
    pub origin: f64,
    /// The first second shown, relative to `origin`.
    pub from: f64,
    /// What the seconds count from, such as "seconds since B was killed".
    pub x_desc: String,
}

/// The two panels of a run: devices per server (and offline) and requests per 100 ms.
pub fn panels(
    label: &str,
    axis: &Axis,
    devices: Vec<Series>,
    requests: Vec<Series>,
    marks: Vec<(f64, String)>,
) -> (Panel, Panel) {
    let panel = |title: String, y_desc: &str, series: Vec<Series>, marks: Vec<(f64, String)>| Panel {
        title,
        y_desc: y_desc.into(),
        origin: axis.origin,
        from: axis.from,
        x_desc: axis.x_desc.clone(),
        series,
        marks,
    };
    (
        // The run's label once, over the left panel: a long caption is cut at the panel's edge.
        panel(
            label.to_owned(),
            "devices per server, and offline",
            devices,
            marks.clone(),
        ),
        panel(
            "requests per 100 ms".to_owned(),
            "requests (connections) per 100 ms",
            requests,
            marks,
        ),
    )
}

/// Starts sampling the fleet's placement.
pub fn sample(fleet: &Fleet, t0: Instant) -> Sampler {
    Sampler::start(fleet.placement(), t0)
}

/// The boot-time row: from `start` (the window's start) to the last device connected. Socket and
/// model runs share it, so `--calibrate` finds it by one name.
pub fn boot_time_row(report: &mut Report, outcomes: &[Outcome], start: Instant) {
    let last = outcomes
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| o.at + o.took)
        .max();
    report.row(
        "boot time (window start to last connected)",
        last.map_or(f64::NAN, |t| ms(t.saturating_duration_since(start))),
        Unit::Ms,
    );
}

/// The summary rows of a rolling restart: `[moved, failures, migrations]`, its length `took` and
/// the devices on each server at the end; named alike in socket and model runs.
pub fn rolling_restart_rows(report: &mut Report, counts: [usize; 3], took: Duration, placement: &[i64]) {
    let [moved, failures, migrations] = counts;
    report.row("devices that moved (their server stopped)", moved as f64, Unit::Count);
    report.row("failures", failures as f64, Unit::Count);
    report.row(
        "migrations (not on the first live server of its order)",
        migrations as f64,
        Unit::Count,
    );
    report.row("time of the whole rolling restart", ms(took), Unit::Ms);
    for (i, n) in placement.iter().enumerate() {
        report.row(
            format!("devices on {} at the end", cluster::name(i)),
            *n as f64,
            Unit::Count,
        );
    }
}

/// The row and target comparing the peaks after the return of the outage's two runs (with
/// jitter, then the herd), when both ran.
pub fn jitter_comparison(report: &mut Report, peaks: &[u32]) {
    if let [with, without] = peaks[..] {
        let ratio = if without == 0 {
            f64::NAN
        } else {
            f64::from(with) / f64::from(without)
        };
        report.row("peak after the return, with jitter / herd", ratio, Unit::Ratio);
        report.target(
            "with jitter, the peak after the return is at most a third of the herd's",
            ratio <= 1.0 / 3.0,
        );
    }
}
