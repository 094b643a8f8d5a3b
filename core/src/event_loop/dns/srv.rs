//! The servers of an SRV name: its records, then their targets' addresses, in RFC 2782 order.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name, RecordType};
use scoutlb_proto::srv::SrvRecord;

use super::host::HostLookup;
use super::question::Ask;
use super::{Fds, Setup};
use crate::dns::{Target, other, srv_order, srv_record, srv_servers, srv_target, timed_out};
use crate::{DnsFailure, Server};

/// SRV targets looked up at once.
const TARGETS_AT_ONCE: usize = 8;

/// The servers of an SRV name: its records, then their targets' addresses, in RFC 2782 order.
pub(crate) struct SrvLookup {
    setup: Arc<Setup>,
    name: String,
    seed: u64,
    stage: SrvStage,
}

enum SrvStage {
    /// Asking the SRV records of each name of the search list in turn.
    Records {
        names: VecDeque<Name>,
        ask: Option<Box<Ask>>,
        last: Option<DnsFailure>,
        start: Instant,
    },
    /// Looking up the targets' addresses, at most [`TARGETS_AT_ONCE`] at a time.
    Targets {
        order: Vec<TargetLookup>,
    },
    Over,
}

impl SrvLookup {
    /// Look up SRV `name` with `setup` from `now`, the weights drawn from `seed`.
    pub(crate) fn new(setup: &Arc<Setup>, name: &str, seed: u64, now: Instant) -> Self {
        let (names, last) = match Name::from_str(name) {
            Ok(n) => (setup.names(n).into(), None),
            Err(e) => (VecDeque::new(), Some(other(format!("`{name}` is not a DNS name: {e}")))),
        };
        SrvLookup {
            setup: Arc::clone(setup),
            name: name.to_string(),
            seed,
            stage: SrvStage::Records {
                names,
                ask: None,
                last,
                start: now,
            },
        }
    }

    /// The sockets to wait for.
    pub(crate) fn fds<'a>(&'a self, out: &mut Fds<'a>) {
        match &self.stage {
            SrvStage::Records { ask: Some(ask), .. } => ask.fds(out),
            SrvStage::Targets { order } => order.iter().for_each(|t| t.fds(out)),
            _ => {}
        }
    }

    /// When to look again without a socket becoming ready.
    pub(crate) fn wake(&self, now: Instant) -> Option<Instant> {
        match &self.stage {
            SrvStage::Records { ask: Some(ask), .. } => ask.wake(now),
            SrvStage::Targets { order } => order.iter().filter_map(|t| t.wake(now)).min(),
            _ => None,
        }
    }

    /// Do what the sockets allow now; the outcome once there is one (taken once).
    pub(crate) fn drive(&mut self, now: Instant) -> Option<Result<Vec<Server>, DnsFailure>> {
        loop {
            match &mut self.stage {
                SrvStage::Over => return None,
                SrvStage::Records {
                    names,
                    ask,
                    last,
                    start,
                } => {
                    if ask.is_none() {
                        let Some(name) = names.pop_front() else {
                            let failure = last.take().unwrap_or_else(|| timed_out(self.setup.timeout));
                            self.stage = SrvStage::Over;
                            return Some(Err(failure));
                        };
                        let limit = self.setup.timeout;
                        *ask = Some(Box::new(Ask::new(
                            &self.setup,
                            Query::query(name, RecordType::SRV),
                            now,
                            limit,
                            *start + limit,
                        )));
                    }
                    let asking = ask.as_mut()?;
                    asking.drive(now);
                    let outcome = asking.outcome.take()?;
                    *ask = None;
                    let records = match outcome {
                        Ok(data) => data.into_iter().filter_map(|d| srv_record(&d)).collect::<Vec<_>>(),
                        Err(failure) => {
                            *last = Some(failure);
                            if now >= *start + self.setup.timeout {
                                names.clear();
                            }
                            continue;
                        }
                    };
                    match srv_order(records, self.seed) {
                        Err(failure) => {
                            self.stage = SrvStage::Over;
                            return Some(Err(failure));
                        }
                        Ok(order) => {
                            let order = order.into_iter().map(TargetLookup::new).collect();
                            self.stage = SrvStage::Targets { order };
                        }
                    }
                }
                SrvStage::Targets { order } => {
                    let mut running = 0;
                    for target in order.iter_mut() {
                        if target.is_done() {
                            continue;
                        }
                        if !target.is_started() {
                            if running >= TARGETS_AT_ONCE {
                                break;
                            }
                            target.start(&self.setup, now);
                        }
                        target.drive(now);
                        if !target.is_done() {
                            running += 1;
                        }
                    }
                    if !order.iter().all(|t| t.is_done()) {
                        return None;
                    }
                    let SrvStage::Targets { order } = std::mem::replace(&mut self.stage, SrvStage::Over) else {
                        unreachable!()
                    };
                    let resolved = order.into_iter().map(|t| t.into_resolved()).collect();
                    return Some(srv_servers(&self.name, resolved));
                }
            }
        }
    }
}

/// The addresses of one SRV record's target: waiting for its turn, asked, or found.
struct TargetLookup {
    record: SrvRecord,
    state: TargetState,
}

enum TargetState {
    Waiting(String),
    Running(HostLookup),
    Done(Result<Vec<IpAddr>, DnsFailure>),
}

impl TargetLookup {
    fn new(record: SrvRecord) -> Self {
        let state = match srv_target(&record) {
            Target::Known(known) => TargetState::Done(known),
            Target::Lookup(host) => TargetState::Waiting(host),
        };
        TargetLookup { record, state }
    }

    fn is_done(&self) -> bool {
        matches!(self.state, TargetState::Done(_))
    }

    fn is_started(&self) -> bool {
        !matches!(self.state, TargetState::Waiting(_))
    }

    /// Begin its lookup, bounded by the DNS timeout of its own (as the blocking lookup's).
    fn start(&mut self, setup: &Arc<Setup>, now: Instant) {
        if let TargetState::Waiting(host) = &self.state {
            self.state = TargetState::Running(HostLookup::new(setup, host, setup.timeout, now));
        }
    }

    fn drive(&mut self, now: Instant) {
        if let TargetState::Running(lookup) = &mut self.state
            && let Some(outcome) = lookup.drive(now)
        {
            self.state = TargetState::Done(outcome);
        }
    }

    fn fds<'a>(&'a self, out: &mut Fds<'a>) {
        if let TargetState::Running(lookup) = &self.state {
            lookup.fds(out);
        }
    }

    fn wake(&self, now: Instant) -> Option<Instant> {
        match &self.state {
            TargetState::Running(lookup) => lookup.wake(now),
            _ => None,
        }
    }

    fn into_resolved(self) -> (SrvRecord, Result<Vec<IpAddr>, DnsFailure>) {
        let outcome = match self.state {
            TargetState::Done(outcome) => outcome,
            _ => Err(other("the target was not looked up".into())),
        };
        (self.record, outcome)
    }
}
