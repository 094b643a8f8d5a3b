//! The client handle: the blocking driver of the device state machine ([`scoutlb_proto::Device`]).
//!
//! The device's rules are pure; this module carries out their effects: it runs connect calls with
//! threads ([`crate::attempt`]), reports events, and writes the state file. No lock of the client
//! is held across DNS, a probe or file I/O, so a call's `deadline_ms` holds whatever other threads
//! do: the device is locked only to start and to finish a call, and a save waits for the state
//! file's lock at most [`STATE_LOCK_WAIT`] (behaviour.md, "State file").

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use scoutlb_proto::{Call, Connect, Device, Draws, Effect, Plan};

use crate::attempt::{self, Context, LookupJob};
use crate::cancel::{Canceller, SLICE, sleep_until};
use crate::emit::emit;
use crate::event_loop::{LoopProbe, PendingCall};
use crate::fork_lock::{ForkGuard, ForkLock};
use crate::https::BalancerNames;
use crate::lookup;
use crate::probe::{HttpProbe, Probe, TcpProbe};
use crate::state::{STATE_LOCK_WAIT, StateFile};
use crate::{
    Config, Connected, Error, Event, EventSink, ManagerLoadBalancer, ProbeKind, Result, Server, ServerList, State,
};

/// A device's connection chooser; cheap to share between threads (`Send + Sync`).
pub struct Client {
    config: Config,
    seeds: Vec<Server>,
    probe: Option<Arc<dyn Probe>>,
    sink: Option<Arc<dyn EventSink>>,
    state_file: Option<StateFile>,
    /// The device's state and rules; locked only for short pure steps, never across I/O. Shared
    /// with the lookup thread of a start-up, which keeps its answer for this restart.
    device: Arc<ForkLock<Device>>,
    rng: ForkLock<fastrand::Rng>,
    canceller: Canceller,
    /// Why the state file was dropped at creation (behaviour.md, "State file"), if it was.
    state_dropped: Option<String>,
    /// DHCP option 222 read at creation and the lease it came from (behaviour.md, "First contact from DHCP").
    dhcp: Option<(std::path::PathBuf, scoutlb_proto::FirstContact)>,
    /// The balancer's addresses, whose certificates the https probe checks against its name (behaviour.md, "TLS").
    balancer_names: Arc<BalancerNames>,
    /// This client among the process's clients, so that only it finishes its event-loop calls.
    id: u64,
    /// The probe of the event-loop driver, built at its first call (behaviour.md, "Event loops").
    loop_probe: std::sync::OnceLock<Arc<LoopProbe>>,
}

/// The next [`Client`]'s id.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`] with an event sink, a callback probe or a fixed random seed.
pub struct ClientBuilder {
    config: Config,
    probe: Option<Arc<dyn Probe>>,
    sink: Option<Arc<dyn EventSink>>,
    seed: Option<u64>,
}

impl ClientBuilder {
    /// Receive the client's events.
    pub fn events(mut self, sink: impl EventSink + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Receive the client's events through a shared sink.
    pub fn events_arc(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The agent's own probe, required by `"probe": "callback"` (and refused with any other probe).
    pub fn probe(mut self, probe: impl Probe + 'static) -> Self {
        self.probe = Some(Arc::new(probe));
        self
    }

    /// Use this probe through a shared handle.
    pub fn probe_arc(mut self, probe: Arc<dyn Probe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Seed the random numbers of the retry jitter and SRV weights (for tests).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Create the client: open and load the state file, build the probe.
    pub fn build(self) -> Result<Client> {
        let mut config = self.config;
        crate::scout_ini::read_into(&mut config)?;
        config.validate()?;
        let balancer_names = Arc::new(BalancerNames::of(config.manager_load_balancer.as_ref()));
        let probe: Option<Arc<dyn Probe>> = match (self.probe, config.probe) {
            (Some(p), ProbeKind::Callback) => Some(p),
            (Some(_), _) => {
                return Err(Error::config(
                    "probe",
                    "a probe callback is given, so `probe` must be \"callback\"",
                ));
            }
            // Built-in probes resolve host names through the configured DNS settings, if any.
            (None, ProbeKind::Http) => Some(Arc::new(HttpProbe::with_names(&config, Arc::clone(&balancer_names))?)),
            (None, ProbeKind::Tcp) => Some(crate::probe::with_configured_dns(Arc::new(TcpProbe), &config)),
            (None, ProbeKind::Callback) => {
                return Err(Error::config(
                    "probe",
                    "\"callback\" needs a probe callback given when the client is created",
                ));
            }
            (None, _) => None,
        };
        let sink = self.sink;
        let (state_file, state, state_dropped) = match &config.state_file {
            None => (None, State::default(), None),
            Some(path) => {
                let file = StateFile::open(path)?;
                let loaded = file.load()?;
                let dropped = loaded.warning.map(|message| {
                    let event = Event::StateFileProblem {
                        path: path.clone(),
                        message,
                    };
                    let text = event.to_string();
                    emit(sink.as_deref(), event);
                    text
                });
                (Some(file), loaded.state, dropped)
            }
        };
        let rng = match self.seed {
            Some(s) => fastrand::Rng::with_seed(s),
            None => fastrand::Rng::new(),
        };
        let dhcp = crate::dhcp::first_contact(&config, |event| emit(sink.as_deref(), event));
        let dhcp_servers = dhcp.as_ref().map(|f| f.contact.servers.as_slice()).unwrap_or(&[]);
        let device = Device::with_first_contact(&config, state, dhcp_servers)?;
        Ok(Client {
            dhcp: dhcp.map(|f| (f.lease, f.contact)),
            balancer_names,
            seeds: device.seeds().to_vec(),
            config,
            probe,
            sink,
            state_file,
            device: Arc::new(ForkLock::new(device)),
            rng: ForkLock::new(rng),
            canceller: Canceller::new(),
            state_dropped,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            loop_probe: std::sync::OnceLock::new(),
        })
    }
}

/// Lock a part of the client; a panic elsewhere never poisons it, and a child made by `fork`
/// while another thread held it takes it over (see [`crate::fork_lock`]).
fn lock<T>(m: &ForkLock<T>) -> ForkGuard<'_, T> {
    m.lock()
}

impl Client {
    /// Create a client with the configured probe and no event sink.
    pub fn new(config: Config) -> Result<Self> {
        Self::builder(config).build()
    }

    /// Start building a client.
    pub fn builder(config: Config) -> ClientBuilder {
        ClientBuilder {
            config,
            probe: None,
            sink: None,
            seed: None,
        }
    }

    /// The configuration this client was created with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Parse a server address as this client's configuration does (its `default_port` fills in).
    pub fn parse_server(&self, text: &str) -> Result<Server> {
        Ok(Server::parse(text, self.config.default_port)?)
    }

    /// The seed servers: the configured ones, or DHCP option 222's and `ScoutSrv` when none is configured.
    pub fn seeds(&self) -> &[Server] {
        &self.seeds
    }

    /// The handle that cancels this client's calls (behaviour.md, "Cancel").
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    fn emit(&self, event: Event) {
        emit(self.sink.as_deref(), event)
    }

    /// The cached server list (empty when none was received yet).
    pub fn server_list(&self) -> Vec<Server> {
        lock(&self.device)
            .state()
            .list
            .as_ref()
            .map(ServerList::servers)
            .unwrap_or_default()
    }

    /// The default server: the last one connected to successfully.
    pub fn default_server(&self) -> Option<Server> {
        lock(&self.device).state().default_server.clone()
    }

    /// DHCP option 222 as read when the client was created (its servers are among the seeds), and
    /// the lease file it came from; `None` when `dhcp_leases` found none or was not read.
    pub fn dhcp_first_contact(&self) -> Option<(&std::path::Path, &scoutlb_proto::FirstContact)> {
        self.dhcp.as_ref().map(|(p, c)| (p.as_path(), c))
    }

    /// Why the state file was not used when this client was created: it could not be parsed and
    /// was moved aside (also a `StateFileProblem` event); `None` when it was used or absent.
    pub fn state_dropped(&self) -> Option<&str> {
        self.state_dropped.as_deref()
    }

    /// A copy of the whole remembered state.
    pub fn state(&self) -> State {
        lock(&self.device).state().clone()
    }

    /// The failover order from the default server, without the ManagerLoadBalancer.
    pub fn failover_order(&self) -> Vec<Server> {
        lock(&self.device).failover_order()
    }

    /// The balancer lookup of a start-up, to run on its own thread; its answer is kept for this client.
    fn lookup_job(&self, entry: &ManagerLoadBalancer) -> LookupJob {
        let (entry, config, device) = (entry.clone(), self.config.clone(), Arc::clone(&self.device));
        let names = Arc::clone(&self.balancer_names);
        let seed = lock(&self.rng).u64(..);
        Box::new(move || {
            let mut events = Vec::new();
            let evaluation = lookup::evaluate(&entry, &config, seed, &mut |e| events.push(e));
            (lookup::keep(evaluation, &names, &device), events)
        })
    }

    /// The balancer's addresses for this client, resolved on first use and kept until it is dropped.
    ///
    /// The lookup holds no lock of the client; it is given up (an empty answer) when the client is
    /// cancelled or `deadline_ms` passes first.
    pub fn balancer_addresses(&self) -> Vec<Server> {
        let Some(entry) = &self.config.manager_load_balancer else {
            return Vec::new();
        };
        if let Some(evaluation) = lock(&self.device).balancer() {
            return evaluation.servers.clone();
        }
        let job = self.lookup_job(entry);
        let (tx, rx) = mpsc::channel();
        let spawned = thread::Builder::new().name("scoutlb-lookup".into()).spawn(move || {
            let _ = tx.send(job());
        });
        if let Err(e) = spawned {
            log::warn!(target: "scoutlb", "cannot start the lookup thread: {e}");
            return Vec::new();
        }
        let until = Instant::now() + self.config.deadline;
        loop {
            match rx.recv_timeout(SLICE) {
                Ok((evaluation, events)) => {
                    events.into_iter().for_each(|e| self.emit(e));
                    return evaluation.servers;
                }
                Err(mpsc::RecvTimeoutError::Timeout) if !self.canceller.is_cancelled() && Instant::now() < until => {}
                Err(_) => {
                    log::info!(target: "scoutlb", "ManagerLoadBalancer {entry}: lookup given up (cancelled or past the deadline)");
                    return Vec::new();
                }
            }
        }
    }

    /// The candidates of a start-up: the balancer's addresses, then the failover order.
    pub fn candidates(&self) -> Vec<Server> {
        if self.balancer_addresses().is_empty() {
            return self.failover_order();
        }
        lock(&self.device).candidates()
    }

    /// Carry out the device's effects: report the events, make the save (waiting for the state
    /// file's lock until `until` at the latest); returns why the save failed, if it did.
    fn apply(&self, effects: Vec<Effect>, until: Instant, stop: &dyn Fn() -> bool) -> Option<Error> {
        let mut failure = None;
        for effect in effects {
            match effect {
                Effect::Emit(event) => self.emit(event),
                Effect::Save => failure = self.save(until, stop).err(),
                _ => {}
            }
        }
        failure
    }

    /// Write the newest state; a failed or deferred save is reported and made again at the next chance.
    fn save(&self, until: Instant, stop: &dyn Fn() -> bool) -> Result<()> {
        let Some(file) = &self.state_file else { return Ok(()) };
        // Another call that is saving writes the newest state, so this one waits for it until its
        // own deadline; another process's lock is waited for at most STATE_LOCK_WAIT.
        let left = until.saturating_duration_since(Instant::now());
        let mut version = 0;
        let mut snapshot = || {
            let device = lock(&self.device);
            // A save made while this call waited wrote this call's state too.
            device.is_behind().then(|| {
                let (state, v) = device.to_save();
                version = v;
                state
            })
        };
        let result = file.save_snapshot(&mut snapshot, left, left.min(STATE_LOCK_WAIT), stop);
        if let Ok(false) = result {
            return Ok(());
        }
        // The event names the file itself; the error's own text would name it twice.
        let outcome = result.as_ref().map(|_| ()).map_err(|e| match e {
            Error::StateFile { action, source, .. } => format!("cannot {action}: {source}"),
            other => other.to_string(),
        });
        let effects = lock(&self.device).saved(version, outcome);
        self.apply(effects, until, stop);
        result.map(|_| ())
    }

    /// Report that the agent reached `server`: it becomes the default and is persisted if it changed.
    pub fn report_success(&self, server: &Server) -> Result<()> {
        let effects = lock(&self.device).report_success(server);
        self.agent_effects(effects)
    }

    /// Report that the agent could not reach `server`, with its own reason.
    pub fn report_failure(&self, server: &Server, reason: &str) {
        let effects = lock(&self.device).report_failure(server, reason);
        let _ = self.agent_effects(effects);
    }

    fn agent_effects(&self, effects: Vec<Effect>) -> Result<()> {
        let stop = || self.canceller.is_cancelled();
        match self.apply(effects, Instant::now() + self.config.deadline, &stop) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Report that the connection to the current server was lost; returns the new order to try.
    pub fn connection_lost(&self) -> Vec<Server> {
        self.failover_order()
    }

    /// Hand in a server list received by the agent's own protocol from `from` (None = the default server).
    pub fn update_server_list(&self, list: ServerList, from: Option<&Server>) -> Result<()> {
        self.list_received(Ok(list), from)
    }

    /// Hand in a server list as wire-format JSON; a refused list keeps the cached one.
    pub fn update_server_list_json(&self, body: &[u8], from: Option<&Server>) -> Result<()> {
        self.list_received(ServerList::from_json(body).map_err(Error::from), from)
    }

    /// Hand in a server list as servers in order; a refused list (empty, too long) keeps the cached one.
    pub fn update_server_list_servers(&self, servers: Vec<Server>, from: Option<&Server>) -> Result<()> {
        self.list_received(ServerList::from_servers(servers).map_err(Error::from), from)
    }

    fn list_received(&self, list: Result<ServerList>, from: Option<&Server>) -> Result<()> {
        let (result, effects) = lock(&self.device).list_received(list, from, SystemTime::now());
        let saved = self.agent_effects(effects);
        result.and(saved)
    }

    fn probe(&self) -> Result<&Arc<dyn Probe>> {
        self.probe.as_ref().ok_or_else(|| {
            Error::Unsupported(
                "this client has `\"probe\": \"none\"`: the agent tries the candidates itself and reports them".into(),
            )
        })
    }

    /// Run one connect call of `kind` to its end, stopping when `stop` or the canceller says so.
    fn call(&self, kind: Call, stop: &dyn Fn() -> bool) -> Result<Connected> {
        let probe = self.probe()?;
        let stopped = || self.canceller.is_cancelled() || stop();
        if stopped() {
            return Err(Error::Cancelled);
        }
        let started = Instant::now();
        let until = started + self.config.deadline;
        let mut connect = lock(&self.device).start(kind, SystemTime::now());
        attempt::run(
            &mut connect,
            Context {
                probe,
                lookup: &|entry| self.lookup_job(entry),
                stop: &stopped,
                emit: &mut |e| self.emit(e),
            },
        );
        self.conclude(&connect, until, &stopped)
    }

    /// Apply a decided call to the device and save; the result of the call.
    fn conclude(&self, connect: &Connect, until: Instant, stopped: &dyn Fn() -> bool) -> Result<Connected> {
        let draws = {
            let mut rng = lock(&self.rng);
            Draws {
                pick: rng.f64(),
                when: rng.f64(),
            }
        };
        let finished = lock(&self.device).finish(connect, draws);
        let save_error = self.apply(finished.effects, until, stopped);
        let mut connected = finished.result?;
        connected.state_dropped = self.state_dropped.clone();
        if let Some(e) = save_error {
            // The connection works; the state-file problem was reported as an event, and is named
            // in the result, but does not undo it.
            connected.saved = false;
            connected.save_error = Some(e.to_string());
        }
        Ok(connected)
    }

    /// Run the start-up: the ManagerLoadBalancer entry, resolved afresh, then the failover order.
    ///
    /// The lookup takes part in the attempt race: when its answer has not come within
    /// `attempt_delay`, the failover order starts beside it, and its addresses still outrank the
    /// failover order when they come.
    pub fn connect(&self) -> Result<Connected> {
        self.call(Call::Startup, &|| false)
    }

    /// After a lost connection: run the failover order from the default server (no balancer).
    pub fn reconnect(&self) -> Result<Connected> {
        self.call(Call::Reconnect, &|| false)
    }

    /// Begin a start-up for the agent's event loop: no thread, no wait (behaviour.md, "Event loops").
    ///
    /// Drive the call with [`PendingCall::watches`], [`PendingCall::timeout`] and
    /// [`PendingCall::process`], then hand it to [`Client::finish`].
    pub fn start_connect(&self) -> Result<PendingCall> {
        self.start_call(Call::Startup)
    }

    /// Begin a reconnect for the agent's event loop (the failover order from the default server).
    pub fn start_reconnect(&self) -> Result<PendingCall> {
        self.start_call(Call::Reconnect)
    }

    /// Begin the planned move to a lighter server for the agent's event loop (behaviour.md,
    /// "Rebalance"): the call tries the plan's target only; [`Client::finish`] gives what
    /// [`Client::rebalance`] gives. `Ok(None)` when no move is planned.
    pub fn start_rebalance(&self) -> Result<Option<PendingCall>> {
        if lock(&self.device).rebalance_plan().is_none() {
            return Ok(None);
        }
        self.start_call(Call::Rebalance).map(Some)
    }

    fn start_call(&self, kind: Call) -> Result<PendingCall> {
        let probe = match self.loop_probe.get() {
            Some(probe) => Arc::clone(probe),
            None => {
                let probe = Arc::new(LoopProbe::new(&self.config, Arc::clone(&self.balancer_names))?);
                Arc::clone(self.loop_probe.get_or_init(|| probe))
            }
        };
        if self.canceller.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let connect = lock(&self.device).start(kind, SystemTime::now());
        Ok(PendingCall::new(
            self.id,
            connect,
            probe,
            self.sink.clone(),
            self.canceller.clone(),
            Arc::clone(&self.device),
            self.config.deadline,
            lock(&self.rng).u64(..),
        ))
    }

    /// The result of an event-loop call, applied to the device and saved as a blocking call's is.
    ///
    /// A call that is not done is cancelled first; a call of another client is refused.
    pub fn finish(&self, mut call: PendingCall) -> Result<Connected> {
        if call.owner != self.id {
            return Err(Error::Unsupported("this call was started by another client".into()));
        }
        if !call.is_done() {
            call.cancel();
        }
        let stopped = || self.canceller.is_cancelled();
        self.conclude(&call.connect, call.until, &stopped)
    }

    /// The move to a lighter server the last connect planned, if any (behaviour.md, "Rebalance").
    pub fn rebalance_plan(&self) -> Option<Plan> {
        lock(&self.device).rebalance_plan().cloned()
    }

    /// Carry out the planned move now (behaviour.md, "Rebalance"): try its target only; when it
    /// answers it becomes the default server (saved), otherwise nothing changes and the error
    /// says why (a `rebalance_failed` event too). `Ok(None)` when no move is planned. The plan is
    /// spent either way.
    pub fn rebalance(&self) -> Result<Option<Connected>> {
        if lock(&self.device).rebalance_plan().is_none() {
            return Ok(None);
        }
        self.call(Call::Rebalance, &|| false).map(Some)
    }

    /// Connect, retrying on the schedule of the retry profile until success or its limit
    /// (behaviour.md, "All fail").
    pub fn connect_with_retry(&self) -> Result<Connected> {
        self.connect_with_retry_until(&|| false)
    }

    /// [`Client::connect_with_retry`] that stops with [`Error::Cancelled`] within 50 ms once `stop()` says so.
    ///
    /// `stop` is asked on the calling thread about every 25 ms, during the tries and the waits.
    pub fn connect_with_retry_until(&self, stop: &dyn Fn() -> bool) -> Result<Connected> {
        self.with_retry(Call::Startup, stop)
    }

    /// Reconnect, retrying on the schedule of the retry profile until success or its limit;
    /// every try runs the failover order from the default server (no balancer).
    pub fn reconnect_with_retry(&self) -> Result<Connected> {
        self.reconnect_with_retry_until(&|| false)
    }

    /// [`Client::reconnect_with_retry`] that stops with [`Error::Cancelled`] within 50 ms once `stop()` says so.
    pub fn reconnect_with_retry_until(&self, stop: &dyn Fn() -> bool) -> Result<Connected> {
        self.with_retry(Call::Reconnect, stop)
    }

    fn with_retry(&self, kind: Call, stop: &dyn Fn() -> bool) -> Result<Connected> {
        let stopped = || self.canceller.is_cancelled() || stop();
        let mut tries = 0u32;
        loop {
            tries = tries.saturating_add(1);
            match self.call(kind, stop) {
                Err(e) => match self.retry_wait_until(tries, &e, stop) {
                    None => return Err(e),
                    Some(wait) => {
                        if !sleep_until(Instant::now() + wait, &stopped) {
                            return Err(Error::Cancelled);
                        }
                    }
                },
                ok => return ok,
            }
        }
    }

    /// After try number `tries` (from 1) of a retrying call failed with `error`: the wait before
    /// the next try, or `None` when the call ends with `error` (behaviour.md, "All fail"). Records
    /// the failed try in the device (and its state file) as `*_with_retry` does; the driver of an
    /// event-loop agent's retrying call asks it after each try.
    pub fn retry_wait(&self, tries: u32, error: &Error) -> Option<Duration> {
        self.retry_wait_until(tries, error, &|| self.canceller.is_cancelled())
    }

    /// [`Client::retry_wait`] whose save of the failed try waits for the state file's lock only
    /// until `stop()` says so (the caller's stop of `*_with_retry_until`).
    fn retry_wait_until(&self, tries: u32, error: &Error, stop: &dyn Fn() -> bool) -> Option<Duration> {
        if !matches!(error, Error::AllFailed(_) | Error::DeviceRefused { .. }) {
            return None;
        }
        let (again, effects) = lock(&self.device).try_failed(tries, SystemTime::now());
        // A failed save is reported by `apply` and made again at the next chance.
        let _ = self.apply(effects, Instant::now() + self.config.deadline, stop);
        if !again {
            return None;
        }
        // behaviour.md, "Servers that steer devices": a refused device does not hurry.
        let (wait, what) = match error {
            Error::DeviceRefused { .. } => {
                let unit = lock(&self.rng).f64();
                (lock(&self.device).refusal_wait(unit), "the device was refused")
            }
            _ => (self.backoff(tries.saturating_sub(1)), "all servers failed"),
        };
        log::info!(target: "scoutlb", "{what} (try {tries}); retrying in {} ms", wait.as_millis());
        Some(wait)
    }

    /// The wait before retry number `n + 1`, on the retry profile's schedule with a fresh draw
    /// (behaviour.md, "All fail").
    pub fn backoff(&self, n: u32) -> Duration {
        let unit = lock(&self.rng).f64();
        lock(&self.device).backoff(n, unit)
    }
}

/// The client is shared between an agent's threads: it must stay `Send + Sync`.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Client>();
};
