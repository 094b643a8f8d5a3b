//! Name resolution: the ManagerLoadBalancer entry, and host names through configured DNS settings.
//!
//! Lookups use hickory-resolver on a private current-thread tokio runtime owned by a short-lived
//! resolver handle; the public functions are synchronous. A new handle is built for every
//! evaluation, so nothing resolved by one client is reused by the next (no process-wide cache): a
//! restart always sees the current records.
//!
//! Which DNS: the system's (`/etc/resolv.conf`) unless `nameservers` or `search_domains` replace
//! their part of it. The hosts file is consulted only with the system's name servers. Each lookup
//! is bounded by `dns_timeout`.
//!
//! When called from inside a tokio runtime (an async agent calling the blocking API), the lookup
//! runs on a scoped helper thread, so the private runtime never nests in the caller's.
//!
//! Host names of seed and listed servers are resolved by the probe. With the system's DNS settings
//! the built-in probes use the system resolver (`getaddrinfo`); when `nameservers` or
//! `search_domains` are configured, the built-in probes resolve names here instead (so `ScoutSrv`
//! is found through the configured search domain on first contact): the `tcp` probe tries the
//! addresses in turn, the `http` probe hands this resolver to ureq, so that its request and TLS
//! certificate check keep the host name. The server keeps its name: the default server stays
//! `scoutsrv:22123`, resolved afresh on each attempt. A callback or agent-driven probe gets the
//! names unchanged.
//!
//! Logs (target `scoutlb`): a lookup's outcome at `debug`.

pub(crate) mod answer;
mod failure;
mod http;
mod resolver;
mod tcp_answer;

pub use crate::{DnsFailure, DnsFailureKind};
pub(crate) use answer::{Unread, query, read};
pub(crate) use failure::{no_records, other, timed_out};
pub(crate) use http::{ConfiguredResolver, SystemResolver};
pub(crate) use resolver::{DnsSettings, ns_addr, srv_record};

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::Config;
use crate::ManagerLoadBalancer;
use crate::Server;
use crate::{Error, Result};

use resolver::Resolver;
use scoutlb_proto::srv::{SrvRecord, rfc2782_order};

/// Resolve the balancer entry into the addresses to try first, in order.
///
/// An IP literal is used as it is; a host name gives its A then AAAA addresses with the entry's
/// port; an SRV name gives the addresses of its targets in RFC 2782 order, each with its record's
/// port. The error names the failure: NXDOMAIN, SERVFAIL, timed out, or no records.
pub fn resolve_balancer(entry: &ManagerLoadBalancer, config: &Config) -> Result<Vec<Server>> {
    resolve_balancer_with(entry, config, fastrand::u64(..))
}

/// [`resolve_balancer`] with the random numbers of the SRV weights drawn from `seed`.
pub(crate) fn resolve_balancer_with(entry: &ManagerLoadBalancer, config: &Config, seed: u64) -> Result<Vec<Server>> {
    if let ManagerLoadBalancer::Address(server) = entry
        && server.ip().is_some()
    {
        return Ok(vec![server.clone()]);
    }
    let settings = DnsSettings::of(config);
    let name = entry.name().to_string();
    let started = Instant::now();
    let result = outside_async(|| {
        let resolver = Resolver::new(&settings)?;
        match entry {
            ManagerLoadBalancer::Address(server) => Ok(resolver
                .lookup_ip(server.host())?
                .into_iter()
                .map(|ip| Server::from(SocketAddr::new(ip, server.port())))
                .collect()),
            other => resolve_srv(&resolver, other.name(), seed),
        }
    });
    log::debug!(target: "scoutlb", "DNS {entry}: {result:?} in {} us", started.elapsed().as_micros());
    result.map_err(|failure| Error::Dns { name, failure })
}

/// Look up the SRV records of `name` and the addresses of their targets, in RFC 2782 order.
fn resolve_srv(resolver: &Resolver, name: &str, seed: u64) -> Result<Vec<Server>, DnsFailure> {
    let order = srv_order(resolver.lookup_srv(name)?, seed)?;
    let resolved = order
        .into_iter()
        .map(|record| {
            let ips = match srv_target(&record) {
                Target::Known(known) => known,
                Target::Lookup(host) => resolver.lookup_ip(&host),
            };
            (record, ips)
        })
        .collect();
    srv_servers(name, resolved)
}

/// The usable SRV records in RFC 2782 order (weights drawn from `seed`), or the failure of
/// records that all say the service is not available (target ".").
pub(crate) fn srv_order(records: Vec<SrvRecord>, seed: u64) -> Result<Vec<SrvRecord>, DnsFailure> {
    let (usable, dot): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| !r.target.is_empty());
    if usable.is_empty() {
        return Err(DnsFailure::new(
            DnsFailureKind::NoRecords,
            format!(
                "the SRV record{} say{} the service is not available (target \".\")",
                if dot.len() == 1 { "" } else { "s" },
                if dot.len() == 1 { "s" } else { "" }
            ),
        ));
    }
    Ok(rfc2782_order(usable, &mut fastrand::Rng::with_seed(seed)))
}

/// How the addresses of an SRV record's target are found.
pub(crate) enum Target {
    /// Without DNS: an IP literal, or the failure of port 0.
    Known(Result<Vec<IpAddr>, DnsFailure>),
    /// Through a lookup of this absolute name (its trailing dot keeps the search domains out).
    Lookup(String),
}

/// How to find the addresses of `record`'s target.
pub(crate) fn srv_target(record: &SrvRecord) -> Target {
    if record.port == 0 {
        return Target::Known(Err(DnsFailure::new(
            DnsFailureKind::NoRecords,
            format!("{}: port 0", record.target),
        )));
    }
    match record.target.parse::<IpAddr>() {
        Ok(ip) => Target::Known(Ok(vec![ip])),
        Err(_) => Target::Lookup(format!("{}.", record.target)),
    }
}

/// The servers of SRV `name` from its records in order, each with its target's addresses:
/// duplicates dropped, or the failure of every target when none resolved.
pub(crate) fn srv_servers(
    name: &str,
    resolved: Vec<(SrvRecord, Result<Vec<IpAddr>, DnsFailure>)>,
) -> Result<Vec<Server>, DnsFailure> {
    let mut out: Vec<Server> = Vec::new();
    let mut failures: Vec<DnsFailure> = Vec::new();
    for (record, ips) in resolved {
        match ips {
            Ok(ips) => {
                for ip in ips {
                    let server = Server::from(SocketAddr::new(ip, record.port));
                    if !out.contains(&server) {
                        out.push(server);
                    }
                }
            }
            // Port 0 is named as it is, without the target in front twice.
            Err(failure) if record.port == 0 => failures.push(failure),
            Err(failure) => {
                log::debug!(target: "scoutlb", "SRV target {} of {name}: {failure}", record.target);
                failures.push(failure.context(format_args!("target {}", record.target)));
            }
        }
    }
    if out.is_empty() {
        // One kind when every target failed alike, `Other` when they differ.
        let kind = match failures.first() {
            Some(first) if failures.iter().all(|f| f.kind == first.kind) => first.kind,
            _ => DnsFailureKind::Other,
        };
        let details: Vec<String> = failures.iter().map(ToString::to_string).collect();
        return Err(DnsFailure::new(
            kind,
            format!("no SRV target resolved ({})", details.join("; ")),
        ));
    }
    Ok(out)
}

/// The addresses of `host` (an IP literal as it is) through `settings`, A before AAAA.
fn lookup_with(host: &str, settings: &DnsSettings) -> Result<Vec<IpAddr>, DnsFailure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    outside_async(|| Resolver::new(settings)?.lookup_ip(host))
}

/// Run `f` where no tokio runtime is current, so the resolver's own runtime never nests.
fn outside_async<T: Send>(f: impl FnOnce() -> Result<T, DnsFailure> + Send) -> Result<T, DnsFailure> {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("scoutlb-dns".into())
            .spawn_scoped(scope, f)
            .map_err(|e| DnsFailure::new(DnsFailureKind::Other, format!("cannot start the DNS thread: {e}")))?;
        worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Name resolution through the configured DNS settings, for probes that connect to addresses.
#[derive(Clone, Debug)]
pub(crate) struct ConfiguredLookup {
    settings: DnsSettings,
}

impl ConfiguredLookup {
    /// The lookup of a configuration, or `None` when neither `nameservers` nor `search_domains` is configured.
    pub(crate) fn of(config: &Config) -> Option<Self> {
        let settings = DnsSettings::of(config);
        settings.is_configured().then_some(ConfiguredLookup { settings })
    }

    /// The addresses of `host`, within `timeout` and the configured `dns_timeout`.
    pub(crate) fn addresses(&self, host: &str, timeout: Duration) -> Result<Vec<IpAddr>, DnsFailure> {
        let settings = DnsSettings {
            timeout: self.settings.timeout.min(timeout),
            ..self.settings.clone()
        };
        lookup_with(host, &settings)
    }
}

/// The resolver of the http probe when the configuration replaces the system's DNS settings.
pub(crate) fn configured_resolver(config: &Config) -> Option<ConfiguredResolver> {
    let settings = DnsSettings::of(config);
    settings.is_configured().then_some(ConfiguredResolver { settings })
}
