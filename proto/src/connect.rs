//! One connect call (a start-up or a reconnect) as a state machine: the attempt race with its
//! events and failed attempts (behaviour.md, "Attempts").
//!
//! [`Connect`] wraps [`Race`] with what the race does not know: which server each id is, the
//! events to report, why each attempt failed, the server list each success brought, the
//! ManagerLoadBalancer lookup at the top rank, and cancellation. The caller (the driver) tells it
//! what happened and when, carries out its [`Step`]s, and when it says [`Step::Decided`] hands its
//! [`Connect::outcome`] to [`crate::Device::finish`], which applies the start-up rules.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::attempt::{Attempt, FailReason};
use crate::balancer::{Evaluation, ManagerLoadBalancer};
use crate::event::Event;
use crate::race::{Action, Id, Race, Stage, Timing};
use crate::rebalance::Plan;
use crate::server::Server;
use crate::server_list::ServerList;
use crate::signed_list::{Trust, list_problem};

/// What the driver must do now.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// Look the ManagerLoadBalancer entry up (on its own, bounded by `dns_timeout`) and hand the
    /// answer to [`Connect::lookup_done`].
    Resolve(ManagerLoadBalancer),
    /// Start an attempt on `server`, bounded by `timeout`; report with [`Connect::transport_up`],
    /// [`Connect::succeeded`] or [`Connect::failed`].
    Start {
        /// The attempt.
        id: Id,
        /// The server to try.
        server: Server,
        /// Its time limit.
        timeout: Duration,
    },
    /// Report this event to the agent.
    Emit(Event),
    /// The call is decided: take [`Connect::outcome`]. Attempts still running are abandoned.
    Decided,
}

/// How a connect call ended.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// `server` won the race and sent `list` (when the probe fetched one).
    Won {
        /// The address that answered.
        server: Server,
        /// The server list it sent.
        list: Option<ServerList>,
        /// The attempts that did not win.
        failed: Vec<Attempt>,
    },
    /// Every candidate failed, or the deadline passed.
    AllFailed(Vec<Attempt>),
    /// `server` refused this device (behaviour.md, "Servers that steer devices").
    DeviceRefused {
        /// The server that refused.
        server: Server,
        /// Its reason.
        reason: String,
    },
    /// The agent cancelled the call.
    Cancelled,
}

/// What became of the ManagerLoadBalancer entry in this call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Balancer {
    /// None is configured, or this is a reconnect.
    None,
    /// Evaluated before this call (a second connect of the same client).
    Known(ManagerLoadBalancer, Evaluation),
    /// Looked up in this call: the answer, once it came.
    Lookup(ManagerLoadBalancer, Option<Evaluation>),
}

/// Values by attempt: the race numbers its attempts 0, 1, 2, ... (the lookup and its addresses
/// too), so a vector indexed by id holds them without hashing.
#[derive(Debug)]
struct ById<T>(Vec<Option<T>>);

impl<T> Default for ById<T> {
    fn default() -> Self {
        ById(Vec::new())
    }
}

impl<T> ById<T> {
    /// Set the value of `id`, replacing the one it had.
    fn insert(&mut self, id: Id, value: T) {
        if self.0.len() <= id {
            self.0.resize_with(id + 1, || None);
        }
        self.0[id] = Some(value);
    }

    /// Take the value of `id`, if it has one.
    fn remove(&mut self, id: Id) -> Option<T> {
        self.0.get_mut(id).and_then(Option::take)
    }
}

/// One connect call; see the module docs.
#[derive(Debug)]
pub struct Connect {
    race: Race<Server>,
    timing: Timing,
    lookup: Option<(Id, Server)>,
    pub(crate) balancer: Balancer,
    order: Vec<Id>,
    outcomes: ById<FailReason>,
    lists: ById<Option<ServerList>>,
    steps: VecDeque<Step>,
    outcome: Option<Outcome>,
    /// What a list must pass when the fleet signs its lists.
    trust: Option<Trust>,
    /// Why the first refused list of this call was refused.
    list_problem: Option<String>,
    /// When the call started, on the device's clock.
    pub(crate) started: SystemTime,
    /// The servers that answered "drain" in this call, with the time since the start until
    /// which they asked to be left alone.
    pub(crate) drains: Vec<(Server, Duration)>,
    /// The relocation target this start-up tries before the default, when one is pending.
    pub(crate) relocation: Option<Server>,
    /// The planned move this call makes, when it is a rebalance (behaviour.md, "Rebalance").
    pub(crate) rebalance: Option<Plan>,
}

impl Connect {
    /// A call over `candidates` in order, after the lookup of `entry` when it is given.
    pub(crate) fn new(
        candidates: Vec<Server>,
        timing: Timing,
        balancer: Balancer,
        default_port: u16,
        trust: Option<Trust>,
        started: SystemTime,
    ) -> Self {
        // Room for the first attempts' bookkeeping (a long list rarely starts more than a few).
        let room = (candidates.len() + 1).min(16);
        let mut steps = VecDeque::with_capacity(4);
        let (race, lookup) = match &balancer {
            Balancer::Lookup(entry, None) => {
                let (race, id) = Race::with_lookup(candidates, timing);
                steps.push_back(Step::Resolve(entry.clone()));
                (race, Some((id, crate::balancer::as_server(entry, default_port))))
            }
            _ => (Race::new(candidates, timing), None),
        };
        Connect {
            race,
            timing,
            lookup,
            balancer,
            order: Vec::with_capacity(room),
            outcomes: ById(Vec::with_capacity(room)),
            lists: ById::default(),
            steps,
            outcome: None,
            trust,
            list_problem: None,
            started,
            drains: Vec::new(),
            relocation: None,
            rebalance: None,
        }
    }

    /// Report `event` before anything else of this call.
    pub(crate) fn emit_first(&mut self, event: Event) {
        self.steps.push_front(Step::Emit(event));
    }

    fn server_of(&self, id: Id) -> Server {
        match (self.race.candidate(id), &self.lookup) {
            (Some(server), _) => server.clone(),
            (None, Some((lookup, server))) if *lookup == id => server.clone(),
            _ => unreachable!("every id of the race is a candidate or the lookup"),
        }
    }

    /// The attempt `id`'s transport came up at `now` (TCP connected; with TLS, the handshake done).
    pub fn transport_up(&mut self, id: Id, now: Duration) {
        self.race.transport_up(id, now);
    }

    /// The attempt `id` succeeded at `now`, bringing `list` when its probe fetched one. When the
    /// fleet signs its lists, a list that fails the checks fails the attempt instead
    /// (behaviour.md, "Signed lists").
    pub fn succeeded(&mut self, id: Id, list: Option<ServerList>, now: Duration) {
        // An attempt the race no longer counts (decided, timed out) brings nothing to check.
        if self.outcome.is_some() || !self.race.is_running(id) {
            return;
        }
        let list = match (list, &self.trust) {
            (Some(list), Some(trust)) => match trust.check(&list) {
                Ok(verified) => Some(verified),
                Err(refused) => {
                    let server = self.server_of(id);
                    self.steps.push_back(Step::Emit(Event::ServerListRejected {
                        from: Some(server.clone()),
                        reason: refused.0.clone(),
                    }));
                    self.list_problem.get_or_insert_with(|| list_problem(&server, &refused));
                    self.failed(id, FailReason::UntrustedList(refused.0), now);
                    return;
                }
            },
            (list, _) => list,
        };
        if self.race.succeeded(id, now) {
            self.lists.insert(id, list);
        }
    }

    /// The attempt `id` failed at `now`. A refusal of the device decides the call at once
    /// (behaviour.md, "Servers that steer devices").
    pub fn failed(&mut self, id: Id, reason: FailReason, now: Duration) {
        if let FailReason::DeviceRefused(why) = &reason
            && self.outcome.is_none()
            && self.race.is_running(id)
        {
            let server = self.server_of(id);
            self.steps.push_back(Step::Emit(Event::DeviceRefused {
                server: server.clone(),
                reason: why.clone(),
            }));
            self.outcome = Some(Outcome::DeviceRefused {
                server,
                reason: why.clone(),
            });
            self.steps.push_back(Step::Decided);
            return;
        }
        if self.race.failed(id, now) {
            if let FailReason::Draining(retry_after) = reason {
                // Capped like the header's, whichever probe reported it.
                let retry_after = retry_after.min(crate::steer::DRAIN_MAX);
                self.drains.push((self.server_of(id), now + retry_after));
            }
            self.steps.push_back(Step::Emit(Event::AttemptFailed {
                server: self.server_of(id),
                reason: reason.clone(),
            }));
            self.outcomes.insert(id, reason);
        }
    }

    /// The lookup of [`Step::Resolve`] answered at `now` with `evaluation`; `events` are the
    /// lookup's own (resolved, failed), reported now. An answer after the decision is ignored.
    pub fn lookup_done(&mut self, evaluation: Evaluation, events: Vec<Event>, now: Duration) {
        let Some((id, _)) = self.lookup.clone() else { return };
        if self.outcome.is_some() {
            return;
        }
        self.steps.extend(events.into_iter().map(Step::Emit));
        if evaluation.servers.is_empty() {
            self.race.failed(id, now);
        } else {
            self.race.lookup_answered(id, now, evaluation.servers.clone());
        }
        self.outcomes.remove(id);
        if let Balancer::Lookup(_, answer) = &mut self.balancer {
            *answer = Some(evaluation);
        }
    }

    /// The agent cancelled the call: it is decided at once as [`Outcome::Cancelled`].
    pub fn cancel(&mut self) {
        if self.outcome.is_none() {
            self.outcome = Some(Outcome::Cancelled);
            self.steps.push_back(Step::Decided);
        }
    }

    /// When to call [`Connect::poll`] again at the latest, if nothing else happens first.
    pub fn next_wake(&self) -> Option<Duration> {
        if self.outcome.is_some() {
            return None;
        }
        self.race.next_wake()
    }

    /// Why the first server list refused in this call was refused, if one was.
    pub fn list_problem(&self) -> Option<&str> {
        self.list_problem.as_deref()
    }

    /// Whether the call is decided.
    pub fn is_decided(&self) -> bool {
        self.outcome.is_some()
    }

    /// How the call ended, once [`Step::Decided`] was given.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// What to do at `now`: call until it returns `None`, then wait for the next thing that
    /// happens or [`Connect::next_wake`].
    pub fn poll(&mut self, now: Duration) -> Option<Step> {
        loop {
            if let Some(step) = self.steps.pop_front() {
                return Some(step);
            }
            if self.outcome.is_some() {
                return None;
            }
            let action = self.race.poll(now)?;
            self.act(action, now);
        }
    }

    fn act(&mut self, action: Action, now: Duration) {
        match action {
            Action::Start(id) => {
                let server = self.server_of(id);
                self.order.push(id);
                self.steps
                    .push_back(Step::Emit(Event::AttemptStarted { server: server.clone() }));
                let timeout = self.timing.timeout.min(self.timing.deadline.saturating_sub(now));
                self.steps.push_back(Step::Start { id, server, timeout });
            }
            Action::PatienceRanOut { id, stage } => {
                let patience = match stage {
                    Stage::Resolving | Stage::Connecting => self.timing.attempt_delay,
                    Stage::Answering => self.timing.answer_delay,
                };
                self.steps.push_back(Step::Emit(Event::PatienceRanOut {
                    server: self.server_of(id),
                    stage,
                    patience,
                }));
                self.outcomes.insert(id, FailReason::OutOfPatience { stage, patience });
            }
            Action::TimedOut(id) => {
                let reason = FailReason::TimedOut(self.timing.timeout);
                self.steps.push_back(Step::Emit(Event::AttemptFailed {
                    server: self.server_of(id),
                    reason: reason.clone(),
                }));
                self.outcomes.insert(id, reason);
            }
            Action::Held { id, behind } => self.steps.push_back(Step::Emit(Event::AttemptHeld {
                server: self.server_of(id),
                preferred: self.server_of(behind),
            })),
            Action::Won(id) => {
                let server = self.server_of(id);
                self.steps
                    .push_back(Step::Emit(Event::AttemptSucceeded { server: server.clone() }));
                let failed = self.attempts(false);
                let list = self.lists.remove(id).flatten();
                self.outcome = Some(Outcome::Won { server, list, failed });
                self.steps.push_back(Step::Decided);
            }
            Action::AllFailed | Action::DeadlinePassed => {
                let failed = self.attempts(action == Action::DeadlinePassed);
                self.outcome = Some(Outcome::AllFailed(failed));
                self.steps.push_back(Step::Decided);
            }
        }
    }

    /// The attempts that did not win, in the order they started; with `deadline`, the candidates
    /// never started are named too.
    fn attempts(&mut self, deadline: bool) -> Vec<Attempt> {
        let mut ids: Vec<Id> = self
            .lookup
            .iter()
            .map(|(id, _)| *id)
            .chain(self.order.iter().copied())
            .collect();
        if deadline {
            ids.extend(self.race.waiting());
        }
        ids.into_iter()
            .filter_map(|id| {
                let reason = match self.outcomes.remove(id) {
                    // Cut off by the deadline, whether or not its patience had run out.
                    _ if deadline && (self.race.is_running(id) || self.race.is_waiting(id)) => FailReason::Deadline,
                    Some(reason) => reason,
                    None => return None,
                };
                Some(Attempt {
                    server: self.server_of(id),
                    reason,
                })
            })
            .collect()
    }
}
