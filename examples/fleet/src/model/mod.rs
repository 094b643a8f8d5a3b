//! `--model`: the scenarios as a discrete-event simulation instead of sockets and threads.
//!
//! Each device is the library's own state machine (`scoutlb::Device` and its `Connect`), driven
//! as the core's blocking driver drives it, on a simulated clock against modelled servers
//! ([`sim`]); the scenarios ([`scenarios`]) are those of the socket runs, with the same figures,
//! checks and pictures. `--calibrate` runs a scenario both ways and compares ([`calibrate`]).

pub mod calibrate;
pub mod scenarios;
pub mod sim;

use std::time::{Duration, Instant};

use clap::Args;

use crate::cli::Cli;
use crate::fleet::{Backoff, DeviceSetup};
use crate::report::say;

/// The model's options (with `--model` or `--calibrate`).
#[derive(Clone, Debug, Args)]
pub struct Options {
    /// Run the scenario in the model: every device's state machine on a simulated clock against
    /// modelled servers, no sockets, no threads per device; deterministic from --seed.
    #[arg(long, global = true, conflicts_with = "calibrate")]
    pub model: bool,
    /// Run the scenario both ways, in the model and on sockets, for each --calibrate-devices, and
    /// compare the figures (migrations, per-server shares, time until all are back).
    #[arg(long, global = true)]
    pub calibrate: bool,
    /// The fleet sizes of --calibrate.
    #[arg(long, global = true, value_delimiter = ',', default_values_t = [3000usize, 10000])]
    pub calibrate_devices: Vec<usize>,
    /// Requests one modelled server answers per second (a queue holds the rest).
    #[arg(long, global = true, default_value_t = DEFAULT_CAPACITY)]
    pub model_capacity: f64,
    /// Median answer time of one request once the modelled server takes it, in ms (log-normal).
    #[arg(long, global = true, default_value_t = DEFAULT_ANSWER_MS)]
    pub model_answer_ms: f64,
    /// Spread of the answer time: the sigma of its logarithm (0 = always the median).
    #[arg(long, global = true, default_value_t = DEFAULT_SPREAD)]
    pub model_answer_spread: f64,
    /// Time until an attempt's connection is up (or refused), in ms.
    #[arg(long, global = true, default_value_t = DEFAULT_CONNECT_MS)]
    pub model_connect_ms: f64,
    /// Most requests waiting at one modelled server (its listen backlog); beyond, a connection is
    /// dropped and its attempt times out.
    #[arg(long, global = true, default_value_t = DEFAULT_QUEUE)]
    pub model_queue: usize,
    /// Calls per second the devices can begin together (default: no limit, as real devices each
    /// on its own CPU); --calibrate uses the socket fleet's own rate on this machine and driver
    /// (LOOP_FLEET_RATE or THREAD_FLEET_RATE), unless this is given.
    #[arg(long, global = true)]
    pub model_fleet_rate: Option<f64>,
    /// Time a modelled server takes to start again (restart, return after an outage), in ms.
    #[arg(long, global = true, default_value_t = DEFAULT_RESTART_MS)]
    pub model_restart_ms: f64,
    /// In `server-down`, also drain the victim (it answers every request with HTTP 503 and
    /// Retry-After, as `scout-server drain` does).
    #[arg(long, global = true)]
    pub model_drain: bool,
}

/// Default of `--model-capacity`: requests per second of one scout-server, measured (README).
pub const DEFAULT_CAPACITY: f64 = 7500.0;
/// Default of `--model-answer-ms`: median answer time of one scout-server, measured (README).
pub const DEFAULT_ANSWER_MS: f64 = 0.2;
/// Default of `--model-answer-spread`.
pub const DEFAULT_SPREAD: f64 = 0.5;
/// Default of `--model-connect-ms`: a loopback connect through the counting proxy.
pub const DEFAULT_CONNECT_MS: f64 = 0.1;
/// Calls per second the socket fleet's devices begin together in one process on the shared
/// 2-core development machine on the thread driver (thread starts, connections, state-file
/// writes; measured, README): the rate `--calibrate --driver threads` gives the model unless
/// `--model-fleet-rate` is set.
pub const THREAD_FLEET_RATE: f64 = 1000.0;
/// The same on the loop driver (one loop thread: 3,334 devices of a killed server back in
/// 0.75–0.82 s, 1,000 in 0.22–0.25 s; measured, README): the rate of `--calibrate`.
pub const LOOP_FLEET_RATE: f64 = 4000.0;

/// The socket fleet's own rate on `driver`, which `--calibrate` gives the model.
pub fn socket_fleet_rate(driver: crate::cli::DriverChoice) -> f64 {
    match driver {
        crate::cli::DriverChoice::Loop => LOOP_FLEET_RATE,
        crate::cli::DriverChoice::Threads => THREAD_FLEET_RATE,
    }
}
/// Default of `--model-queue`: the listen backlog of scout-server and of the tool's proxies.
pub const DEFAULT_QUEUE: usize = 4096;
/// Default of `--model-restart-ms`: a scout-server's start until it answers, measured (README).
pub const DEFAULT_RESTART_MS: f64 = 30.0;

impl Options {
    /// The servers' parameters, checked.
    pub fn params(&self) -> Result<sim::Params, String> {
        let ms = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(Duration::from_secs_f64(v / 1000.0))
            } else {
                Err(format!("--{name} must be a number of milliseconds ≥ 0, not {v}"))
            }
        };
        if !(self.model_capacity.is_finite() && self.model_capacity > 0.0) {
            return Err(format!(
                "--model-capacity must be a number of requests per second > 0, not {}",
                self.model_capacity
            ));
        }
        if !(self.model_answer_spread.is_finite() && self.model_answer_spread >= 0.0) {
            return Err(format!(
                "--model-answer-spread must be ≥ 0, not {}",
                self.model_answer_spread
            ));
        }
        let fleet_rate = match self.model_fleet_rate {
            Some(r) if !(r.is_finite() && r > 0.0) => {
                return Err(format!(
                    "--model-fleet-rate must be a number of calls per second > 0, not {r}"
                ));
            }
            r => r,
        };
        Ok(sim::Params {
            fleet_rate,
            capacity: self.model_capacity,
            answer: ms("model-answer-ms", self.model_answer_ms)?,
            spread: self.model_answer_spread,
            connect: ms("model-connect-ms", self.model_connect_ms)?,
            queue: self.model_queue,
        })
    }

    /// The restart time of a modelled server.
    pub fn restart(&self) -> Duration {
        Duration::from_secs_f64(self.model_restart_ms.max(0.0) / 1000.0)
    }

    /// The parameters in words, for titles.
    pub fn describe(&self) -> String {
        let fleet = self
            .model_fleet_rate
            .map_or(String::new(), |r| format!(", devices begin {r} calls/s together"));
        format!(
            "capacity {}/s per server, answer {} ms (spread {}){fleet}",
            self.model_capacity, self.model_answer_ms, self.model_answer_spread
        )
    }
}

/// What the model knows of one invocation.
pub struct ModelContext {
    /// The command-line options.
    pub common: crate::cli::Common,
    /// The devices' keys of `--config`.
    pub device_keys: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
    /// The servers' parameters.
    pub params: sim::Params,
    /// A moment the simulated times are written from in the socket runs' outcome type: a label
    /// only, no figure reads the clock.
    pub anchor: Instant,
}

impl ModelContext {
    /// The device settings with the given order and backoff (`None`: as `--config` says).
    pub fn setup(&self, spread: Option<bool>, retry: Option<Backoff>) -> DeviceSetup {
        DeviceSetup {
            base: std::sync::Arc::clone(&self.device_keys),
            ca_file: None,
            list_key: None,
            spread,
            retry,
            rebalance: None,
        }
    }
}

/// The title of a model run of `scenario`.
pub fn title(cli: &Cli) -> String {
    let c = &cli.common;
    format!(
        "model: {}: {} devices, {} servers, {}, window {}",
        cli.scenario.name(),
        c.devices,
        c.servers,
        c.model.describe(),
        humantime::format_duration(c.window)
    )
}

/// One invocation in the model: `--repeat` runs (seeds `--seed` on), the report, the picture.
pub fn reports(cli: &Cli) -> Result<crate::Done, String> {
    let common = cli.common.clone();
    if common.tls || common.signed || common.postgres || common.db.is_some() {
        return Err(
            "the model has no TLS, signed lists or database: leave out --tls, --signed, --postgres and --db with --model"
                .into(),
        );
    }
    let ctx = ModelContext {
        device_keys: std::sync::Arc::new(crate::device_keys(common.config.as_deref())?),
        params: common.model.params()?,
        common: common.clone(),
        anchor: Instant::now(),
    };
    let title = title(cli);
    say(common.json, &title);
    let mut reports = Vec::new();
    let mut chart = Vec::new();
    for r in 0..common.repeat {
        let started = Instant::now();
        let (run, stats) = scenarios::run(&ctx, &cli.scenario, common.seed + u64::from(r))?;
        say(
            common.json,
            format_args!(
                "model run {}: {} events, {:.1} s simulated in {:.2} s, at most {} calls in flight at once, peak RSS {}",
                r + 1,
                stats.events,
                stats.simulated.as_secs_f64(),
                started.elapsed().as_secs_f64(),
                stats.peak_calls,
                crate::limits::peak_rss_kib().map_or("unknown".to_owned(), |k| format!("{} MiB", k / 1024)),
            ),
        );
        reports.push(run.report);
        chart = run.chart;
    }
    let png = common.png_dir.join(format!("fleet-model-{}.png", cli.scenario.name()));
    Ok(crate::Done {
        title,
        reports,
        chart,
        png,
    })
}
