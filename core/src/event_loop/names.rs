//! Names in the event-loop driver: the ManagerLoadBalancer's lookup and evaluation, and the
//! addresses of a server, both through the driver's own DNS ([`super::dns`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::LoopProbe;
use super::dns::{Fds, HostLookup, Setup, SrvLookup};
use crate::fork_lock::ForkLock;
use crate::lookup::{evaluation_of, keep};
use crate::{Config, Device, DnsFailure, Error, Evaluation, Event, FailReason, ManagerLoadBalancer, Server};

/// How the driver resolves names.
pub(crate) struct Settings {
    /// The name servers, search list and hosts file, read when the client's first event-loop
    /// call started.
    dns: Arc<Setup>,
    config: Config,
}

impl Settings {
    /// The settings of `config`.
    pub(crate) fn of(config: &Config) -> Self {
        Settings {
            dns: Arc::new(Setup::of(config)),
            config: config.clone(),
        }
    }
}

/// The lookup of a server's addresses for its attempt.
pub(crate) struct ServerLookup {
    lookup: HostLookup,
    port: u16,
}

impl ServerLookup {
    /// Look up `server` within the DNS timeout and the attempt's `timeout`, from `now`.
    pub(crate) fn new(server: &Server, settings: &Settings, timeout: Duration, now: Instant) -> Self {
        let limit = settings.dns.timeout.min(timeout);
        ServerLookup {
            lookup: HostLookup::new(&settings.dns, server.host(), limit, now),
            port: server.port(),
        }
    }

    /// Do what the sockets allow now; the addresses once known (taken once).
    pub(crate) fn drive(&mut self, now: Instant) -> Option<Result<Vec<SocketAddr>, FailReason>> {
        let port = self.port;
        self.lookup.drive(now).map(|outcome| {
            outcome
                .map(|ips| ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
                .map_err(FailReason::Dns)
        })
    }

    /// The sockets to wait for.
    pub(crate) fn fds<'a>(&'a self, out: &mut Fds<'a>) {
        self.lookup.fds(out);
    }

    /// When to look again without a socket becoming ready.
    pub(crate) fn wake(&self, now: Instant) -> Option<Instant> {
        self.lookup.wake(now)
    }
}

/// The lookup of the ManagerLoadBalancer entry of a start-up.
pub(crate) struct BalancerLookup {
    entry: ManagerLoadBalancer,
    how: How,
}

enum How {
    /// An IP literal, used as it is (taken once).
    Known(Option<Server>),
    Host(HostLookup, u16),
    Srv(Box<SrvLookup>),
}

impl BalancerLookup {
    /// Look up `entry` with `settings` from `now`, an SRV entry's weights drawn from `seed`.
    pub(crate) fn new(entry: &ManagerLoadBalancer, settings: &Settings, seed: u64, now: Instant) -> Self {
        let how = match entry {
            ManagerLoadBalancer::Address(server) if server.ip().is_some() => How::Known(Some(server.clone())),
            ManagerLoadBalancer::Address(server) => How::Host(
                HostLookup::new(&settings.dns, server.host(), settings.dns.timeout, now),
                server.port(),
            ),
            srv => How::Srv(Box::new(SrvLookup::new(&settings.dns, srv.name(), seed, now))),
        };
        BalancerLookup {
            entry: entry.clone(),
            how,
        }
    }

    /// Do what the sockets allow now; once the lookup is over (taken once), the evaluation,
    /// kept for this client, and the events to report.
    pub(crate) fn drive(
        &mut self,
        now: Instant,
        probe: &LoopProbe,
        device: &ForkLock<Device>,
    ) -> Option<(Evaluation, Vec<Event>)> {
        let outcome: Result<Vec<Server>, DnsFailure> = match &mut self.how {
            How::Known(server) => Ok(vec![server.take()?]),
            How::Host(lookup, port) => {
                let port = *port;
                lookup.drive(now)?.map(|ips| {
                    ips.into_iter()
                        .map(|ip| Server::from(SocketAddr::new(ip, port)))
                        .collect()
                })
            }
            How::Srv(lookup) => lookup.drive(now)?,
        };
        let outcome = outcome.map_err(|failure| Error::Dns {
            name: self.entry.name().to_string(),
            failure,
        });
        log::debug!(target: "scoutlb", "DNS {}: {outcome:?}", self.entry);
        let mut events = Vec::new();
        let evaluation = evaluation_of(&self.entry, &probe.lookup.config, outcome, &mut |e| events.push(e));
        Some((keep(evaluation, &probe.names, device), events))
    }

    /// The sockets to wait for.
    pub(crate) fn fds<'a>(&'a self, out: &mut Fds<'a>) {
        match &self.how {
            How::Known(_) => {}
            How::Host(lookup, _) => lookup.fds(out),
            How::Srv(lookup) => lookup.fds(out),
        }
    }

    /// When to look again without a socket becoming ready.
    pub(crate) fn wake(&self, now: Instant) -> Option<Instant> {
        match &self.how {
            How::Known(_) => None,
            How::Host(lookup, _) => lookup.wake(now),
            How::Srv(lookup) => lookup.wake(now),
        }
    }
}
