//! The private resolver handle: hickory-resolver on its own current-thread tokio runtime.
//!
//! Nothing async leaves this file: every lookup is `block_on` at the edge. A handle is built for one
//! evaluation and dropped after it, so no answer outlives it (no cache shared between clients).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ProtocolConfig, ResolveHosts, ResolverConfig, ResolverOpts,
    ServerOrderingStrategy,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

use super::failure::{answered, no_records, other, timed_out};
use super::tcp_answer;
use crate::Config;
use crate::{DnsFailure, DnsFailureKind};
use scoutlb_proto::srv::SrvRecord;

/// The DNS settings of a configuration: which servers, which search domains, how long to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DnsSettings {
    /// Replace the system's name servers when not empty.
    pub nameservers: Vec<SocketAddr>,
    /// Replace the system's search domains when not empty.
    pub search_domains: Vec<String>,
    /// Limit of one lookup.
    pub timeout: Duration,
}

impl DnsSettings {
    /// The DNS part of `config`.
    pub fn of(config: &Config) -> Self {
        DnsSettings {
            nameservers: config.nameservers.clone(),
            search_domains: config.search_domains.clone(),
            timeout: config.dns_timeout,
        }
    }

    /// Whether anything replaces the system's configuration.
    pub fn is_configured(&self) -> bool {
        !self.nameservers.is_empty() || !self.search_domains.is_empty()
    }

    /// The name servers, search list and options: the system's, with what `self` replaces.
    ///
    /// The system's `/etc/resolv.conf` is read only for what `self` leaves empty.
    pub fn parts(&self) -> Result<Parts, DnsFailure> {
        let settings = self;
        let system = if settings.nameservers.is_empty() || settings.search_domains.is_empty() {
            match hickory_resolver::system_conf::read_system_conf() {
                Ok(conf) => Some(conf),
                Err(e) if settings.nameservers.is_empty() => {
                    return Err(other(format!(
                        "cannot read the system's DNS configuration (/etc/resolv.conf): {e}"
                    )));
                }
                Err(e) => {
                    log::debug!(target: "scoutlb", "system DNS configuration not read ({e}); using the configured one");
                    None
                }
            }
        } else {
            None
        };
        let (system_config, opts) = match system {
            Some((config, opts)) => (Some(config), opts),
            None => (None, ResolverOpts::default()),
        };
        let name_servers = if settings.nameservers.is_empty() {
            system_config
                .as_ref()
                .map(|c| c.name_servers().to_vec())
                .unwrap_or_default()
        } else {
            settings.nameservers.iter().map(|a| name_server(*a)).collect()
        };
        let (domain, search) = if settings.search_domains.is_empty() {
            match &system_config {
                Some(c) => (c.domain().cloned(), c.search().to_vec()),
                None => (None, Vec::new()),
            }
        } else {
            let search = settings
                .search_domains
                .iter()
                .map(|d| Name::from_ascii(d).map_err(|e| other(format!("search domain `{d}` is not a DNS name: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            (None, search)
        };
        Ok(Parts {
            name_servers,
            domain,
            search,
            opts,
        })
    }

    /// Whether the hosts file is consulted: only with the system's name servers (configured name
    /// servers are asked every name, like a zone they serve).
    pub fn uses_hosts_file(&self) -> bool {
        self.nameservers.is_empty()
    }
}

/// Where lookups ask: the name servers, the search list and the resolver's options.
pub(crate) struct Parts {
    /// The name servers, in the order they are asked.
    pub name_servers: Vec<NameServerConfig>,
    /// The local domain, searched after the search domains.
    pub domain: Option<Name>,
    /// The search domains.
    pub search: Vec<Name>,
    /// The options (`ndots` among them).
    pub opts: ResolverOpts,
}

/// A stub resolver with its own runtime; must not be created or dropped inside a tokio runtime.
pub(crate) struct Resolver {
    inner: TokioResolver,
    /// The name servers' TCP addresses, for the second look of [`tcp_answer`].
    tcp_servers: Vec<SocketAddr>,
    timeout: Duration,
    // Dropped last: the resolver's background tasks live on it.
    runtime: tokio::runtime::Runtime,
}

impl Resolver {
    /// Build a resolver from the system's configuration, with `settings` replacing parts of it.
    ///
    /// The system's `/etc/resolv.conf` is read only for what `settings` leaves empty, and the hosts
    /// file is consulted only when the system's name servers are used (configured name servers are
    /// asked every name, like a zone they serve).
    pub fn new(settings: &DnsSettings) -> Result<Self, DnsFailure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| other(format!("cannot start the resolver's runtime: {e}")))?;
        let Parts {
            name_servers,
            domain,
            search,
            mut opts,
        } = settings.parts()?;
        opts.timeout = settings.timeout;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.use_hosts_file = if settings.uses_hosts_file() {
            ResolveHosts::Always
        } else {
            ResolveHosts::Never
        };
        opts.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
        opts.preserve_intermediates = true;
        let tcp_servers = name_servers.iter().filter_map(|ns| ns_addr(ns, false)).collect();
        let config = ResolverConfig::from_parts(domain, search, name_servers);
        let inner = {
            let _guard = runtime.enter();
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
                .with_options(opts)
                .build()
                .map_err(|e| other(format!("cannot set up the resolver: {e}")))?
        };
        Ok(Resolver {
            inner,
            tcp_servers,
            timeout: settings.timeout,
            runtime,
        })
    }

    /// Run one lookup to completion on the private runtime, bounded by the DNS timeout.
    fn block_on<T>(&self, lookup: impl Future<Output = Result<T, NetError>>) -> Result<T, DnsFailure> {
        match self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout, lookup).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(describe(&e, self.timeout)),
            Err(_) => Err(timed_out(self.timeout)),
        }
    }

    /// The IPv4 and IPv6 addresses of `host` (A before AAAA), CNAME chains followed.
    pub fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        let lookup = self.block_on(self.inner.lookup_ip(host))?;
        let mut out: Vec<IpAddr> = Vec::new();
        for ip in lookup.iter().map(|ip| ip.to_canonical()) {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        if out.is_empty() {
            return Err(DnsFailure::new(DnsFailureKind::NoRecords, "no A or AAAA record"));
        }
        Ok(out)
    }

    /// The SRV records of `name`, in the server's order.
    ///
    /// When hickory has no answer after half the DNS timeout, the name servers are also asked over
    /// TCP and read leniently ([`tcp_answer`]), so that an answer hickory cannot decode is used,
    /// or its failure named, instead of a timeout.
    pub fn lookup_srv(&self, name: &str) -> Result<Vec<SrvRecord>, DnsFailure> {
        let answers = self.runtime.block_on(self.srv_answers(name))?;
        let records: Vec<SrvRecord> = answers.iter().filter_map(|r| srv_record(&r.data)).collect();
        if records.is_empty() {
            return Err(DnsFailure::new(DnsFailureKind::NoRecords, "no SRV record"));
        }
        Ok(records)
    }
}

impl Resolver {
    /// The SRV answer records of `name`: hickory's, or the lenient TCP read's if it comes first.
    async fn srv_answers(&self, name: &str) -> Result<Vec<Record>, DnsFailure> {
        use std::task::Poll;
        let mut hickory = std::pin::pin!(self.inner.lookup(name, RecordType::SRV));
        let mut second = std::pin::pin!(async {
            tokio::time::sleep(self.timeout / 2).await;
            self.srv_over_tcp(name).await
        });
        let mut second_failed: Option<Option<DnsFailure>> = None;
        let race = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = hickory.as_mut().poll(cx) {
                return Poll::Ready(
                    result
                        .map(|l| l.answers().to_vec())
                        .map_err(|e| describe(&e, self.timeout)),
                );
            }
            if second_failed.is_none()
                && let Poll::Ready(result) = second.as_mut().poll(cx)
            {
                match result {
                    Ok(records) => return Poll::Ready(Ok(records)),
                    // Unreached over TCP too: the timeout stays the failure to name.
                    Err(failure) => second_failed = Some(failure),
                }
            }
            Poll::Pending
        });
        let outcome = tokio::time::timeout(self.timeout, race).await;
        // A timeout names what the second look found, when it found a failure.
        outcome.unwrap_or_else(|_| Err(second_failed.flatten().unwrap_or_else(|| timed_out(self.timeout))))
    }

    /// Ask each name server over TCP in turn; the first that gives an answer section wins.
    ///
    /// Fails with the failure an answer named, or None when no server answered over TCP.
    async fn srv_over_tcp(&self, name: &str) -> Result<Vec<Record>, Option<DnsFailure>> {
        let fqdn = Name::from_ascii(name).map_err(|_| None)?;
        let mut named = None;
        for server in &self.tcp_servers {
            match tcp_answer::ask(*server, &fqdn, RecordType::SRV).await {
                Ok(answers) if !answers.records.is_empty() => {
                    if let Some(why) = &answers.unreadable {
                        log::warn!(target: "scoutlb",
                            "name server {server}: the answer to {name} SRV cannot be decoded after its answer section ({why}); \
                             using its {} answer records", answers.records.len());
                    }
                    return Ok(answers.records);
                }
                Ok(_) => named = Some(DnsFailure::new(DnsFailureKind::NoRecords, "no SRV record")),
                Err(tcp_answer::Failed::Answer(failure)) => named = Some(failure),
                Err(tcp_answer::Failed::Unreachable) => {}
            }
        }
        Err(named)
    }
}

/// The SRV record of an answer record's data, its target without the final dot, in lower case.
pub(crate) fn srv_record(data: &RData) -> Option<SrvRecord> {
    match data {
        RData::SRV(srv) => Some(SrvRecord {
            priority: srv.priority,
            weight: srv.weight,
            port: srv.port,
            target: srv.target.to_ascii().trim_end_matches('.').to_ascii_lowercase(),
        }),
        _ => None,
    }
}

/// The address of a name server over UDP (`udp`) or TCP, if it is asked so.
pub(crate) fn ns_addr(ns: &NameServerConfig, udp: bool) -> Option<SocketAddr> {
    ns.connections
        .iter()
        .find(|c| match c.protocol {
            ProtocolConfig::Udp => udp,
            ProtocolConfig::Tcp => !udp,
        })
        .map(|c| SocketAddr::new(ns.ip, c.port))
}

/// A configured name server, asked over UDP and, for truncated answers, TCP on the same port.
fn name_server(addr: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = addr.port();
    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
}

/// Say which failure a lookup met, keeping the response code: NXDOMAIN, SERVFAIL, timeout, no records.
fn describe(e: &NetError, timeout: Duration) -> DnsFailure {
    use DnsFailureKind::*;
    let (kind, detail) = match e {
        NetError::Dns(DnsError::NoRecordsFound(no)) if no.response_code == ResponseCode::NXDomain => {
            return answered(ResponseCode::NXDomain).unwrap_or_else(|| other(e.to_string()));
        }
        NetError::Dns(DnsError::NoRecordsFound(no)) => return no_records(no.query.query_type(), no.response_code),
        NetError::Dns(DnsError::ResponseCode(code)) => {
            return answered(*code).unwrap_or_else(|| other(e.to_string()));
        }
        NetError::Timeout => return timed_out(timeout),
        NetError::NoConnections => (Other, "no name server could be reached".to_string()),
        NetError::Io(io) => (Other, format!("cannot reach the name servers: {io}")),
        other => (Other, other.to_string()),
    };
    DnsFailure::new(kind, detail)
}
