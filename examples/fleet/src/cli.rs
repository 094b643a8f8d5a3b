//! Command-line options (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Simulates a fleet of scoutlb devices against a scout-server cluster it starts itself, and
/// measures what the fleet does in a boot storm, a server failure, an outage, a rolling restart, a
/// drain and a refusal.
#[derive(Debug, Parser)]
#[command(name = "scoutlb-fleet", version)]
pub struct Cli {
    /// Options every scenario takes.
    #[command(flatten)]
    pub common: Common,
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// Options every scenario takes.
#[derive(Clone, Debug, Args)]
pub struct Common {
    /// Number of devices, each a scoutlb client with its own state file.
    #[arg(long, default_value_t = 10_000, global = true)]
    pub devices: usize,
    /// Number of scout-server processes in the cluster.
    #[arg(long, default_value_t = 3, global = true, value_parser = clap::value_parser!(u16).range(1..=26))]
    pub servers: u16,
    /// Devices arrive (power on) at random moments within this window; 0 = all at once.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub window: Duration,
    /// PostgreSQL URL of the cluster's database (default: a SQLite file in the temp folder).
    #[arg(long, value_name = "postgres://URL", global = true, conflicts_with = "postgres")]
    pub db: Option<String>,
    /// Start a throw-away PostgreSQL (Debian's postgresql package) for the cluster's database.
    #[arg(long, global = true)]
    pub postgres: bool,
    /// Run the cluster over HTTPS with a self-signed certificate made at start.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Sign the server list (behaviour.md, "Signed lists"): a key made at start, every server
    /// signing with it (`--list-key`), every device trusting it (`list_keys`).
    #[arg(long, global = true)]
    pub signed: bool,
    /// The scout-server binary (default: beside this program).
    #[arg(long, value_name = "PATH", global = true)]
    pub scout_server: Option<PathBuf>,
    /// Folder in which the devices' state folders are made (default: /dev/shm when it exists, else the temp folder).
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Folder the pictures are written to.
    #[arg(long, value_name = "DIR", default_value = ".", global = true)]
    pub png_dir: PathBuf,
    /// Run the scenario this many times and print the median of every figure.
    #[arg(long, default_value_t = 1, global = true, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repeat: u32,
    /// Seed of the arrival times (the same seed gives the same arrivals).
    #[arg(long, default_value_t = 1, global = true)]
    pub seed: u64,
    /// The devices' configuration (JSON, the library's keys: timeouts, delays, probe "http" or
    /// "tcp", retry, ...); the tool sets servers, state_file and device_id itself.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// How the devices' calls run: on the event-loop driver, multiplexed with epoll on
    /// `--loop-threads` threads, or a thread per device in flight with blocking calls.
    #[arg(long, value_enum, default_value_t = DriverChoice::Loop, global = true)]
    pub driver: DriverChoice,
    /// Loop threads of `--driver loop`; the devices are dealt out among them.
    #[arg(long, default_value_t = 1, global = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub loop_threads: u16,
    /// Print the figures, checks and verdict as one JSON document on stdout (progress goes to stderr).
    #[arg(long, global = true)]
    pub json: bool,
    /// The model's options (`--model`, `--calibrate`).
    #[command(flatten)]
    pub model: crate::model::Options,
}

/// The scenarios.
#[derive(Clone, Debug, Subcommand)]
pub enum Scenario {
    /// Every device starts with its default on a live server: latency, failures, migrations, load.
    BootStorm {
        /// Where the devices' defaults are: all on the first server, or spread over all.
        #[arg(long, value_enum, default_value_t = Defaults::One)]
        defaults: Defaults,
    },
    /// A steady fleet; one server is killed (SIGKILL) or hung (SIGSTOP); its devices reconnect.
    ServerDown {
        /// How the server goes down.
        #[arg(long, value_enum, default_value_t = SignalChoice::Both)]
        signal: SignalChoice,
        /// The devices' `failover_order`.
        #[arg(long, value_enum, default_value_t = OrderChoice::Both)]
        order: OrderChoice,
        /// The server that goes down: A, B, C, ... (in `list` order its devices go to the next one).
        #[arg(long, default_value = "A", value_parser = server_letter)]
        victim: usize,
    },
    /// Every server down for a while, every device retrying; with full jitter and without.
    Outage {
        /// How long every server stays down.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        outage: Duration,
        /// First backoff ceiling of the retry.
        #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
        retry_base: Duration,
        /// Largest backoff ceiling of the retry.
        #[arg(long, default_value = "4s", value_parser = humantime::parse_duration)]
        retry_cap: Duration,
        /// Which retry to run: the core's (full jitter), the herd (no jitter), or both.
        #[arg(long, value_enum, default_value_t = JitterChoice::Both)]
        jitter: JitterChoice,
        /// The `retry` profile of the devices (behaviour.md, "All fail"): backoff, handshake
        /// (Scout's schedule: `--retry-base` is its timer, 8 retries, ± 10 %), or both.
        #[arg(long, value_enum, default_value_t = ProfileChoice::Backoff)]
        retry_profile: ProfileChoice,
    },
    /// The servers are restarted one by one (SIGTERM, then started again).
    RollingRestart {
        /// Wait after a server is back before the next one stops.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        pause: Duration,
        /// Each server drains this many seconds on SIGTERM before it stops (`--drain-on-stop`,
        /// with `--retry-after` the same), and every device starts up once at the end.
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
        drain: Option<u64>,
        /// The opt-in rebalance (behaviour.md, "Rebalance"): on, and its check-in after the restart.
        #[command(flatten)]
        rebalance: RebalanceArgs,
    },
    /// A steady fleet; server A is drained through its admin endpoint, its devices reconnect
    /// elsewhere; then A is undrained and its devices start up again. With `--rebalance`: a drain
    /// that keeps its devices, which leave A by the rebalance, and come back after the undrain.
    Drain {
        /// The drain's `Retry-After` in seconds (`retry_after` of the admin request).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        retry_after: u64,
        /// The devices' opt-in rebalance, and a drain that keeps the devices (`drain?keep=true`).
        #[command(flatten)]
        rebalance: RebalanceArgs,
    },
    /// A cluster that refuses devices (`--known-devices`); every device calls
    /// `connect_with_retry` for a fixed time: the contract's slow retry against a plain backoff.
    Refused {
        /// Which devices the cluster's `--known-devices` names: none, or every second one.
        #[arg(long, value_enum, default_value_t = KnownChoice::Half)]
        known: KnownChoice,
        /// How long the devices keep trying (then they are stopped).
        #[arg(long = "for", value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
        run_for: Duration,
        /// First backoff ceiling of the retry (the library's default).
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        retry_base: Duration,
        /// Largest backoff ceiling of the retry (the library's default): a refused device waits
        /// [cap/2, cap] between tries.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        retry_cap: Duration,
    },
    /// A steady fleet; `scout-server relocate` moves some devices to a named server: every device
    /// checks in, then the relocated ones start up (online) or reconnect (offline), then the others.
    Relocate {
        /// How many devices are relocated (the first ones, by id, that are not on the target).
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// The server they belong on: A, B, C, ...
        #[arg(long, default_value = "B", value_parser = server_letter)]
        to: usize,
        /// How they move.
        #[arg(long, value_enum, default_value_t = RelocateMode::Online)]
        mode: RelocateMode,
    },
}

/// The opt-in rebalance of a scenario: the devices' `rebalance` keys, and the check-in of every
/// device that lets them plan and make their moves.
#[derive(Clone, Copy, Debug, Args)]
pub struct RebalanceArgs {
    /// Turn the devices' rebalance on; at the end every device checks in once (a `connect()`)
    /// and makes the move it planned at its moment.
    #[arg(long)]
    pub rebalance: bool,
    /// The check-ins come at random moments within this period.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, requires = "rebalance")]
    pub check_in: Duration,
    /// The devices' `rebalance.window_ms`: the shortest window of a move.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, requires = "rebalance")]
    pub rebalance_window: Duration,
    /// The devices' `rebalance.rate`: most moves per second into one server (the library's default).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..), requires = "rebalance")]
    pub rebalance_rate: u32,
}

/// How the devices of `relocate` move (the wire format's `relocate.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RelocateMode {
    /// At their next start-up, once the target answered.
    Online,
    /// The target is their default at once; they move at their next connect.
    Offline,
}

impl RelocateMode {
    /// The mode as the wire format and `scout-server relocate --mode` spell it.
    pub fn name(self) -> &'static str {
        match self {
            RelocateMode::Online => "online",
            RelocateMode::Offline => "offline",
        }
    }
}

impl Scenario {
    /// The scenario's name as typed on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::BootStorm { .. } => "boot-storm",
            Scenario::ServerDown { .. } => "server-down",
            Scenario::Outage { .. } => "outage",
            Scenario::RollingRestart { .. } => "rolling-restart",
            Scenario::Drain { .. } => "drain",
            Scenario::Refused { .. } => "refused",
            Scenario::Relocate { .. } => "relocate",
        }
    }
}

/// How the devices' calls run (`--driver`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DriverChoice {
    /// The event-loop driver: every call a `PendingCall` on a few epoll loop threads.
    Loop,
    /// A thread per device in flight, with a blocking call.
    Threads,
}

/// Which devices the cluster of `refused` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KnownChoice {
    /// None: every device is refused.
    None,
    /// Every second device (the even ones); the others are refused.
    Half,
}

/// Where the devices' defaults are before a boot storm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Defaults {
    /// Every device's default is the first server.
    One,
    /// Device i's default is server i mod k.
    Spread,
}

/// How the server of `server-down` goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SignalChoice {
    /// SIGKILL: a crash; connections are refused.
    Kill,
    /// SIGSTOP: a hung server that still accepts connections.
    Stop,
    /// One run of each.
    Both,
}

/// The devices' `failover_order` in `server-down`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OrderChoice {
    /// `"list"`: the next entry of the server list.
    List,
    /// `"spread"`: rendezvous hashing on the device id.
    Spread,
    /// One run of each.
    Both,
}

/// Which retry the `outage` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JitterChoice {
    /// The core's `connect_with_retry`: exponential backoff with full jitter.
    On,
    /// The same backoff without jitter, driven by this tool: the herd.
    Off,
    /// One run of each, compared.
    Both,
}

impl JitterChoice {
    /// The runs it asks for, each `true` for the core's retry (with jitter), in the order run.
    pub fn runs(self) -> &'static [bool] {
        match self {
            JitterChoice::On => &[true],
            JitterChoice::Off => &[false],
            JitterChoice::Both => &[true, false],
        }
    }
}

/// Which `retry` profile the `outage` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileChoice {
    /// `"backoff"`: exponential backoff, base `--retry-base`, factor 2, cap `--retry-cap`.
    Backoff,
    /// `"handshake"`: Scout's schedule, timer `--retry-base`, doubling, 8 retries.
    Handshake,
    /// One run of each.
    Both,
}

impl ProfileChoice {
    /// The runs it asks for, each `true` for the handshake profile, in the order run.
    pub fn runs(self) -> &'static [bool] {
        match self {
            ProfileChoice::Backoff => &[false],
            ProfileChoice::Handshake => &[true],
            ProfileChoice::Both => &[false, true],
        }
    }
}

/// A server's letter (A, B, ...; case does not matter) as its index.
fn server_letter(text: &str) -> Result<usize, String> {
    match text.as_bytes() {
        [c] if c.is_ascii_alphabetic() => Ok(usize::from(c.to_ascii_uppercase() - b'A')),
        _ => Err(format!("`{text}` is not a server letter (A, B, C, ...)")),
    }
}
