//! The client handle: state, failover order, connecting and the agent-driven calls.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::attempt::{self, Attempt, FailReason, Lookup, Won};
use crate::balancer;
use crate::config::{Config, FIRST_CONTACT_HOST, ProbeKind};
use crate::dns;
use crate::error::{Error, Result};
use crate::event::{Event, EventSink, emit};
use crate::order::{Ranking, failover_order};
use crate::probe::{HttpProbe, Probe, TcpProbe};
use crate::race::Timing;
use crate::server::Server;
use crate::server_list::ServerList;
use crate::state::{State, StateFile};

/// The outcome of a successful connect.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Connected {
    /// The server now in use and persisted as the default (the real server behind a balancer
    /// when the server named itself with `self`).
    pub server: Server,
    /// The address that answered the probe.
    pub reached: Server,
    /// Whether the address came from the ManagerLoadBalancer entry.
    pub via_balancer: bool,
    /// The attempts that did not win: those that failed, and those still running after their
    /// patience ran out ([`FailReason::OutOfPatience`]).
    pub failed: Vec<Attempt>,
    /// Whether the new state reached the state file (also true when nothing had to be saved or
    /// there is no state file). A failed save does not undo the connection.
    pub saved: bool,
    /// Why the save failed, when `saved` is false (also reported as a `StateFileProblem` event).
    pub save_error: Option<String>,
}

/// A device's connection chooser; cheap to share between threads (`Send + Sync`).
pub struct Client {
    config: Config,
    seeds: Vec<Server>,
    probe: Option<Arc<dyn Probe>>,
    sink: Option<Arc<dyn EventSink>>,
    state_file: Option<StateFile>,
    state: Mutex<State>,
    /// Whether the last save failed: the state is saved again at the next chance, changed or not.
    unsaved: AtomicBool,
    /// Numbers the snapshots to save, in the order the state changed (under the state lock).
    snapshots: AtomicU64,
    /// The balancer entry, evaluated at most once per client (once per restart); shared with the
    /// lookup thread of a connect, which stores its answer even after the race was decided.
    balancer: Arc<Mutex<Option<balancer::Evaluation>>>,
    rng: Mutex<fastrand::Rng>,
}

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
        let config = self.config;
        config.validate()?;
        let probe: Option<Arc<dyn Probe>> = match (self.probe, config.probe) {
            (Some(p), ProbeKind::Callback) => Some(p),
            (Some(_), _) => {
                return Err(Error::config(
                    "probe",
                    "a probe callback is given, so `probe` must be \"callback\"",
                ));
            }
            // Built-in probes resolve host names through the configured DNS settings, if any.
            (None, ProbeKind::Http) => Some(Arc::new(HttpProbe::new(&config)?)),
            (None, ProbeKind::Tcp) => Some(dns::with_configured_dns(Arc::new(TcpProbe), &config)),
            (None, ProbeKind::Callback) => {
                return Err(Error::config(
                    "probe",
                    "\"callback\" needs a probe callback given when the client is created",
                ));
            }
            (None, _) => None,
        };
        let seeds = if config.servers.is_empty() {
            vec![Server::new(FIRST_CONTACT_HOST, config.default_port)?]
        } else {
            config.servers.clone()
        };
        let sink = self.sink;
        let (state_file, state) = match &config.state_file {
            None => (None, State::default()),
            Some(path) => {
                let file = StateFile::open(path)?;
                let loaded = file.load()?;
                if let Some(message) = loaded.warning {
                    emit(
                        sink.as_deref(),
                        Event::StateFileProblem {
                            path: path.clone(),
                            message,
                        },
                    );
                }
                (Some(file), loaded.state)
            }
        };
        let rng = match self.seed {
            Some(s) => fastrand::Rng::with_seed(s),
            None => fastrand::Rng::new(),
        };
        Ok(Client {
            config,
            seeds,
            probe,
            sink,
            state_file,
            state: Mutex::new(state),
            unsaved: AtomicBool::new(false),
            snapshots: AtomicU64::new(0),
            balancer: Arc::new(Mutex::new(None)),
            rng: Mutex::new(rng),
        })
    }
}

/// What a change made under the state lock leaves to do once the lock is released: no lock is
/// held while the events callback runs or the state file is written (behaviour.md, Surfaces), so
/// a callback that waits for another thread's call, or a fork in the middle of a save, never
/// finds the client locked.
#[derive(Default)]
struct Unlocked {
    events: Vec<Event>,
    save: Option<(State, u64)>,
}

/// Lock a mutex; a panic elsewhere never poisons the client for good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        Server::parse(text, self.config.default_port)
    }

    /// The seed servers: the configured ones, or `ScoutSrv` when none is configured.
    pub fn seeds(&self) -> &[Server] {
        &self.seeds
    }

    fn emit(&self, event: Event) {
        emit(self.sink.as_deref(), event)
    }

    /// The cached server list (empty when none was received yet).
    pub fn server_list(&self) -> Vec<Server> {
        lock(&self.state)
            .list
            .as_ref()
            .map(ServerList::servers)
            .unwrap_or_default()
    }

    /// The default server: the last one connected to successfully.
    pub fn default_server(&self) -> Option<Server> {
        lock(&self.state).default_server.clone()
    }

    /// A copy of the whole remembered state.
    pub fn state(&self) -> State {
        lock(&self.state).clone()
    }

    /// The failover order from the default server, without the ManagerLoadBalancer.
    pub fn failover_order(&self) -> Vec<Server> {
        let state = lock(&self.state);
        let list = state.list.as_ref().map(ServerList::servers);
        failover_order(
            list.as_deref(),
            &self.seeds,
            state.default_server.as_ref(),
            self.ranking(),
        )
    }

    fn ranking(&self) -> Ranking<'_> {
        Ranking::new(self.config.failover_order, self.config.device_id.as_deref())
    }

    /// The balancer's addresses for this client, resolved on first use and kept until it is dropped.
    pub fn balancer_addresses(&self) -> Vec<Server> {
        let Some(entry) = &self.config.manager_load_balancer else {
            return Vec::new();
        };
        let mut events = Vec::new();
        let servers = {
            let mut cached = lock(&self.balancer);
            let evaluation = cached.get_or_insert_with(|| {
                let seed = lock(&self.rng).u64(..);
                balancer::evaluate(entry, &self.config, seed, &mut |e| events.push(e))
            });
            evaluation.servers.clone()
        };
        events.into_iter().for_each(|e| self.emit(e));
        servers
    }

    /// The candidates of a start-up: the balancer's addresses, then the failover order.
    pub fn candidates(&self) -> Vec<Server> {
        let balancer = self.balancer_addresses();
        let order = self.failover_order();
        if balancer.is_empty() {
            return order;
        }
        // Hashed: an SRV balancer may have thousands of addresses, the seeds many more.
        let named: std::collections::HashSet<&Server> = balancer.iter().collect();
        let rest: Vec<Server> = order.into_iter().filter(|s| !named.contains(s)).collect();
        [balancer, rest].concat()
    }

    /// Report that the agent reached `server`: it becomes the default and is persisted if it changed.
    pub fn report_success(&self, server: &Server) -> Result<()> {
        self.emit(Event::AttemptSucceeded { server: server.clone() });
        let mut after = Unlocked::default();
        {
            let mut state = lock(&self.state);
            if state.default_server.as_ref() != Some(server) {
                let old = state.default_server.replace(server.clone());
                after.events.push(Event::DefaultChanged {
                    old,
                    new: server.clone(),
                });
                after.save = Some(self.snapshot(&state));
            } else if self.unsaved() {
                after.save = Some(self.snapshot(&state));
            }
        }
        self.finish_unlocked(after)
    }

    /// Report that the agent could not reach `server`, with its own reason.
    pub fn report_failure(&self, server: &Server, reason: &str) {
        self.emit(Event::AttemptFailed {
            server: server.clone(),
            reason: FailReason::Reported(reason.to_string()),
        });
    }

    /// Report that the connection to the current server was lost; returns the new order to try.
    pub fn connection_lost(&self) -> Vec<Server> {
        self.failover_order()
    }

    /// Hand in a server list received by the agent's own protocol from `from` (None = the default server).
    pub fn update_server_list(&self, list: ServerList, from: Option<&Server>) -> Result<()> {
        let mut after = Unlocked::default();
        self.accept_list(&mut lock(&self.state), list, from.cloned(), &mut after);
        self.finish_unlocked(after)
    }

    /// Hand in a server list as wire-format JSON; a refused list keeps the cached one.
    pub fn update_server_list_json(&self, body: &[u8], from: Option<&Server>) -> Result<()> {
        self.update_checked(ServerList::from_json(body), from)
    }

    /// Hand in a server list as servers in order; a refused list (empty, too long) keeps the cached one.
    pub fn update_server_list_servers(&self, servers: Vec<Server>, from: Option<&Server>) -> Result<()> {
        self.update_checked(ServerList::from_servers(servers), from)
    }

    /// Cache a list that passed the checks, or report why it was refused.
    fn update_checked(&self, list: Result<ServerList>, from: Option<&Server>) -> Result<()> {
        match list {
            Ok(list) => self.update_server_list(list, from),
            Err(e) => {
                self.emit(Event::ServerListRejected {
                    from: from.cloned(),
                    reason: e.to_string(),
                });
                Err(e)
            }
        }
    }

    /// Cache `list` and honour its `self`; ask for a save when anything changed.
    fn accept_list(&self, state: &mut State, list: ServerList, from: Option<Server>, after: &mut Unlocked) {
        let from = from.or_else(|| state.default_server.clone());
        let mut changed = false;
        if let Some(real) = list.self_server()
            && from.is_some()
            && from == state.default_server
            && state.default_server.as_ref() != Some(real)
        {
            let old = state.default_server.replace(real.clone());
            after.events.push(Event::DefaultChanged { old, new: real.clone() });
            changed = true;
        }
        let same_list = state.list.as_ref().map(|l| l.entries()) == Some(list.entries());
        if !same_list || state.servers_from != from {
            after.events.push(Event::ServerListUpdated {
                from: from.clone(),
                servers: list.servers(),
            });
            state.list = Some(list);
            state.servers_from = from;
            changed = true;
        }
        if changed || self.unsaved() {
            after.save = Some(self.snapshot(state));
        }
    }

    fn unsaved(&self) -> bool {
        self.unsaved.load(Ordering::SeqCst)
    }

    /// A copy of `state` to save, numbered in the order of the changes (call under the state lock).
    fn snapshot(&self, state: &State) -> (State, u64) {
        (state.clone(), self.snapshots.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// With no client lock held: hand the events to the sink, then save the snapshot.
    fn finish_unlocked(&self, after: Unlocked) -> Result<()> {
        after.events.into_iter().for_each(|e| self.emit(e));
        match after.save {
            Some((state, number)) => self.persist(&state, number),
            None => Ok(()),
        }
    }

    fn persist(&self, state: &State, number: u64) -> Result<()> {
        let Some(file) = &self.state_file else { return Ok(()) };
        let result = file.save_numbered(state, number);
        self.unsaved.store(result.is_err(), Ordering::SeqCst);
        result.inspect_err(|e| {
            self.emit(Event::StateFileProblem {
                path: file.path().to_path_buf(),
                message: format!("{e}; the state is kept in memory and saved again at the next chance"),
            });
        })
    }

    fn probe(&self) -> Result<&Arc<dyn Probe>> {
        self.probe.as_ref().ok_or_else(|| {
            Error::Unsupported(
                "this client has `\"probe\": \"none\"`: the agent tries the candidates itself and reports them".into(),
            )
        })
    }

    /// Run the start-up: the ManagerLoadBalancer entry, resolved afresh, then the failover order.
    ///
    /// The lookup takes part in the attempt race: when its answer has not come within
    /// `attempt_delay`, the failover order starts beside it, and its addresses still outrank the
    /// failover order when they come.
    pub fn connect(&self) -> Result<Connected> {
        let probe = self.probe()?;
        let Some(entry) = self.config.manager_load_balancer.clone() else {
            return self.connect_to(self.failover_order(), &[]);
        };
        let evaluated = lock(&self.balancer).clone();
        if let Some(evaluation) = evaluated {
            // A second connect of the same client: the entry was evaluated for this restart already.
            let result = self.connect_to(self.candidates(), &evaluation.servers);
            return balancer::settle(&entry, &evaluation, result, &mut |e| self.emit(e));
        }
        let lookup = self.lookup(&entry);
        let (outcome, seen) = attempt::run(
            self.failover_order(),
            Some(lookup),
            probe,
            Timing::of(&self.config),
            &mut |e| self.emit(e),
        );
        let evaluation = if seen.answered {
            lock(&self.balancer).clone()
        } else {
            None
        };
        let Some(evaluation) = evaluation else {
            self.emit(Event::BalancerFailed {
                entry: entry.to_string(),
                reason: format!(
                    "no DNS answer within {} ms; the failover order answered first",
                    self.config.attempt_delay.as_millis()
                ),
            });
            return self.finish(outcome, &[]);
        };
        let result = self.finish(outcome, &evaluation.servers);
        balancer::settle(&entry, &evaluation, result, &mut |e| self.emit(e))
    }

    /// The balancer lookup of a start-up, to run on its own thread; its answer is kept for this client.
    fn lookup(&self, entry: &balancer::ManagerLoadBalancer) -> Lookup {
        let (entry, config, cache) = (entry.clone(), self.config.clone(), Arc::clone(&self.balancer));
        let seed = lock(&self.rng).u64(..);
        Lookup {
            server: balancer::as_server(&entry, self.config.default_port),
            run: Box::new(move || {
                let mut events = Vec::new();
                let evaluation = balancer::evaluate(&entry, &config, seed, &mut |e| events.push(e));
                let servers = lock(&cache).get_or_insert(evaluation).servers.clone();
                (servers, events)
            }),
        }
    }

    /// After a lost connection: run the failover order from the default server (no balancer).
    pub fn reconnect(&self) -> Result<Connected> {
        self.connect_to(self.connection_lost(), &[])
    }

    fn connect_to(&self, candidates: Vec<Server>, balancer: &[Server]) -> Result<Connected> {
        let probe = self.probe()?;
        let (outcome, _) = attempt::run(candidates, None, probe, Timing::of(&self.config), &mut |e| self.emit(e));
        self.finish(outcome, balancer)
    }

    /// Make the winner of a race the default server and cache the list it sent.
    fn finish(&self, outcome: std::result::Result<Won, Vec<Attempt>>, balancer: &[Server]) -> Result<Connected> {
        let won = outcome.map_err(Error::AllFailed)?;
        let via_balancer = balancer.contains(&won.server);
        let mut after = Unlocked::default();
        let server = {
            let mut state = lock(&self.state);
            let old = state.default_server.clone();
            if old.as_ref() != Some(&won.server) {
                state.default_server = Some(won.server.clone());
                after.events.push(Event::DefaultChanged {
                    old: old.clone(),
                    new: won.server.clone(),
                });
            }
            match won.reached.list {
                Some(list) => self.accept_list(&mut state, list, Some(won.server.clone()), &mut after),
                None if old.as_ref() != Some(&won.server) || self.unsaved() => after.save = Some(self.snapshot(&state)),
                None => {}
            }
            state.default_server.clone().unwrap_or_else(|| won.server.clone())
        };
        let result = self.finish_unlocked(after);
        // The connection works; a state-file problem was reported as an event, and is named in
        // the result, but does not undo it.
        Ok(Connected {
            server,
            reached: won.server,
            via_balancer,
            failed: won.failed,
            saved: result.is_ok(),
            save_error: result.err().map(|e| e.to_string()),
        })
    }

    /// Connect, retrying with exponential backoff and full jitter until success or `max_tries`.
    pub fn connect_with_retry(&self) -> Result<Connected> {
        self.connect_with_retry_until(&|| false)
    }

    /// [`Client::connect_with_retry`] that stops with [`Error::Cancelled`] as soon as `stop()` says so.
    ///
    /// `stop` is asked between tries and every 100 ms of a backoff wait, on the calling thread.
    pub fn connect_with_retry_until(&self, stop: &dyn Fn() -> bool) -> Result<Connected> {
        const SLICE: Duration = Duration::from_millis(100);
        let mut tries = 0u32;
        loop {
            if stop() {
                return Err(Error::Cancelled);
            }
            tries = tries.saturating_add(1);
            match self.connect() {
                Ok(c) => return Ok(c),
                Err(e @ Error::AllFailed(_)) => {
                    if self.config.retry.max_tries != 0 && tries >= self.config.retry.max_tries {
                        return Err(e);
                    }
                    let wait = self.backoff(tries - 1);
                    log::info!(target: "scoutlb", "all servers failed (try {tries}); retrying in {} ms", wait.as_millis());
                    let until = std::time::Instant::now() + wait;
                    loop {
                        let left = until.saturating_duration_since(std::time::Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        if stop() {
                            return Err(Error::Cancelled);
                        }
                        std::thread::sleep(left.min(SLICE));
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// The wait before retry number `n + 1`: uniform in `[0, min(cap, base * factor^n)]`.
    pub fn backoff(&self, n: u32) -> Duration {
        let r = &self.config.retry;
        let ceiling = (r.base.as_secs_f64() * r.factor.powi(n.min(1000) as i32)).min(r.cap.as_secs_f64());
        let unit = lock(&self.rng).f64();
        Duration::from_secs_f64(ceiling * unit)
    }
}

/// The client is shared between an agent's threads: it must stay `Send + Sync`.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Client>();
};
