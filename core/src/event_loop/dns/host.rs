//! The addresses of a host name, A before AAAA, through the search list and the hosts file.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::question::Ask;
use super::{Fds, Setup};
use crate::DnsFailure;
use crate::dns::{other, timed_out};

/// The addresses of a host name (A before AAAA), through the search list; an IP literal as it is.
pub(crate) struct HostLookup {
    setup: Arc<Setup>,
    names: VecDeque<Name>,
    /// The A and AAAA questions of the name being asked, and their outcomes.
    asks: Vec<Ask>,
    limit: Duration,
    until: Instant,
    /// The failure of the last name asked.
    last: Option<DnsFailure>,
    outcome: Option<Result<Vec<IpAddr>, DnsFailure>>,
}

impl HostLookup {
    /// Look up `host` with `setup`, within `limit` from `now`.
    pub(crate) fn new(setup: &Arc<Setup>, host: &str, limit: Duration, now: Instant) -> Self {
        let mut lookup = HostLookup {
            setup: Arc::clone(setup),
            names: VecDeque::new(),
            asks: Vec::new(),
            limit,
            until: now + limit,
            last: None,
            outcome: None,
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            lookup.outcome = Some(Ok(vec![ip]));
            return lookup;
        }
        match Name::from_str(host) {
            Ok(name) => lookup.names = setup.names(name).into(),
            Err(e) => lookup.outcome = Some(Err(other(format!("`{host}` is not a DNS name: {e}")))),
        }
        lookup
    }

    /// The sockets to wait for.
    pub(crate) fn fds<'a>(&'a self, out: &mut Fds<'a>) {
        if self.outcome.is_none() {
            self.asks.iter().for_each(|a| a.fds(out));
        }
    }

    /// When to look again without a socket becoming ready.
    pub(crate) fn wake(&self, now: Instant) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        self.asks.iter().filter_map(|a| a.wake(now)).min()
    }

    /// Do what the sockets allow now; the outcome once there is one (taken once).
    pub(crate) fn drive(&mut self, now: Instant) -> Option<Result<Vec<IpAddr>, DnsFailure>> {
        while self.outcome.is_none() {
            if self.asks.is_empty() {
                let Some(name) = self.names.pop_front() else {
                    let failure = self.last.take().unwrap_or_else(|| timed_out(self.limit));
                    self.outcome = Some(Err(failure));
                    break;
                };
                let known = self.setup.hosts(&name);
                if !known.is_empty() {
                    self.outcome = Some(Ok(known));
                    break;
                }
                self.asks = [RecordType::A, RecordType::AAAA]
                    .into_iter()
                    .map(|kind| {
                        Ask::new(
                            &self.setup,
                            Query::query(name.clone(), kind),
                            now,
                            self.limit,
                            self.until,
                        )
                    })
                    .collect();
            }
            self.asks.iter_mut().for_each(|a| a.drive(now));
            if !self.asks.iter().all(Ask::done) {
                break;
            }
            let mut ips: Vec<IpAddr> = Vec::new();
            let mut first_failure = None;
            for ask in std::mem::take(&mut self.asks) {
                match ask.outcome {
                    Some(Ok(data)) => {
                        for ip in data.iter().filter_map(RData::ip_addr).map(|ip| ip.to_canonical()) {
                            if !ips.contains(&ip) {
                                ips.push(ip);
                            }
                        }
                    }
                    Some(Err(failure)) => {
                        first_failure.get_or_insert(failure);
                    }
                    None => {}
                }
            }
            if !ips.is_empty() {
                self.outcome = Some(Ok(ips));
            } else if now >= self.until {
                self.outcome = Some(Err(first_failure.unwrap_or_else(|| timed_out(self.limit))));
            } else {
                self.last = first_failure;
            }
        }
        self.outcome.take()
    }
}
