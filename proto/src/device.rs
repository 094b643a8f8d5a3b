//! The device: what it remembers and every rule that changes it (behaviour.md, "Start-up",
//! "Connection lost", "State file"), as a state machine without I/O.
//!
//! A [`Device`] holds the state (default server, cached list, who sent it), the seeds, the
//! ManagerLoadBalancer's evaluation for this restart, and whether the state file is behind. Its
//! methods take what happened (a connect call decided, the agent reached a server, a list came)
//! and return [`Effect`]s: events to report, and "save the state now". The driver carries them
//! out and tells the device how the save went ([`Device::saved`]); a save that failed, or that was
//! deferred because another process held the state file's lock, is asked for again at the next
//! change or report.
//!
//! A connect call is a [`Connect`] made by [`Device::start`]; the driver runs its race and hands
//! its outcome back to [`Device::finish`]. Several calls may run at once on one device: the device
//! is only needed at their start and at their end.

use std::time::{Duration, SystemTime};

use crate::balancer::{self, Evaluation};
use crate::config::{Config, FIRST_CONTACT_HOST, ProbeKind, Scheme, TlsVerify};
use crate::connect::{Balancer, Connect, Outcome};
use crate::connected::Connected;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::list_key::PublicKey;
use crate::order::{Ranking, failover_order};
use crate::race::Timing;
use crate::rebalance::{self, Draws, Plan};
use crate::server::Server;
use crate::server_list::{ListError, ServerList};
use crate::signed_list::{Trust, adopted_after, list_problem, not_older};
use crate::state::State;
use crate::steer::{self, Relocation};

/// What the driver must do after a call into the [`Device`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Effect {
    /// Report this event to the agent.
    Emit(Event),
    /// Write the state file now: take [`Device::to_save`], write it, and report with [`Device::saved`].
    Save,
}

/// Which connect call to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// A start-up: the ManagerLoadBalancer first, then the failover order.
    Startup,
    /// After a lost connection: the failover order from the default server, no balancer.
    Reconnect,
    /// The planned move to a lighter server: its target only (behaviour.md, "Rebalance").
    Rebalance,
}

/// How a decided connect call ended, with the effects to carry out.
#[derive(Debug)]
#[non_exhaustive]
pub struct Finished {
    /// The connection, or why there is none. `saved` is true here; the driver sets it from the
    /// save that [`Effect::Save`] asks for.
    pub result: Result<Connected>,
    /// Events to report and the save to make, in order.
    pub effects: Vec<Effect>,
}

/// The device's state and rules; see the module docs.
#[derive(Clone, Debug)]
pub struct Device {
    seeds: Vec<Server>,
    config: Config,
    state: State,
    /// Bumped on every change of `state`.
    version: u64,
    /// The newest version the state file holds.
    saved_version: u64,
    /// The ManagerLoadBalancer's evaluation for this restart, once made.
    balancer: Option<Evaluation>,
    /// Servers that answered "drain", and until when they asked to be left alone (behaviour.md,
    /// "Servers that steer devices"); in memory only.
    draining: Vec<(Server, SystemTime)>,
    /// The move to a lighter server the last connect planned (behaviour.md, "Rebalance"); in
    /// memory only.
    plan: Option<Plan>,
}

impl Device {
    /// A device configured by `config`, starting from `state` (as loaded from the state file).
    pub fn new(config: &Config, state: State) -> Result<Self> {
        Self::with_first_contact(config, state, &[])
    }

    /// A device whose first contact, when no seed is configured, is `dhcp` (the servers of DHCP
    /// option 222) and then `ScoutSrv` (behaviour.md, "First contact from DHCP").
    pub fn with_first_contact(config: &Config, state: State, dhcp: &[Server]) -> Result<Self> {
        let seeds = if config.servers.is_empty() {
            let mut seeds = dhcp.to_vec();
            let scout_srv = Server::new(FIRST_CONTACT_HOST, config.default_port)?;
            if !seeds.contains(&scout_srv) {
                seeds.push(scout_srv);
            }
            seeds
        } else {
            config.servers.clone()
        };
        Ok(Device {
            seeds,
            config: config.clone(),
            state,
            version: 0,
            saved_version: 0,
            balancer: None,
            draining: Vec::new(),
            plan: None,
        })
    }

    /// The seed servers: the configured ones, or DHCP option 222's and `ScoutSrv` when none is configured.
    pub fn seeds(&self) -> &[Server] {
        &self.seeds
    }

    /// The remembered state.
    pub fn state(&self) -> &State {
        &self.state
    }

    fn ranking(&self) -> Ranking<'_> {
        Ranking::new(self.config.failover_order, self.config.device_id.as_deref())
    }

    /// The failover order from the default server, without the ManagerLoadBalancer.
    pub fn failover_order(&self) -> Vec<Server> {
        let list = self.state.list.as_ref().map(ServerList::servers);
        failover_order(
            list.as_deref(),
            &self.seeds,
            self.state.default_server.as_ref(),
            self.ranking(),
        )
    }

    /// The ManagerLoadBalancer's evaluation for this restart, if it was made.
    pub fn balancer(&self) -> Option<&Evaluation> {
        self.balancer.as_ref()
    }

    /// Keep the first evaluation of the ManagerLoadBalancer for this restart; returns the one kept.
    pub fn balancer_evaluated(&mut self, evaluation: Evaluation) -> &Evaluation {
        self.balancer.get_or_insert(evaluation)
    }

    /// The candidates of a start-up once the balancer is evaluated: its addresses, then the
    /// failover order without them.
    pub fn candidates(&self) -> Vec<Server> {
        let order = self.failover_order();
        let Some(balancer) = self.balancer.as_ref().filter(|e| !e.servers.is_empty()) else {
            return order;
        };
        // The balancer has a handful of addresses: a linear check against them is cheapest.
        let rest = order.into_iter().filter(|s| !balancer.servers.contains(s));
        balancer.servers.iter().cloned().chain(rest).collect()
    }

    /// Start a connect call at `now` (the device's clock, for the expiry of signed lists): its
    /// candidates now, in order.
    pub fn start(&self, call: Call, now: SystemTime) -> Connect {
        let timing = Timing::of(&self.config);
        let port = self.config.default_port;
        let trust = self.trust(now);
        if call == Call::Rebalance {
            // behaviour.md, "Rebalance": the target only; no plan, no candidate.
            let candidates = self.plan.iter().map(|p| p.to.clone()).collect();
            let mut connect = Connect::new(candidates, timing, Balancer::None, port, trust, now);
            connect.rebalance = self.plan.clone();
            return connect;
        }
        let (candidates, balancer) = match (call, &self.config.manager_load_balancer, &self.balancer) {
            (Call::Startup, Some(entry), Some(evaluation)) => {
                (self.candidates(), Balancer::Known(entry.clone(), evaluation.clone()))
            }
            (Call::Startup, Some(entry), None) => (self.failover_order(), Balancer::Lookup(entry.clone(), None)),
            _ => (self.failover_order(), Balancer::None),
        };
        let mut candidates = self.draining_last(candidates, now);
        // behaviour.md, "Servers that steer devices": a pending relocation is tried before the
        // default, after the balancer's addresses.
        let relocation = self.state.relocation.clone().filter(|_| call == Call::Startup);
        if let Some(to) = &relocation {
            let after = match &balancer {
                Balancer::Known(_, evaluation) => evaluation.servers.iter().filter(|s| *s != to).count(),
                _ => 0,
            };
            candidates.retain(|s| s != to);
            candidates.insert(after.min(candidates.len()), to.clone());
        }
        let mut connect = Connect::new(candidates, timing, balancer, port, trust, now);
        connect.relocation = relocation;
        let c = &self.config;
        // behaviour.md, "TLS": a call whose https checks nothing says so, every time.
        if c.probe == ProbeKind::Http && c.scheme == Scheme::Https && c.tls_verify == TlsVerify::None {
            connect.emit_first(Event::TlsUnverified);
        }
        connect
    }

    /// `servers` with those still draining at `now` moved after every other, each group in its order.
    fn draining_last(&self, servers: Vec<Server>, now: SystemTime) -> Vec<Server> {
        if self.draining.is_empty() {
            return servers;
        }
        let (later, first): (Vec<Server>, Vec<Server>) = servers.into_iter().partition(|s| self.drains_at(s, now));
        first.into_iter().chain(later).collect()
    }

    /// Whether `server` asked at `now` to be left alone (it answered "drain" and its
    /// `Retry-After` has not passed).
    pub fn drains_at(&self, server: &Server, now: SystemTime) -> bool {
        self.draining.iter().any(|(s, until)| s == server && *until > now)
    }

    /// The wait before the next try of a retrying call after a refusal of the device, for a
    /// uniform draw `unit` in [0, 1): uniform in [`retry.cap` / 2, `retry.cap`] (behaviour.md,
    /// "Servers that steer devices").
    pub fn refusal_wait(&self, unit: f64) -> Duration {
        let cap = self.config.retry.cap.as_secs_f64();
        Duration::from_secs_f64(cap / 2.0 + cap / 2.0 * unit.clamp(0.0, 1.0))
    }

    /// What a list must pass at `now` when the fleet signs its lists (behaviour.md, "Signed
    /// lists"): the configured and adopted keys and the saved list's version; `None` when it does not.
    pub fn trust(&self, now: SystemTime) -> Option<Trust> {
        if self.config.list_keys.is_empty() {
            return None;
        }
        let mut keys = self.config.list_keys.clone();
        keys.extend(
            self.state
                .adopted_keys
                .iter()
                .filter(|k| !self.config.list_keys.contains(k)),
        );
        Some(Trust {
            keys,
            min_version: self.state.list_version.unwrap_or(0),
            now,
        })
    }

    /// The move to a lighter server the last connect planned, if any (behaviour.md, "Rebalance").
    pub fn rebalance_plan(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }

    /// Apply a decided call (behaviour.md, "Start-up", steps 4-5): the winner becomes the
    /// default, its list is cached, the state is saved; the balancer's fate is reported. `draws`
    /// decide a rebalance the answer's list may call for (behaviour.md, "Rebalance").
    pub fn finish(&mut self, connect: &Connect, draws: Draws) -> Finished {
        let mut effects = Vec::new();
        let outcome = connect.outcome().cloned().unwrap_or(Outcome::Cancelled);
        let (entry, evaluation) = match &connect.balancer {
            Balancer::None => (None, None),
            Balancer::Known(entry, evaluation) => (Some(entry), Some(evaluation.clone())),
            Balancer::Lookup(entry, Some(evaluation)) => {
                let kept = self.balancer_evaluated(evaluation.clone()).clone();
                (Some(entry), Some(kept))
            }
            Balancer::Lookup(entry, None) => {
                if outcome != Outcome::Cancelled {
                    effects.push(Effect::Emit(Event::BalancerFailed {
                        entry: entry.to_string(),
                        reason: format!(
                            "no DNS answer within {} ms; the failover order answered first",
                            self.config.attempt_delay.as_millis()
                        ),
                    }));
                }
                (None, None)
            }
        };
        let from_balancer = evaluation.as_ref().map(|e| e.servers.as_slice()).unwrap_or(&[]);
        // behaviour.md, "Servers that steer devices": drains are kept until their Retry-After.
        let started = connect.started;
        self.draining.retain(|(_, until)| *until > started);
        for (server, after) in &connect.drains {
            self.draining.retain(|(s, _)| s != server);
            self.draining.push((server.clone(), started + *after));
        }
        if let Some(to) = &connect.relocation
            && outcome != Outcome::Cancelled
        {
            self.relocation_tried(to, &outcome, &mut effects);
        }
        if let Some(plan) = &connect.rebalance
            && outcome != Outcome::Cancelled
        {
            self.rebalance_tried(plan, &outcome, &mut effects);
        }
        let mut relocation = None;
        let mut answer = None;
        let mut result = match outcome {
            Outcome::Cancelled => Err(Error::Cancelled),
            Outcome::AllFailed(attempts) => Err(Error::AllFailed(attempts)),
            Outcome::DeviceRefused { server, reason } => Err(Error::DeviceRefused { server, reason }),
            Outcome::Won { server, list, failed } => {
                let via_balancer = from_balancer.contains(&server);
                // A draining default stays the default: the winner serves this connection only.
                let default_drains = self
                    .state
                    .default_server
                    .as_ref()
                    .is_some_and(|d| *d != server && self.drains_at(d, started));
                // The server this connection uses while the default drains: the winner, or the
                // real server it named behind it.
                let kept_default_in_use = default_drains.then(|| {
                    list.as_ref()
                        .and_then(|l| l.self_server())
                        .cloned()
                        .unwrap_or_else(|| server.clone())
                });
                let changed = (!default_drains && self.make_default(&server, &mut effects)) | self.clear_failing();
                let mut problem = connect.list_problem().map(str::to_string);
                let planning = self.config.rebalance.enabled && !default_drains;
                match list {
                    Some(list) => match self.accept_list(list.clone(), Some(server.clone()), &mut effects) {
                        Ok(asked) => {
                            relocation = asked;
                            answer = planning.then_some(list);
                        }
                        Err(refused) => {
                            problem.get_or_insert(list_problem(&server, &refused));
                            if changed || self.is_behind() {
                                self.ask_save(&mut effects);
                            }
                        }
                    },
                    None if changed || self.is_behind() => self.ask_save(&mut effects),
                    None => {}
                }
                let in_use = kept_default_in_use
                    .or_else(|| self.state.default_server.clone())
                    .unwrap_or_else(|| server.clone());
                let mut connected = Connected::new(in_use, server.clone(), via_balancer, failed);
                connected.list_problem = problem;
                Ok(connected)
            }
        };
        // After the connection is settled: an offline relocation changes the default, not the
        // server this connection uses.
        let relocating = relocation.is_some() || self.state.relocation.is_some();
        if let (Some(asked), Ok(c)) = (relocation, &result) {
            let from = c.reached.clone();
            self.relocate(asked, Some(from), &mut effects);
        }
        // behaviour.md, "Rebalance": every connect that brought a list decides afresh.
        if let (Some(list), Ok(c)) = (answer, &mut result) {
            self.plan = None;
            if !relocating {
                self.plan_from(&list, &c.server, draws, &mut effects);
            }
            c.rebalance = self.plan.clone();
        }
        let result = match (entry, evaluation) {
            (Some(entry), Some(evaluation)) => {
                balancer::settle(entry, &evaluation, result, &mut |e| effects.push(Effect::Emit(e)))
            }
            _ => result,
        };
        Finished { result, effects }
    }

    /// The agent reached `server` itself: it becomes the default (saved when it changed).
    pub fn report_success(&mut self, server: &Server) -> Vec<Effect> {
        let mut effects = vec![Effect::Emit(Event::AttemptSucceeded { server: server.clone() })];
        if self.make_default(server, &mut effects) | self.clear_failing() || self.is_behind() {
            self.ask_save(&mut effects);
        }
        effects
    }

    /// The agent could not reach `server`, for `reason`.
    pub fn report_failure(&self, server: &Server, reason: &str) -> Vec<Effect> {
        vec![Effect::Emit(Event::AttemptFailed {
            server: server.clone(),
            reason: crate::FailReason::Reported(reason.to_string()),
        })]
    }

    /// A server list came from `from` (none = the default server) at `now`, or was refused for
    /// `Err`'s reason; with signed lists it must pass their checks first.
    pub fn list_received(
        &mut self,
        list: std::result::Result<ServerList, Error>,
        from: Option<&Server>,
        now: SystemTime,
    ) -> (Result<()>, Vec<Effect>) {
        let mut effects = Vec::new();
        let list = match (list, self.trust(now)) {
            (Ok(list), Some(trust)) => trust.check(&list).map_err(Error::from),
            (list, _) => list,
        };
        let list = list.and_then(|list| self.accept_list(list, from.cloned(), &mut effects).map_err(Error::from));
        match list {
            Ok(relocation) => {
                if let Some(asked) = relocation {
                    self.relocate(asked, from.cloned(), &mut effects);
                }
                (Ok(()), effects)
            }
            Err(e) => {
                effects.push(Effect::Emit(Event::ServerListRejected {
                    from: from.cloned(),
                    reason: e.to_string(),
                }));
                (Err(e), effects)
            }
        }
    }

    /// Follow a relocation a server asked for (behaviour.md, "Servers that steer devices"):
    /// offline, the target is the default now; online, it is saved for the next start-up.
    fn relocate(&mut self, asked: Relocation, from: Option<Server>, effects: &mut Vec<Effect>) {
        if asked.offline {
            self.make_default(&asked.to, effects);
            self.drop_relocation();
            effects.push(Effect::Emit(Event::Relocated { to: asked.to }));
        } else if self.state.relocation.as_ref() != Some(&asked.to)
            && self.state.default_server.as_ref() != Some(&asked.to)
        {
            self.state.relocation = Some(asked.to.clone());
            self.version += 1;
            effects.push(Effect::Emit(Event::RelocationPending { from, to: asked.to }));
        }
        if self.is_behind() {
            self.ask_save(effects);
        }
    }

    /// A start-up that tried the pending relocation to `to` ended with `outcome`: the relocation
    /// is done or dropped, and reported either way.
    fn relocation_tried(&mut self, to: &Server, outcome: &Outcome, effects: &mut Vec<Effect>) {
        let event = match outcome {
            Outcome::Won { server, .. } if server == to => Event::Relocated { to: to.clone() },
            _ => {
                let attempts = match outcome {
                    Outcome::Won { failed, .. } | Outcome::AllFailed(failed) => failed.as_slice(),
                    _ => &[],
                };
                let reason = match (attempts.iter().find(|a| &a.server == to), outcome) {
                    (Some(a), _) => a.reason.to_string(),
                    (None, Outcome::Won { server, .. }) => format!("{server} won the race first"),
                    (None, _) => "the start-up ended before it was tried".to_string(),
                };
                Event::RelocationFailed {
                    to: Some(to.clone()),
                    reason,
                }
            }
        };
        self.drop_relocation();
        effects.push(Effect::Emit(event));
        if self.is_behind() {
            self.ask_save(effects);
        }
    }

    /// Plan a move from `own` when `list` shows a lighter server (behaviour.md, "Rebalance").
    fn plan_from(&mut self, list: &ServerList, own: &Server, draws: Draws, effects: &mut Vec<Effect>) {
        let device_id = self.config.device_id.as_deref();
        if let Ok(plan) = rebalance::plan(list, own, device_id, &self.config.rebalance, draws) {
            effects.push(Effect::Emit(Event::RebalancePlanned {
                from: plan.from.clone(),
                to: plan.to.clone(),
                after: plan.after,
            }));
            self.plan = Some(plan);
        }
    }

    /// A rebalance call that tried `plan` ended with `outcome`: the move is made or not, and
    /// reported either way; the plan is spent.
    fn rebalance_tried(&mut self, plan: &Plan, outcome: &Outcome, effects: &mut Vec<Effect>) {
        self.plan = None;
        let event = match outcome {
            Outcome::Won { server, .. } if *server == plan.to => Event::Rebalanced {
                from: plan.from.clone(),
                to: plan.to.clone(),
            },
            Outcome::Won { failed, .. } | Outcome::AllFailed(failed) => Event::RebalanceFailed {
                to: plan.to.clone(),
                reason: failed
                    .iter()
                    .find(|a| a.server == plan.to)
                    .map_or_else(|| "it did not answer".to_string(), |a| a.reason.to_string()),
            },
            Outcome::DeviceRefused { reason, .. } => Event::RebalanceFailed {
                to: plan.to.clone(),
                reason: format!("the device is refused: {}", crate::printable(reason)),
            },
            Outcome::Cancelled => return,
        };
        effects.push(Effect::Emit(event));
    }

    /// Forget a pending relocation (done, dropped or replaced).
    fn drop_relocation(&mut self) {
        if self.state.relocation.take().is_some() {
            self.version += 1;
        }
    }

    /// A success ends a failing stretch: forget when it started; whether that changed the state.
    fn clear_failing(&mut self) -> bool {
        if self.state.failing_since.take().is_some() {
            self.version += 1;
            return true;
        }
        false
    }

    /// A try of a retrying call failed at `now`, after `tries` tries in all: whether to try again
    /// (behaviour.md, "All fail"), with the effects. The first failure of a stretch is recorded in
    /// the state (and saved) when the retry profile needs it for its permanent retries.
    pub fn try_failed(&mut self, tries: u32, now: SystemTime) -> (bool, Vec<Effect>) {
        let mut effects = Vec::new();
        if self.config.retry.records_failures() && self.state.failing_since.is_none() {
            self.state.failing_since = Some(now);
            self.version += 1;
            self.ask_save(&mut effects);
        }
        let again = self.config.retry.retries_again(tries, self.state.failing_since, now);
        (again, effects)
    }

    fn make_default(&mut self, server: &Server, effects: &mut Vec<Effect>) -> bool {
        if self.state.default_server.as_ref() == Some(server) {
            return false;
        }
        let old = self.state.default_server.replace(server.clone());
        self.version += 1;
        effects.push(Effect::Emit(Event::DefaultChanged {
            old,
            new: server.clone(),
        }));
        true
    }

    /// Cache `list` and honour its `self` (behaviour.md, "Start-up", step 4); save when anything
    /// changed. With signed lists, a list that was not verified, or is older than the saved one
    /// by now (another call took a newer one meanwhile), is refused and nothing changes.
    fn accept_list(
        &mut self,
        list: ServerList,
        from: Option<Server>,
        effects: &mut Vec<Effect>,
    ) -> std::result::Result<Option<Relocation>, ListError> {
        let mut adopted = None;
        if !self.config.list_keys.is_empty() {
            let proof = list
                .proof()
                .ok_or_else(|| ListError("it was not verified, and list_keys is set".into()))?;
            not_older(proof.version, self.state.list_version.unwrap_or(0))?;
            adopted = Some((proof.version, adopted_after(proof, &self.config.list_keys)));
        }
        let from = from.or_else(|| self.state.default_server.clone());
        let relocation = match list
            .relocate()
            .map(|v| steer::relocation(v, &list, self.config.default_port))
        {
            Some(Ok(asked)) => Some(asked),
            Some(Err(reason)) => {
                effects.push(Effect::Emit(Event::RelocationFailed { to: None, reason }));
                None
            }
            None => None,
        };
        let mut changed = false;
        if let Some((version, keys)) = adopted {
            changed |= self.signed_list_taken(version, keys, effects);
        }
        if let Some(real) = list.self_server()
            && from.is_some()
            && from == self.state.default_server
        {
            changed |= self.make_default(&real.clone(), effects);
        }
        // behaviour.md, "Wire format": loads and draining marks are snapshots, never cached.
        let list = list.without_snapshots();
        let same_list = self.state.list.as_ref().map(|l| l.entries()) == Some(list.entries());
        if !same_list || self.state.servers_from != from {
            effects.push(Effect::Emit(Event::ServerListUpdated {
                from: from.clone(),
                servers: list.servers(),
            }));
            self.state.list = Some(list);
            self.state.servers_from = from;
            self.version += 1;
            changed = true;
        }
        if changed || self.is_behind() {
            self.ask_save(effects);
        }
        Ok(relocation)
    }

    /// Remember the version of a verified list and the keys it makes adopted; whether anything changed.
    fn signed_list_taken(&mut self, version: u64, keys: Vec<PublicKey>, effects: &mut Vec<Effect>) -> bool {
        let mut changed = false;
        if self.state.list_version != Some(version) {
            self.state.list_version = Some(version);
            changed = true;
        }
        if self.state.adopted_keys != keys {
            effects.push(Effect::Emit(Event::ListKeysChanged {
                adopted: keys.iter().map(PublicKey::to_base64).collect(),
            }));
            self.state.adopted_keys = keys;
            changed = true;
        }
        if changed {
            self.version += 1;
        }
        changed
    }

    fn ask_save(&self, effects: &mut Vec<Effect>) {
        if self.config.state_file.is_some() {
            effects.push(Effect::Save);
        }
    }

    /// Whether the state file is behind the state (a save failed, was deferred, or is due).
    pub fn is_behind(&self) -> bool {
        self.config.state_file.is_some() && self.version != self.saved_version
    }

    /// The state to write now and its version, for [`Effect::Save`].
    pub fn to_save(&self) -> (State, u64) {
        (self.state.clone(), self.version)
    }

    /// How the save of `version` went; a failure is reported and the state is saved again at the
    /// next chance.
    pub fn saved(&mut self, version: u64, outcome: std::result::Result<(), String>) -> Vec<Effect> {
        match outcome {
            Ok(()) => {
                self.saved_version = self.saved_version.max(version);
                Vec::new()
            }
            Err(message) => {
                vec![Effect::Emit(Event::StateFileProblem {
                    path: self.config.state_file.clone().unwrap_or_default(),
                    message: format!("{message}; the state is kept in memory and saved again at the next chance"),
                })]
            }
        }
    }

    /// The wait before retry number `n + 1` of a retrying call, for a uniform draw `unit` in
    /// [0, 1), on the configured profile's schedule ([`crate::RetryPolicy::wait`]; behaviour.md, "All fail").
    pub fn backoff(&self, n: u32, unit: f64) -> Duration {
        self.config.retry.wait(n, unit)
    }

    /// The configuration of this device.
    pub fn config(&self) -> &Config {
        &self.config
    }
}
