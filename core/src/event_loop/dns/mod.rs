//! DNS in the event-loop driver: lookups on non-blocking UDP and TCP sockets with the blocking
//! lookup's rules (behaviour.md, "Event loops" and "Start-up").
//!
//! One question to the name servers is a [`question`] (queries built and answers read with
//! hickory-proto's message types, [`crate::dns::query`] and [`crate::dns::read`]); a host name's
//! addresses a [`host`] lookup, an SRV name's servers an [`srv`] lookup. The name servers and
//! search list are the blocking lookup's ([`DnsSettings::parts`]). No thread, no wait: `drive`
//! does what the sockets allow now, `fds` says what to wait for, `wake` until when.
//!
//! Logs (target `scoutlb`): a name server that cannot be reached over TCP at `debug`, an answer
//! read for its answer section only at `warn`.

mod host;
mod question;
mod srv;

pub(crate) use host::HostLookup;
pub(crate) use srv::SrvLookup;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use hickory_resolver::Hosts;
use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name, RecordType};

use super::Interest;
use crate::dns::{DnsSettings, ns_addr};
use crate::{Config, DnsFailure};

/// The sockets a lookup waits for, each with what to wait for.
pub(crate) type Fds<'a> = Vec<(BorrowedFd<'a>, Interest)>;

/// Where the driver's lookups ask: read once per client.
pub(crate) struct Setup {
    /// The name servers and search list, or why there are none.
    pub(super) servers: Result<Servers, DnsFailure>,
    /// The system's hosts file, consulted first when the system's name servers are used.
    hosts: Option<Hosts>,
    /// Limit of one lookup (`dns_timeout_ms`).
    pub timeout: Duration,
}

/// The name servers and the search list.
pub(super) struct Servers {
    /// Each name server's UDP and TCP address, in the order they are asked.
    pub(super) addrs: Vec<(Option<SocketAddr>, Option<SocketAddr>)>,
    domain: Option<Name>,
    search: Vec<Name>,
    ndots: usize,
}

impl Setup {
    /// The setup of `config`: its `nameservers` and `search_domains`, the system's for the rest.
    pub(crate) fn of(config: &Config) -> Self {
        let settings = DnsSettings::of(config);
        let servers = settings.parts().map(|parts| Servers {
            addrs: parts
                .name_servers
                .iter()
                .map(|ns| (ns_addr(ns, true), ns_addr(ns, false)))
                .collect(),
            domain: parts.domain,
            search: parts.search,
            ndots: parts.opts.ndots,
        });
        Setup {
            servers,
            hosts: settings
                .uses_hosts_file()
                .then(|| Hosts::from_system().unwrap_or_default()),
            timeout: settings.timeout,
        }
    }

    /// The names to ask for `name`, in turn: the search list and ndots as hickory's resolver
    /// builds them for the blocking lookup (an absolute name is asked as it is).
    pub(super) fn names(&self, name: Name) -> Vec<Name> {
        let Ok(servers) = &self.servers else {
            return vec![name];
        };
        if name.is_fqdn() {
            return vec![name];
        }
        let mut fqdn = name.clone();
        fqdn.set_fqdn(true);
        let raw_first = usize::from(name.num_labels()) > servers.ndots || name.is_localhost();
        let mut names = Vec::new();
        if raw_first {
            names.push(fqdn.clone());
        }
        for domain in servers.domain.iter().chain(&servers.search) {
            if let Ok(full) = name.clone().append_domain(domain)
                && !names.contains(&full)
            {
                names.push(full);
            }
        }
        if !raw_first && !names.contains(&fqdn) {
            names.push(fqdn);
        }
        names
    }

    /// The addresses of `name` in the hosts file, A before AAAA; empty when it is not there.
    pub(super) fn hosts(&self, name: &Name) -> Vec<IpAddr> {
        let Some(hosts) = &self.hosts else {
            return Vec::new();
        };
        [RecordType::A, RecordType::AAAA]
            .into_iter()
            .filter_map(|kind| hosts.lookup_static_host(&Query::query(name.clone(), kind)))
            .flat_map(|found| {
                found
                    .answers()
                    .iter()
                    .filter_map(|r| r.data.ip_addr())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn setup(search: &str) -> Setup {
        let config = Config::from_json(&format!(
            r#"{{"nameservers": ["127.0.0.1:53"], "search_domains": [{search}]}}"#
        ))
        .unwrap();
        Setup::of(&config)
    }

    fn names(setup: &Setup, name: &str) -> Vec<String> {
        setup
            .names(Name::from_str(name).unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_search_list_comes_in_hickorys_order() {
        let s = setup(r#""a.example", "b.example""#);
        // One label (ndots 1): the search domains first, the name itself last.
        assert_eq!(
            names(&s, "scoutsrv"),
            ["scoutsrv.a.example.", "scoutsrv.b.example.", "scoutsrv."]
        );
        // More labels than ndots: the name itself first.
        assert_eq!(
            names(&s, "lb.corp"),
            ["lb.corp.", "lb.corp.a.example.", "lb.corp.b.example."]
        );
        // An absolute name is asked as it is.
        assert_eq!(names(&s, "lb.corp."), ["lb.corp."]);
        assert!(s.hosts.is_none(), "configured name servers are asked every name");
    }
}
