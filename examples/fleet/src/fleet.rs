//! The devices: one scoutlb client each, with its own state file, acting at its own moment, on
//! the event-loop driver ([`event_loop`]) or a thread each ([`threads`]).

mod event_loop;
mod threads;
mod timers;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Connected, Server, ServerList, State};
use serde_json::{Map, Value, json};

pub use event_loop::most_in_flight;

/// `Device::on` when the device is connected nowhere.
const NOWHERE: usize = usize::MAX;

/// What every device is configured with besides its seeds and state file.
#[derive(Clone, Debug)]
pub struct DeviceSetup {
    /// The admin's keys (`--config`), under the tool's own.
    pub base: Arc<Map<String, Value>>,
    /// `"https"` with this `ca_file`, or plain HTTP.
    pub ca_file: Option<std::path::PathBuf>,
    /// The public key of the cluster's signed lists (`list_keys`), when it signs them.
    pub list_key: Option<String>,
    /// `failover_order = "spread"` (with the device's id) or `"list"`; `None`: as `base` says.
    pub spread: Option<bool>,
    /// The retry policy: base, factor, cap; `None`: as `base` says.
    pub retry: Option<Backoff>,
    /// The `rebalance` key; `None`: as `base` says.
    pub rebalance: Option<Value>,
}

/// Retry settings (the `retry` key): exponential backoff, or the handshake profile.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// First ceiling (the handshake's timer).
    pub base: Duration,
    /// Growth per try.
    pub factor: f64,
    /// Largest ceiling.
    pub cap: Duration,
    /// The handshake profile: `base` doubled after each try, [`HANDSHAKE_RETRIES`] retries.
    pub handshake: bool,
}

/// The handshake profile's `max_retries` in the tool (Scout's example).
pub const HANDSHAKE_RETRIES: u64 = 8;

impl Backoff {
    /// The wait before retry `n + 1` without jitter: `min(cap, base * factor^n)`, or the
    /// handshake's interval without its ± 10 %.
    pub fn ceiling(&self, n: u32) -> Duration {
        if self.handshake {
            return self.policy().wait(n, 0.5);
        }
        Duration::from_secs_f64(
            (self.base.as_secs_f64() * self.factor.powi(n.min(1000) as i32)).min(self.cap.as_secs_f64()),
        )
    }

    /// The `retry` key of these settings.
    pub fn json(&self) -> Value {
        if self.handshake {
            return json!({"profile": "handshake", "timer_ms": self.base.as_millis() as u64,
                          "max_retries": HANDSHAKE_RETRIES});
        }
        json!({
            "base_ms": self.base.as_millis() as u64,
            "factor": self.factor,
            "cap_ms": self.cap.as_millis() as u64,
            "max_tries": 0,
        })
    }

    fn policy(&self) -> scoutlb::RetryPolicy {
        let mut doc = Map::new();
        doc.insert("retry".into(), self.json());
        Config::from_map(&doc)
            .expect("the tool's retry settings are valid")
            .retry
    }
}

/// One simulated device.
pub struct Device {
    /// Its number in the fleet.
    pub index: usize,
    config: Config,
    client: Mutex<Option<Arc<Client>>>,
    on: AtomicUsize,
}

impl Device {
    /// The server the device is connected to now, if any.
    pub fn on(&self) -> Option<usize> {
        Some(self.on.load(Ordering::Relaxed)).filter(|&i| i != NOWHERE)
    }

    /// Its client, created on first use (a device's power-on), or anew when `restart` (a power
    /// cycle: what the old client kept in memory only, such as a drain, is gone).
    fn client(&self, restart: bool) -> Result<Arc<Client>, String> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if restart {
            // The old client is dropped before the new one loads the state file.
            *slot = None;
        }
        if let Some(c) = &*slot {
            return Ok(Arc::clone(c));
        }
        let client = Arc::new(Client::new(self.config.clone()).map_err(|e| e.to_string())?);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// The default server of its client (its state), when it has a client and a default.
    fn default_server(&self) -> Option<Server> {
        let slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref()?.state().default_server
    }
}

/// How many devices are connected to each server now.
pub struct Placement {
    per_server: Vec<AtomicI64>,
}

impl Placement {
    fn new(k: usize) -> Placement {
        Placement {
            per_server: (0..k).map(|_| AtomicI64::new(0)).collect(),
        }
    }

    /// Devices per server now.
    pub fn snapshot(&self) -> Vec<i64> {
        self.per_server.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

/// What a device does when its moment comes.
#[derive(Clone, Copy, Debug)]
pub enum Action {
    /// Power on: create the client (load its state file) and `connect()`.
    Boot,
    /// Power cycle: drop the client, create it again from its state file and `connect()`.
    Restart,
    /// Its connection was lost: `reconnect()`.
    Reconnect,
    /// Its connection was lost: the core's `connect_with_retry` (full jitter) until the time limit.
    RetryJitter {
        /// Give up at this moment.
        until: Instant,
    },
    /// Its connection was lost: `connect()` with the same backoff but no jitter, until the time limit.
    RetryHerd {
        /// The backoff, without jitter.
        backoff: Backoff,
        /// Give up at this moment.
        until: Instant,
    },
    /// A periodic check-in while connected: `connect()`, which asks its own server first; when
    /// that connect plans a rebalance (behaviour.md, "Rebalance"), the move at its moment
    /// (`Client::rebalance`). The device stays counted where it is meanwhile.
    CheckIn,
}

impl Action {
    /// Whether the device has lost its connection when its moment comes (all but a check-in).
    fn loses_connection(self) -> bool {
        !matches!(self, Action::CheckIn)
    }
}

/// A planned rebalance that a check-in carried out.
#[derive(Clone, Debug)]
pub struct Move {
    /// The lighter server of the plan.
    pub to: usize,
    /// The window its moment was drawn in.
    pub window: Duration,
    /// When the move's call ended.
    pub ended: Instant,
    /// The server it moved to, or why the move failed (the device stayed).
    pub result: Result<usize, String>,
}

/// What came of one device's action.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Its moment: when it was meant to begin.
    pub at: Instant,
    /// How long it took from its moment to connect (or to give up).
    pub took: Duration,
    /// The server it connected to, or why it failed.
    pub result: Result<usize, String>,
    /// The first server of its order that was up when it began: where it should end up.
    pub expected: Option<usize>,
    /// The rebalance its check-in planned and carried out ([`Action::CheckIn`]).
    pub moved: Option<Box<Move>>,
}

impl Outcome {
    /// Whether it connected somewhere other than the first live server of its order.
    pub fn migrated(&self) -> bool {
        matches!((&self.result, self.expected), (Ok(got), Some(want)) if *got != want)
    }
}

/// The fleet: its devices and their state files in a temp folder removed when it is dropped.
pub struct Fleet {
    devices: Vec<Arc<Device>>,
    placement: Arc<Placement>,
    by_port: Arc<HashMap<u16, usize>>,
    /// Thread spawns that failed (the machine's limit on threads was reached).
    pub spawn_failures: usize,
    driver: Driver,
    _dir: tempfile::TempDir,
}

impl Fleet {
    /// Writes the state files of `n` devices: `default_of(i)` is device i's default, `list` their cached list.
    pub fn prepare(
        parent: &Path,
        n: usize,
        addresses: &[String],
        list: &ServerList,
        default_of: &dyn Fn(usize) -> usize,
        setup: &DeviceSetup,
    ) -> Result<Fleet, String> {
        let dir = tempfile::Builder::new()
            .prefix("scoutlb-fleet")
            .tempdir_in(parent)
            .map_err(|e| format!("cannot make a temp folder in {}: {e}", parent.display()))?;
        let servers: Vec<Server> = addresses
            .iter()
            .map(|a| Server::parse(a, scoutlb::DEFAULT_PORT).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let by_port: HashMap<u16, usize> = servers.iter().enumerate().map(|(i, s)| (s.port(), i)).collect();
        let mut devices = Vec::with_capacity(n);
        for index in 0..n {
            // A folder per device, as on a real device: loading a state file scans its folder
            // for stale temp files, so one folder for all would cost every device O(fleet).
            let folder = dir.path().join(format!("device-{index:05}"));
            std::fs::create_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
            let path = folder.join("scout.json");
            let default = servers[default_of(index)].clone();
            let state = State {
                default_server: Some(default.clone()),
                list: Some(list.clone()),
                servers_from: Some(default),
                ..State::default()
            };
            // A plain write: the file is new and the run does not survive a crash of this machine.
            std::fs::write(&path, state.to_json(std::time::SystemTime::now()).to_string())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            devices.push(Arc::new(Device {
                index,
                config: device_config(index, addresses, Some(&path), setup)?,
                client: Mutex::new(None),
                on: AtomicUsize::new(NOWHERE),
            }));
        }
        Ok(Fleet {
            devices,
            placement: Arc::new(Placement::new(servers.len())),
            by_port: Arc::new(by_port),
            spawn_failures: 0,
            driver: Driver::Threads,
            _dir: dir,
        })
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// The devices connected to server `i` now.
    pub fn on_server(&self, i: usize) -> Vec<usize> {
        self.devices
            .iter()
            .filter(|d| d.on() == Some(i))
            .map(|d| d.index)
            .collect()
    }

    /// Whether device `index` is connected to a server now.
    pub fn is_connected(&self, index: usize) -> bool {
        self.devices[index].on().is_some()
    }

    /// The server that is device `index`'s default now (from its client's state), if any.
    pub fn default_of(&self, index: usize) -> Option<usize> {
        let server = self.devices[index].default_server()?;
        self.by_port.get(&server.port()).copied()
    }

    /// Devices per server, live.
    pub fn placement(&self) -> Arc<Placement> {
        Arc::clone(&self.placement)
    }

    /// Each device of `who` acts `offset` after the moment `trigger` returns, on the fleet's driver.
    ///
    /// Waits at most `limit` after the last moment for them all. `up[i]` says whether server i
    /// is up, for [`Outcome::expected`]. Returns the moment the trigger returned and the outcomes
    /// (a device that did not finish in time has none).
    pub fn act(
        &mut self,
        who: &[(usize, Duration)],
        action: Action,
        up: &[bool],
        limit: Duration,
        trigger: impl FnOnce(),
    ) -> (Instant, Vec<Outcome>) {
        let mut who = who.to_vec();
        who.sort_by_key(|&(_, offset)| offset);
        let shared = Arc::new(Shared {
            placement: Arc::clone(&self.placement),
            by_port: Arc::clone(&self.by_port),
            up: up.to_vec(),
        });
        match self.driver {
            Driver::Loop { threads, most } => {
                event_loop::act(&self.devices, &who, action, &shared, threads, most, limit, trigger)
            }
            Driver::Threads => {
                let (zero, outcomes, failures) = threads::act(&self.devices, &who, action, &shared, limit, trigger);
                self.spawn_failures += failures;
                (zero, outcomes)
            }
        }
    }

    /// The driver the devices' calls run on.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// Runs the devices' calls on `driver` from now on.
    pub fn set_driver(&mut self, driver: Driver) {
        self.driver = driver;
    }
}

/// How the devices' calls run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// The event-loop driver (`Client::start_connect`, `PendingCall`) on `threads` loop threads
    /// with epoll and a timer queue: no thread per device.
    Loop {
        /// Loop threads; the devices are dealt out among them.
        threads: usize,
        /// Most calls in flight at once (the process's descriptors allow no more); a device due
        /// beyond waits for its turn.
        most: usize,
    },
    /// A thread per device in flight, each with a blocking `Client` call.
    Threads,
}

/// What a device's action needs of the fleet besides the device.
pub(crate) struct Shared {
    placement: Arc<Placement>,
    by_port: Arc<HashMap<u16, usize>>,
    /// Whether server i is up, for [`Outcome::expected`].
    up: Vec<bool>,
}

impl Shared {
    fn index_of(&self, server: &Server) -> Option<usize> {
        self.by_port.get(&server.port()).copied()
    }
}

/// The start of a device's action at its moment `at`: it notices a lost connection, has its
/// client, and names the server it should end on. `Err`: the outcome when it has no client.
fn begin(device: &Device, at: Instant, action: Action, shared: &Shared) -> Result<(Arc<Client>, Outcome), Outcome> {
    if action.loses_connection()
        && let Some(i) = device.on()
    {
        // The device noticed that its connection is gone.
        shared.placement.per_server[i].fetch_sub(1, Ordering::Relaxed);
        device.on.store(NOWHERE, Ordering::Relaxed);
    }
    let mut outcome = Outcome {
        at,
        took: Duration::ZERO,
        result: Err(String::new()),
        expected: None,
        moved: None,
    };
    let client = match device.client(matches!(action, Action::Restart)) {
        Ok(c) => c,
        Err(e) => {
            outcome.result = Err(e);
            outcome.took = at.elapsed();
            return Err(outcome);
        }
    };
    let order = match action {
        Action::Reconnect => client.connection_lost(),
        _ => client.candidates(),
    };
    outcome.expected = order.iter().filter_map(|s| shared.index_of(s)).find(|&i| shared.up[i]);
    Ok((client, outcome))
}

/// The end of a device's action: its call's `result` applied to the device and the placement.
fn conclude(device: &Device, mut outcome: Outcome, result: scoutlb::Result<Connected>, shared: &Shared) -> Outcome {
    outcome.took = outcome.at.elapsed();
    outcome.result = placed(device, result, shared);
    outcome
}

/// The server a call's `result` connected the device to, counted there (and no longer where it
/// was); or why not (a failed check-in or move leaves it counted where it was).
fn placed(device: &Device, result: scoutlb::Result<Connected>, shared: &Shared) -> Result<usize, String> {
    let c = result.map_err(|e| e.to_string())?;
    let i = shared
        .index_of(&c.server)
        .ok_or_else(|| format!("connected to {}, which is not a server of the cluster", c.server))?;
    let was = device.on.swap(i, Ordering::Relaxed);
    if was != i {
        if was != NOWHERE {
            shared.placement.per_server[was].fetch_sub(1, Ordering::Relaxed);
        }
        shared.placement.per_server[i].fetch_add(1, Ordering::Relaxed);
    }
    Ok(i)
}

/// The plan a check-in's connect made, as the moment of the move and its target; `None` for
/// other actions, failed connects and connects that planned nothing.
fn planned(
    action: Action,
    result: &scoutlb::Result<Connected>,
    shared: &Shared,
) -> Option<(Duration, usize, Duration)> {
    let plan = match (action, result) {
        (Action::CheckIn, Ok(c)) => c.rebalance.as_ref()?,
        _ => return None,
    };
    Some((plan.after, shared.index_of(&plan.to)?, plan.window))
}

/// A check-in's planned move, carried out: `result` of `Client::rebalance` applied to the device.
fn moved(
    device: &Device,
    to: usize,
    window: Duration,
    result: scoutlb::Result<Option<Connected>>,
    shared: &Shared,
) -> Move {
    let result = match result {
        Ok(Some(c)) => placed(device, Ok(c), shared),
        Ok(None) => Err("the plan was gone".to_owned()),
        Err(e) => Err(e.to_string()),
    };
    Move {
        to,
        window,
        ended: Instant::now(),
        result,
    }
}

/// The keys the tool sets on every device itself, which `--config` may not set.
pub const TOOL_KEYS: &[&str] = &["servers", "state_file", "device_id", "manager_load_balancer"];

/// The `device_id` of device `index`.
pub fn device_id(index: usize) -> String {
    format!("device-{index:05}")
}

/// The configuration of device `index` (with its state file, when given): the admin's keys, then
/// the tool's, as JSON with the keys every surface takes.
pub fn device_config(
    index: usize,
    addresses: &[String],
    state: Option<&Path>,
    setup: &DeviceSetup,
) -> Result<Config, String> {
    let mut doc = (*setup.base).clone();
    doc.insert("servers".into(), json!(addresses));
    if let Some(state) = state {
        doc.insert("state_file".into(), json!(state));
    }
    doc.insert("device_id".into(), json!(device_id(index)));
    if let Some(spread) = setup.spread {
        doc.insert("failover_order".into(), json!(if spread { "spread" } else { "list" }));
    }
    if let Some(retry) = setup.retry {
        doc.insert("retry".into(), retry.json());
    }
    if let Some(rebalance) = &setup.rebalance {
        doc.insert("rebalance".into(), rebalance.clone());
    }
    if let Some(ca) = &setup.ca_file {
        doc.insert("scheme".into(), json!("https"));
        doc.insert("ca_file".into(), json!(ca));
    }
    if let Some(key) = &setup.list_key {
        doc.insert("list_keys".into(), json!([key]));
    }
    Config::from_map(&doc).map_err(|e| format!("device configuration: {e}"))
}
